/*
 * Entering a container's view of its files, the way Docker's chrootarchive does it, with
 * the namespaces of the container's first process instead of a mount on the host (tsrun
 * mounts the rootfs only inside the container's mount namespace):
 *
 * 1. open /proc/<pid>/ns/user, /proc/<pid>/ns/mnt and /proc/<pid>/root, then check the pid
 *    is still the process we were given (its start time), so a reused pid is refused;
 * 2. setns the user namespace (unless it is ours: --userns=host), then the mount namespace:
 *    the user namespace first, so that we hold CAP_SYS_ADMIN over the one that owns the
 *    mount namespace;
 * 3. chroot to the process's root: every path, ".." and symlink (absolute or relative) is
 *    resolved inside the container from here on, so nothing can lead back to the host;
 * 4. become uid and gid 0 of that user namespace: what we create belongs to the container's
 *    root, never to the host's root (which is unmapped there);
 * 5. PR_SET_DUMPABLE 0 and the parent-death signal (both reset by the credential change).
 *    The PID namespace is not joined: no process of the container can see us. (main() has
 *    closed every inherited fd above 2 before any of this.)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"
#include "util.h"

static int open_proc(pid_t pid, const char *what, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) ts_fail(CP_INVALID, 0, path, "the container's process %d is gone", (int)pid);
    else cp_sys("open", path);
  }
  return fd;
}

static bool same_file(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cp_enter(pid_t pid, uint64_t start) {
  pid_t parent = getppid();
  int user = open_proc(pid, "ns/user", O_RDONLY);
  if (user < 0) return -1;
  int mnt = open_proc(pid, "ns/mnt", O_RDONLY);
  if (mnt < 0) return -1;
  int root = open_proc(pid, "root", O_RDONLY | O_DIRECTORY);
  if (root < 0) return -1;
  if (start && proc_start_time(pid) != start)
    return ts_fail(CP_INVALID, 0, "", "the container's process %d is gone", (int)pid);

  int own = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  if (own < 0) return cp_sys("open", "/proc/self/ns/user");
  bool join_user = !same_file(own, user);
  close(own);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  if (join_user && setns(user, CLONE_NEWUSER) < 0) return cp_sys("setns", path);
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int)pid);
  if (setns(mnt, CLONE_NEWNS) < 0) return cp_sys("setns", path);
  if (fchdir(root) < 0) return cp_sys("fchdir", "the container's root");
  if (chroot(".") < 0) return cp_sys("chroot", "the container's root");
  if (chdir("/") < 0) return cp_sys("chdir", "/");
  close(user);
  close(mnt);
  close(root);

  if (join_user) {
    /* setgroups may be denied in the namespace; the supplementary groups then stay, unmapped. */
    if (setgroups(0, NULL) < 0 && errno != EPERM) return cp_sys("setgroups", "");
    if (setresgid(0, 0, 0) < 0) return cp_sys("setresgid 0 in the container's user namespace", "");
    if (setresuid(0, 0, 0) < 0) return cp_sys("setresuid 0 in the container's user namespace", "");
  }
  /* The credential change reset both (main() set them first): a process
   * of the container's root could otherwise ptrace us or read our /proc files, were we
   * ever visible to it, and we could outlive tsrun. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return cp_sys("prctl PR_SET_DUMPABLE", "");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return cp_sys("prctl PR_SET_PDEATHSIG", "");
  if (getppid() != parent) return ts_fail(CP_INVALID, 0, "", "tsrun exited");
  return 0;
}

#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "caps.h"
#include "err.h"
#include "execlookup.h"
#include "inroot.h"
#include "net.h"
#include "rootfs.h"
#include "sync.h"
#include "sys.h"
#include "terminal.h"
#include "util.h"

/*
 * PR_SET_PDEATHSIG(SIGKILL): a container must not run on unsupervised if its monitor dies.
 * Not dumpable: until execve this process is a copy of the monitor (its /proc/PID/exe is the
 * monitor's binary) and must not be ptraced or have its /proc files opened by the
 * container's other processes. The kernel resets both whenever our credentials change
 * (setresuid, capset), so they are set again after each change, and the monitor checked for
 * having died in between: a hang-up on the sync socket (its pid is invisible from a new PID
 * namespace).
 */
static int guard(const struct init_ctx *c) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return ts_fail_errno(TS_STEP_PRCTL, "PR_SET_PDEATHSIG");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return ts_fail_errno(TS_STEP_PRCTL, "PR_SET_DUMPABLE");
  struct pollfd pfd = {.fd = c->sync, .events = 0};
  if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) _exit(1);
  /* In a joined PID namespace (--pid container:X) the monitor is outside it: getppid() is 0
   * while the monitor lives, and a pid of X's namespace once we are reparented. */
  bool joined_pid = false;
  for (size_t i = 0; i < c->plan->n_joins; i++) joined_pid |= c->plan->joins[i].nstype == CLONE_NEWPID;
  if (!(c->plan->new_ns & CLONE_NEWPID) && getppid() != (joined_pid ? 0 : c->monitor_pid)) _exit(1);
  return 0;
}

static _Noreturn void fail(const struct init_ctx *c, int status) {
  sync_send_failure(c->sync);
  _exit(status);
}

/* Node (the monitor's launcher) ignores SIGPIPE and the monitor blocks SIGCHLD; the
 * container must start with default dispositions and an empty mask, as after a fresh exec. */
static void reset_signals(void) {
  struct sigaction sa = {.sa_handler = SIG_DFL};
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Collects the monitor's fds (FDS batches) until GO. EOF means the monitor died. */
static int wait_go(const struct init_ctx *c, int *fds, size_t want) {
  size_t have = 0;
  for (;;) {
    uint32_t type;
    int got[TS_MAX_FDS_PER_MSG];
    size_t n = 0;
    char buf[64];
    if (sync_recv(c->sync, &type, buf, sizeof buf, got, &n, TS_MAX_FDS_PER_MSG) < 0) return -1;
    if (type == 0) _exit(1);
    if (type == TS_SYNC_GO) break;
    if (type != TS_SYNC_FDS || have + n > want)
      return ts_fail(TS_STEP_SYNC, EPROTO, "", "Expected FDS or GO from the monitor, got %u", type);
    memcpy(fds + have, got, n * sizeof(int));
    have += n;
  }
  if (have != want) return ts_fail(TS_STEP_SYNC, EPROTO, "", "Expected %zu fds from the monitor, got %zu", want, have);
  return 0;
}

/* The container's user namespace when it is joined: entered here, in the child, since the
 * monitor could not come back from it. Namespaces to create are unshared after it, so that
 * they belong to it (a new PID namespace by the caller, see init_enter_userns). */
static int join_userns(const struct plan *p) {
  for (size_t i = 0; i < p->n_joins; i++) {
    if (p->joins[i].nstype != CLONE_NEWUSER) continue;
    int fd = open(p->joins[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0) return ts_fail_errno(TS_STEP_SETNS, p->joins[i].path);
    close(fd);
    int later = p->new_ns & ~(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWCGROUP);
    if (later && unshare(later) < 0) return ts_fail_errno(TS_STEP_UNSHARE, "");
  }
  return 0;
}

void init_enter_userns(struct init_ctx *c) {
  if (join_userns(c->plan) < 0) fail(c, 1);
  c->userns_entered = true;
  if (!(c->plan->new_ns & CLONE_NEWPID)) return;
  if (unshare(CLONE_NEWPID) < 0) {
    ts_fail_errno(TS_STEP_UNSHARE, "pid");
    fail(c, 1);
  }
  /* The next child is PID 1 of the new namespace; CLONE_PARENT makes the monitor its
   * parent (it reaps it, and PDEATHSIG follows the monitor). */
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT, NULL, NULL, NULL, NULL);
  if (pid == 0) return;
  if (pid < 0) {
    ts_fail_errno(TS_STEP_CLONE, "");
    fail(c, 1);
  }
  uint8_t v[4] = {(uint8_t)pid, (uint8_t)(pid >> 8), (uint8_t)(pid >> 16), (uint8_t)(pid >> 24)};
  _exit(sync_send(c->sync, TS_SYNC_PID, v, 4, NULL, 0) < 0 ? 1 : 0);
}

static int become_root(void) {
  /* gid first: after setresuid(0) we could still, but the order matches the final drop. */
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) return ts_fail_errno(TS_STEP_SETUID_ROOT, "");
  if (setgroups(0, NULL) < 0) return ts_fail_errno(TS_STEP_SETGROUPS, "");
  return 0;
}

static int set_names(const struct plan *p) {
  if ((p->hostname || p->domainname) && !(p->new_ns & CLONE_NEWUTS))
    return ts_fail(TS_STEP_HOSTNAME, EINVAL, "", "A hostname needs a UTS namespace of its own");
  if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
    return ts_fail_errno(TS_STEP_HOSTNAME, p->hostname);
  if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
    return ts_fail_errno(TS_STEP_DOMAINNAME, p->domainname);
  return 0;
}

static int set_sysctls(const struct plan *p) {
  for (size_t i = 0; i < p->n_sysctls; i++) {
    char path[512];
    int n = snprintf(path, sizeof path, "/proc/sys/%s", p->sysctls[i].key);
    for (char *c = path + 10; *c; c++)
      if (*c == '.') *c = '/';
    if (n >= (int)sizeof path || strstr(path, "..")) return ts_fail(TS_STEP_SYSCTL, EINVAL, p->sysctls[i].key, NULL);
    if (write_file(path, p->sysctls[i].value) < 0) return ts_fail_errno(TS_STEP_SYSCTL, path);
  }
  return 0;
}

static int set_stdio(const struct init_ctx *c) {
  int fds[3] = {c->stdin_fd, c->stdout_fd, c->stderr_fd};
  for (int i = 0; i < 3; i++)
    if (dup2(fds[i], i) < 0) return ts_fail_errno(TS_STEP_STDIO, "");
  for (int i = 0; i < 3; i++)
    if (fds[i] > 2) close(fds[i]);
  return 0;
}

/* Never above the current hard limit: raising one needs CAP_SYS_RESOURCE in the initial
 * user namespace, which a container never has (and this host does not give). */
static int set_rlimits(const struct plan *p) {
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct rlimit_plan *l = &p->rlimits[i];
    struct rlimit cur, want = {l->soft, l->hard};
    if (getrlimit(l->resource, &cur) < 0) return ts_fail(TS_STEP_RLIMIT, errno, "", "resource %d", l->resource);
    if (want.rlim_max > cur.rlim_max) want.rlim_max = cur.rlim_max;
    if (want.rlim_cur > want.rlim_max) want.rlim_cur = want.rlim_max;
    if (setrlimit(l->resource, &want) < 0) return ts_fail(TS_STEP_RLIMIT, errno, "", "resource %d", l->resource);
  }
  return 0;
}

/* Docker creates a missing working directory (-w, WORKDIR), as root, like runc. */
static int make_cwd(const struct plan *p) {
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return ts_fail_errno(TS_STEP_CHDIR, "/");
  int fd = inroot_mkdir_p(&sys_real, rootfd, p->cwd);
  int e = errno;
  close(rootfd);
  if (fd < 0) return ts_fail(TS_STEP_CHDIR, e, p->cwd, NULL);
  close(fd);
  if (chdir(p->cwd) < 0) return ts_fail_errno(TS_STEP_CHDIR, p->cwd);
  return 0;
}

static int wait_start(const struct init_ctx *c) {
  uint32_t type;
  char buf[64];
  if (sync_recv(c->sync, &type, buf, sizeof buf, NULL, NULL, 0) < 0) return -1;
  if (type == 0) _exit(1); /* the monitor is gone (or deleted the container) */
  if (type != TS_SYNC_START) return ts_fail(TS_STEP_SYNC, EPROTO, "", "Expected START from the monitor, got %u", type);
  return 0;
}

/* Namespaces and identity: everything before the filesystem. fds receives the clones. */
static int enter(const struct init_ctx *c, int *fds, size_t nfds) {
  const struct plan *p = c->plan;
  /* The go-ahead comes once the monitor has written the id maps (setresuid(0) needs them),
   * joined us to the cgroups and made the clones. */
  trace_point("init: started");
  if (wait_go(c, fds, nfds) < 0) return -1;
  trace_point("init: go");
  /* Into the container's v1 cgroups (the cgroup2 one it was born in) before anything else. */
  if (cgjoin_self(c->cgroups, TS_STEP_CGROUP) < 0) return -1;
  cgjoin_close(c->cgroups);
  trace_point("init: in its cgroups");
  if (!c->userns_entered && join_userns(p) < 0) return -1;
  if (plan_has_userns(p) && (become_root() < 0 || guard(c) < 0)) return -1;
  /* After the cgroup join, so the container's cgroup is the root of its view, not the
   * host's path. */
  if ((p->new_ns & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) return ts_fail_errno(TS_STEP_UNSHARE, "cgroup");
  /* Everything after this mounts: without a mount namespace of our own it would hit the host. */
  if (!(p->new_ns & CLONE_NEWNS))
    return ts_fail(TS_STEP_MOUNT_PRIVATE, EINVAL, "", "A container needs a mount namespace of its own");
  return 0;
}

/* The container's filesystem and the kernel state inside it. */
static int build(const struct plan *p, int *fds, size_t nfds) {
  size_t nroot = p->rootfs == ROOTFS_OVERLAY ? p->n_lowers + 1 : 1, nbinds = nfds - nroot - p->n_devices;
  struct rootfs_fds rf = {.lowers = fds, .upper = fds[nroot - 1], .binds = fds + nroot, .devices = fds + nroot + nbinds};
  if (rootfs_build(&sys_real, p, &rf) < 0) return -1;
  trace_point("init: rootfs built");
  if (set_names(p) < 0) return -1;
  if ((p->new_ns & CLONE_NEWNET) && loopback_up() < 0) return -1;
  /* Sysctls before the read-only paths: Docker's make /proc/sys read-only. */
  if (set_sysctls(p) < 0) return -1;
  int r = rootfs_finish(&sys_real, p);
  trace_point("init: rootfs finished");
  return r;
}

/* The process's surroundings, then the executable's lookup. */
static int prepare_process(const struct init_ctx *c, char *exe, size_t exe_len) {
  const struct plan *p = c->plan;
  if (p->terminal) {
    int master = terminal_setup(p);
    if (master < 0) return -1;
    int r = sync_send(c->sync, TS_SYNC_PTY, NULL, 0, &master, 1);
    close(master);
    if (r < 0) return -1;
  } else {
    if (setsid() < 0 && errno != EPERM) return ts_fail_errno(TS_STEP_STDIO, "setsid");
    if (set_stdio(c) < 0) return -1;
  }
  if (set_rlimits(p) < 0) return -1;
  if (p->has_oom_score_adj) {
    char v[16];
    snprintf(v, sizeof v, "%d", p->oom_score_adj);
    if (write_file("/proc/self/oom_score_adj", v) < 0)
      return ts_fail_errno(TS_STEP_OOM_SCORE_ADJ, "/proc/self/oom_score_adj");
  }
  /* cwd before the lookup: a relative name with a '/' is looked up from it, as execve will. */
  if (make_cwd(p) < 0) return -1;
  return exec_lookup(p->args[0], p->env, exe, exe_len);
}

/* After START: the final privileges, then nothing of the monitor's left but the sync
 * socket (close-on-exec: its EOF tells the monitor that execve succeeded). */
static int drop_to_process(const struct init_ctx *c) {
  const struct plan *p = c->plan;
  if (privileges_apply(p) < 0 || guard(c) < 0) return -1;
  umask(p->has_umask ? p->umask : 022);
  /* Again as the process's user: it may not be allowed in, which Docker reports. */
  if (chdir(p->cwd) < 0) return ts_fail_errno(TS_STEP_CHDIR, p->cwd);
  int s = c->sync;
  if ((s > 3 && close_range(3, (unsigned)s - 1, 0) < 0) || close_range((unsigned)s + 1, ~0U, 0) < 0)
    return ts_fail_errno(TS_STEP_CLOSE_FDS, "");
  return 0;
}

_Noreturn void init_main(const struct init_ctx *c) {
  const struct plan *p = c->plan;
  /* Before anything else. */
  if (guard(c) < 0) fail(c, 1);
  reset_signals();
  size_t nfds = rootfs_fd_count(p);
  int *fds = calloc(nfds + 1, sizeof *fds);
  if (!fds) {
    ts_fail(TS_STEP_SYNC, ENOMEM, "", NULL);
    fail(c, 1);
  }
  if (enter(c, fds, nfds) < 0 || build(p, fds, nfds) < 0) fail(c, 1);
  for (size_t i = 0; i < nfds; i++) close(fds[i]);
  free(fds);
  char exe[4096];
  if (prepare_process(c, exe, sizeof exe) < 0) fail(c, 1);
  trace_point("init: ready");
  if (sync_send(c->sync, TS_SYNC_READY, NULL, 0, NULL, 0) < 0) _exit(1);
  if (wait_start(c) < 0 || drop_to_process(c) < 0) fail(c, 1);
  trace_point("init: execve");
  execve(exe, p->args, p->env);
  int e = errno;
  ts_fail(TS_STEP_EXEC, e, exe, NULL);
  fail(c, e == ENOENT ? 127 : 126);
}

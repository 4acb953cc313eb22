#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "buf.h"
#include "cgjoin.h"
#include "err.h"
#include "init.h"
#include "rootfs.h"
#include "sync.h"
#include "util.h"

static int nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Pipes for the init's stdio: the monitor keeps one end (non-blocking), the init dups the
 * other onto 0/1/2. With a terminal there are none: the pty carries everything. */
static int make_stdio(const struct plan *p, struct spawned *s, int child[3]) {
  int po[2] = {-1, -1}, pe[2] = {-1, -1}, pi[2] = {-1, -1};
  child[0] = child[1] = child[2] = -1;
  if (p->terminal) return 0;
  if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) return ts_fail_errno(TS_STEP_MONITOR, "pipe");
  if (p->stdin) {
    if (pipe2(pi, O_CLOEXEC) < 0) return ts_fail_errno(TS_STEP_MONITOR, "pipe");
    child[0] = pi[0];
    s->in = pi[1];
  } else if ((child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
    return ts_fail_errno(TS_STEP_MONITOR, "/dev/null");
  }
  s->out = po[0];
  s->err = pe[0];
  child[1] = po[1];
  child[2] = pe[1];
  if (nonblock(s->out) < 0 || nonblock(s->err) < 0 || (s->in >= 0 && nonblock(s->in) < 0))
    return ts_fail_errno(TS_STEP_MONITOR, "O_NONBLOCK");
  return 0;
}

/* setns for the namespaces to join, around the clone: the child inherits them, and the
 * monitor goes back to its own afterwards (it must stay on the host's network, say). The
 * user namespace is joined by the child itself (nobody comes back from a user namespace). */
struct saved_ns {
  int fd[8];
  int type[8];
  size_t n;
};

static int join_around_clone(const struct plan *p, struct saved_ns *sv) {
  static const struct {
    int type;
    const char *self;
  } own[] = {{CLONE_NEWNS, "/proc/self/ns/mnt"},   {CLONE_NEWPID, "/proc/self/ns/pid_for_children"},
             {CLONE_NEWUTS, "/proc/self/ns/uts"},  {CLONE_NEWIPC, "/proc/self/ns/ipc"},
             {CLONE_NEWNET, "/proc/self/ns/net"},  {CLONE_NEWCGROUP, "/proc/self/ns/cgroup"}};
  sv->n = 0;
  for (size_t i = 0; i < p->n_joins; i++) {
    const struct ns_join *j = &p->joins[i];
    if (j->nstype == CLONE_NEWUSER) continue;
    for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
      if (own[k].type == j->nstype && sv->n < 8) {
        int fd = open(own[k].self, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return ts_fail_errno(TS_STEP_SETNS, own[k].self);
        sv->fd[sv->n] = fd;
        sv->type[sv->n++] = j->nstype;
      }
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ts_fail_errno(TS_STEP_SETNS, j->path);
    int r = setns(fd, j->nstype);
    int e = errno;
    close(fd);
    if (r < 0) return ts_fail(TS_STEP_SETNS, e, j->path, NULL);
  }
  return 0;
}

static void restore_ns(struct saved_ns *sv) {
  for (size_t i = 0; i < sv->n; i++) {
    setns(sv->fd[i], sv->type[i]);
    close(sv->fd[i]);
  }
  sv->n = 0;
}

static int write_map(pid_t pid, const char *file, const struct idmap_line *m, size_t n, const char *step) {
  char path[64];
  struct tbuf b = {0};
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  for (size_t i = 0; i < n; i++) {
    char line[64];
    snprintf(line, sizeof line, "%u %u %u\n", m[i].inside, m[i].outside, m[i].count);
    tbuf_put(&b, line, strlen(line));
  }
  tbuf_put(&b, "", 1);
  /* The kernel takes a map in one write only. */
  int r = b.data ? write_file(path, (const char *)b.data) : -1;
  int e = errno;
  tbuf_free(&b);
  return r < 0 ? ts_fail(step, e, path, NULL) : 0;
}

/* A detached copy of path's mount (open_tree), idmapped with the init's user namespace when
 * userns >= 0. Detached: it appears in no mount table until the init attaches it. */
static int clone_tree_at(int dirfd, const char *path, bool recursive, int userns) {
  unsigned rec = recursive ? AT_RECURSIVE : 0;
  int fd = dirfd >= 0 ? open_tree(dirfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec)
                      : open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
  if (fd < 0) return ts_fail_errno(TS_STEP_OPEN_TREE, path);
  if (userns >= 0) {
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
    if (mount_setattr(fd, "", AT_EMPTY_PATH | rec, &a, sizeof a) < 0) {
      int e = errno;
      close(fd);
      return ts_fail(TS_STEP_MOUNT_SETATTR, e, path, "MOUNT_ATTR_IDMAP");
    }
  }
  return fd;
}

static int clone_tree(const char *path, bool recursive, int userns) {
  return clone_tree_at(-1, path, recursive, userns);
}

/* A clone of path as the mount namespace nsfile sees it (a joined container's /dev/shm): the
 * kernel clones only mounts of the caller's namespace, so the monitor enters that one for the
 * open_tree and comes back. setns moves its root and working directory (the state directory
 * its records are written in): both are taken back. The path is resolved with no symlink and
 * no magic link, so that one made by whoever runs in that namespace leads nowhere else. */
static int clone_tree_in(const char *nsfile, const char *path, bool recursive, int userns) {
  int own = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC), cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int ns = open(nsfile, O_RDONLY | O_CLOEXEC), fd = -1, at = -1;
  if (own < 0 || cwd < 0 || ns < 0) {
    ts_fail_errno(TS_STEP_OPEN_TREE, ns < 0 && own >= 0 && cwd >= 0 ? nsfile : "/proc/self/ns/mnt");
    goto out;
  }
  if (setns(ns, CLONE_NEWNS) < 0) {
    ts_fail_errno(TS_STEP_SETNS, nsfile);
    goto out;
  }
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  at = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
  if (at < 0) ts_fail_errno(TS_STEP_OPEN_TREE, path);
  else fd = clone_tree_at(at, path, recursive, userns);
  /* Staying in that namespace is not an option: the monitor would write its records there. */
  if (setns(own, CLONE_NEWNS) < 0 || fchdir(cwd) < 0) {
    ts_fail_errno(TS_STEP_SETNS, "/proc/self/ns/mnt");
    _exit(1);
  }
out:
  if (at >= 0) close(at);
  if (own >= 0) close(own);
  if (cwd >= 0) close(cwd);
  if (ns >= 0) close(ns);
  return fd;
}

/* The clones, in the order the init expects (rootfs.h): rootfs, binds, devices. */
static int send_clones(const struct plan *p, struct spawned *s) {
  size_t n = rootfs_fd_count(p);
  int *fds = calloc(n, sizeof *fds), userns = -1, ret = -1;
  size_t k = 0;
  if (!fds) return ts_fail(TS_STEP_OPEN_TREE, ENOMEM, "", NULL);
  char nspath[64];
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)s->pid);
  /* A joined user namespace is idmapped with from its own path: without a new PID namespace
   * the init enters it only after the clone, so its /proc/PID/ns/user may still be ours. */
  const char *userns_path = nspath;
  for (size_t i = 0; i < p->n_joins; i++)
    if (p->joins[i].nstype == CLONE_NEWUSER) userns_path = p->joins[i].path;
  bool need_userns = (p->rootfs == ROOTFS_OVERLAY && p->rootfs_idmap) || plan_idmapped_binds(p);
  if (need_userns && (userns = open(userns_path, O_RDONLY | O_CLOEXEC)) < 0) {
    ts_fail_errno(TS_STEP_OPEN_TREE, userns_path);
    goto out;
  }
  if (p->rootfs == ROOTFS_OVERLAY) {
    int ns = p->rootfs_idmap ? userns : -1;
    for (size_t i = 0; i < p->n_lowers; i++)
      if ((fds[k++] = clone_tree(p->lowers[i], false, ns)) < 0) goto out;
    if ((fds[k++] = clone_tree(p->rootfs_path, false, ns)) < 0) goto out;
  } else if ((fds[k++] = clone_tree(p->rootfs_path, true, -1)) < 0) {
    goto out;
  }
  for (size_t i = 0; i < p->n_mounts; i++) {
    const struct mount_plan *m = &p->mounts[i];
    if (!m->bind) continue;
    bool recursive = (m->flags & MS_REC) != 0;
    int ns = m->idmap ? userns : -1;
    fds[k++] = m->source_ns[0] ? clone_tree_in(m->source_ns, m->source, recursive, ns) : clone_tree(m->source, recursive, ns);
    if (fds[k - 1] < 0) goto out;
  }
  for (size_t i = 0; i < p->n_devices; i++)
    if ((fds[k++] = clone_tree(p->devices[i].host, false, -1)) < 0) goto out;
  for (size_t off = 0; off < n; off += TS_MAX_FDS_PER_MSG) {
    size_t batch = n - off < TS_MAX_FDS_PER_MSG ? n - off : TS_MAX_FDS_PER_MSG;
    uint8_t cnt[4] = {(uint8_t)batch, (uint8_t)(batch >> 8), 0, 0};
    if (sync_send(s->sync, TS_SYNC_FDS, cnt, 4, fds + off, batch) < 0) goto out;
  }
  ret = 0;
out:
  for (size_t i = 0; i < k; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (userns >= 0) close(userns);
  free(fds);
  return ret;
}

/* The intermediate child reports the init's pid (or its failure) and exits; the init is
 * the monitor's child (CLONE_PARENT). */
static int take_init_from_intermediate(struct spawned *s) {
  uint32_t type;
  uint8_t buf[4096];
  ssize_t n = sync_recv(s->sync, &type, buf, sizeof buf, NULL, NULL, 0);
  while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
  }
  s->pid = 0;
  if (n < 0) return -1;
  if (type == TS_SYNC_FAILED) {
    sync_decode_failure(buf, (size_t)n);
    return -1;
  }
  if (type != TS_SYNC_PID || n != 4) return ts_fail(TS_STEP_SYNC, EPROTO, "", "Expected PID from the intermediate child, got %u", type);
  s->pid = (pid_t)get_u32le(buf);
  return 0;
}

void spawn_kill(struct spawned *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
  }
  s->pid = 0;
}

int spawn_init(const struct plan *p, int launch_fd, struct spawned *s) {
  int sv[2], child[3];
  struct saved_ns saved = {.n = 0};
  struct cgjoin cg;
  *s = (struct spawned){.pid = 0, .sync = -1, .out = -1, .err = -1, .in = -1, .pty = -1};
  if (make_stdio(p, s, child) < 0) return -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return ts_fail_errno(TS_STEP_MONITOR, "socketpair");
  sv[1] = fd_above_stdio(sv[1]);
  /* Opened here, as root on the host, for the init to join through (cgjoin.h). */
  if (cgjoin_open(&cg, p->cgroup_procs, p->n_cgroup_procs, TS_STEP_CGROUP) < 0) return -1;
  if (join_around_clone(p, &saved) < 0) {
    restore_ns(&saved);
    cgjoin_close(&cg);
    return -1;
  }
  /* The cgroup namespace is unshared later by the init, after the cgroup join. A joined
   * user namespace is entered by the child, which then unshares the others so they belong
   * to it (clone would make them the host user namespace's). */
  bool joins_user = plan_has_userns(p) && !(p->new_ns & CLONE_NEWUSER);
  int flags = joins_user ? 0 : p->new_ns & ~CLONE_NEWCGROUP;
  pid_t monitor = getpid();
  /* fork-like clone (no new stack): the child continues here, single-threaded C only; it is
   * born in the container's cgroup2 cgroup when there is one. */
  bool born_in_v2;
  pid_t pid = cgjoin_clone((unsigned long)flags, cg.v2_dir, &born_in_v2);
  if (pid == 0) {
    close(sv[0]);
    if (launch_fd >= 0) close(launch_fd);
    struct init_ctx c = {p, sv[1], child[0], child[1], child[2], monitor, false, &cg};
    if (joins_user) init_enter_userns(&c);
    init_main(&c);
  }
  int clone_errno = errno;
  restore_ns(&saved);
  close(sv[1]);
  for (int i = 0; i < 3; i++)
    if (child[i] >= 0) close(child[i]);
  s->sync = sv[0];
  if (pid < 0) {
    cgjoin_close(&cg);
    return ts_fail(TS_STEP_CLONE, clone_errno, "", NULL);
  }
  s->pid = pid;
  trace_point("monitor: cloned");
  if (joins_user && (p->new_ns & CLONE_NEWPID) && take_init_from_intermediate(s) < 0) goto fail;
  /* Parent side, in this order:
   * 1. id maps, when the clone made a user namespace: the init's setresuid(0) and the
   *    idmapped clones both need them; */
  if ((p->new_ns & CLONE_NEWUSER) &&
      (write_map(s->pid, "uid_map", p->uid_map, p->n_uid_map, TS_STEP_UID_MAP) < 0 ||
       write_map(s->pid, "gid_map", p->gid_map, p->n_gid_map, TS_STEP_GID_MAP) < 0))
    goto fail;
  /* 2. the cgroups the init cannot join itself (it moves itself into the v1 ones on GO,
   *    before it runs anything of the container's and before it unshares its cgroup
   *    namespace, whose root is then its own cgroup); */
  if (cgjoin_write_pid(&cg, s->pid, !born_in_v2, TS_STEP_CGROUP) < 0) goto fail;
  cgjoin_close(&cg);
  trace_point("monitor: maps and cgroups written");
  /* 3. clones of the layers, upper dir, bind sources and devices, made here as real root
   *    (idmapped with the init's user namespace where asked): the init never resolves a
   *    host path, which its root could not even traverse;
   * 4. the go-ahead. */
  if (send_clones(p, s) < 0 || sync_send(s->sync, TS_SYNC_GO, NULL, 0, NULL, 0) < 0) goto fail;
  trace_point("monitor: clones sent, go");
  return 0;
fail:
  cgjoin_close(&cg);
  spawn_kill(s);
  return -1;
}

int spawn_wait_ready(struct spawned *s) {
  for (;;) {
    uint32_t type;
    char buf[4096];
    int fd[1];
    size_t nfd = 0;
    ssize_t n = sync_recv(s->sync, &type, buf, sizeof buf, fd, &nfd, 1);
    if (n < 0) return -1;
    if (type == TS_SYNC_PTY && nfd == 1) {
      s->pty = fd[0];
      if (nonblock(s->pty) < 0) return ts_fail_errno(TS_STEP_TERMINAL, "O_NONBLOCK");
      continue;
    }
    for (size_t i = 0; i < nfd; i++) close(fd[i]);
    if (type == TS_SYNC_READY) return 0;
    if (type == TS_SYNC_FAILED) {
      sync_decode_failure(buf, (size_t)n);
      return -1;
    }
    if (type == 0) return ts_fail(TS_STEP_SYNC, EPIPE, "", "The init exited during setup without a report");
    return ts_fail(TS_STEP_SYNC, EPROTO, "", "Expected READY, PTY or FAILED from the init, got %u", type);
  }
}

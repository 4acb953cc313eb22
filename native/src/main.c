/*
 * tsrun-monitor <stateDir>
 *
 * One per container, started by launchMonitor() (src/runtime/monitor-client.ts) with stdio
 * on /dev/null and fd 3 a socket to the launcher. Reads <stateDir>/plan, clones the init,
 * reports CREATED or FAILED on fd 3 and closes it, then serves <stateDir>/monitor.sock until
 * the container has exited (see monitor.c). Protocol: native/protocol.def.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "buf.h"
#include "cgjoin.h"
#include "err.h"
#include "frame.h"
#include "jsonlog.h"
#include "monitor.h"
#include "plan.h"
#include "spawn.h"
#include "util.h"

#define LAUNCH_FD 3

static void report(int fd, uint8_t type, struct tbuf *payload) {
  struct tbuf f = {0};
  if (fd >= 0 && frame_append(&f, type, payload->data, payload->len) == 0) write_all(fd, f.data, f.len);
  tbuf_free(&f);
}

static int report_failure(int launch_fd) {
  diag(true, "Failed: step %s, %s, path \"%s\" %s", ts_err.step, strerror(ts_err.errnum), ts_err.path, ts_err.detail);
  struct tbuf b = {0};
  frame_failure_payload(&b);
  report(launch_fd, TS_MSG_FAILED, &b);
  tbuf_free(&b);
  return 1;
}

/* monitor.sock, bound relative to the cwd (the state dir): sun_path holds 108 bytes, state
 * roots can be deeper; clients connect through /proc/self/fd/<dirfd>/monitor.sock. */
static int listen_socket(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ts_fail_errno(TS_STEP_MONITOR, "monitor.sock");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strcpy(a.sun_path, "monitor.sock");
  unlink(a.sun_path);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) {
    int e = errno;
    close(fd);
    return ts_fail(TS_STEP_MONITOR, e, "monitor.sock", NULL);
  }
  return fd;
}

/* The json-file log, opened before CREATED so that a bad path is a FAILED. */
static int open_log(struct jsonlog *log, const struct plan *p) {
  return jsonlog_open(log, p->log_path) < 0 ? ts_fail_errno(TS_STEP_MONITOR, p->log_path) : 0;
}

/*
 * Out of the caller's cgroup (and never in the container's: an OOM kill there must not take
 * the monitor), without the global lock a pid written into cgroup.procs takes (cgjoin.h):
 * into the v1 cgroups by moving itself, into the cgroup2 one by being born there. The
 * process the launcher started forks the monitor proper into it and ends; the launcher
 * waits for fd 3, not for its child, and the init's PR_SET_PDEATHSIG follows the monitor
 * proper, which clones it.
 */
static int join_own_cgroups(const struct plan *p) {
  struct cgjoin j;
  if (cgjoin_open(&j, p->own_cgroup_procs, p->n_own_cgroup_procs, TS_STEP_MONITOR_CGROUP) < 0) return -1;
  bool born_in_v2 = false;
  if (cgjoin_self(&j, TS_STEP_MONITOR_CGROUP) < 0) goto fail;
  if (j.v2_dir >= 0) {
    pid_t pid = cgjoin_clone(0, j.v2_dir, &born_in_v2);
    if (pid < 0) {
      ts_fail_errno(TS_STEP_MONITOR_CGROUP, "clone");
      goto fail;
    }
    if (pid > 0) _exit(0);
  }
  if (cgjoin_write_pid(&j, getpid(), !born_in_v2, TS_STEP_MONITOR_CGROUP) < 0) goto fail;
  cgjoin_close(&j);
  return 0;
fail:
  cgjoin_close(&j);
  return -1;
}

static int setup_self(const struct plan *p) {
  if (join_own_cgroups(p) < 0) return -1;
  /* Its own session: the monitor outlives the CLI, its terminal and its session. */
  if (setsid() < 0 && getsid(0) != getpid()) return ts_fail_errno(TS_STEP_MONITOR, "setsid");
  if (chdir(p->state_dir) < 0) return ts_fail_errno(TS_STEP_MONITOR, p->state_dir);
  /* Clients may vanish mid-write; the errors are handled where they happen. */
  signal(SIGPIPE, SIG_IGN);
  /* SIGCHLD is read from a signalfd; blocked from before the clone so none is lost. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("tsrun-monitor protocol %d plan %d\n", TS_MONITOR_PROTOCOL, TS_PLAN_FORMAT);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "Usage: tsrun-monitor STATE_DIR (reads STATE_DIR/plan; fd 3: the launcher's socket)\n");
    return 2;
  }
  trace_point("monitor: main");
  int launch_fd = fcntl(LAUNCH_FD, F_SETFD, FD_CLOEXEC) == 0 ? LAUNCH_FD : -1;
  char path[4096];
  snprintf(path, sizeof path, "%s/plan", argv[1]);
  char *buf;
  struct plan p;
  if (plan_load(path, &buf, &p) < 0) {
    if (chdir(argv[1]) < 0) { /* only for monitor.log */
    }
    return report_failure(launch_fd);
  }
  trace_point("monitor: plan loaded");
  if (setup_self(&p) < 0) return report_failure(launch_fd);
  trace_point("monitor: set up");
  long long oom_base = p.oom_events_file ? read_oom_kill(p.oom_events_file) : -1;
  struct spawned s;
  if (spawn_init(&p, launch_fd, &s) < 0) return report_failure(launch_fd);
  int listen_fd = -1;
  struct jsonlog log;
  trace_point("monitor: init spawned, waiting for READY");
  if (spawn_wait_ready(&s) < 0 || (listen_fd = listen_socket()) < 0 ||
      open_log(&log, &p) < 0) {
    struct ts_err e = ts_err;
    spawn_kill(&s);
    ts_err = e;
    return report_failure(launch_fd);
  }
  /* With a terminal, input goes to the master too (its own fd: epoll watches it for writing). */
  if (p.terminal && p.stdin && s.pty >= 0) s.in = fcntl(s.pty, F_DUPFD_CLOEXEC, 3);
  struct tbuf b = {0};
  tbuf_u32(&b, (uint32_t)s.pid);
  tbuf_u64(&b, proc_start_time(s.pid));
  tbuf_u32(&b, (uint32_t)getpid());
  tbuf_u64(&b, proc_start_time(getpid()));
  tbuf_u32(&b, TS_MONITOR_PROTOCOL);
  report(launch_fd, TS_MSG_CREATED, &b);
  tbuf_free(&b);
  /* Closed now, so nothing ever waits on an inherited copy of it. */
  if (launch_fd >= 0) close(launch_fd);
  diag(false, "Created container %s, pid %d", p.container_id, (int)s.pid);
  int status = monitor_run(&p, &s, listen_fd, &log, oom_base);
  plan_free(&p);
  free(buf);
  return status;
}

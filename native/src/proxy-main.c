/*
 * tsrun-proxy: holds a container's published host ports and relays them to its address.
 *
 *   tsrun-proxy --pid-file FILE --owner PID:START --target IP [--udp-idle-ms N] BINDING...
 *   BINDING = tcp|udp,HOSTIP,HOSTPORT,CONTAINERPORT      (e.g. tcp,::1,8080,80)
 *
 * Protocol with its launcher (src/network/port-proxy-client.ts), unchanged from the Node
 * proxy it replaces:
 *   1. it writes its identity, {"pid":N,"startTime":T}, to FILE (temp file + rename) before
 *      it holds anything, so whoever removes the container can always find and stop it;
 *   2. it binds every BINDING, in order, and writes one line on stdout: {"ready":true}, or
 *      {"error":{"index":N,"code":"EADDRINUSE"}} (BINDING N failed; it then exits 1; index
 *      -1 for anything else: bad arguments, the owner already gone);
 *   3. it relays until the owner (the container's PID 1, by pid and start time, watched
 *      through a pidfd: no polling) exits, or SIGTERM; then it removes FILE if FILE still
 *      names it, and exits 0.
 * It connects to one address only, --target: the container's. Every fd it inherits beyond
 * stdio is closed first, and stdout becomes /dev/null once it has reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proxy.h"
#include "util.h"

/* docker-proxy's UDPConnTrackTimeout. */
#define UDP_IDLE_MS_DEFAULT 90000

struct binding {
  bool udp;
  struct px_addr host, target;
};

static const char *pid_file;

static void report(const char *line) {
  write_all(STDOUT_FILENO, line, strlen(line));
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDOUT_FILENO);
    close(null);
  }
}

static void report_error(int index, const char *code) {
  char line[512];
  snprintf(line, sizeof line, "{\"error\":{\"index\":%d,\"code\":\"%s\"}}\n", index, code);
  report(line);
}

static void remove_pid_file(void) {
  char buf[128];
  int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  int pid = 0;
  /* A newer proxy of the same container may have replaced it: only ours goes. */
  if (n > 0 && (buf[n] = '\0', sscanf(buf, "{\"pid\":%d", &pid) == 1) && pid == getpid()) unlink(pid_file);
}

static int write_pid_file(void) {
  char tmp[4096 + 32], body[96];
  int len = snprintf(body, sizeof body, "{\"pid\":%d,\"startTime\":%llu}\n", (int)getpid(), (unsigned long long)proc_start_time(getpid()));
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.tmp", pid_file, (int)getpid()) >= sizeof tmp) return errno = ENAMETOOLONG, -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (write_all(fd, body, (size_t)len) < 0 || close(fd) < 0 || rename(tmp, pid_file) < 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

static int parse_port(const char *s, uint16_t *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < 1 || v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

/* "tcp,HOSTIP,HOSTPORT,CONTAINERPORT" against the target address. Split in a copy: argv
 * is what `ps` shows of the proxy. */
static int parse_binding(const char *spec, const char *target, struct binding *b) {
  char *arg = strdup(spec);
  if (!arg) return -1;
  char *proto = strtok(arg, ","), *ip = strtok(NULL, ","), *hport = strtok(NULL, ","), *cport = strtok(NULL, ",");
  uint16_t hp, cp;
  int r = -1;
  if (cport && !strtok(NULL, ",") && parse_port(hport, &hp) == 0 && parse_port(cport, &cp) == 0 && (!strcmp(proto, "tcp") || !strcmp(proto, "udp"))) {
    b->udp = !strcmp(proto, "udp");
    r = px_parse_addr(ip, hp, &b->host) < 0 || px_parse_addr(target, cp, &b->target) < 0 ? -1 : 0;
  }
  free(arg);
  return r;
}

/* Exits the loop when the owner is gone or a stop signal comes. */
static void on_stop(struct px_watch *w, uint32_t events) {
  (void)w;
  (void)events;
  px_stop();
}

static struct px_watch owner_watch = {.fd = -1, .handle = on_stop};

static int watch_owner(pid_t pid, uint64_t start) {
  owner_watch.fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (owner_watch.fd < 0) return -1;
  /* The pidfd names the process that had the pid when it was opened: checked now, that is
   * the recorded PID 1 and not a later process that reused its pid. */
  if (proc_start_time(pid) != start) return errno = ESRCH, -1;
  return px_watch_set(&owner_watch, EPOLLIN);
}

static int watch_signals(void) {
  static struct px_watch sig = {.handle = on_stop};
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_SETMASK, &set, NULL) < 0) return -1;
  sig.fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  return sig.fd < 0 ? -1 : px_watch_set(&sig, EPOLLIN);
}

static const char *errno_code(int e) {
  const char *name = strerrorname_np(e);
  return name ? name : "EIO";
}

int main(int argc, char **argv) {
  /* Whatever the launcher's process left open (it is Node: every fd of its own is
   * close-on-exec, but not necessarily those it inherited) is no business of ours. */
  syscall(SYS_close_range, 3, ~0U, 0);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max; /* one fd per client and one per upstream connection */
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  const char *owner = NULL, *target = NULL;
  uint64_t idle_ms = UDP_IDLE_MS_DEFAULT;
  int i = 1;
  for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (!strcmp(argv[i], "--pid-file")) pid_file = argv[i + 1];
    else if (!strcmp(argv[i], "--owner")) owner = argv[i + 1];
    else if (!strcmp(argv[i], "--target")) target = argv[i + 1];
    else if (!strcmp(argv[i], "--udp-idle-ms")) idle_ms = strtoull(argv[i + 1], NULL, 10);
    else break;
  }
  int nbind = argc - i;
  struct binding *binds = calloc(nbind > 0 ? (size_t)nbind : 1, sizeof *binds);
  unsigned long long start = 0;
  int pid = 0;
  bool ok = pid_file && *pid_file == '/' && owner && sscanf(owner, "%d:%llu", &pid, &start) == 2 && pid > 0 && target && nbind > 0 && binds && idle_ms > 0;
  for (int k = 0; ok && k < nbind; k++) ok = parse_binding(argv[i + k], target, &binds[k]) == 0;
  if (!ok) {
    report_error(-1, "usage: tsrun-proxy --pid-file FILE --owner PID:START --target IP [--udp-idle-ms N] tcp|udp,HOSTIP,HOSTPORT,PORT...");
    return 2;
  }

  if (write_pid_file() < 0) {
    report_error(-1, errno_code(errno));
    return 1;
  }
  if (px_loop_init() < 0 || watch_signals() < 0 || watch_owner(pid, start) < 0) {
    report_error(-1, errno_code(errno));
    remove_pid_file();
    return 1;
  }
  for (int k = 0; k < nbind; k++) {
    struct binding *b = &binds[k];
    if ((b->udp ? px_udp_listen(&b->host, &b->target, idle_ms) : px_tcp_listen(&b->host, &b->target)) < 0) {
      report_error(k, errno_code(errno));
      remove_pid_file();
      return 1;
    }
  }
  free(binds);
  /* A PID 1 that exited meanwhile (a zombie still has its start time) gets no proxy. */
  struct pollfd gone = {.fd = owner_watch.fd, .events = POLLIN};
  if (poll(&gone, 1, 0) != 0) {
    report_error(-1, "ESRCH");
    remove_pid_file();
    return 1;
  }
  report("{\"ready\":true}\n");
  int rc = px_run();
  remove_pid_file();
  return rc < 0 ? 1 : 0;
}

/*
 * tsrun-cp: reads and writes files for `tsrun cp`, in a container's view or on the host.
 *
 *   tsrun-cp [--pid PID[:START]] stat PATH             one STAT record, then END
 *   tsrun-cp [--pid PID[:START]] archive PATH NAME      STAT, PATH's entries named NAME…, END
 *   tsrun-cp [--pid PID[:START]] extract DIR [--keep-owner]   records on stdin into DIR
 *
 * With --pid it first enters the view of that process (cp-enter.c) and PATH and DIR are
 * paths inside the container; without, they are the host's. Records go on stdout and come
 * on stdin (cp-records.h). A failure is one line on stderr, "<kind>\t<path>\t<message>",
 * and exit status 1; entries left out of an archive are reported as "warning\t…" lines.
 * No JavaScript ever runs in this process: it is started by Node and execs nothing.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"

int cp_sys(const char *op, const char *path) { return ts_fail(CP_SYSTEM, errno, path, "%s", op); }

static int usage(const char *why) { return ts_fail(CP_USAGE, 0, "", "%s", why); }

/* Go's error text for an errno: strerror with a lower-case first letter. */
static const char *errno_text(int e, char *buf, size_t len) {
  snprintf(buf, len, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

static void report(void) {
  char e[128];
  if (!strcmp(ts_err.step, CP_SYSTEM))
    fprintf(stderr, "%s\t%s\t%s%s%s: %s\n", ts_err.step, ts_err.path, ts_err.detail, ts_err.path[0] ? " " : "", ts_err.path,
            errno_text(ts_err.errnum, e, sizeof e));
  else fprintf(stderr, "%s\t%s\t%s\n", ts_err.step, ts_err.path, ts_err.detail);
}

static int parse_pid(const char *arg, pid_t *pid, uint64_t *start) {
  char *end;
  errno = 0;
  long p = strtol(arg, &end, 10);
  if (errno || p <= 0 || (*end && *end != ':')) return usage("--pid takes PID[:START]");
  *pid = (pid_t)p;
  *start = 0;
  if (*end == ':') {
    *start = strtoull(end + 1, &end, 10);
    if (errno || *end) return usage("--pid takes PID[:START]");
  }
  return 0;
}

static int run(int argc, char **argv) {
  int i = 1;
  pid_t pid = 0;
  uint64_t start = 0;
  if (i + 1 < argc && !strcmp(argv[i], "--pid")) {
    if (parse_pid(argv[i + 1], &pid, &start) < 0) return -1;
    i += 2;
  }
  if (i >= argc) return usage("no operation");
  const char *op = argv[i++];
  int nargs = argc - i;
  if (pid && cp_enter(pid, start) < 0) return -1;
  umask(0);

  static struct cp_out out;
  static struct cp_in in;
  if (!strcmp(op, "stat") && nargs == 1) {
    struct cp_rec end = {.type = CP_REC_END};
    if (cp_out_start(&out, 1) < 0 || cp_stat(&out, argv[i]) < 0 || cp_out_record(&out, &end) < 0) return -1;
    return cp_out_flush(&out);
  }
  if (!strcmp(op, "archive") && nargs == 2) {
    if (cp_out_start(&out, 1) < 0 || cp_archive(&out, argv[i], argv[i + 1]) < 0) {
      cp_out_flush(&out); /* what was read so far, so tsrun sees the stream end early */
      return -1;
    }
    return cp_out_flush(&out);
  }
  if (!strcmp(op, "extract") && (nargs == 1 || (nargs == 2 && !strcmp(argv[i + 1], "--keep-owner")))) {
    struct cp_extract_opts opts = {.keep_owner = nargs == 2, .beneath = pid == 0, .container = pid != 0};
    return cp_extract(&in, argv[i], &opts);
  }
  return usage("unknown operation or arguments");
}

int main(int argc, char **argv) {
  /* Node ignores SIGPIPE and its children may inherit that: a reader gone is an error. */
  signal(SIGPIPE, SIG_DFL);
  /* Nothing of tsrun's but stdio comes along, least of all into a container's view; and
   * the helper never outlives the tsrun that started it. */
  close_range(3, ~0U, 0);
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) return 1;
  /* Not ptraceable, /proc files not readable, from before any namespace is joined. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return 1;
  if (run(argc, argv) < 0) {
    report();
    return 1;
  }
  return 0;
}

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t r = write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = write_all(fd, s, strlen(s));
  int e = errno;
  if (close(fd) < 0 && r == 0) return -1;
  errno = e;
  return r;
}

uint64_t proc_start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: count from the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p++;
  for (int field = 3; field < 22 && p; field++) p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

char *rfc3339_now(char *buf) { return rfc3339_after(buf, 0); }

char *rfc3339_after(char *buf, uint64_t ms) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ts.tv_nsec) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
    size_t f = strlen(frac);
    while (frac[f - 1] == '0') frac[--f] = '\0';
    memcpy(buf + n, frac, f + 1);
    n += f;
  }
  buf[n++] = 'Z';
  buf[n] = '\0';
  return buf;
}

/* The temp file's name for name, in buf (256 bytes). */
static const char *temp_name(char *buf, const char *name) {
  snprintf(buf, 256, ".%s.%d.tmp", name, (int)getpid());
  return buf;
}

static int replace(const char *name, const char *data, size_t len, bool sync_first) {
  char tmp[256];
  temp_name(tmp, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (write_all(fd, data, len) < 0 || (sync_first && fsync(fd) < 0) || rename(tmp, name) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    errno = e;
    return -1;
  }
  return fd;
}

int write_atomic(const char *name, const char *data, size_t len) {
  int fd = replace(name, data, len, true);
  return fd < 0 ? -1 : close(fd);
}

int write_replace(const char *name, const char *data, size_t len) { return replace(name, data, len, false); }

long long read_oom_kill(const char *path) {
  char buf[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (!strncmp(line, "oom_kill ", 9)) return strtoll(line + 9, NULL, 10);
  return -1;
}

int fd_above_stdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return n;
}

void trace_point(const char *what) {
  /* Opened once, close-on-exec: the init keeps writing after pivot_root, where the path
   * would no longer resolve, and nothing of it reaches the container's process. */
  static int fd = -2;
  if (fd == -2) {
    const char *file = getenv("TSRUN_MONITOR_TRACE");
    fd = file ? open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
    if (fd >= 0) fd = fd_above_stdio(fd);
  }
  if (fd < 0) return;
  struct timespec ts;
  /* Wall-clock time, to line up with the CLI's own debug timestamps. */
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[256];
  int n = snprintf(line, sizeof line, "%lld %d %s\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, (int)getpid(), what);
  if (n > 0) write_all(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

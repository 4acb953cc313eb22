/*
 * tsrun-probe: a small static binary that integration tests copy into a container's rootfs
 * and run as its command, to look at the container from inside. One subcommand a run; the
 * output is plain lines meant for tests to parse.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

static const char usage[] =
    "Usage: tsrun-probe COMMAND [ARG...]\n"
    "  isatty FD           prints true or false (exit 0 or 1)\n"
    "  winsize             prints \"ROWS COLS\" of fd 0's terminal\n"
    "  caps                prints the Cap* lines of /proc/self/status\n"
    "  fds                 lists open fds as \"N TARGET\"\n"
    "  uid                 prints \"uid=U gid=G groups=G1,G2\"\n"
    "  pid                 prints \"pid=P ppid=PP\"\n"
    "  hostname            prints \"HOSTNAME DOMAINNAME\"\n"
    "  cgroup              prints /proc/self/cgroup\n"
    "  stat PATH           prints \"UID GID MODE(octal)\" of PATH (lstat)\n"
    "  write FILE TEXT     writes TEXT to FILE (created 0644); prints ok or the errno name\n"
    "  cat                 copies stdin to stdout, then prints EOF on stderr\n"
    "  stderr TEXT         prints TEXT on stderr\n"
    "  exit N              exits with status N\n"
    "  sleep-forever       sleeps until killed\n"
    "  signal-report       prints ready, then \"signal N\" for each signal received; exits after SIGTERM\n";

static int cat_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return perror(path), 1;
  char line[4096];
  while (fgets(line, sizeof line, f)) fputs(line, stdout);
  fclose(f);
  return 0;
}

static volatile sig_atomic_t last_signal;

static void on_signal(int s) {
  char msg[32];
  int n = snprintf(msg, sizeof msg, "signal %d\n", s);
  if (write(1, msg, (size_t)n) < 0) _exit(2);
  last_signal = s;
}

static int signal_report(void) {
  struct sigaction sa = {.sa_handler = on_signal};
  for (int s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  printf("ready\n");
  fflush(stdout);
  while (last_signal != SIGTERM) pause();
  return 0;
}

static int fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return perror("/proc/self/fd"), 1;
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
    char path[300], target[4096];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    printf("%s %s\n", e->d_name, target);
  }
  closedir(d);
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "isatty") && argc == 3) {
    int t = isatty(atoi(argv[2]));
    printf("%s\n", t ? "true" : "false");
    return !t;
  }
  if (!strcmp(cmd, "winsize")) {
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) < 0) return perror("TIOCGWINSZ"), 1;
    printf("%u %u\n", ws.ws_row, ws.ws_col);
    return 0;
  }
  if (!strcmp(cmd, "caps")) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return perror("/proc/self/status"), 1;
    char line[512];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "Cap", 3)) fputs(line, stdout);
    fclose(f);
    return 0;
  }
  if (!strcmp(cmd, "fds")) return fds();
  if (!strcmp(cmd, "uid")) {
    gid_t g[64];
    int n = getgroups(64, g);
    printf("uid=%u gid=%u groups=", getuid(), getgid());
    for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", g[i]);
    printf("\n");
    return 0;
  }
  if (!strcmp(cmd, "pid")) {
    printf("pid=%d ppid=%d\n", getpid(), getppid());
    return 0;
  }
  if (!strcmp(cmd, "hostname")) {
    struct utsname u;
    uname(&u);
    printf("%s %s\n", u.nodename, u.domainname);
    return 0;
  }
  if (!strcmp(cmd, "cgroup")) return cat_file("/proc/self/cgroup");
  if (!strcmp(cmd, "stat") && argc == 3) {
    struct stat st;
    if (lstat(argv[2], &st) < 0) return perror(argv[2]), 1;
    printf("%u %u %o\n", st.st_uid, st.st_gid, st.st_mode & 07777);
    return 0;
  }
  if (!strcmp(cmd, "write") && argc == 4) {
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, argv[3], strlen(argv[3])) < 0) {
      printf("%s\n", strerrorname_np(errno));
      return 1;
    }
    close(fd);
    printf("ok\n");
    return 0;
  }
  if (!strcmp(cmd, "cat")) {
    char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
      if (write(1, buf, (size_t)n) < 0) return 1;
    fprintf(stderr, "EOF\n");
    return 0;
  }
  if (!strcmp(cmd, "stderr") && argc == 3) {
    fprintf(stderr, "%s\n", argv[2]);
    return 0;
  }
  if (!strcmp(cmd, "exit") && argc == 3) return atoi(argv[2]);
  if (!strcmp(cmd, "sleep-forever")) {
    for (;;) pause();
  }
  if (!strcmp(cmd, "signal-report")) return signal_report();
  fputs(usage, stderr);
  return 2;
}

#include "exitrec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

static void put(struct tbuf *b, const char *s) { tbuf_put(b, s, strlen(s)); }

static void put_time(struct tbuf *b, const char *t) {
  if (!t || !t[0]) return put(b, "null");
  put(b, "\"");
  put(b, t);
  put(b, "\"");
}

int exit_record_write(const struct exit_record *r) {
  struct tbuf b = {0};
  char num[32];
  snprintf(num, sizeof num, "%d", r->exit_code);
  put(&b, "{\"exitCode\":");
  put(&b, num);
  put(&b, ",\"signal\":");
  snprintf(num, sizeof num, "%d", r->signal);
  put(&b, r->signal ? num : "null");
  put(&b, r->oom_killed ? ",\"oomKilled\":true" : ",\"oomKilled\":false");
  put(&b, ",\"startedAt\":");
  put_time(&b, r->started_at);
  put(&b, ",\"finishedAt\":");
  put_time(&b, r->finished_at);
  put(&b, "}\n");
  int ret = b.data ? write_replace("exit.json", (const char *)b.data, b.len) : -1;
  int e = errno;
  tbuf_free(&b);
  errno = e;
  return ret;
}

int started_record_write(const char *started_at) {
  char line[48];
  int n = snprintf(line, sizeof line, "%s\n", started_at);
  int fd = write_replace("started", line, (size_t)n);
  return fd < 0 ? -1 : close(fd);
}

int restarting_record_write(const char *due) {
  char line[48];
  int n = snprintf(line, sizeof line, "%s\n", due);
  return write_atomic("restarting", line, (size_t)n);
}

int command_run_detached(const struct plan *p, char **argv) {
  struct stat st;
  if (!argv || stat(p->state_dir, &st) < 0) return 0;
  pid_t c = fork();
  if (c < 0) return -1;
  if (c == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int nul = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; i++) dup2(nul, i);
    close_range(3, ~0U, 0);
    /* The monitor blocks SIGCHLD and ignores SIGPIPE: the command starts as after a login. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    _exit(127);
  }
  while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {
  }
  return 0;
}

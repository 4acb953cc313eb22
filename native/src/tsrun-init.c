/*
 * tsrun-init [--] PROGRAM [ARG...]
 *
 * PID 1 for `tsrun run --init`, as docker-init (tini) is for Docker: the engine binds this
 * static binary read-only at /dev/init and runs `/dev/init -- CMD...`. It runs PROGRAM as its
 * only child, reaps every process reparented to it (orphans would otherwise stay zombies:
 * a PID 1 that is not an init never waits for them), forwards the signals it receives to
 * the child, and exits with the child's status (128+n when the child dies of signal n),
 * which ends the container: the kernel kills whatever is left in the PID namespace.
 *
 * Signals go to the child alone, as docker-init does by default (tini without -g): `tsrun
 * kill -s USR1` reaches the program and not, say, the helpers of a shell script. The
 * child gets a process group of its own and, when stdin is the container's terminal,
 * becomes its foreground group: ^C then reaches the program once, from the kernel, and not
 * a second time through this init (which is not in that group).
 *
 * It stays tiny (it runs in every --init container): no stdio, no allocation, one loop.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* One line on stderr, in one write: "tsrun-init: " and the parts given (NULL ends them). */
static void say(const char *a, const char *b, const char *c, const char *d) {
  char line[512] = "tsrun-init: ";
  const char *parts[] = {a, b, c, d};
  for (size_t i = 0; i < 4 && parts[i]; i++) strncat(line, parts[i], sizeof line - strlen(line) - 2);
  strcat(line, "\n");
  if (write(STDERR_FILENO, line, strlen(line)) < 0) return;
}

/* The signals this init waits for (and forwards): all but those the kernel raises for a
 * fault of its own (SIGSEGV…), which must kill it as usual, and the terminal stops, which
 * keep their default meaning as in tini. SIGKILL and SIGSTOP cannot be caught anyway. */
static void forwarded_set(sigset_t *set) {
  static const int keep[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS, SIGTTIN, SIGTTOU};
  sigfillset(set);
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) sigdelset(set, keep[i]);
}

static _Noreturn void run_child(char **argv, const sigset_t *orig) {
  setpgid(0, 0);
  /* With SIGTTOU blocked, a background group may take the terminal without being stopped
   * for it. Fails harmlessly when stdin is no controlling terminal. */
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, NULL);
  if (tcgetpgrp(STDIN_FILENO) >= 0) tcsetpgrp(STDIN_FILENO, getpid());
  sigprocmask(SIG_SETMASK, orig, NULL);
  execvp(argv[0], argv);
  int e = errno;
  say("cannot run \"", argv[0], "\": ", strerror(e));
  /* Docker's statuses for a command that cannot be invoked or is not found. */
  _exit(e == ENOENT ? 127 : 126);
}

/* Reaps every child that has exited; returns true (with *status) once `child` has. */
static int reap(pid_t child, int *status) {
  int done = 0, st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
    if (pid == child) {
      *status = st;
      done = 1;
    }
  return done;
}

int main(int argc, char **argv) {
  int first = 1;
  if (argc > 1 && !strcmp(argv[1], "--")) first = 2;
  else if (argc > 1 && argv[1][0] == '-') {
    say("unknown option \"", argv[1], "\"; usage: tsrun-init [--] PROGRAM [ARG...]", NULL);
    return 1;
  }
  if (first >= argc) {
    say("usage: tsrun-init [--] PROGRAM [ARG...]", NULL, NULL, NULL);
    return 1;
  }
  /* Not PID 1 (--pid host): orphans of the child are reparented here all the same. */
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* An inherited SIG_IGN would have the kernel reap the child before we learn its status. */
  signal(SIGCHLD, SIG_DFL);
  sigset_t set, orig;
  forwarded_set(&set);
  /* Blocked, the signals stay pending for sigwaitinfo, even those a PID 1 would have the
   * kernel drop for having no handler. */
  sigprocmask(SIG_SETMASK, &set, &orig);
  pid_t child = fork();
  if (child < 0) {
    say("fork: ", strerror(errno), NULL, NULL);
    return 1;
  }
  if (child == 0) run_child(argv + first, &orig);
  setpgid(child, child); /* as the child does: whichever runs first */
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue; /* EINTR */
    if (sig != SIGCHLD) {
      kill(child, sig); /* ESRCH: it is exiting, its SIGCHLD is on its way */
      continue;
    }
    int status;
    if (reap(child, &status)) return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
}

/* What the monitor leaves in the state directory (its cwd) when PID 1 starts and exits,
 * and the exit command it runs afterwards. */
#ifndef TSRUN_EXITREC_H
#define TSRUN_EXITREC_H

#include <stdbool.h>

#include "plan.h"

struct exit_record {
  int exit_code;  /* Docker's: the status, or 128+signal */
  int signal;     /* 0: none */
  bool oom_killed;
  const char *started_at; /* "" when PID 1 never started */
  const char *finished_at;
};

/* exit.json: {"exitCode","signal","oomKilled","startedAt","finishedAt"}, atomically. */
int exit_record_write(const struct exit_record *r);

/* started: one line, the RFC 3339 time execve succeeded, atomically. */
int started_record_write(const char *started_at);

/* Runs plan->exit_command detached (own session, double fork, stdio on /dev/null) when set
 * and the state directory still exists (else the container was removed: nothing to do). */
int exit_command_run(const struct plan *p);

#endif

/* What the monitor leaves in the state directory (its cwd) when PID 1 starts and exits,
 * and the command it runs afterwards (the exit command, or the restart command). */
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

/* exit.json: {"exitCode","signal","oomKilled","startedAt","finishedAt"}, atomically.
 * Returns the file's fd: the caller fsyncs and closes it once the clients waiting for the
 * exit have been told (an fsync costs 1-5 ms here, and a `run` waits for EXITED); a crash of
 * the machine in between can only leave it empty, which readers take for no record. */
int exit_record_write(const struct exit_record *r);

/* started: one line, the RFC 3339 time execve succeeded, atomically but never fsync'd: it
 * sits between execve and STARTED, and after a crash of the machine (which the container
 * did not survive) an empty record only loses StartedAt. */
int started_record_write(const char *started_at);

/* restarting: one line, the RFC 3339 time the restart command is due, atomically, fsync'd. */
int restarting_record_write(const char *due);

/* Runs argv (the plan's exit or restart command) detached (own session, double fork, stdio
 * on /dev/null) when set and the state directory still exists (else the container was
 * removed: nothing to do). */
int command_run_detached(const struct plan *p, char **argv);

#endif

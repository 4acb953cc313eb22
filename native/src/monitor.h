/*
 * The monitor's life after CREATED: serving monitor.sock, relaying the container's stdio,
 * the json-file log, reaping PID 1, exit.json, the exit command.
 */
#ifndef TSRUN_MONITOR_H
#define TSRUN_MONITOR_H

#include <stdbool.h>

#include "jsonlog.h"
#include "plan.h"
#include "spawn.h"

/* Runs until the container has exited and no cleanup owner is attached. listen_fd is the
 * bound, listening monitor.sock; log the opened json-file log (taken over). Returns the
 * process exit status for main. */
int monitor_run(const struct plan *p, struct spawned *s, int listen_fd, struct jsonlog *log, long long oom_base);

/* Appends a line to monitor.log in the state directory (the cwd): failures always, other
 * lines only when TSRUN_MONITOR_DEBUG is set (the monitor's stdio is /dev/null). */
void diag(bool failure, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

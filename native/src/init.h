/* The container's init: the cloned child of the monitor, from clone() to execve(). */
#ifndef TSRUN_INIT_H
#define TSRUN_INIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgjoin.h"
#include "plan.h"

struct init_ctx {
  const struct plan *plan;
  int sync;                          /* init end of the socketpair, close-on-exec */
  int stdin_fd, stdout_fd, stderr_fd; /* pipe ends or /dev/null; -1 with a terminal */
  pid_t monitor_pid;
  bool userns_entered; /* the joined user namespace was entered by init_enter_userns */
  struct cgjoin *cgroups; /* the container's v1 cgroups, joined by the init itself on GO */
};

/*
 * For a joined user namespace (--network container:X): enters it and unshares the new
 * namespaces so they belong to it. With a new PID namespace, this process is only an
 * intermediate: it clones the init as the monitor's child (CLONE_PARENT) into the new PID
 * namespace, reports its pid (sync PID) and exits; only the init returns from here.
 */
void init_enter_userns(struct init_ctx *c);

/* Runs the init sequence; never returns (execve, or _exit after reporting a failure). */
_Noreturn void init_main(const struct init_ctx *c);

#endif

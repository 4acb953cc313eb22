/* The monitor's side of starting the init: clone, id maps, cgroups, idmapped clones, go. */
#ifndef TSRUN_SPAWN_H
#define TSRUN_SPAWN_H

#include <sys/types.h>

#include "plan.h"

struct spawned {
  pid_t pid;
  int sync; /* monitor end of the socketpair */
  int out, err; /* read ends of the output pipes (non-blocking), or -1 with a terminal */
  int in;       /* write end of the stdin pipe (non-blocking), or -1 */
  int pty;      /* the terminal master, once received, or -1 */
};

/* Clones the init and gives it the go-ahead. launch_fd is closed in the child. On failure
 * the init (if any) is killed and reaped. */
int spawn_init(const struct plan *p, int launch_fd, struct spawned *s);

/* Waits until the init is ready for START (receiving the terminal master on the way). */
int spawn_wait_ready(struct spawned *s);

/* Kills and reaps the init (SIGKILL; the monitor is its parent, so the pid is its own). */
void spawn_kill(struct spawned *s);

#endif

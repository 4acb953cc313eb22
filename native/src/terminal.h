/* The container's terminal: a pty of its own devpts, made the init's controlling terminal. */
#ifndef TSRUN_TERMINAL_H
#define TSRUN_TERMINAL_H

#include "plan.h"

/* Inside the new root: opens /dev/ptmx, sets the size, setsid + TIOCSCTTY, binds the slave
 * on /dev/console, puts the slave on 0/1/2. Returns the master fd (close-on-exec). */
int terminal_setup(const struct plan *p);

#endif

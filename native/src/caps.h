/* The process's privileges at START: capabilities, groups, user, no_new_privs. */
#ifndef TSRUN_CAPS_H
#define TSRUN_CAPS_H

#include "plan.h"

/* Bounding set drop, keepcaps, setgroups, setresgid/setresuid, capset, ambient,
 * no_new_privs, in that order (each needs the privilege the next one gives up). */
int privileges_apply(const struct plan *p);

#endif

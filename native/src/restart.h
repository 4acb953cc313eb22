/*
 * Restart policies (docker run --restart): the monitor decides when, a tsrun subcommand
 * (the plan's restart command) rebuilds the container. This is the decision alone, a pure
 * function of the policy and of how PID 1 ended, so that it can be tested without a
 * container.
 */
#ifndef TSRUN_RESTART_H
#define TSRUN_RESTART_H

#include <stdbool.h>
#include <stdint.h>

enum restart_policy { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_UNLESS_STOPPED };

struct restart_plan {
  enum restart_policy policy;
  uint32_t max_retries; /* on-failure only; 0 = unlimited */
  uint32_t retry_count; /* restarts so far */
  uint64_t delay_ms;    /* the back-off before this restart, as the engine computed it */
  char **command;       /* NULL-terminated; NULL with RESTART_NO */
};

/* Docker resets its back-off once a container has been up this long, and then waits the
 * shortest back-off. */
#define RESTART_RESET_UPTIME_MS 10000
#define RESTART_MIN_DELAY_MS 100

/* "on-failure", "always", "unless-stopped" ("no" is the absence of a policy); -1 otherwise. */
int restart_policy_parse(const char *name, enum restart_policy *out);

/*
 * Whether PID 1's exit (Docker's exit code) restarts the container, and after how long.
 * Never when it was stopped on purpose (STOP). always / unless-stopped: after any exit;
 * on-failure: after a non-zero exit while retries remain. The wait is the plan's back-off,
 * but RESTART_MIN_DELAY_MS when the container had been up RESTART_RESET_UPTIME_MS or more
 * (Docker's reset).
 */
bool restart_decide(const struct restart_plan *r, int exit_code, bool stopped, uint64_t uptime_ms, uint64_t *delay_ms);

#endif

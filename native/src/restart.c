#include "restart.h"

#include <string.h>

int restart_policy_parse(const char *name, enum restart_policy *out) {
  static const struct {
    const char *name;
    enum restart_policy policy;
  } t[] = {{"on-failure", RESTART_ON_FAILURE}, {"always", RESTART_ALWAYS}, {"unless-stopped", RESTART_UNLESS_STOPPED}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(name, t[i].name)) {
      *out = t[i].policy;
      return 0;
    }
  return -1;
}

bool restart_decide(const struct restart_plan *r, int exit_code, bool stopped, uint64_t uptime_ms, uint64_t *delay_ms) {
  bool restart;
  switch (r->policy) {
    case RESTART_ALWAYS:
    case RESTART_UNLESS_STOPPED: restart = true; break;
    case RESTART_ON_FAILURE: restart = exit_code != 0 && (r->max_retries == 0 || r->retry_count < r->max_retries); break;
    default: restart = false;
  }
  if (!restart || stopped || !r->command) return false;
  *delay_ms = uptime_ms >= RESTART_RESET_UPTIME_MS ? RESTART_MIN_DELAY_MS : r->delay_ms;
  return true;
}

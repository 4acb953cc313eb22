/* The restart decision: policy x exit code x retry count x uptime x stopped on purpose. */
#include <stdint.h>

#include "../src/restart.h"
#include "t.h"

static char *cmd[] = {"tsrun", "_restart-hook", "id", NULL};

static struct restart_plan plan(enum restart_policy policy, uint32_t max, uint32_t count, uint64_t delay) {
  return (struct restart_plan){policy, max, count, delay, policy == RESTART_NO ? NULL : cmd};
}

/* -1: no restart; else the delay. */
static long long decide(struct restart_plan r, int code, int stopped, uint64_t uptime) {
  uint64_t d = 12345;
  return restart_decide(&r, code, stopped, uptime, &d) ? (long long)d : -1;
}

static void test_policies(void) {
  /* no: never. */
  CHECK(decide(plan(RESTART_NO, 0, 0, 100), 1, 0, 0) == -1);
  CHECK(decide(plan(RESTART_NO, 0, 0, 100), 0, 0, 0) == -1);
  /* always and unless-stopped: any exit, success included, signals included. */
  for (int p = RESTART_ALWAYS; p <= RESTART_UNLESS_STOPPED; p++) {
    CHECK(decide(plan(p, 0, 0, 100), 0, 0, 5) == 100);
    CHECK(decide(plan(p, 0, 0, 100), 1, 0, 5) == 100);
    CHECK(decide(plan(p, 0, 0, 800), 137, 0, 5) == 800);
    /* max retries do not apply to them (Docker only honours them for on-failure). */
    CHECK(decide(plan(p, 2, 7, 100), 1, 0, 5) == 100);
  }
  /* on-failure: a non-zero exit only. */
  CHECK(decide(plan(RESTART_ON_FAILURE, 0, 0, 100), 0, 0, 5) == -1);
  CHECK(decide(plan(RESTART_ON_FAILURE, 0, 0, 100), 1, 0, 5) == 100);
  CHECK(decide(plan(RESTART_ON_FAILURE, 0, 0, 100), 143, 0, 5) == 100);
}

static void test_retries(void) {
  /* on-failure:2 restarts after the first and second failures, not the third. */
  CHECK(decide(plan(RESTART_ON_FAILURE, 2, 0, 100), 1, 0, 5) == 100);
  CHECK(decide(plan(RESTART_ON_FAILURE, 2, 1, 200), 1, 0, 5) == 200);
  CHECK(decide(plan(RESTART_ON_FAILURE, 2, 2, 400), 1, 0, 5) == -1);
  CHECK(decide(plan(RESTART_ON_FAILURE, 2, 3, 400), 1, 0, 5) == -1);
  /* 0 is unlimited. */
  CHECK(decide(plan(RESTART_ON_FAILURE, 0, 1000000, 60000), 1, 0, 5) == 60000);
}

static void test_stopped_on_purpose(void) {
  for (int p = RESTART_ON_FAILURE; p <= RESTART_UNLESS_STOPPED; p++) {
    CHECK(decide(plan(p, 0, 0, 100), 143, 1, 5) == -1);
    CHECK(decide(plan(p, 0, 0, 100), 0, 1, 20000) == -1);
  }
}

static void test_backoff_reset(void) {
  /* Up for 10 s or more: the shortest back-off, whatever the plan says. */
  CHECK(decide(plan(RESTART_ALWAYS, 0, 5, 3200), 0, 0, 9999) == 3200);
  CHECK(decide(plan(RESTART_ALWAYS, 0, 5, 3200), 0, 0, 10000) == 100);
  CHECK(decide(plan(RESTART_ON_FAILURE, 0, 5, 60000), 2, 0, 3600000) == 100);
  /* A zero back-off is taken as given. */
  CHECK(decide(plan(RESTART_ALWAYS, 0, 0, 0), 0, 0, 1) == 0);
}

static void test_parse(void) {
  enum restart_policy p = RESTART_NO;
  CHECK(restart_policy_parse("on-failure", &p) == 0 && p == RESTART_ON_FAILURE);
  CHECK(restart_policy_parse("always", &p) == 0 && p == RESTART_ALWAYS);
  CHECK(restart_policy_parse("unless-stopped", &p) == 0 && p == RESTART_UNLESS_STOPPED);
  CHECK(restart_policy_parse("no", &p) < 0);
  CHECK(restart_policy_parse("on-failure:3", &p) < 0);
  CHECK(restart_policy_parse("", &p) < 0);
  /* A policy without a command never restarts (nothing to run). */
  struct restart_plan r = plan(RESTART_ALWAYS, 0, 0, 100);
  r.command = NULL;
  uint64_t d;
  CHECK(!restart_decide(&r, 1, 0, 5, &d));
}

int main(void) {
  test_policies();
  test_retries();
  test_stopped_on_purpose();
  test_backoff_reset();
  test_parse();
  T_DONE("test-restart");
}

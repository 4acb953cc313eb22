/* The plan parser: a valid plan, every kind of malformed input, and truncations/bit flips
 * of a valid plan at every offset (which must fail cleanly, never overrun). */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "../gen/protocol.h"
#include "../src/buf.h"
#include "../src/err.h"
#include "../src/plan.h"
#include "t.h"

static void rec(struct tbuf *b, uint32_t type, int n, const char **fields) {
  struct tbuf p = {0};
  for (int i = 0; i < n; i++) tbuf_str(&p, fields[i]);
  tbuf_u32(b, type);
  tbuf_u32(b, (uint32_t)p.len);
  tbuf_put(b, p.data, p.len);
  tbuf_free(&p);
}

#define REC(b, type, ...)                                              \
  do {                                                                 \
    const char *f_[] = {__VA_ARGS__};                                  \
    rec((b), (type), (int)(sizeof f_ / sizeof f_[0]), f_);             \
    count++;                                                           \
  } while (0)

/* A valid plan; `extra` adds records before END (it may break it on purpose). */
static struct tbuf make(void (*extra)(struct tbuf *, int *)) {
  struct tbuf b = {0};
  int count = 0;
  tbuf_u32(&b, TS_PLAN_MAGIC);
  tbuf_u32(&b, TS_PLAN_FORMAT);
  REC(&b, TS_REC_CONTAINER_ID, "abc");
  REC(&b, TS_REC_NS_NEW, "user");
  REC(&b, TS_REC_NS_NEW, "mnt");
  REC(&b, TS_REC_NS_NEW, "pid");
  REC(&b, TS_REC_NS_JOIN, "ipc", "/proc/42/ns/ipc");
  REC(&b, TS_REC_UID_MAP, "0", "4000000000", "65536");
  REC(&b, TS_REC_GID_MAP, "0", "4000000000", "65536");
  REC(&b, TS_REC_ROOTFS_OVERLAY, "/u", "1", "0");
  REC(&b, TS_REC_ROOTFS_LOWER, "/l1");
  REC(&b, TS_REC_ROOTFS_LOWER, "/l0");
  REC(&b, TS_REC_MOUNT, "fs", "proc", "/proc", "proc", "14", "0", "", "0", "");
  REC(&b, TS_REC_MOUNT, "bind", "/h", "/data", "", "20481", "0", "", "1", "");
  REC(&b, TS_REC_MOUNT, "bind", "/dev/shm", "/dev/shm", "", "20481", "0", "", "0", "/proc/7/ns/mnt");
  REC(&b, TS_REC_ARGS, "sh", "-c", "echo hi");
  REC(&b, TS_REC_ENV, "PATH=/bin", "A=");
  REC(&b, TS_REC_CWD, "/");
  REC(&b, TS_REC_USER, "1000", "100");
  REC(&b, TS_REC_ADDITIONAL_GIDS, "10", "20");
  REC(&b, TS_REC_TERMINAL, "24", "80");
  REC(&b, TS_REC_CAPS, "18446744073709551615", "1", "2", "3", "0");
  REC(&b, TS_REC_RLIMIT, "7", "1024", "18446744073709551615");
  REC(&b, TS_REC_OOM_SCORE_ADJ, "-500");
  REC(&b, TS_REC_STATE_DIR, "/run/x");
  REC(&b, TS_REC_STDIN);
  REC(&b, TS_REC_EXIT_COMMAND, "/bin/tsrun", "cleanup");
  REC(&b, TS_REC_RESTART, "on-failure", "3", "1", "200", "/bin/tsrun", "_restart-hook", "abc");
  if (extra) extra(&b, &count);
  char n[16];
  snprintf(n, sizeof n, "%d", count);
  REC(&b, TS_REC_END, n);
  return b;
}

/* Parses a copy of exactly the input's size (an overrun reads past the allocation, which
 * the sanitizer build reports), then frees everything. */
static int parse(struct tbuf *b, struct plan *p) {
  char *copy = malloc(b->len ? b->len : 1);
  memcpy(copy, b->data, b->len);
  int r = plan_parse(copy, b->len, p);
  if (r == 0) plan_free(p);
  free(copy);
  return r;
}

static void test_valid(void) {
  struct tbuf b = make(NULL);
  char *buf = malloc(b.len);
  memcpy(buf, b.data, b.len);
  struct plan p;
  CHECK(plan_parse(buf, b.len, &p) == 0);
  CHECK_STR(p.container_id, "abc");
  CHECK(p.new_ns == (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID));
  CHECK(p.n_joins == 1 && p.joins[0].nstype == CLONE_NEWIPC);
  CHECK(p.n_uid_map == 1 && p.uid_map[0].outside == 4000000000u && p.uid_map[0].count == 65536);
  CHECK(p.rootfs == ROOTFS_OVERLAY && p.rootfs_idmap && !p.rootfs_readonly);
  CHECK(p.n_lowers == 2);
  CHECK_STR(p.lowers[1], "/l0");
  CHECK(p.n_mounts == 3 && !p.mounts[0].bind && p.mounts[1].bind && p.mounts[1].idmap && p.mounts[1].flags == 20481);
  CHECK_STR(p.mounts[1].source_ns, "");
  CHECK_STR(p.mounts[2].source_ns, "/proc/7/ns/mnt");
  CHECK_STR(p.args[2], "echo hi");
  CHECK(p.args[3] == NULL);
  CHECK_STR(p.env[1], "A=");
  CHECK(p.uid == 1000 && p.gid == 100 && p.n_gids == 2 && p.gids[1] == 20);
  CHECK(p.terminal && p.rows == 24 && p.cols == 80);
  CHECK(p.cap_bounding == UINT64_MAX && p.cap_inheritable == 3);
  CHECK(p.n_rlimits == 1 && p.rlimits[0].hard == UINT64_MAX);
  CHECK(p.has_oom_score_adj && p.oom_score_adj == -500);
  CHECK(p.stdin && !p.no_new_privs);
  CHECK_STR(p.exit_command[1], "cleanup");
  CHECK(p.exit_command[2] == NULL);
  CHECK(p.restart.policy == RESTART_ON_FAILURE && p.restart.max_retries == 3 && p.restart.retry_count == 1);
  CHECK(p.restart.delay_ms == 200);
  CHECK_STR(p.restart.command[0], "/bin/tsrun");
  CHECK_STR(p.restart.command[2], "abc");
  CHECK(p.restart.command[3] == NULL);
  CHECK(plan_idmapped_binds(&p) == 1);
  plan_free(&p);
  free(buf);
  tbuf_free(&b);
}

static void expect_error(struct tbuf *b, const char *what_substring) {
  struct plan p;
  ts_err = (struct ts_err){0};
  CHECK(parse(b, &p) < 0);
  CHECK(ts_err.step && !strcmp(ts_err.step, TS_STEP_PLAN));
  CHECK(ts_err.errnum == EINVAL || ts_err.errnum == ENOMEM);
  if (!strstr(ts_err.detail, what_substring)) {
    t_failures++;
    fprintf(stderr, "expected an error with \"%s\", got \"%s\"\n", what_substring, ts_err.detail);
  }
}

static void dup_hostname(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_HOSTNAME, "a");
  REC(b, TS_REC_HOSTNAME, "b");
  *n += count;
}
static void bad_number(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_UID_MAP, "0", "12x", "1");
  *n += count;
}
static void overflow(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_GID_MAP, "0", "4294967296", "1");
  *n += count;
}
static void wrong_arity(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_SYSCTL, "only-key");
  *n += count;
}
static void unknown_type(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, 999, "x");
  *n += count;
}
static void join_and_create(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_NS_JOIN, "pid", "/proc/1/ns/pid");
  *n += count;
}
static void relative_target(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_MOUNT, "fs", "tmpfs", "tmp", "tmpfs", "0", "0", "", "0", "");
  *n += count;
}
static void ns_of_fs(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_MOUNT, "fs", "tmpfs", "/tmp", "tmpfs", "0", "0", "", "0", "/proc/7/ns/mnt");
  *n += count;
}
static void no_nul(struct tbuf *b, int *n) {
  tbuf_u32(b, TS_REC_HOSTNAME);
  tbuf_u32(b, 3);
  tbuf_put(b, "abc", 3);
  (*n)++;
}
static void bad_bool(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_ROOTFS_DIR, "/x", "yes");
  *n += count;
}

/* The smallest valid plan (no RESTART, no EXIT_COMMAND), plus `extra`. */
static struct tbuf minimal(void (*extra)(struct tbuf *, int *)) {
  struct tbuf b = {0};
  int count = 0;
  tbuf_u32(&b, TS_PLAN_MAGIC);
  tbuf_u32(&b, TS_PLAN_FORMAT);
  REC(&b, TS_REC_CONTAINER_ID, "abc");
  REC(&b, TS_REC_ROOTFS_DIR, "/r", "0");
  REC(&b, TS_REC_ARGS, "true");
  REC(&b, TS_REC_CWD, "/");
  REC(&b, TS_REC_USER, "0", "0");
  REC(&b, TS_REC_CAPS, "0", "0", "0", "0", "0");
  REC(&b, TS_REC_STATE_DIR, "/run/x");
  if (extra) extra(&b, &count);
  char n[16];
  snprintf(n, sizeof n, "%d", count);
  REC(&b, TS_REC_END, n);
  return b;
}

static void policy_no(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_RESTART, "no", "0", "0", "100", "/bin/true");
  *n += count;
}
static void restart_without_command(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_RESTART, "always", "0", "0", "100");
  *n += count;
}
static void restart_empty_command(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_RESTART, "always", "0", "0", "100", "");
  *n += count;
}
static void restart_bad_delay(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_RESTART, "always", "0", "0", "-1", "/bin/true");
  *n += count;
}
static void restart_twice(struct tbuf *b, int *n) {
  int count = 0;
  REC(b, TS_REC_RESTART, "always", "0", "0", "100", "/bin/true");
  *n += count;
}

static void test_restart_records(void) {
  struct tbuf b = minimal(NULL);
  struct plan p;
  CHECK(plan_parse((char *)b.data, b.len, &p) == 0);
  CHECK(p.restart.policy == RESTART_NO && p.restart.command == NULL && p.exit_command == NULL);
  plan_free(&p);
  tbuf_free(&b);
  b = minimal(policy_no), expect_error(&b, "Unknown restart policy \"no\""), tbuf_free(&b);
  b = minimal(restart_without_command), expect_error(&b, "wrong number of fields"), tbuf_free(&b);
  b = minimal(restart_empty_command), expect_error(&b, "restart.command is empty"), tbuf_free(&b);
  b = minimal(restart_bad_delay), expect_error(&b, "restart.delayMs"), tbuf_free(&b);
  b = make(restart_twice), expect_error(&b, "RESTART appears more than once"), tbuf_free(&b);
}

static void test_malformed(void) {
  struct tbuf b;
  b = make(dup_hostname), expect_error(&b, "more than once"), tbuf_free(&b);
  b = make(bad_number), expect_error(&b, "not a decimal"), tbuf_free(&b);
  b = make(overflow), expect_error(&b, "overflows"), tbuf_free(&b);
  b = make(wrong_arity), expect_error(&b, "wrong number of fields"), tbuf_free(&b);
  b = make(unknown_type), expect_error(&b, "Unknown record type 999"), tbuf_free(&b);
  b = make(join_and_create), expect_error(&b, "both joined and created"), tbuf_free(&b);
  b = make(relative_target), expect_error(&b, "not absolute"), tbuf_free(&b);
  b = make(ns_of_fs), expect_error(&b, "needs a bind of an absolute path"), tbuf_free(&b);
  b = make(no_nul), expect_error(&b, "without its NUL"), tbuf_free(&b);
  b = make(bad_bool), expect_error(&b, ""), tbuf_free(&b);

  b = make(NULL);
  b.data[0] ^= 1;
  expect_error(&b, "magic");
  b.data[0] ^= 1;
  b.data[4] = 9;
  expect_error(&b, "version 9");
  tbuf_free(&b);

  /* END count off by one. */
  b = make(NULL);
  b.data[b.len - 2] = (char)(b.data[b.len - 2] + 1);
  expect_error(&b, "END record counts");
  tbuf_free(&b);

  /* Data after END. */
  b = make(NULL);
  tbuf_u32(&b, TS_REC_CWD);
  expect_error(&b, "after the END");
  tbuf_free(&b);

  /* A record length far past the end. */
  b = make(NULL);
  b.data[12] = 0xff;
  b.data[13] = 0xff;
  expect_error(&b, "past the end");
  tbuf_free(&b);
}

/* Every prefix of a valid plan fails; every single-byte corruption parses or fails cleanly. */
static void test_truncations_and_flips(void) {
  struct tbuf b = make(NULL);
  int clean = 1;
  for (size_t len = 0; len < b.len; len++) {
    struct tbuf t = {b.data, len, len};
    struct plan p;
    if (parse(&t, &p) == 0) clean = 0;
  }
  CHECK(clean);
  for (size_t i = 0; i < b.len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b.data[i] ^= (uint8_t)(1 << bit);
      struct plan p;
      char *copy = malloc(b.len);
      memcpy(copy, b.data, b.len);
      if (plan_parse(copy, b.len, &p) == 0) plan_free(&p);
      free(copy);
      b.data[i] ^= (uint8_t)(1 << bit);
    }
  }
  CHECK(1); /* reaching here without a crash is the check */
  tbuf_free(&b);
}

int main(void) {
  test_valid();
  test_malformed();
  test_restart_records();
  test_truncations_and_flips();
  T_DONE("test-plan");
}

/* json-file log lines (Docker's format and escaping) and frame parsing. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "../src/buf.h"
#include "../src/frame.h"
#include "../src/jsonlog.h"
#include "../src/util.h"
#include "t.h"

static const char *escaped(const char *s, size_t n) {
  static char out[256];
  struct tbuf b = {0};
  json_escape(&b, s, n);
  snprintf(out, sizeof out, "%.*s", (int)b.len, b.data ? (const char *)b.data : "");
  tbuf_free(&b);
  return out;
}

static void test_escape(void) {
  CHECK_STR(escaped("a\"b\\c\n", 6), "a\\\"b\\\\c\\n");
  CHECK_STR(escaped("<&>", 3), "\\u003c\\u0026\\u003e");
  CHECK_STR(escaped("\x01\t", 2), "\\u0001\\t");
  CHECK_STR(escaped("h\xc3\xa9", 3), "h\xc3\xa9");          /* valid UTF-8 kept */
  CHECK_STR(escaped("\xff" "a", 2), "\\ufffda");              /* invalid byte */
  CHECK_STR(escaped("\xc3", 1), "\\ufffd");                   /* truncated sequence */
  CHECK_STR(escaped("\xed\xa0\x80", 3), "\\ufffd\\ufffd\\ufffd"); /* surrogate */
}

static void test_lines(void) {
  char path[] = "/tmp/tsrun-jsonlog-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  struct jsonlog l;
  CHECK(jsonlog_open(&l, path) == 0);
  jsonlog_write(&l, LOG_STDOUT, "one\ntw", 6);
  jsonlog_write(&l, LOG_STDERR, "err\n", 4);
  jsonlog_write(&l, LOG_STDOUT, "o\nthree", 7);
  jsonlog_close(&l);
  char buf[1024] = {0};
  fd = open(path, O_RDONLY);
  CHECK(read(fd, buf, sizeof buf - 1) > 0);
  close(fd);
  unlink(path);
  /* Lines in order of completion; the unterminated rest is flushed at close. */
  const char *want[] = {"{\"log\":\"one\\n\",\"stream\":\"stdout\",\"time\":\"",
                        "{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"",
                        "{\"log\":\"two\\n\",\"stream\":\"stdout\",\"time\":\"",
                        "{\"log\":\"three\",\"stream\":\"stdout\",\"time\":\""};
  char *line = buf;
  for (int i = 0; i < 4; i++) {
    char *nl = strchr(line, '\n');
    CHECK(nl != NULL);
    if (!nl) return;
    *nl = '\0';
    CHECK(!strncmp(line, want[i], strlen(want[i])));
    CHECK(!strcmp(line + strlen(line) - 3, "Z\"}"));
    line = nl + 1;
  }
  CHECK(*line == '\0');
}

static void test_time(void) {
  char t[40];
  rfc3339_now(t);
  /* 2024-01-02T03:04:05[.frac]Z, no trailing zero in the fraction */
  CHECK(strlen(t) >= 20 && t[4] == '-' && t[10] == 'T' && t[strlen(t) - 1] == 'Z');
  char *dot = strchr(t, '.');
  if (dot) CHECK(t[strlen(t) - 2] != '0');
}

static void test_frames(void) {
  struct tbuf b = {0};
  CHECK(frame_append(&b, TS_MSG_STDOUT, "hi", 2) == 0);
  CHECK(frame_append(&b, TS_MSG_START, NULL, 0) == 0);
  uint8_t type;
  const uint8_t *payload;
  size_t len;
  CHECK(frame_parse(b.data, 3, &type, &payload, &len) == 0); /* header incomplete */
  CHECK(frame_parse(b.data, 6, &type, &payload, &len) == 0); /* payload incomplete */
  CHECK(frame_parse(b.data, b.len, &type, &payload, &len) == 7 && type == TS_MSG_STDOUT && len == 2);
  CHECK(frame_parse(b.data + 7, b.len - 7, &type, &payload, &len) == 5 && type == TS_MSG_START && len == 0);
  uint8_t zero[5] = {0, 0, 0, 0, 1};
  CHECK(frame_parse(zero, 5, &type, &payload, &len) == -1);
  uint8_t huge[5] = {0xff, 0xff, 0xff, 0x7f, 1};
  CHECK(frame_parse(huge, 5, &type, &payload, &len) == -1);
  tbuf_free(&b);
}

int main(void) {
  test_escape();
  test_lines();
  test_time();
  test_frames();
  T_DONE("test-jsonlog");
}

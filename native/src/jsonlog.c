#include "jsonlog.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define PARTIAL_MAX 16384

int jsonlog_open(struct jsonlog *l, const char *path) {
  memset(l, 0, sizeof *l);
  l->fd = -1;
  if (!path) return 0;
  l->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  return l->fd < 0 ? -1 : 0;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) len = 2, min = 0x80, c &= 0x1f;
  else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800, c &= 0x0f;
  else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000, c &= 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = c << 6 | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  return len;
}

int json_escape(struct tbuf *out, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    char esc[8];
    const char *e = NULL;
    switch (c) {
      case '"': e = "\\\""; break;
      case '\\': e = "\\\\"; break;
      case '\n': e = "\\n"; break;
      case '\r': e = "\\r"; break;
      case '\t': e = "\\t"; break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          snprintf(esc, sizeof esc, "\\u%04x", c);
          e = esc;
        }
    }
    if (e) {
      if (tbuf_put(out, e, strlen(e)) < 0) return -1;
      i++;
      continue;
    }
    size_t len = utf8_len(s + i, n - i);
    if (!len) {
      if (tbuf_put(out, "\\ufffd", 6) < 0) return -1;
      i++;
      continue;
    }
    if (tbuf_put(out, s + i, len) < 0) return -1;
    i += len;
  }
  return 0;
}

static void emit(struct jsonlog *l, enum log_stream s, const char *line, size_t n) {
  static const char *names[] = {"stdout", "stderr"};
  char now[40];
  struct tbuf b = {0};
  tbuf_put(&b, "{\"log\":\"", 8);
  json_escape(&b, line, n);
  tbuf_put(&b, "\",\"stream\":\"", 12);
  tbuf_put(&b, names[s], 6);
  tbuf_put(&b, "\",\"time\":\"", 10);
  rfc3339_now(now);
  tbuf_put(&b, now, strlen(now));
  if (tbuf_put(&b, "\"}\n", 3) == 0) write_all(l->fd, b.data, b.len);
  tbuf_free(&b);
}

void jsonlog_write(struct jsonlog *l, enum log_stream s, const char *data, size_t n) {
  if (l->fd < 0) return;
  struct tbuf *p = &l->pending[s];
  while (n) {
    const char *nl = memchr(data, '\n', n);
    size_t take = nl ? (size_t)(nl - data) + 1 : n;
    if (p->len + take > PARTIAL_MAX && !nl) take = PARTIAL_MAX - p->len;
    tbuf_put(p, data, take);
    data += take;
    n -= take;
    if (nl && p->data[p->len - 1] == '\n') {
      emit(l, s, (const char *)p->data, p->len);
      tbuf_consume(p, p->len);
    } else if (p->len >= PARTIAL_MAX) {
      emit(l, s, (const char *)p->data, p->len);
      tbuf_consume(p, p->len);
    }
  }
}

void jsonlog_flush(struct jsonlog *l) {
  if (l->fd < 0) return;
  for (int s = 0; s < 2; s++)
    if (l->pending[s].len) {
      emit(l, (enum log_stream)s, (const char *)l->pending[s].data, l->pending[s].len);
      tbuf_consume(&l->pending[s], l->pending[s].len);
    }
}

void jsonlog_close(struct jsonlog *l) {
  jsonlog_flush(l);
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  tbuf_free(&l->pending[0]);
  tbuf_free(&l->pending[1]);
}

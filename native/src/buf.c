#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tbuf_put(struct tbuf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      errno = ENOMEM;
      return -1;
    }
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int tbuf_u8(struct tbuf *b, uint8_t v) { return tbuf_put(b, &v, 1); }

int tbuf_u16(struct tbuf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  return tbuf_put(b, x, 2);
}

int tbuf_u32(struct tbuf *b, uint32_t v) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
  return tbuf_put(b, x, 4);
}

int tbuf_u64(struct tbuf *b, uint64_t v) {
  uint8_t x[8];
  for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
  return tbuf_put(b, x, 8);
}

int tbuf_str(struct tbuf *b, const char *s) { return tbuf_put(b, s, strlen(s) + 1); }

void tbuf_consume(struct tbuf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    /* Give the memory back once a burst is over: an idle monitor should stay small. */
    if (b->cap > 65536) {
      free(b->data);
      b->data = NULL;
      b->cap = 0;
    }
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void tbuf_free(struct tbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

uint32_t get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *take(struct rd *r, size_t n) {
  if (r->err || r->n < n) {
    r->err = true;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->n -= n;
  return p;
}

uint8_t rd_u8(struct rd *r) {
  const uint8_t *p = take(r, 1);
  return p ? p[0] : 0;
}

uint16_t rd_u16(struct rd *r) {
  const uint8_t *p = take(r, 2);
  return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t rd_u32(struct rd *r) {
  const uint8_t *p = take(r, 4);
  return p ? get_u32le(p) : 0;
}

uint64_t rd_u64(struct rd *r) {
  const uint8_t *p = take(r, 8);
  if (!p) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

const char *rd_str(struct rd *r) {
  if (r->err) return "";
  const uint8_t *nul = memchr(r->p, 0, r->n);
  if (!nul) {
    r->err = true;
    return "";
  }
  const char *s = (const char *)r->p;
  take(r, (size_t)(nul - r->p) + 1);
  return s;
}

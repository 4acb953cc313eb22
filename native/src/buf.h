/*
 * A growable byte buffer, and a bounds-checked reader over a byte range. Integers are
 * little-endian on the wire whatever the host, as native/protocol.def says.
 */
#ifndef TSRUN_BUF_H
#define TSRUN_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tbuf {
  uint8_t *data;
  size_t len, cap;
};

int tbuf_put(struct tbuf *b, const void *p, size_t n);
int tbuf_u8(struct tbuf *b, uint8_t v);
int tbuf_u16(struct tbuf *b, uint16_t v);
int tbuf_u32(struct tbuf *b, uint32_t v);
int tbuf_u64(struct tbuf *b, uint64_t v);
/* A string with its terminating NUL. */
int tbuf_str(struct tbuf *b, const char *s);
/* Drops the first n bytes. */
void tbuf_consume(struct tbuf *b, size_t n);
void tbuf_free(struct tbuf *b);

/* Reads fields from [p, p+n); any read past the end sets err and yields zeros / "". */
struct rd {
  const uint8_t *p;
  size_t n;
  bool err;
};

uint8_t rd_u8(struct rd *r);
uint16_t rd_u16(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
/* A NUL-terminated string inside the range (never reads past it). */
const char *rd_str(struct rd *r);

uint32_t get_u32le(const uint8_t *p);

#endif

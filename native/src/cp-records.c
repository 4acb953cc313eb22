#include "cp-records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"
#include "util.h"

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* ---- writing ------------------------------------------------------------------------- */

int cp_out_flush(struct cp_out *o) {
  if (o->len && write_all(o->fd, o->buf, o->len) < 0) return cp_sys("write", "the output stream");
  o->len = 0;
  return 0;
}

static int out_bytes(struct cp_out *o, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    if (o->len == sizeof o->buf && cp_out_flush(o) < 0) return -1;
    size_t k = sizeof o->buf - o->len;
    if (k > n) k = n;
    memcpy(o->buf + o->len, b, k);
    o->len += k;
    b += k;
    n -= k;
  }
  return 0;
}

int cp_out_start(struct cp_out *o, int fd) {
  o->fd = fd;
  o->len = 0;
  uint8_t h[8];
  put_u32(h, CP_STREAM_MAGIC);
  put_u32(h + 4, CP_STREAM_VERSION);
  return out_bytes(o, h, sizeof h);
}

int cp_out_record(struct cp_out *o, const struct cp_rec *r) {
  uint32_t name_len = r->name ? (uint32_t)strlen(r->name) : 0;
  uint32_t link_len = r->link ? (uint32_t)strlen(r->link) : 0;
  uint8_t h[CP_HEADER_SIZE] = {0};
  h[0] = r->type;
  put_u32(h + 4, r->mode);
  put_u32(h + 8, r->uid);
  put_u32(h + 12, r->gid);
  put_u32(h + 16, r->devmajor);
  put_u32(h + 20, r->devminor);
  put_u64(h + 24, r->size);
  put_u64(h + 32, (uint64_t)r->mtime);
  put_u32(h + 40, name_len);
  put_u32(h + 44, link_len);
  put_u32(h + 48, r->xattr_len);
  if (out_bytes(o, h, sizeof h) < 0 || out_bytes(o, r->name, name_len) < 0 || out_bytes(o, r->link, link_len) < 0 ||
      out_bytes(o, r->xattr, r->xattr_len) < 0)
    return -1;
  return 0;
}

int cp_out_data(struct cp_out *o, const void *p, size_t n) { return out_bytes(o, p, n); }

/* ---- reading ------------------------------------------------------------------------- */

/* Exactly n bytes, or a failure that says the stream ended early. */
static int in_bytes(struct cp_in *in, void *p, size_t n) {
  uint8_t *b = p;
  while (n) {
    if (in->pos == in->len) {
      ssize_t r = read(in->fd, in->buf, sizeof in->buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return cp_sys("read", "the input stream");
      if (r == 0) return ts_fail(CP_INVALID, 0, "", "the copy stream ended early");
      in->pos = 0;
      in->len = (size_t)r;
    }
    size_t k = in->len - in->pos;
    if (k > n) k = n;
    memcpy(b, in->buf + in->pos, k);
    in->pos += k;
    b += k;
    n -= k;
  }
  return 0;
}

int cp_in_start(struct cp_in *in, int fd) {
  in->fd = fd;
  in->pos = in->len = 0;
  uint8_t h[8];
  if (in_bytes(in, h, sizeof h) < 0) return -1;
  if (get_u32(h) != CP_STREAM_MAGIC || get_u32(h + 4) != CP_STREAM_VERSION)
    return ts_fail(CP_INVALID, 0, "", "not a tsrun-cp stream of version %u", CP_STREAM_VERSION);
  return 0;
}

/* len bytes of the stream as a NUL-terminated string (no NUL inside). */
static int in_string(struct cp_in *in, uint32_t len, uint32_t max, char **out) {
  if (len > max) return ts_fail(CP_INVALID, 0, "", "a record field of %u bytes is too long", len);
  char *s = malloc((size_t)len + 1);
  if (!s) return cp_sys("malloc", "");
  if (in_bytes(in, s, len) < 0) {
    free(s);
    return -1;
  }
  s[len] = '\0';
  *out = s;
  if (memchr(s, '\0', len)) return ts_fail(CP_INVALID, 0, "", "a record name holds a NUL byte");
  return 0;
}

int cp_in_record(struct cp_in *in, struct cp_rec *r) {
  memset(r, 0, sizeof *r);
  uint8_t h[CP_HEADER_SIZE];
  if (in_bytes(in, h, sizeof h) < 0) return -1;
  r->type = h[0];
  r->mode = get_u32(h + 4);
  r->uid = get_u32(h + 8);
  r->gid = get_u32(h + 12);
  r->devmajor = get_u32(h + 16);
  r->devminor = get_u32(h + 20);
  r->size = get_u64(h + 24);
  r->mtime = (int64_t)get_u64(h + 32);
  r->name_len = get_u32(h + 40);
  r->link_len = get_u32(h + 44);
  r->xattr_len = get_u32(h + 48);
  if (r->type < CP_REC_ENTRY || r->type > CP_REC_END) return ts_fail(CP_INVALID, 0, "", "unknown record type %u", r->type);
  if (in_string(in, r->name_len, CP_MAX_NAME, &r->name) < 0 || in_string(in, r->link_len, CP_MAX_LINK, &r->link) < 0)
    return -1;
  if (r->xattr_len > CP_MAX_XATTR) return ts_fail(CP_INVALID, 0, "", "an xattr of %u bytes is too long", r->xattr_len);
  if (r->xattr_len) {
    r->xattr = malloc(r->xattr_len);
    if (!r->xattr) return cp_sys("malloc", "");
    if (in_bytes(in, r->xattr, r->xattr_len) < 0) return -1;
  }
  return 0;
}

int cp_in_data(struct cp_in *in, void *p, size_t n) { return in_bytes(in, p, n); }

void cp_rec_free(struct cp_rec *r) {
  free(r->name);
  free(r->link);
  free(r->xattr);
  r->name = r->link = NULL;
  r->xattr = NULL;
}

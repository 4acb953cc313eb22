#include "frame.h"

#include "../gen/protocol.h"
#include "err.h"

int frame_append(struct tbuf *b, uint8_t type, const void *payload, size_t len) {
  if (len + 1 > TS_MAX_FRAME) return -1;
  if (tbuf_u32(b, (uint32_t)(len + 1)) < 0 || tbuf_u8(b, type) < 0 || tbuf_put(b, payload, len) < 0) return -1;
  return 0;
}

ssize_t frame_parse(const uint8_t *p, size_t n, uint8_t *type, const uint8_t **payload, size_t *plen) {
  if (n < 4) return 0;
  uint32_t len = get_u32le(p);
  if (len == 0 || len > TS_MAX_FRAME) return -1;
  if (n - 4 < len) return 0;
  *type = p[4];
  *payload = p + 5;
  *plen = len - 1;
  return (ssize_t)len + 4;
}

int frame_failure_payload(struct tbuf *b) {
  if (tbuf_u32(b, (uint32_t)ts_err.errnum) < 0 || tbuf_str(b, ts_err.step ? ts_err.step : "") < 0 ||
      tbuf_str(b, ts_err.path) < 0 || tbuf_str(b, ts_err.detail) < 0)
    return -1;
  return 0;
}

/* Frames of the monitor socket and fd 3: {u32 length (type + payload), u8 type, payload}. */
#ifndef TSRUN_FRAME_H
#define TSRUN_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* Appends one frame. */
int frame_append(struct tbuf *b, uint8_t type, const void *payload, size_t len);

/* Finds the first complete frame in [p, p+n): returns the bytes it takes (> 0), 0 when more
 * bytes are needed, -1 when the length is invalid (0 or above TS_MAX_FRAME). */
ssize_t frame_parse(const uint8_t *p, size_t n, uint8_t *type, const uint8_t **payload, size_t *plen);

/* A FAILED / START_FAILED payload from ts_err: i32 errno, step, path, detail. */
int frame_failure_payload(struct tbuf *b);

#endif

#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../gen/protocol.h"
#include "buf.h"
#include "err.h"

int sync_send(int sock, uint32_t type, const void *payload, size_t len, const int *fds, size_t nfds) {
  struct tbuf b = {0};
  if (tbuf_u32(&b, type) < 0 || tbuf_put(&b, payload, len) < 0) {
    tbuf_free(&b);
    return ts_fail(TS_STEP_SYNC, ENOMEM, "", NULL);
  }
  struct iovec iov = {b.data, b.len};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * TS_MAX_FDS_PER_MSG)];
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds) {
    if (nfds > TS_MAX_FDS_PER_MSG) {
      tbuf_free(&b);
      return ts_fail(TS_STEP_SYNC, E2BIG, "", "Too many fds in one message");
    }
    memset(&ctl, 0, sizeof ctl);
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  int e = errno;
  tbuf_free(&b);
  return r < 0 ? ts_fail(TS_STEP_SYNC, e, "", "sendmsg") : 0;
}

ssize_t sync_recv(int sock, uint32_t *type, void *buf, size_t cap, int *fds, size_t *nfds, size_t maxfds) {
  uint8_t data[4 + 4096];
  struct iovec iov = {data, sizeof data};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * TS_MAX_FDS_PER_MSG)];
  } ctl;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (nfds) *nfds = 0;
  if (r < 0) return ts_fail(TS_STEP_SYNC, errno, "", "recvmsg");
  if (r == 0) {
    *type = 0;
    return 0;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if (!fds || n > maxfds) return ts_fail(TS_STEP_SYNC, E2BIG, "", "Unexpected fds");
    memcpy(fds, CMSG_DATA(c), n * sizeof(int));
    *nfds = n;
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || r < 4) return ts_fail(TS_STEP_SYNC, EMSGSIZE, "", "Bad message");
  *type = get_u32le(data);
  size_t len = (size_t)r - 4;
  if (len > cap) return ts_fail(TS_STEP_SYNC, EMSGSIZE, "", "Message too large");
  memcpy(buf, data + 4, len);
  return (ssize_t)len;
}

void sync_send_failure(int sock) {
  struct tbuf b = {0};
  tbuf_u32(&b, (uint32_t)ts_err.errnum);
  tbuf_str(&b, ts_err.step ? ts_err.step : "");
  tbuf_str(&b, ts_err.path);
  tbuf_str(&b, ts_err.detail);
  if (b.data) sync_send(sock, TS_SYNC_FAILED, b.data, b.len, NULL, 0);
  tbuf_free(&b);
}

/* Steps arrive as strings; keep a copy with a lifetime of the process. */
static char step_copy[64];

void sync_decode_failure(const void *payload, size_t len) {
  struct rd r = {payload, len, false};
  int e = (int)rd_u32(&r);
  snprintf(step_copy, sizeof step_copy, "%s", rd_str(&r));
  const char *path = rd_str(&r), *detail = rd_str(&r);
  if (r.err) {
    ts_fail(TS_STEP_SYNC, EPROTO, "", "Malformed failure report from the init");
    return;
  }
  ts_fail(step_copy, e, path, "%s", detail);
}

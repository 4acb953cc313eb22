/*
 * The init <-> monitor socketpair (SOCK_SEQPACKET: one message a packet). Messages are a
 * u32 type (TS_SYNC_*) and a payload, optionally with fds (SCM_RIGHTS). See protocol.def.
 */
#ifndef TSRUN_SYNC_H
#define TSRUN_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int sync_send(int sock, uint32_t type, const void *payload, size_t len, const int *fds, size_t nfds);

/* One message. Returns the payload length; on EOF returns 0 with *type = 0. Received fds are
 * close-on-exec; more than maxfds is an error. */
ssize_t sync_recv(int sock, uint32_t *type, void *buf, size_t cap, int *fds, size_t *nfds, size_t maxfds);

/* Sends ts_err as a FAILED message (best effort). */
void sync_send_failure(int sock);

/* Decodes a FAILED payload (i32 errno, step, path, detail) into ts_err. */
void sync_decode_failure(const void *payload, size_t len);

#endif

/*
 * TCP relay: each accepted connection is paired with a connection to the target; bytes go
 * both ways, half-closes included (a FIN from one side becomes shutdown(SHUT_WR) on the
 * other once what came before it is delivered). Buffering is bounded: a side is read only
 * when what was last read from it has been written on, so a slow reader holds at most one
 * read (PX_BUF_SIZE) per direction here, and TCP's own flow control stops the writer.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "proxy.h"

enum { CLIENT, UPSTREAM };

struct tcp_listener {
  struct px_watch w;
  struct px_addr target;
};

/* Bytes read from one side, not yet written to the other. */
struct tcp_dir {
  char *buf;
  size_t off, len;
  bool eof;  /* the side sent FIN */
  bool shut; /* ... and the other side has been shut for writing */
};

struct tcp_conn {
  struct px_watch side[2];
  struct tcp_dir dir[2]; /* dir[i]: from side[i] to side[!i] */
  bool connecting;
};

static void conn_close(struct tcp_conn *c) {
  for (int i = 0; i < 2; i++) {
    px_watch_close(&c->side[i]);
    free(c->dir[i].buf);
    c->dir[i].buf = NULL;
  }
  px_free_later(c);
}

/* Writes what is pending from side i, then reads more of it if all is written. -1: drop. */
static int pump(struct tcp_conn *c, int i) {
  struct tcp_dir *d = &c->dir[i];
  int from = c->side[i].fd, to = c->side[!i].fd;
  if (d->off < d->len) {
    ssize_t n = send(to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    d->off += (size_t)n;
    if (d->off < d->len) return 0;
    free(d->buf);
    d->buf = NULL;
    d->off = d->len = 0;
  }
  if (!d->eof) {
    ssize_t n = recv(from, px_buf, sizeof px_buf, 0);
    if (n == 0) {
      d->eof = true;
    } else if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) return -1;
    } else {
      ssize_t m = send(to, px_buf, (size_t)n, MSG_NOSIGNAL);
      if (m < 0) {
        if (errno != EAGAIN && errno != EINTR) return -1;
        m = 0;
      }
      if (m < n) {
        d->len = (size_t)(n - m);
        d->off = 0;
        d->buf = malloc(d->len);
        if (!d->buf) return -1;
        memcpy(d->buf, px_buf + m, d->len);
      }
    }
  }
  if (d->eof && d->off == d->len && !d->shut) {
    if (shutdown(to, SHUT_WR) < 0 && errno != ENOTCONN) return -1;
    d->shut = true;
  }
  return 0;
}

/* Waits, on each side, for what can move the connection forward (nothing: out of the set). */
static int conn_rearm(struct tcp_conn *c) {
  for (int i = 0; i < 2; i++) {
    uint32_t ev = 0;
    if (!c->connecting && !c->dir[i].eof && c->dir[i].off == c->dir[i].len) ev |= EPOLLIN;
    if (c->dir[!i].off < c->dir[!i].len || (i == UPSTREAM && c->connecting)) ev |= EPOLLOUT;
    if (px_watch_set(&c->side[i], ev) < 0) return -1;
  }
  return 0;
}

static void conn_step(struct tcp_conn *c) {
  if (c->connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->side[UPSTREAM].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) return conn_close(c);
    c->connecting = false;
  }
  if (pump(c, CLIENT) < 0 || pump(c, UPSTREAM) < 0) return conn_close(c);
  if (c->dir[CLIENT].shut && c->dir[UPSTREAM].shut) return conn_close(c);
  if (conn_rearm(c) < 0) conn_close(c);
}

static void on_client(struct px_watch *w, uint32_t events) {
  (void)events;
  conn_step((struct tcp_conn *)((char *)w - offsetof(struct tcp_conn, side[CLIENT])));
}

static void on_upstream(struct px_watch *w, uint32_t events) {
  (void)events;
  conn_step((struct tcp_conn *)((char *)w - offsetof(struct tcp_conn, side[UPSTREAM])));
}

static void conn_start(struct tcp_listener *l, int client) {
  static const int one = 1;
  struct tcp_conn *c = calloc(1, sizeof *c);
  int up = socket(l->target.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!c || up < 0) {
    free(c);
    close(client);
    if (up >= 0) close(up);
    return;
  }
  c->side[CLIENT] = (struct px_watch){.fd = client, .handle = on_client};
  c->side[UPSTREAM] = (struct px_watch){.fd = up, .handle = on_upstream};
  /* Relayed bytes go out as they come, as docker-proxy's (Go's default). */
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(up, (const struct sockaddr *)&l->target.sa, l->target.len) < 0) {
    if (errno != EINPROGRESS) return conn_close(c);
    c->connecting = true;
  }
  if (conn_rearm(c) < 0) conn_close(c);
}

static void on_accept(struct px_watch *w, uint32_t events) {
  (void)events;
  struct tcp_listener *l = (struct tcp_listener *)w;
  for (int k = 0; k < 64; k++) {
    int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      conn_start(l, fd);
    } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      px_shed_connection(w->fd);
    } else if (errno != ECONNABORTED && errno != EINTR && errno != EPROTO) {
      return; /* EAGAIN: nothing more waits */
    }
  }
}

int px_tcp_listen(const struct px_addr *host, const struct px_addr *target) {
  static const int one = 1;
  struct tcp_listener *l = calloc(1, sizeof *l);
  if (!l) return -1;
  int fd = socket(host->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    free(l);
    return -1;
  }
  /* As Go's and Node's listeners: a port whose old connections linger in TIME_WAIT is free;
   * one that something listens on is not. [::] is IPv6 only: 0.0.0.0 is its own binding. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (host->sa.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  l->w = (struct px_watch){.fd = fd, .handle = on_accept};
  l->target = *target;
  if (bind(fd, (const struct sockaddr *)&host->sa, host->len) < 0 || listen(fd, SOMAXCONN) < 0 || px_watch_set(&l->w, EPOLLIN) < 0) {
    int e = errno;
    close(fd);
    free(l);
    errno = e;
    return -1;
  }
  return 0;
}

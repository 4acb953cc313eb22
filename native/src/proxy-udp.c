/*
 * UDP relay, as docker-proxy's: one flow per client address, each with its own socket
 * connected to the target (so only the target's datagrams come back on it, and the
 * container sees one peer per client). A flow is forgotten after idle_ms without a datagram
 * either way; past MAX_FLOWS per port the oldest is dropped, so a flood of source addresses
 * cannot take every fd of the proxy.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "proxy.h"

#define BUCKETS 256
#define MAX_FLOWS 1024

struct udp_flow;

struct udp_listener {
  struct px_watch w;
  struct px_addr target;
  uint64_t idle_ms;
  struct udp_flow *bucket[BUCKETS];
  struct udp_flow *oldest, *newest; /* by last datagram */
  unsigned flows;
  struct udp_listener *next;
};

struct udp_flow {
  struct px_watch w;
  struct udp_listener *l;
  struct px_addr client;
  uint64_t last;
  struct udp_flow *hnext, *older, *newer;
};

static struct udp_listener *listeners;

static unsigned hash_addr(const struct px_addr *a) {
  const unsigned char *p = (const unsigned char *)&a->sa;
  unsigned h = 2166136261u;
  for (socklen_t i = 0; i < a->len; i++) h = (h ^ p[i]) * 16777619u;
  return h % BUCKETS;
}

static void lru_unlink(struct udp_flow *f) {
  struct udp_listener *l = f->l;
  if (f->older) f->older->newer = f->newer;
  else l->oldest = f->newer;
  if (f->newer) f->newer->older = f->older;
  else l->newest = f->older;
  f->older = f->newer = NULL;
}

static void touch(struct udp_flow *f) {
  struct udp_listener *l = f->l;
  f->last = px_now_ms();
  if (l->newest == f) return;
  if (f->newer) lru_unlink(f); /* in the list, not the newest; a new flow is in none yet */
  f->older = l->newest;
  if (l->newest) l->newest->newer = f;
  l->newest = f;
  if (!l->oldest) l->oldest = f;
}

static void flow_close(struct udp_flow *f) {
  struct udp_listener *l = f->l;
  for (struct udp_flow **pp = &l->bucket[hash_addr(&f->client)]; *pp; pp = &(*pp)->hnext) {
    if (*pp == f) {
      *pp = f->hnext;
      break;
    }
  }
  lru_unlink(f);
  l->flows--;
  px_watch_close(&f->w);
  px_free_later(f);
}

/* The target's answers go back to the client, from the published port. */
static void on_reply(struct px_watch *w, uint32_t events) {
  (void)events;
  struct udp_flow *f = (struct udp_flow *)w;
  for (int k = 0; k < 64; k++) {
    ssize_t n = recv(w->fd, px_buf, sizeof px_buf, 0);
    if (n < 0) {
      if (errno == ECONNREFUSED || errno == EINTR) continue; /* ICMP for an earlier datagram */
      return;
    }
    sendto(f->l->w.fd, px_buf, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)&f->client.sa, f->client.len);
    touch(f);
  }
}

static struct udp_flow *flow_for(struct udp_listener *l, const struct px_addr *client) {
  unsigned h = hash_addr(client);
  for (struct udp_flow *f = l->bucket[h]; f; f = f->hnext)
    if (f->client.len == client->len && !memcmp(&f->client.sa, &client->sa, client->len)) return f;
  if (l->flows >= MAX_FLOWS) flow_close(l->oldest);
  struct udp_flow *f = calloc(1, sizeof *f);
  int fd = socket(l->target.sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (!f || fd < 0) {
    free(f);
    if (fd >= 0) close(fd);
    return NULL;
  }
  f->w = (struct px_watch){.fd = fd, .handle = on_reply};
  f->l = l;
  f->client = *client;
  if (connect(fd, (const struct sockaddr *)&l->target.sa, l->target.len) < 0 || px_watch_set(&f->w, EPOLLIN) < 0) {
    close(fd);
    free(f);
    return NULL;
  }
  f->hnext = l->bucket[h];
  l->bucket[h] = f;
  l->flows++;
  touch(f);
  return f;
}

static void on_datagram(struct px_watch *w, uint32_t events) {
  (void)events;
  struct udp_listener *l = (struct udp_listener *)w;
  for (int k = 0; k < 64; k++) {
    struct px_addr from;
    memset(&from, 0, sizeof from);
    from.len = sizeof from.sa;
    ssize_t n = recvfrom(w->fd, px_buf, sizeof px_buf, 0, (struct sockaddr *)&from.sa, &from.len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    struct udp_flow *f = flow_for(l, &from);
    if (!f) continue; /* out of fds or memory: this datagram is lost, as on a full queue */
    send(f->w.fd, px_buf, (size_t)n, MSG_DONTWAIT);
    touch(f);
  }
}

int px_udp_listen(const struct px_addr *host, const struct px_addr *target, uint64_t idle_ms) {
  static const int one = 1;
  struct udp_listener *l = calloc(1, sizeof *l);
  if (!l) return -1;
  int fd = socket(host->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    free(l);
    return -1;
  }
  if (host->sa.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  l->w = (struct px_watch){.fd = fd, .handle = on_datagram};
  l->target = *target;
  l->idle_ms = idle_ms;
  if (bind(fd, (const struct sockaddr *)&host->sa, host->len) < 0 || px_watch_set(&l->w, EPOLLIN) < 0) {
    int e = errno;
    close(fd);
    free(l);
    errno = e;
    return -1;
  }
  l->next = listeners;
  listeners = l;
  return 0;
}

int px_udp_timeout(uint64_t now) {
  int64_t soonest = -1;
  for (struct udp_listener *l = listeners; l; l = l->next) {
    if (!l->oldest) continue;
    uint64_t due = l->oldest->last + l->idle_ms;
    int64_t wait = due > now ? (int64_t)(due - now) : 0;
    if (soonest < 0 || wait < soonest) soonest = wait;
  }
  return soonest > 60000 ? 60000 : (int)soonest;
}

void px_udp_expire(uint64_t now) {
  for (struct udp_listener *l = listeners; l; l = l->next)
    while (l->oldest && l->oldest->last + l->idle_ms <= now) flow_close(l->oldest);
}

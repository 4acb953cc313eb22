/*
 * tsrun-proxy: the userland proxy of one container's published ports (docker-proxy's job).
 * Single-threaded, one epoll loop; every fd it waits on is a px_watch. proxy-main.c is its
 * command line and life cycle, proxy-loop.c the loop, proxy-tcp.c and proxy-udp.c the relays.
 */
#ifndef TSRUN_PROXY_H
#define TSRUN_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* An fd in the event loop; handle runs for its events. Embedded in the object that owns it. */
struct px_watch {
  int fd;          /* -1 once closed: events of the current batch that name it are skipped */
  uint32_t events; /* what it is registered for; 0: not in the epoll set */
  void (*handle)(struct px_watch *w, uint32_t events);
};

/* One scratch buffer for every relay: data is copied out of it only when a peer is slow. */
#define PX_BUF_SIZE 65536
extern char px_buf[PX_BUF_SIZE];

int px_loop_init(void);
/* Registers w for events, changes them, or takes w out of the epoll set (events 0): a
 * level-triggered fd nobody waits on would otherwise keep reporting EPOLLHUP. */
int px_watch_set(struct px_watch *w, uint32_t events);
/* Closes w's fd (which leaves the epoll set with it). */
void px_watch_close(struct px_watch *w);
/* Frees p once the current batch of events is handled (a later event may still name it). */
void px_free_later(void *p);
/* accept()s and drops one pending connection of listen_fd when this process is out of fds,
 * so a full table does not make a level-triggered listener spin. */
void px_shed_connection(int listen_fd);
/* Runs the loop until px_stop(). */
int px_run(void);
void px_stop(void);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t px_now_ms(void);

struct px_addr {
  struct sockaddr_storage sa;
  socklen_t len;
};

/* "127.0.0.1", "::1"… and a port: an address to bind or connect to. -1/EINVAL if not an IP. */
int px_parse_addr(const char *ip, uint16_t port, struct px_addr *out);

/* Binds host (and listens, for TCP) and relays what arrives to target. -1 with errno. */
int px_tcp_listen(const struct px_addr *host, const struct px_addr *target);
int px_udp_listen(const struct px_addr *host, const struct px_addr *target, uint64_t idle_ms);
/* Milliseconds until the oldest UDP flow expires (-1: no flow), and the expiry itself. */
int px_udp_timeout(uint64_t now);
void px_udp_expire(uint64_t now);

#endif

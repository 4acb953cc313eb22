/* The proxy's event loop: level-triggered epoll over px_watch objects, frees deferred to the
 * end of each batch, and the spare fd that lets a listener drop a connection at EMFILE. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

char px_buf[PX_BUF_SIZE];

static int epfd = -1;
static int spare_fd = -1;
static bool stopping;
static void **graveyard;
static size_t graves, grave_cap;

int px_loop_init(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return epfd < 0 || spare_fd < 0 ? -1 : 0;
}

int px_watch_set(struct px_watch *w, uint32_t events) {
  if (events == w->events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  int op = events == 0 ? EPOLL_CTL_DEL : w->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epfd, op, w->fd, &ev) < 0) return -1;
  w->events = events;
  return 0;
}

void px_watch_close(struct px_watch *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
  w->events = 0;
}

void px_free_later(void *p) {
  if (graves == grave_cap) {
    size_t cap = grave_cap ? grave_cap * 2 : 64;
    void **g = realloc(graveyard, cap * sizeof *g);
    if (!g) {
      /* Leaking one object beats a use-after-free later in the batch. */
      return;
    }
    graveyard = g;
    grave_cap = cap;
  }
  graveyard[graves++] = p;
}

void px_shed_connection(int listen_fd) {
  if (spare_fd < 0) return;
  close(spare_fd);
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd >= 0) close(fd);
  spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

uint64_t px_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void px_stop(void) { stopping = true; }

int px_run(void) {
  struct epoll_event evs[64];
  while (!stopping) {
    int n = epoll_wait(epfd, evs, 64, px_udp_timeout(px_now_ms()));
    if (n < 0 && errno != EINTR) return -1;
    for (int i = 0; i < n && !stopping; i++) {
      struct px_watch *w = evs[i].data.ptr;
      if (w->fd >= 0) w->handle(w, evs[i].events);
    }
    px_udp_expire(px_now_ms());
    for (size_t i = 0; i < graves; i++) free(graveyard[i]);
    graves = 0;
  }
  return 0;
}

int px_parse_addr(const char *ip, uint16_t port, struct px_addr *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;
  if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out->len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out->len = sizeof *v6;
    return 0;
  }
  errno = EINVAL;
  return -1;
}

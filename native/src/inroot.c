#include "inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>

/* Magic links (/proc/self/fd/…, /proc/self/root) would lead out of the root: refuse them. */
#define RESOLVE_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

int inroot_open(const struct sys_ops *sys, int rootfd, const char *path, int flags) {
  return sys->openat2(rootfd, path, flags | O_CLOEXEC, 0, RESOLVE_FLAGS);
}

const char *fd_path(int fd, char buf[32]) {
  snprintf(buf, 32, "/proc/self/fd/%d", fd);
  return buf;
}

void split_path(const char *path, char *parent, size_t parent_len, const char **base_out, char *base,
                size_t base_len) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  size_t n = strlen(tmp);
  while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
  char *slash = strrchr(tmp, '/');
  if (!slash) {
    snprintf(parent, parent_len, "/");
    snprintf(base, base_len, "%s", tmp);
  } else {
    snprintf(base, base_len, "%s", slash + 1);
    if (slash == tmp) snprintf(parent, parent_len, "/");
    else {
      *slash = '\0';
      snprintf(parent, parent_len, "%s", tmp);
    }
  }
  if (base_out) *base_out = base;
}

/* Symlinks followed to create a dangling one's target, at most (the kernel's MAXSYMLINKS). */
#define MAX_HOPS 40

static int mkdir_p(const struct sys_ops *sys, int rootfd, const char *path, int hops) {
  int fd = inroot_open(sys, rootfd, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  char parent[4096], base[256];
  split_path(path, parent, sizeof parent, NULL, base, sizeof base);
  if (!base[0] || !strcmp(parent, path)) {
    errno = ENOENT;
    return -1;
  }
  int pfd = mkdir_p(sys, rootfd, parent, hops);
  if (pfd < 0) return -1;
  /* base is one plain name and mkdirat never follows it: a dangling symlink there gives
   * EEXIST, and the open below then resolves it inside the root (or fails). */
  int r = sys->mkdirat(pfd, base, 0755);
  int e = errno;
  if (r < 0 && e != EEXIST) {
    sys->close(pfd);
    errno = e;
    return -1;
  }
  fd = inroot_open(sys, rootfd, path, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT || r == 0) {
    e = errno;
    sys->close(pfd);
    errno = e;
    return fd;
  }
  /* There, yet missing: a symlink to a missing path. Its target is created instead, as runc's
   * MkdirAllInRoot does, resolved in the root like any path here (an absolute target or ".."
   * never leaves it). */
  char link[4096], next[4096];
  ssize_t n = sys->readlinkat(pfd, base, link, sizeof link - 1);
  sys->close(pfd);
  if (n <= 0) {
    errno = ENOENT;
    return -1;
  }
  if (hops >= MAX_HOPS) {
    errno = ELOOP;
    return -1;
  }
  link[n] = '\0';
  int len = link[0] == '/' ? snprintf(next, sizeof next, "%s", link)
                           : snprintf(next, sizeof next, "%s/%s", strcmp(parent, "/") ? parent : "", link);
  if (len < 0 || (size_t)len >= sizeof next) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mkdir_p(sys, rootfd, next, hops + 1);
}

int inroot_mkdir_p(const struct sys_ops *sys, int rootfd, const char *path) { return mkdir_p(sys, rootfd, path, 0); }

int inroot_target(const struct sys_ops *sys, int rootfd, const char *path, bool dir) {
  if (dir) return inroot_mkdir_p(sys, rootfd, path);
  int fd = inroot_open(sys, rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT) return fd;
  char parent[4096], base[256];
  split_path(path, parent, sizeof parent, NULL, base, sizeof base);
  int pfd = inroot_mkdir_p(sys, rootfd, parent);
  if (pfd < 0) return -1;
  sys->close(pfd);
  /* O_CREAT through openat2: a dangling symlink is followed inside the root only. */
  fd = sys->openat2(rootfd, path, O_CREAT | O_RDONLY | O_CLOEXEC, 0644, RESOLVE_FLAGS);
  if (fd < 0) return -1;
  sys->close(fd);
  return inroot_open(sys, rootfd, path, O_PATH);
}

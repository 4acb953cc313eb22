/*
 * Docker's FollowSymlinkInScope (moby pkg/symlink) with the container's root as the scope:
 * we are chrooted there, so the scope is simply "/". Used for what `docker cp` calls a
 * symlink's LinkTarget: the path it finally leads to, inside the container.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"

#define SCOPE_BUF (8 * PATH_MAX)
#define MAX_LINKS 255

/* Appends "/" + comp (n bytes) to the resolved path b. */
static int append(char *b, const char *comp, size_t n) {
  size_t len = strlen(b);
  if (len + 1 + n + 1 > SCOPE_BUF) return -1;
  b[len] = '/';
  memcpy(b + len + 1, comp, n);
  b[len + 1 + n] = '\0';
  return 0;
}

int cp_scope_resolve(const char *path, char *out, size_t out_len) {
  static char todo[SCOPE_BUF], b[SCOPE_BUF], next[SCOPE_BUF];
  if (snprintf(todo, sizeof todo, "%s", path) >= (int)sizeof todo) goto too_long;
  b[0] = '\0'; /* the resolved part: "" is the root, else "/a/b" */
  const char *rest = todo;
  int links = 0;
  while (*rest) {
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *comp = rest;
    rest = slash ? slash + 1 : rest + n;
    if (n == 0 || (n == 1 && comp[0] == '.')) continue;
    if (n == 2 && comp[0] == '.' && comp[1] == '.') {
      char *last = strrchr(b, '/');
      if (last) *last = '\0'; /* never above the root */
      continue;
    }
    size_t blen = strlen(b);
    if (append(b, comp, n) < 0) goto too_long;
    struct stat st;
    if (lstat(b, &st) < 0) {
      /* A missing component is taken as written (so is the rest, which cannot exist). */
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return cp_sys("lstat", b);
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > MAX_LINKS) return ts_fail(CP_INVALID, 0, path, "too many links in %s", path);
    char target[PATH_MAX + 1];
    ssize_t t = readlink(b, target, PATH_MAX);
    if (t < 0) return cp_sys("readlink", b);
    target[t] = '\0';
    b[blen] = '\0'; /* the link's own name is replaced by its target */
    if (target[0] == '/') b[0] = '\0';
    if (snprintf(next, sizeof next, "%s/%s", target, rest) >= (int)sizeof next) goto too_long;
    memcpy(todo, next, strlen(next) + 1);
    rest = todo;
  }
  if (snprintf(out, out_len, "%s", b[0] ? b : "/") >= (int)out_len) goto too_long;
  return 0;
too_long:
  errno = ENAMETOOLONG;
  return cp_sys("resolve", path);
}

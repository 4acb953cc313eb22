#include "execlookup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../gen/protocol.h"
#include "err.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* 0 when path is a regular file with an exec bit; else -1 with errno. */
static int executable(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return -1;
  if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) {
    errno = EACCES;
    return -1;
  }
  return 0;
}

int exec_lookup(const char *name, char *const env[], char *out, size_t out_len) {
  if (!name[0]) return ts_fail(TS_STEP_EXEC_LOOKUP, ENOENT, name, "executable file not found in $PATH");
  if (strchr(name, '/')) {
    struct stat st;
    if (stat(name, &st) < 0) return ts_fail(TS_STEP_EXEC_LOOKUP, errno, name, "no such file or directory");
    if (S_ISDIR(st.st_mode)) return ts_fail(TS_STEP_EXEC_LOOKUP, EACCES, name, "is a directory");
    if (!(st.st_mode & 0111)) return ts_fail(TS_STEP_EXEC_LOOKUP, EACCES, name, "permission denied");
    snprintf(out, out_len, "%s", name);
    return 0;
  }
  const char *path = NULL;
  for (char *const *e = env; e && *e; e++)
    if (!strncmp(*e, "PATH=", 5)) path = *e + 5;
  if (!path) path = DEFAULT_PATH;
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    int n = (int)(end - p);
    /* An empty entry means the current directory, as in exec.LookPath. */
    if (n == 0) snprintf(out, out_len, "./%s", name);
    else snprintf(out, out_len, "%.*s/%s", n, p, name);
    if (executable(out) == 0) return 0;
    if (!*end) break;
    p = end;
  }
  return ts_fail(TS_STEP_EXEC_LOOKUP, ENOENT, name, "executable file not found in $PATH");
}

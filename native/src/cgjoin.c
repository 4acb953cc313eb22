#include "cgjoin.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

static const char PROCS[] = "cgroup.procs";

/* The directory part of a ".../cgroup.procs" path (malloc'd), or NULL when it is not one. */
static char *cgroup_dir(const char *procs) {
  size_t n = strlen(procs), k = sizeof PROCS - 1;
  if (n <= k || strcmp(procs + n - k, PROCS) || procs[n - k - 1] != '/') return NULL;
  return strndup(procs, n - k - 1);
}

/* The cgroup's way in, by the filesystem it lives on: 1 (v1 tasks file opened into *fd),
 * 2 (cgroup2 directory opened into *fd), 0 (neither: write the pid), -1 (error). */
static int classify(const char *procs, char **tasks_path, int *fd) {
  char *dir = cgroup_dir(procs);
  *tasks_path = NULL;
  *fd = -1;
  if (!dir) return 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct statfs st;
  int kind = 0;
  if (dfd < 0 || fstatfs(dfd, &st) < 0) {
    kind = -1;
  } else if (st.f_type == CGROUP2_SUPER_MAGIC) {
    *fd = dfd;
    dfd = -1;
    kind = 2;
  } else if (st.f_type == CGROUP_SUPER_MAGIC) {
    size_t len = strlen(dir) + sizeof "/tasks";
    *tasks_path = malloc(len);
    if (*tasks_path) snprintf(*tasks_path, len, "%s/tasks", dir);
    *fd = *tasks_path ? openat(dfd, "tasks", O_WRONLY | O_CLOEXEC) : -1;
    kind = *fd < 0 ? -1 : 1;
  }
  int e = errno;
  if (dfd >= 0) close(dfd);
  free(dir);
  errno = e;
  return kind;
}

int cgjoin_open(struct cgjoin *j, const char *const *procs, size_t n, const char *step) {
  *j = (struct cgjoin){.v2_dir = -1};
  if (!n) return 0;
  j->tasks = calloc(n, sizeof *j->tasks);
  j->tasks_path = calloc(n, sizeof *j->tasks_path);
  j->other = calloc(n, sizeof *j->other);
  if (!j->tasks || !j->tasks_path || !j->other) {
    cgjoin_close(j);
    return ts_fail(step, ENOMEM, "", NULL);
  }
  for (size_t i = 0; i < n; i++) {
    char *tasks_path;
    int fd;
    int kind = classify(procs[i], &tasks_path, &fd);
    if (kind < 0) {
      int e = errno;
      ts_fail(step, e, tasks_path ? tasks_path : procs[i], NULL);
      free(tasks_path);
      cgjoin_close(j);
      return -1;
    }
    if (kind == 1) {
      j->tasks[j->n_tasks] = fd;
      j->tasks_path[j->n_tasks++] = tasks_path;
    } else if (kind == 2 && j->v2_dir < 0) {
      j->v2_dir = fd;
      j->v2_procs = procs[i];
    } else {
      if (fd >= 0) close(fd);
      j->other[j->n_other++] = procs[i];
    }
  }
  return 0;
}

int cgjoin_self(const struct cgjoin *j, const char *step) {
  for (size_t i = 0; i < j->n_tasks; i++)
    if (write_all(j->tasks[i], "0", 1) < 0) return ts_fail_errno(step, j->tasks_path[i]);
  return 0;
}

int cgjoin_write_pid(const struct cgjoin *j, pid_t pid, bool v2, const char *step) {
  char v[16];
  snprintf(v, sizeof v, "%d", (int)pid);
  if (v2 && j->v2_procs && write_file(j->v2_procs, v) < 0) return ts_fail_errno(step, j->v2_procs);
  for (size_t i = 0; i < j->n_other; i++)
    if (write_file(j->other[i], v) < 0) return ts_fail_errno(step, j->other[i]);
  return 0;
}

void cgjoin_close(struct cgjoin *j) {
  for (size_t i = 0; i < j->n_tasks; i++) {
    close(j->tasks[i]);
    free((char *)j->tasks_path[i]);
  }
  if (j->v2_dir >= 0) close(j->v2_dir);
  free(j->tasks);
  free(j->tasks_path);
  free(j->other);
  *j = (struct cgjoin){.v2_dir = -1};
}

pid_t cgjoin_clone(unsigned long flags, int cg, bool *born_in) {
  *born_in = false;
  if (cg >= 0) {
    struct clone_args a = {.flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg};
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0) {
      *born_in = true;
      return (pid_t)pid;
    }
  }
  return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

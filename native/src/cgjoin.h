/*
 * Joining cgroups without the kernel's global migration lock.
 *
 * Writing a pid into cgroup.procs write-locks cgroup_threadgroup_rwsem, a per-cpu rwsem
 * whose writer first waits for an RCU grace period when the lock has been quiet: 5 to 20 ms
 * here, paid by the first migration of every `tsrun run` (measured: the monitor's own pid
 * into 10 hierarchies took 9-21 ms of a ~25 ms monitor start). Two ways in skip it:
 *  - cgroup v1: a thread writing "0" (itself) into a `tasks` file moves only itself, which
 *    the kernel does without the global lock; for a single-threaded process (the monitor,
 *    the init) that is the whole process. Measured: 0.3 ms for 9 hierarchies.
 *  - cgroup v2: being born in the cgroup, clone3(CLONE_INTO_CGROUP), which takes the lock
 *    for reading only (and puts even the first page of the child in the right cgroup).
 * A cgroup given by a path not named cgroup.procs, or a kernel without clone3 /
 * CLONE_INTO_CGROUP, is joined the old way (the pid into cgroup.procs).
 *
 * The `tasks` files are opened by the monitor, as root on the host: the init writes into
 * the inherited fds (the kernel checks the opener's credentials), so it never resolves a
 * host path.
 */
#ifndef TSRUN_CGJOIN_H
#define TSRUN_CGJOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cgjoin {
  int *tasks;              /* v1: the cgroups' tasks files, open for writing */
  const char **tasks_path; /* their paths, for errors (owned) */
  size_t n_tasks;
  int v2_dir;              /* the cgroup2 directory to be born in, or -1 */
  const char *v2_procs;    /* its cgroup.procs, for the fallback */
  const char **other;      /* cgroup.procs files joined by writing the pid */
  size_t n_other;
};

/* Sorts the cgroups (given by their cgroup.procs paths) and opens what joining them needs.
 * Failures name `step` and the path. */
int cgjoin_open(struct cgjoin *j, const char *const *procs, size_t n, const char *step);

/* Moves the calling single-threaded process into every v1 cgroup ("0" into each tasks file). */
int cgjoin_self(const struct cgjoin *j, const char *step);

/* Writes pid into the cgroup.procs files that have no other way in; with `v2`, into the
 * cgroup2 one too (the process was not born in it). */
int cgjoin_write_pid(const struct cgjoin *j, pid_t pid, bool v2, const char *step);

void cgjoin_close(struct cgjoin *j);

/*
 * A fork-like clone (no new stack: the child returns 0 here and continues on a copy of the
 * stack) with `flags` (CLONE_NEW*, exit signal SIGCHLD), born in the cgroup2 directory `cg`
 * when cg >= 0. *born_in says whether it was: when clone3 or CLONE_INTO_CGROUP is
 * refused, this falls back to a plain clone and the caller joins the cgroup the old way
 * (which then reports the real error, if the cgroup itself was the problem).
 */
pid_t cgjoin_clone(unsigned long flags, int cg, bool *born_in);

#endif

/* Small helpers shared by the monitor and the init. Plain -1/errno unless said otherwise. */
#ifndef TSRUN_UTIL_H
#define TSRUN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t n);

/* Opens path O_WRONLY (no O_CREAT) and writes s: for /proc and cgroup files. */
int write_file(const char *path, const char *s);

/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or 0. */
uint64_t proc_start_time(pid_t pid);

/* The current time as RFC 3339 with nanoseconds, UTC, trailing zeros trimmed (Go's
 * RFC3339Nano): "2024-05-01T10:00:00.12345Z". buf needs 40 bytes. */
char *rfc3339_now(char *buf);

/* The same for the time ms milliseconds from now. */
char *rfc3339_after(char *buf, uint64_t ms);

/* Replaces name (relative to the cwd) atomically: temp file, fsync, rename. */
int write_atomic(const char *name, const char *data, size_t len);

/* The same without the fsync; returns the new file's fd (close-on-exec) for the caller to
 * fsync when it suits it (or just close). Until then a crash of the machine may leave the
 * file empty, never half-written. */
int write_replace(const char *name, const char *data, size_t len);

/* The value of the "oom_kill N" line in a memory.oom_control / memory.events file, or -1. */
long long read_oom_kill(const char *path);

/* Moves fd to a number >= 3 (close-on-exec) when it is 0, 1 or 2. */
int fd_above_stdio(int fd);

/* With TSRUN_MONITOR_TRACE=<file> in the environment, appends "<epoch us> <pid> <what>"
 * to that file: a timeline of the monitor and init for profiling. Otherwise does nothing. */
void trace_point(const char *what);

#endif

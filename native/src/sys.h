/*
 * The syscalls the init's filesystem sequence makes, behind a table (youki's approach), so a
 * unit test can run a plan's mount sequence against a recording fake and assert the exact
 * calls without root. Each entry behaves like the libc call: -1 and errno on failure.
 */
#ifndef TSRUN_SYS_H
#define TSRUN_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct sys_ops {
  int (*mount)(const char *src, const char *target, const char *fstype, unsigned long flags, const void *data);
  int (*umount2)(const char *target, int flags);
  /* openat2(dirfd, path, {flags, mode, resolve}). */
  int (*openat2)(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);
  int (*mkdirat)(int dirfd, const char *name, mode_t mode);
  int (*symlinkat)(const char *target, int dirfd, const char *name);
  ssize_t (*readlinkat)(int dirfd, const char *name, char *buf, size_t size);
  int (*fstat)(int fd, struct stat *st);
  int (*fsopen)(const char *fstype, unsigned flags);
  int (*fsconfig)(int fd, unsigned cmd, const char *key, const void *value, int aux);
  int (*fsmount)(int fd, unsigned flags, unsigned attr_flags);
  int (*move_mount)(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags);
  /* mount_setattr(dfd, path, flags, {attr_set, attr_clr, propagation 0, userns 0}). */
  int (*mount_setattr)(int dfd, const char *path, unsigned flags, uint64_t attr_set, uint64_t attr_clr);
  int (*pivot_root)(const char *new_root, const char *put_old);
  int (*fchdir)(int fd);
  int (*chdir)(const char *path);
  int (*close)(int fd);
  ssize_t (*write)(int fd, const void *buf, size_t n);
  int (*sethostname)(const char *name, size_t len);
  int (*setdomainname)(const char *name, size_t len);
};

/* The real syscalls. */
extern const struct sys_ops sys_real;

#endif

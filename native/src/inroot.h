/*
 * Paths inside the container's root, resolved inside it: openat2 with RESOLVE_IN_ROOT from
 * a root fd, so ".." and symlinks (absolute or relative) never lead out of the root. An
 * image's symlink at a mount target can only redirect the mount to another place inside.
 */
#ifndef TSRUN_INROOT_H
#define TSRUN_INROOT_H

#include <stdbool.h>

#include "sys.h"

/* Opens path (absolute, inside the root) with RESOLVE_IN_ROOT. Plain -1/errno, no ts_err. */
int inroot_open(const struct sys_ops *sys, int rootfd, const char *path, int flags);

/* Opens path as an O_PATH fd, creating it first when missing: a directory (with parents) or,
 * when dir is false, an empty file. Plain -1/errno. */
int inroot_target(const struct sys_ops *sys, int rootfd, const char *path, bool dir);

/* mkdir -p inside the root (a dangling symlink on the way: its target, inside the root, is
 * created); returns an O_PATH fd to the directory. Plain -1/errno. */
int inroot_mkdir_p(const struct sys_ops *sys, int rootfd, const char *path);

/* "/proc/self/fd/N", the path by which mount(2) reaches what fd refers to. */
const char *fd_path(int fd, char buf[32]);

/* Splits "/a/b/c" into parent "/a/b" and base "c" (trailing slashes ignored). */
void split_path(const char *path, char *parent, size_t parent_len, const char **base_out, char *base,
                size_t base_len);

#endif

/*
 * tsrun-cp: the helper that reads and writes files for `tsrun cp`, inside a container's view
 * (its user and mount namespaces, chrooted to its root) or on the host. Its failures follow
 * err.h's contract; the step is one of the kinds below, which main() prints as the one line
 * "<kind>\t<path>\t<message>" on stderr for tsrun to turn into Docker's words.
 */
#ifndef TSRUN_CP_H
#define TSRUN_CP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cp-records.h"

/* The path does not exist (tsrun says "Could not find the file …"). detail: none. */
#define CP_NOT_FOUND "not-found"
/* A refusal in Docker's words, in detail (not a directory, read-only, a breakout…). */
#define CP_INVALID "invalid"
/* A system call failed: detail names the operation, errnum and path say the rest. */
#define CP_SYSTEM "system"
/* Bad command line (a bug in tsrun, not the user's input). */
#define CP_USAGE "usage"

/* Records a failed system call `op` on `path` with the current errno; returns -1. */
int cp_sys(const char *op, const char *path);

/* Enters the view of the process pid (whose start time must be start, when not 0): its user
 * namespace (unless it is ours), its mount namespace, chroot to its root, then uid and gid 0
 * of that user namespace. */
int cp_enter(pid_t pid, uint64_t start);

/* Docker's FollowSymlinkInScope with "/" as the scope: path with every symlink followed,
 * ".." never above "/", and a missing component taken as written. out: an absolute path. */
int cp_scope_resolve(const char *path, char *out, size_t out_len);

/* One STAT record for path (lstat; a trailing "/" or "/." follows a final symlink). */
int cp_stat(struct cp_out *o, const char *path);

/* STAT for path, then path (a directory with all its content) as entries whose names start
 * with name, then END. */
int cp_archive(struct cp_out *o, const char *path, const char *name);

struct cp_extract_opts {
  /* Give entries the uid and gid of their records (`cp -a`); else they belong to the
   * extracting user (root of the container, or of the host). */
  bool keep_owner;
  /* On the host: never follow a symlink out of the extraction directory (RESOLVE_BENEATH).
   * In a container, the chroot is the boundary and its symlinks are followed inside it. */
  bool beneath;
  /* In a container: refuse a read-only extraction point with Docker's messages. */
  bool container;
};

/* Checks dir (followed to the end: it must be a directory, writable in a container), then
 * reads the record stream from fd 0 into in and creates its entries under dir, with
 * Docker's Untar rules. STAT records are skipped, so an archive's output can be fed in. */
int cp_extract(struct cp_in *in, const char *dir, const struct cp_extract_opts *opts);

#endif

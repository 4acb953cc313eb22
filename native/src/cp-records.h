/*
 * The record stream of tsrun-cp, the helper behind `tsrun cp`: how a tree of files crosses
 * between the helper and tsrun, in either direction. Files are the helper's business, tar is
 * tsrun's (src/engine/cp/records.ts mirrors this header; change both together).
 *
 * Stream: {u32 CP_STREAM_MAGIC, u32 CP_STREAM_VERSION}, then records, the last one END.
 * Record (all integers little-endian), CP_HEADER_SIZE bytes:
 *
 *   0 u8 type      4 u32 mode (st_mode: type and permission bits)   8 u32 uid   12 u32 gid
 *  16 u32 devmajor 20 u32 devminor   24 u64 size (data bytes that follow: regular files)
 *  32 i64 mtime (seconds)   40 u32 name_len   44 u32 link_len   48 u32 xattr_len   52 u32 0
 *
 * then name_len bytes of name, link_len of link, xattr_len of the security.capability value
 * (VFS_CAP_REVISION_2), then size bytes of data. Names are relative paths ("dir/file",
 * "./file"), never NUL; a directory's name has no trailing slash.
 */
#ifndef TSRUN_CP_RECORDS_H
#define TSRUN_CP_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CP_STREAM_MAGIC 0x50435354u /* "TSCP" */
#define CP_STREAM_VERSION 1u
#define CP_HEADER_SIZE 56

enum cp_rec_type {
  /* A file, directory, symlink (link: its target), fifo or device; data follows for files. */
  CP_REC_ENTRY = 1,
  /* A hard link to an earlier entry of the same stream, whose name is in link. */
  CP_REC_HARDLINK = 2,
  /* What a path is: the answer of `stat`, and the first record of `archive`. For a symlink,
   * link is its target resolved in the container's scope (Docker's LinkTarget). */
  CP_REC_STAT = 3,
  /* The stream is complete; anything else at EOF is a truncated stream. */
  CP_REC_END = 4,
};

#define CP_MAX_NAME 65536
#define CP_MAX_LINK 65536
#define CP_MAX_XATTR 4096

struct cp_rec {
  uint8_t type;
  uint32_t mode, uid, gid, devmajor, devminor;
  uint64_t size;
  int64_t mtime;
  /* NUL-terminated; owned by the record when read with cp_in_record. */
  char *name, *link;
  uint8_t *xattr;
  uint32_t name_len, link_len, xattr_len;
};

struct cp_out {
  int fd;
  size_t len;
  uint8_t buf[1 << 16];
};

struct cp_in {
  int fd;
  size_t pos, len;
  uint8_t buf[1 << 16];
};

/* Writing. Each returns 0, or -1 with ts_err set. */
int cp_out_start(struct cp_out *o, int fd);
int cp_out_record(struct cp_out *o, const struct cp_rec *r);
int cp_out_data(struct cp_out *o, const void *p, size_t n);
int cp_out_flush(struct cp_out *o);

/* Reading. cp_in_record allocates name, link and xattr: free them with cp_rec_free. */
int cp_in_start(struct cp_in *in, int fd);
int cp_in_record(struct cp_in *in, struct cp_rec *r);
int cp_in_data(struct cp_in *in, void *p, size_t n);
void cp_rec_free(struct cp_rec *r);

#endif

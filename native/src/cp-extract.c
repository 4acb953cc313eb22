/*
 * Writing records into a directory with the rules of Docker's Untar (moby go-archive) as
 * `docker cp` uses it (NoOverwriteDirNonDir): names cleaned and kept inside the extraction
 * directory; a directory is never replaced by a non-directory nor the reverse; any other
 * existing entry is replaced; missing parents are made (0755); a symlink whose target
 * climbs out of the extraction directory with ".." and a hard link to outside it are
 * refused; mode after owner, times last (a directory's once all its content is written).
 *
 * Every entry is created relative to an fd of its parent directory, never by a joined
 * path. In a container the chroot bounds every lookup, and symlinks are followed inside
 * it, as in Docker's chrootarchive. On the host, lookups are RESOLVE_BENEATH the extraction
 * directory: no entry, however the archive was made, lands outside it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"
#include "util.h"

#define REL_MAX (2 * PATH_MAX)

struct dir_time {
  char *rel;
  int64_t mtime;
};

struct ext {
  struct cp_in *in;
  const struct cp_extract_opts *opts;
  int dirfd;
  const char *dest;
  uint64_t resolve;
  struct dir_time *dirs;
  size_t ndirs, cap;
};

/* Go's path.Clean of name taken relative to the extraction directory (a leading "/" too,
 * as filepath.Join(dest, name) does): "." for the directory itself; -1 when it climbs out. */
static int clean_rel(const char *name, char *out, size_t len) {
  size_t o = 0;
  const char *p = name;
  while (*p) {
    while (*p == '/') p++;
    const char *end = strchrnul(p, '/');
    size_t n = (size_t)(end - p);
    if (n == 0 || (n == 1 && p[0] == '.')) {
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (o == 0) return -1;
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--; /* the separator before the dropped component */
    } else {
      if (o + (o ? 1 : 0) + n + 1 > len) return -2;
      if (o) out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p = end;
  }
  if (o == 0) {
    if (len < 2) return -2;
    out[o++] = '.';
  }
  out[o] = '\0';
  return 0;
}

/* "dest/rel" for messages, as Docker's filepath.Join(dest, name) shows it. */
static const char *shown(const struct ext *x, const char *rel, char *buf, size_t len) {
  if (!strcmp(rel, ".")) snprintf(buf, len, "%s", x->dest);
  else snprintf(buf, len, "%s%s%s", x->dest, x->dest[strlen(x->dest) - 1] == '/' ? "" : "/", rel);
  return buf;
}

static int open_in(const struct ext *x, const char *rel, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = x->resolve};
  return (int)syscall(SYS_openat2, x->dirfd, rel, &how, sizeof how);
}

/* An fd (O_PATH) of directory rel, made with its parents (0755) when missing. Each missing
 * component is created by name in its parent's fd and then opened with the same resolve
 * rules, so a symlink met on the way can never get a directory made outside. */
static int open_dir(const struct ext *x, const char *rel) {
  int fd = open_in(x, rel, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  int cur = open_in(x, ".", O_PATH | O_DIRECTORY);
  char prefix[REL_MAX], comp[NAME_MAX + 1];
  size_t plen = 0;
  for (const char *p = rel; cur >= 0 && *p;) {
    const char *end = strchrnul(p, '/');
    size_t n = (size_t)(end - p);
    if (n > NAME_MAX || plen + n + 2 > sizeof prefix) {
      close(cur);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(comp, p, n);
    comp[n] = '\0';
    if (plen) prefix[plen++] = '/';
    memcpy(prefix + plen, p, n);
    plen += n;
    prefix[plen] = '\0';
    int next = open_in(x, prefix, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT && (mkdirat(cur, comp, 0755) == 0 || errno == EEXIST))
      next = open_in(x, prefix, O_PATH | O_DIRECTORY);
    int e = errno;
    close(cur);
    errno = e;
    cur = next;
    p = *end ? end + 1 : end;
  }
  return cur;
}

/* Splits rel into its parent ("." at the top) and base. */
static void split_rel(const char *rel, char *parent, size_t len, const char **base) {
  const char *slash = strrchr(rel, '/');
  if (!slash) {
    snprintf(parent, len, ".");
    *base = rel;
  } else {
    snprintf(parent, len, "%.*s", (int)(slash - rel), rel);
    *base = slash + 1;
  }
}

static int copy_content(struct ext *x, int fd, uint64_t size, const char *path) {
  static char buf[1 << 16];
  while (size) {
    size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
    if (cp_in_data(x->in, buf, n) < 0) return -1;
    if (write_all(fd, buf, n) < 0) return cp_sys("write", path);
    size -= n;
  }
  return 0;
}

/* Docker's check: the symlink's target, taken from the link's directory, stays inside. */
static bool symlink_inside(const char *rel, const char *target) {
  char joined[REL_MAX], clean[REL_MAX];
  const char *slash = strrchr(rel, '/');
  int dir_len = slash ? (int)(slash - rel) : 0;
  if (snprintf(joined, sizeof joined, "%.*s/%s", dir_len, rel, target) >= (int)sizeof joined) return false;
  return clean_rel(joined, clean, sizeof clean) == 0;
}

static int remember_dir(struct ext *x, const char *rel, int64_t mtime) {
  if (x->ndirs == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    struct dir_time *bigger = realloc(x->dirs, cap * sizeof *bigger);
    if (!bigger) return cp_sys("realloc", rel);
    x->dirs = bigger;
    x->cap = cap;
  }
  if (!(x->dirs[x->ndirs].rel = strdup(rel))) return cp_sys("strdup", rel);
  x->dirs[x->ndirs++].mtime = mtime;
  return 0;
}

/* Creates the entry base in pfd; fd_out receives an open fd of a regular file. 1: skipped. */
static int create(struct ext *x, struct cp_rec *r, const char *rel, int pfd, const char *base, const char *path, int *fd_out) {
  mode_t perm = r->mode & 07777;
  char msg[2 * REL_MAX];
  if (r->type == CP_REC_HARDLINK) {
    char target[REL_MAX], tparent[REL_MAX];
    const char *tbase;
    if (clean_rel(r->link, target, sizeof target) != 0 || !strcmp(target, "."))
      return ts_fail(CP_INVALID, 0, path, "invalid hardlink \"%s/%s\" -> \"%s\"", x->dest, r->link, r->link);
    split_rel(target, tparent, sizeof tparent, &tbase);
    int tfd = open_in(x, tparent, O_PATH | O_DIRECTORY);
    if (tfd < 0) return cp_sys("link", shown(x, target, msg, sizeof msg));
    int res = linkat(tfd, tbase, pfd, base, 0);
    close(tfd);
    return res < 0 ? cp_sys("link", path) : 0;
  }
  switch (r->mode & S_IFMT) {
    case S_IFDIR: {
      struct stat st;
      if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return 0; /* merged */
      return mkdirat(pfd, base, perm) < 0 ? cp_sys("mkdir", path) : 0;
    }
    case S_IFREG: {
      int fd = openat(pfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, perm);
      if (fd < 0) return cp_sys("open", path);
      if (copy_content(x, fd, r->size, path) < 0) {
        close(fd);
        return -1;
      }
      *fd_out = fd;
      return 0;
    }
    case S_IFLNK:
      if (!symlink_inside(rel, r->link)) return ts_fail(CP_INVALID, 0, path, "invalid symlink \"%s\" -> \"%s\"", path, r->link);
      return symlinkat(r->link, pfd, base) < 0 ? cp_sys("symlink", path) : 0;
    case S_IFIFO:
      return mknodat(pfd, base, S_IFIFO | perm, 0) < 0 ? cp_sys("mknod", path) : 0;
    case S_IFCHR:
    case S_IFBLK:
      /* Never on the host: a container's /dev holds the host's own devices (and --device
       * ones), which a copy must not turn into nodes anyone can open outside. */
      if (!x->opts->container) {
        fprintf(stderr, "warning\t%s\tdevice %s not created on the host\n", path, path);
        return 1;
      }
      if (mknodat(pfd, base, (r->mode & S_IFMT) | perm, makedev(r->devmajor, r->devminor)) == 0) return 0;
      /* No device nodes in a user namespace (Docker skips them there too). */
      if (errno == EPERM) return 1;
      return cp_sys("mknod", path);
    default:
      return ts_fail(CP_INVALID, 0, path, "unhandled file type %o of \"%s\"", r->mode & S_IFMT, path);
  }
}

/* Owner, capability, mode, then times: the order Docker keeps (chown clears set-id bits
 * and capabilities, so mode and xattr come after it). */
static int finish(struct ext *x, struct cp_rec *r, const char *rel, int pfd, const char *base, const char *path, int fd) {
  struct stat st;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) return cp_sys("lstat", path);
  bool link = S_ISLNK(st.st_mode);
  if (x->opts->keep_owner && fchownat(pfd, base, r->uid, r->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return ts_fail(CP_INVALID, errno, path, "failed to Lchown \"%s\" for UID %u, GID %u: lchown %s: %s", path, r->uid, r->gid,
                   path, strerror(errno));
  if (fd >= 0 && r->xattr_len && fsetxattr(fd, "security.capability", r->xattr, r->xattr_len, 0) < 0)
    fprintf(stderr, "warning\t%s\tsetxattr security.capability %s: %s (capability not kept)\n", path, path, strerror(errno));
  /* A hard link's mode is its target's, set when the target was written. */
  if (!link && r->type == CP_REC_ENTRY) {
    mode_t perm = r->mode & 07777;
    if ((fd >= 0 ? fchmod(fd, perm) : fchmodat(pfd, base, perm, 0)) < 0) return cp_sys("chmod", path);
  }
  if (S_ISDIR(st.st_mode) && r->type == CP_REC_ENTRY) return remember_dir(x, rel, r->mtime);
  struct timespec ts[2] = {{.tv_sec = r->mtime}, {.tv_sec = r->mtime}};
  if (r->type == CP_REC_HARDLINK) return 0; /* its times are its target's */
  if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) return cp_sys("chtimes", path);
  return 0;
}

static int extract_one(struct ext *x, struct cp_rec *r) {
  char rel[REL_MAX], parent[REL_MAX], path[2 * REL_MAX];
  int c = clean_rel(r->name, rel, sizeof rel);
  if (c == -2) {
    errno = ENAMETOOLONG;
    return cp_sys("open", r->name);
  }
  if (c < 0) return ts_fail(CP_INVALID, 0, r->name, "\"%s\" is outside of \"%s\"", r->name, x->dest);
  shown(x, rel, path, sizeof path);
  bool is_dir = r->type == CP_REC_ENTRY && S_ISDIR(r->mode);
  if (!strcmp(rel, ".")) {
    if (is_dir) return 0; /* the extraction directory itself keeps its metadata */
    return ts_fail(CP_INVALID, 0, path, "cannot overwrite directory \"%s\" with non-directory \"%s\"", path, x->dest);
  }
  const char *base;
  split_rel(rel, parent, sizeof parent, &base);
  int pfd = open_dir(x, parent);
  if (pfd < 0) return cp_sys("mkdir", shown(x, parent, path, sizeof path));
  struct stat st;
  int res = 0, fd = -1;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode) && !is_dir)
      res = ts_fail(CP_INVALID, 0, path, "cannot overwrite directory \"%s\" with non-directory \"%s\"", path, x->dest);
    else if (!S_ISDIR(st.st_mode) && is_dir)
      res = ts_fail(CP_INVALID, 0, path, "cannot overwrite non-directory \"%s\" with directory \"%s\"", path, x->dest);
    else if (!S_ISDIR(st.st_mode) && unlinkat(pfd, base, 0) < 0)
      res = cp_sys("unlink", path);
  }
  if (res == 0) res = create(x, r, rel, pfd, base, path, &fd);
  if (res == 0) res = finish(x, r, rel, pfd, base, path, fd);
  if (res == 1) res = 0;
  if (fd >= 0) close(fd);
  close(pfd);
  return res;
}

/* Directories' times, once nothing more is written into them (innermost last is fine:
 * setting a directory's times does not touch its parent's). */
static int dir_times(struct ext *x) {
  for (size_t i = 0; i < x->ndirs; i++) {
    int fd = open_in(x, x->dirs[i].rel, O_RDONLY | O_DIRECTORY);
    struct timespec ts[2] = {{.tv_sec = x->dirs[i].mtime}, {.tv_sec = x->dirs[i].mtime}};
    char path[2 * REL_MAX];
    if (fd < 0 || futimens(fd, ts) < 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      errno = e;
      return cp_sys("chtimes", shown(x, x->dirs[i].rel, path, sizeof path));
    }
    close(fd);
  }
  return 0;
}

/* Docker refuses a read-only extraction point: the rootfs (--read-only) or a volume. */
static int check_writable(const struct ext *x) {
  struct statvfs sv;
  if (fstatvfs(x->dirfd, &sv) < 0) return cp_sys("statfs", x->dest);
  if (!(sv.f_flag & ST_RDONLY)) return 0;
  struct statx here, root;
  if (statx(x->dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &here) < 0 || statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &root) < 0)
    return cp_sys("statx", x->dest);
  if (here.stx_mnt_id == root.stx_mnt_id) return ts_fail(CP_INVALID, 0, x->dest, "container rootfs is marked read-only");
  return ts_fail(CP_INVALID, 0, x->dest, "mounted volume is marked read-only");
}

int cp_extract(struct cp_in *in, const char *dir, const struct cp_extract_opts *opts) {
  struct ext x = {.in = in, .opts = opts, .dest = dir, .resolve = RESOLVE_NO_MAGICLINKS};
  if (opts->beneath) x.resolve |= RESOLVE_BENEATH;
  /* The extraction point itself is followed to the end, symlinks included (Docker's
   * GetResourcePath), then must be a directory. */
  struct stat st;
  if (stat(dir, &st) < 0) {
    if (errno == ENOENT) return ts_fail(CP_NOT_FOUND, errno, dir, NULL);
    if (errno != ENOTDIR) return cp_sys("stat", dir);
    return ts_fail(CP_INVALID, 0, dir, "extraction point is not a directory");
  }
  if (!S_ISDIR(st.st_mode)) return ts_fail(CP_INVALID, 0, dir, "extraction point is not a directory");
  x.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (x.dirfd < 0) return cp_sys("open", dir);
  int res = opts->container ? check_writable(&x) : 0;
  if (res == 0) res = cp_in_start(in, 0);
  while (res == 0) {
    struct cp_rec r;
    res = cp_in_record(in, &r);
    if (res == 0 && r.type == CP_REC_END) {
      cp_rec_free(&r);
      break;
    }
    /* STAT describes the source (an archive's first record): nothing to write. */
    if (res == 0 && r.type != CP_REC_STAT) res = extract_one(&x, &r);
    cp_rec_free(&r);
  }
  if (res == 0) res = dir_times(&x);
  for (size_t i = 0; i < x.ndirs; i++) free(x.dirs[i].rel);
  free(x.dirs);
  close(x.dirfd);
  return res;
}

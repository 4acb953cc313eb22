/*
 * Reading a tree into records, as Docker's tar of a copy source does (moby go-archive
 * addTarFile): entries in lexical order, a directory before its content, symlinks never
 * followed, a second name of a multiply linked file as a hard link to the first, sockets
 * left out, security.capability carried as VFS_CAP_REVISION_2 (a v3 root id means nothing
 * outside the namespace it was written in), times in whole seconds.
 *
 * The walk goes by directory fds and opens every entry with O_NOFOLLOW, then checks it is
 * still the inode it listed: a container changing its files meanwhile can make us skip an
 * entry, never read through a symlink it swapped in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cp.h"
#include "err.h"

#define CAP_XATTR "security.capability"
#define VFS_CAP_V2_SIZE 20

/* (dev, ino) → the archive name of the first link of a multiply linked file. */
struct link_table {
  struct link_slot {
    dev_t dev;
    ino_t ino;
    char *name;
  } *slots;
  size_t cap, used;
};

static size_t slot_of(const struct link_table *t, dev_t dev, ino_t ino) {
  size_t h = ((size_t)ino * 0x9E3779B97F4A7C15ull) ^ (size_t)dev;
  for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
    if (!t->slots[i].name || (t->slots[i].dev == dev && t->slots[i].ino == ino)) return i;
}

/* The first name of (dev, ino), or NULL after recording name as it. */
static const char *link_first(struct link_table *t, dev_t dev, ino_t ino, const char *name) {
  if ((t->used + 1) * 2 > t->cap) {
    struct link_table bigger = {.cap = t->cap ? t->cap * 2 : 64};
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots) return NULL; /* no memory: the file is then archived again, whole */
    for (size_t i = 0; i < t->cap; i++)
      if (t->slots[i].name) bigger.slots[slot_of(&bigger, t->slots[i].dev, t->slots[i].ino)] = t->slots[i];
    bigger.used = t->used;
    free(t->slots);
    *t = bigger;
  }
  struct link_slot *s = &t->slots[slot_of(t, dev, ino)];
  if (s->name) return s->name;
  s->name = strdup(name);
  if (s->name) {
    s->dev = dev;
    s->ino = ino;
    t->used++;
  }
  return NULL;
}

struct walk {
  struct cp_out *o;
  struct link_table links;
};

static void warn(const char *path, const char *what) {
  fprintf(stderr, "warning\t%s\t%s %s: %s (left out)\n", path, what, path, strerror(errno));
}

static void fill(struct cp_rec *r, const struct stat *st) {
  r->mode = st->st_mode;
  r->uid = st->st_uid;
  r->gid = st->st_gid;
  if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
    r->devmajor = major(st->st_rdev);
    r->devminor = minor(st->st_rdev);
  }
  r->mtime = st->st_mtim.tv_sec;
}

/* The content of a regular file: exactly size bytes (zeros if it shrank meanwhile). */
static int copy_data(struct cp_out *o, int fd, uint64_t size, const char *name) {
  static char buf[1 << 16];
  while (size) {
    size_t want = size < sizeof buf ? (size_t)size : sizeof buf;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cp_sys("read", name);
    if (n == 0) {
      memset(buf, 0, want);
      n = (ssize_t)want;
    }
    if (cp_out_data(o, buf, (size_t)n) < 0) return -1;
    size -= (uint64_t)n;
  }
  return 0;
}

static int emit(struct walk *w, int dirfd, const char *base, const char *name, const struct stat *st, bool follow);

/* The names in directory fd, sorted bytewise like Go's filepath.WalkDir. */
static char **list_dir(int fd, size_t *count, const char *name) {
  int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if (!d) {
    if (dup_fd >= 0) close(dup_fd);
    cp_sys("opendir", name);
    return NULL;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **bigger = realloc(names, cap * sizeof *names);
      if (!bigger) break;
      names = bigger;
    }
    if (!(names[n] = strdup(e->d_name))) break;
    n++;
    errno = 0;
  }
  int e_read = errno;
  closedir(d);
  if (e_read) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    errno = e_read;
    cp_sys("readdir", name);
    return NULL;
  }
  *count = n;
  return names ? names : calloc(1, sizeof *names);
}

/* The kernel's views mounted in a container (proc, sysfs, cgroups, devpts, mqueue…): what
 * Docker's copy sees of them is the empty directory under the mount, and reading them
 * whole would be endless or fail. Their directories are archived empty. */
static bool pseudo_fs(int fd) {
  static const unsigned long magics[] = {
      0x9fa0,     /* proc */     0x62656572, /* sysfs */   0x27e0eb,   /* cgroup */
      0x63677270, /* cgroup2 */  0x1cd1,     /* devpts */  0x19800202, /* mqueue */
      0x73636673, /* securityfs */ 0x64626720, /* debugfs */ 0x74726163, /* tracefs */
      0xcafe4a11, /* bpf */      0x42494e4d, /* binfmt_misc */ 0x6165676c, /* pstore */
  };
  struct statfs sf;
  if (fstatfs(fd, &sf) < 0) return false;
  for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
    if ((unsigned long)sf.f_type == magics[i]) return true;
  return false;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int emit_dir(struct walk *w, int fd, const char *name) {
  size_t n = 0;
  char **names = list_dir(fd, &n, name);
  if (!names) return -1;
  qsort(names, n, sizeof *names, cmp_names);
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    struct stat st;
    if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) warn(names[i], "lstat"); /* gone meanwhile: nothing to copy */
      continue;
    }
    size_t len = strlen(name) + 1 + strlen(names[i]) + 1;
    char *child = malloc(len);
    if (!child) {
      r = cp_sys("malloc", name);
      break;
    }
    snprintf(child, len, "%s/%s", name, names[i]);
    r = emit(w, fd, names[i], child, &st, false);
    free(child);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return r;
}

/* Opens an entry listed as st; -2 when it vanished or is another file now (left out). */
static int open_entry(int dirfd, const char *base, const char *name, const struct stat *st, int flags, bool follow) {
  int fd = openat(dirfd, base, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    if (errno != ENOENT) warn(name, "open");
    return -2;
  }
  struct stat now;
  if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
    close(fd);
    return -2;
  }
  return fd;
}

static int emit(struct walk *w, int dirfd, const char *base, const char *name, const struct stat *st, bool follow) {
  struct cp_rec r = {.type = CP_REC_ENTRY, .name = (char *)name};
  fill(&r, st);
  if (S_ISSOCK(st->st_mode)) return 0;
  if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX + 1];
    ssize_t t = readlinkat(dirfd, base, target, PATH_MAX);
    if (t < 0) {
      warn(name, "readlink");
      return 0;
    }
    target[t] = '\0';
    r.link = target;
    return cp_out_record(w->o, &r);
  }
  if (S_ISDIR(st->st_mode)) {
    int fd = open_entry(dirfd, base, name, st, O_RDONLY | O_DIRECTORY, follow);
    if (fd == -2) return 0;
    int res = cp_out_record(w->o, &r) < 0 ? -1 : pseudo_fs(fd) ? 0 : emit_dir(w, fd, name);
    close(fd);
    return res;
  }
  if (!S_ISREG(st->st_mode)) return cp_out_record(w->o, &r); /* fifo, device: no content */

  if (st->st_nlink > 1) {
    const char *first = link_first(&w->links, st->st_dev, st->st_ino, name);
    if (first) {
      r.type = CP_REC_HARDLINK;
      r.link = (char *)first;
      return cp_out_record(w->o, &r);
    }
  }
  int fd = open_entry(dirfd, base, name, st, O_RDONLY, follow);
  if (fd == -2) return 0;
  struct stat now;
  if (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode)) {
    close(fd);
    return 0;
  }
  uint8_t cap[64];
  ssize_t cap_len = fgetxattr(fd, CAP_XATTR, cap, sizeof cap);
  if (cap_len >= VFS_CAP_V2_SIZE) {
    if (cap[3] == 3) { /* VFS_CAP_REVISION_3 in the top byte of magic_etc */
      cap[3] = 2;
      cap_len = VFS_CAP_V2_SIZE;
    }
    r.xattr = cap;
    r.xattr_len = (uint32_t)cap_len;
  }
  r.size = (uint64_t)now.st_size;
  int res = cp_out_record(w->o, &r) < 0 ? -1 : copy_data(w->o, fd, r.size, name);
  close(fd);
  return res;
}

static int stat_path(const char *path, struct stat *st) {
  if (lstat(path, st) == 0) return 0;
  if (errno == ENOENT || errno == ENOTDIR) return ts_fail(CP_NOT_FOUND, errno, path, NULL);
  return cp_sys("lstat", path);
}

static int stat_record(struct cp_out *o, const char *path, const struct stat *st) {
  static char target[8 * PATH_MAX];
  struct cp_rec r = {.type = CP_REC_STAT};
  fill(&r, st);
  r.size = (uint64_t)st->st_size;
  if (S_ISLNK(st->st_mode)) {
    if (cp_scope_resolve(path, target, sizeof target) < 0) return -1;
    r.link = target;
  }
  return cp_out_record(o, &r);
}

int cp_stat(struct cp_out *o, const char *path) {
  struct stat st;
  if (stat_path(path, &st) < 0) return -1;
  return stat_record(o, path, &st);
}

int cp_archive(struct cp_out *o, const char *path, const char *name) {
  struct stat st;
  if (stat_path(path, &st) < 0 || stat_record(o, path, &st) < 0) return -1;
  /* A trailing "/" or "/." made lstat follow a final symlink; the open must do the same. */
  size_t len = strlen(path);
  bool follow = len > 0 && (path[len - 1] == '/' || (len > 1 && path[len - 1] == '.' && path[len - 2] == '/'));
  struct walk w = {.o = o};
  int r = emit(&w, AT_FDCWD, path, name, &st, follow);
  for (size_t i = 0; i < w.links.cap; i++) free(w.links.slots[i].name);
  free(w.links.slots);
  if (r < 0) return -1;
  struct cp_rec end = {.type = CP_REC_END};
  return cp_out_record(o, &end);
}

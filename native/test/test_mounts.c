/*
 * The init's filesystem sequence for a plan, run against a recording fake of the syscalls
 * (youki's approach): asserts the exact calls, in order, without root. fds are shown by
 * what they refer to ("<stage>", "<clone:/l0>", "</etc/hostname>"), so the expected lists
 * read like the sequence they check.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mount.h>

#include "../gen/protocol.h"
#include "../src/buf.h"
#include "../src/err.h"
#include "../src/plan.h"
#include "../src/rootfs.h"
#include "t.h"

static struct tbuf calls;
static char names[512][128];
static int next_fd = 100;
static const char *missing[8 + 1]; /* paths openat2 reports as ENOENT */
static const char *files[8];   /* fd names fstat reports as regular files */

static const char *nm(int fd) {
  static char buf[4][32];
  static int k;
  if (fd == AT_FDCWD) return "AT_FDCWD";
  if (fd >= 0 && fd < 512 && names[fd][0]) return names[fd];
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "fd%d", fd);
  return buf[k];
}

static int new_fd(const char *fmt, ...) {
  int fd = next_fd++;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(names[fd], sizeof names[fd], fmt, ap);
  va_end(ap);
  return fd;
}

static void rec(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  line[n++] = '\n';
  tbuf_put(&calls, line, (size_t)n);
}

/* "/proc/self/fd/N" shown as the name of N. */
static const char *target(const char *t) {
  static char buf[160];
  if (t && !strncmp(t, "/proc/self/fd/", 14)) {
    snprintf(buf, sizeof buf, "%s", nm(atoi(t + 14)));
    return buf;
  }
  return t ? t : "NULL";
}

static int f_mount(const char *src, const char *tgt, const char *fstype, unsigned long flags, const void *data) {
  char s[160];
  snprintf(s, sizeof s, "%s", target(src));
  rec("mount(%s, %s, %s, 0x%lx, %s)", s, target(tgt), fstype ? fstype : "NULL", flags, data ? (const char *)data : "NULL");
  return 0;
}
static int f_umount2(const char *t, int flags) {
  rec("umount2(%s, %d)", t, flags);
  return 0;
}
static int f_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
  for (int i = 0; missing[i]; i++) {
    if (strcmp(missing[i], path)) continue;
    if (flags & O_CREAT) { /* created: present from now on */
      for (int j = i; missing[j]; j++) missing[j] = missing[j + 1];
      break;
    }
    rec("openat2(%s, %s) = ENOENT", nm(dirfd), path);
    errno = ENOENT;
    return -1;
  }
  int fd = new_fd("<%s%s>", dirfd == AT_FDCWD || !strcmp(nm(dirfd), "<root>") ? "" : "…/", path);
  rec("openat2(%s, %s, %s%s%s) = %s", nm(dirfd), path, (flags & O_CREAT) ? "O_CREAT " : "",
      (flags & O_PATH) ? "O_PATH" : "O_RDONLY", (resolve & RESOLVE_IN_ROOT) ? ", IN_ROOT" : "", nm(fd));
  (void)mode;
  return fd;
}
static int f_mkdirat(int dirfd, const char *name, mode_t mode) {
  rec("mkdirat(%s, %s, %o)", nm(dirfd), name, mode);
  return 0;
}
static int f_symlinkat(const char *t, int dirfd, const char *name) {
  rec("symlinkat(%s, %s, %s)", t, nm(dirfd), name);
  return 0;
}
static ssize_t f_readlinkat(int dirfd, const char *name, char *buf, size_t size) {
  (void)buf, (void)size;
  rec("readlinkat(%s, %s) = EINVAL", nm(dirfd), name);
  errno = EINVAL;
  return -1;
}
static int f_fstat(int fd, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_mode = S_IFDIR | 0755;
  for (int i = 0; files[i]; i++)
    if (!strcmp(files[i], nm(fd))) st->st_mode = S_IFREG | 0644;
  return 0;
}
static int f_fsopen(const char *fstype, unsigned flags) {
  (void)flags;
  int fd = new_fd("<fs:%s>", fstype);
  rec("fsopen(%s) = %s", fstype, nm(fd));
  return fd;
}
static int f_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux) {
  if (cmd == FSCONFIG_SET_FD) rec("fsconfig(%s, SET_FD, %s, %s)", nm(fd), key, nm(aux));
  else if (cmd == FSCONFIG_SET_STRING) rec("fsconfig(%s, SET_STRING, %s, %s)", nm(fd), key, (const char *)value);
  else if (cmd == FSCONFIG_SET_FLAG) rec("fsconfig(%s, SET_FLAG, %s)", nm(fd), key);
  else rec("fsconfig(%s, CMD %u)", nm(fd), cmd);
  return 0;
}
static int f_fsmount(int fd, unsigned flags, unsigned attr) {
  (void)flags;
  const char *fs = nm(fd) + 4; /* "<fs:tmpfs>" → "tmpfs>" */
  int m = new_fd("<mnt:%.*s>", (int)strlen(fs) - 1, fs);
  rec("fsmount(%s, 0x%x) = %s", nm(fd), attr, nm(m));
  return m;
}
static int f_move_mount(int from, const char *fp, int to, const char *tp, unsigned flags) {
  rec("move_mount(%s%s, %s%s%s, 0x%x)", nm(from), fp, nm(to), tp[0] ? " " : "", tp, flags);
  return 0;
}
static int f_mount_setattr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr) {
  rec("mount_setattr(%s%s, 0x%x, set 0x%llx, clr 0x%llx)", nm(dfd), path, flags, (unsigned long long)set,
      (unsigned long long)clr);
  return 0;
}
static int f_pivot_root(const char *a, const char *b) {
  rec("pivot_root(%s, %s)", a, b);
  return 0;
}
static int f_fchdir(int fd) {
  rec("fchdir(%s)", nm(fd));
  return 0;
}
static int f_chdir(const char *p) {
  rec("chdir(%s)", p);
  return 0;
}
static int f_close(int fd) {
  (void)fd;
  return 0;
}
static ssize_t f_write(int fd, const void *b, size_t n) {
  rec("write(%s, %.*s)", nm(fd), (int)n, (const char *)b);
  return (ssize_t)n;
}
static int f_sethostname(const char *n, size_t l) {
  rec("sethostname(%.*s)", (int)l, n);
  return 0;
}

static const struct sys_ops fake = {
    .mount = f_mount,          .umount2 = f_umount2,       .openat2 = f_openat2,   .mkdirat = f_mkdirat,
    .symlinkat = f_symlinkat,  .readlinkat = f_readlinkat, .fstat = f_fstat,           .fsopen = f_fsopen,     .fsconfig = f_fsconfig,
    .fsmount = f_fsmount,      .move_mount = f_move_mount, .mount_setattr = f_mount_setattr,
    .pivot_root = f_pivot_root, .fchdir = f_fchdir,        .chdir = f_chdir,       .close = f_close,
    .write = f_write,          .sethostname = f_sethostname, .setdomainname = f_sethostname,
};

static void reset(void) {
  tbuf_consume(&calls, calls.len);
  memset(names, 0, sizeof names);
  next_fd = 100;
}

static void test_overlay_sequence(void) {
  reset();
  const char *lowers[] = {"/l/top", "/l/base"};
  struct mount_plan mounts[] = {
      {.bind = false, .source = "proc", .target = "/proc", .fstype = "proc", .data = "", .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC},
      {.bind = false, .source = "tmpfs", .target = "/dev", .fstype = "tmpfs", .data = "mode=755", .flags = MS_NOSUID},
      {.bind = true, .source = "/host/hostname", .target = "/etc/hostname", .fstype = "", .data = "",
       .flags = MS_BIND | MS_RDONLY},
      {.bind = true, .source = "/host/data", .target = "/data", .fstype = "", .data = "",
       .flags = MS_BIND | MS_REC, .propagation = MS_SLAVE | MS_REC, .idmap = true},
  };
  struct device_plan devices[] = {{"/dev/null", "/dev/null"}};
  struct symlink_plan links[] = {{"pts/ptmx", "/dev/ptmx"}};
  struct plan p = {
      .rootfs = ROOTFS_OVERLAY, .rootfs_path = "/c/fs", .lowers = lowers, .n_lowers = 2, .state_dir = "/run/c",
      .mounts = mounts, .n_mounts = 4, .devices = devices, .n_devices = 1, .symlinks = links, .n_symlinks = 1,
  };
  int fds[6];
  fds[0] = new_fd("<clone:/l/top>");
  fds[1] = new_fd("<clone:/l/base>");
  fds[2] = new_fd("<clone:/c/fs>");
  fds[3] = new_fd("<clone:/host/hostname>");
  fds[4] = new_fd("<clone:/host/data>");
  fds[5] = new_fd("<clone:/dev/null>");
  files[0] = "<clone:/host/hostname>";
  files[1] = "<clone:/dev/null>";
  files[2] = NULL;
  missing[0] = "/etc/hostname";
  missing[1] = "/dev/null";
  missing[2] = NULL;
  CHECK(rootfs_fd_count(&p) == 6);
  struct rootfs_fds rf = {.lowers = fds, .upper = fds[2], .binds = fds + 3, .devices = fds + 5};
  CHECK(rootfs_build(&fake, &p, &rf) == 0);
  calls.data[calls.len - 1] = '\0';
  CHECK_STR((const char *)calls.data,
            "mount(NULL, /, NULL, 0x44000, NULL)\n"
            "fsopen(tmpfs) = <fs:tmpfs>\n"
            "fsconfig(<fs:tmpfs>, SET_STRING, mode, 0700)\n"
            "fsconfig(<fs:tmpfs>, CMD 6)\n"
            "fsmount(<fs:tmpfs>, 0xe) = <mnt:tmpfs>\n"
            "move_mount(<mnt:tmpfs>, AT_FDCWD ., 0x4)\n"
            "mkdirat(<mnt:tmpfs>, 0, 700)\n"
            "move_mount(<clone:/l/top>, <mnt:tmpfs> 0, 0x4)\n"
            "mkdirat(<mnt:tmpfs>, 1, 700)\n"
            "move_mount(<clone:/l/base>, <mnt:tmpfs> 1, 0x4)\n"
            "mkdirat(<mnt:tmpfs>, u, 700)\n"
            "move_mount(<clone:/c/fs>, <mnt:tmpfs> u, 0x4)\n"
            "fsopen(overlay) = <fs:overlay>\n"
            "openat2(<mnt:tmpfs>, 0, O_PATH) = <…/0>\n"
            "fsconfig(<fs:overlay>, SET_FD, lowerdir+, <…/0>)\n"
            "openat2(<mnt:tmpfs>, 1, O_PATH) = <…/1>\n"
            "fsconfig(<fs:overlay>, SET_FD, lowerdir+, <…/1>)\n"
            "openat2(<mnt:tmpfs>, u/upper, O_PATH) = <…/u/upper>\n"
            "fsconfig(<fs:overlay>, SET_FD, upperdir, <…/u/upper>)\n"
            "openat2(<mnt:tmpfs>, u/work, O_PATH) = <…/u/work>\n"
            "fsconfig(<fs:overlay>, SET_FD, workdir, <…/u/work>)\n"
            "fsconfig(<fs:overlay>, SET_FLAG, userxattr)\n"
            "fsconfig(<fs:overlay>, CMD 6)\n"
            "fsmount(<fs:overlay>, 0x4) = <mnt:overlay>\n"
            "mkdirat(<mnt:tmpfs>, root, 755)\n"
            "move_mount(<mnt:overlay>, <mnt:tmpfs> root, 0x4)\n"
            /* proc: target resolved in the root, mounted through its fd */
            "openat2(<mnt:overlay>, /proc, O_PATH, IN_ROOT) = <…//proc>\n"
            "mount(proc, <…//proc>, proc, 0xe, NULL)\n"
            "openat2(<mnt:overlay>, /dev, O_PATH, IN_ROOT) = <…//dev>\n"
            "mount(tmpfs, <…//dev>, tmpfs, 0x2, mode=755)\n"
            /* a file bind onto a missing target: an empty file created in the root, then
             * the clone moved on it and made read-only with mount_setattr */
            "openat2(<mnt:overlay>, /etc/hostname) = ENOENT\n"
            "openat2(<mnt:overlay>, /etc, O_PATH, IN_ROOT) = <…//etc>\n"
            "openat2(<mnt:overlay>, /etc/hostname, O_CREAT O_RDONLY, IN_ROOT) = <…//etc/hostname>\n"
            "openat2(<mnt:overlay>, /etc/hostname, O_PATH, IN_ROOT) = <…//etc/hostname>\n"
            "move_mount(<clone:/host/hostname>, <…//etc/hostname>, 0x44)\n"
            "openat2(<mnt:overlay>, /etc/hostname, O_PATH, IN_ROOT) = <…//etc/hostname>\n"
            "mount_setattr(<…//etc/hostname>, 0x1000, set 0x1, clr 0x0)\n"
            /* an idmapped recursive bind with its propagation */
            "openat2(<mnt:overlay>, /data, O_PATH, IN_ROOT) = <…//data>\n"
            "move_mount(<clone:/host/data>, <…//data>, 0x44)\n"
            "openat2(<mnt:overlay>, /data, O_PATH, IN_ROOT) = <…//data>\n"
            "mount(NULL, <…//data>, NULL, 0x84000, NULL)\n"
            /* a device: an empty file, the host node's clone bound on it (never mknod) */
            "openat2(<mnt:overlay>, /dev/null) = ENOENT\n"
            "openat2(<mnt:overlay>, /dev, O_PATH, IN_ROOT) = <…//dev>\n"
            "openat2(<mnt:overlay>, /dev/null, O_CREAT O_RDONLY, IN_ROOT) = <…//dev/null>\n"
            "openat2(<mnt:overlay>, /dev/null, O_PATH, IN_ROOT) = <…//dev/null>\n"
            "move_mount(<clone:/dev/null>, <…//dev/null>, 0x44)\n"
            "openat2(<mnt:overlay>, /dev, O_PATH, IN_ROOT) = <…//dev>\n"
            "symlinkat(pts/ptmx, <…//dev>, ptmx)\n"
            /* pivot_root into the overlay (never chroot) and detach the old root */
            "fchdir(<mnt:overlay>)\n"
            "pivot_root(., .)\n"
            "umount2(., 2)\n"
            "chdir(/)");
}

static void test_dir_sequence(void) {
  /* A directory rootfs (an OCI bundle's), every target present. */
  reset();
  missing[0] = NULL;
  const char *lowers[] = {"/l/base"};
  struct mount_plan mounts[] = {
      {.bind = true, .source = "/host/hostname", .target = "/etc/hostname", .fstype = "", .data = "",
       .flags = MS_BIND | MS_RDONLY},
      {.bind = true, .source = "/host/data", .target = "/data", .fstype = "", .data = "",
       .flags = MS_BIND | MS_REC | MS_NOSUID, .propagation = MS_SLAVE | MS_REC, .idmap = true},
  };
  struct device_plan devices[] = {{"/dev/null", "/dev/null"}};
  struct symlink_plan links[] = {{"pts/ptmx", "/dev/ptmx"}};
  struct plan p = {
      .rootfs = ROOTFS_DIR, .rootfs_path = "/bundle/rootfs", .lowers = lowers, .n_lowers = 0, .mounts = mounts,
      .n_mounts = 2, .devices = devices, .n_devices = 1, .symlinks = links, .n_symlinks = 1,
  };
  int fds[4];
  fds[0] = new_fd("<clone:/bundle/rootfs>");
  fds[1] = new_fd("<clone:/host/hostname>");
  fds[2] = new_fd("<clone:/host/data>");
  fds[3] = new_fd("<clone:/dev/null>");
  files[0] = "<clone:/host/hostname>";
  files[1] = "<clone:/dev/null>";
  CHECK(rootfs_fd_count(&p) == 4);
  struct rootfs_fds rf = {.upper = fds[0], .binds = fds + 1, .devices = fds + 3};
  CHECK(rootfs_build(&fake, &p, &rf) == 0);
  calls.data[calls.len - 1] = '\0';
  CHECK_STR((const char *)calls.data,
            "mount(NULL, /, NULL, 0x44000, NULL)\n"
            "move_mount(<clone:/bundle/rootfs>, AT_FDCWD ., 0x4)\n"
            "openat2(<clone:/bundle/rootfs>, /etc/hostname, O_PATH, IN_ROOT) = <…//etc/hostname>\n"
            "move_mount(<clone:/host/hostname>, <…//etc/hostname>, 0x44)\n"
            "openat2(<clone:/bundle/rootfs>, /etc/hostname, O_PATH, IN_ROOT) = <…//etc/hostname>\n"
            "mount_setattr(<…//etc/hostname>, 0x1000, set 0x1, clr 0x0)\n"
            "openat2(<clone:/bundle/rootfs>, /data, O_PATH, IN_ROOT) = <…//data>\n"
            "move_mount(<clone:/host/data>, <…//data>, 0x44)\n"
            "openat2(<clone:/bundle/rootfs>, /data, O_PATH, IN_ROOT) = <…//data>\n"
            "mount_setattr(<…//data>, 0x9000, set 0x2, clr 0x0)\n"
            "openat2(<clone:/bundle/rootfs>, /data, O_PATH, IN_ROOT) = <…//data>\n"
            "mount(NULL, <…//data>, NULL, 0x84000, NULL)\n"
            "openat2(<clone:/bundle/rootfs>, /dev/null, O_PATH, IN_ROOT) = <…//dev/null>\n"
            "move_mount(<clone:/dev/null>, <…//dev/null>, 0x44)\n"
            "openat2(<clone:/bundle/rootfs>, /dev, O_PATH, IN_ROOT) = <…//dev>\n"
            "symlinkat(pts/ptmx, <…//dev>, ptmx)\n"
            "fchdir(<clone:/bundle/rootfs>)\n"
            "pivot_root(., .)\n"
            "umount2(., 2)\n"
            "chdir(/)");
}

static void test_finish(void) {
  reset();
  missing[0] = "/proc/kcore";
  missing[1] = NULL;
  files[0] = "<…/proc/keys>";
  files[1] = NULL;
  const char *masked[] = {"/proc/kcore", "/proc/keys", "/sys/firmware"};
  const char *ro[] = {"/proc/sys"};
  struct plan p = {.masked = masked, .n_masked = 3, .readonly = ro, .n_readonly = 1, .rootfs_readonly = true,
                   .root_propagation = MS_PRIVATE | MS_REC};
  CHECK(rootfs_finish(&fake, &p) == 0);
  calls.data[calls.len - 1] = '\0';
  CHECK_STR((const char *)calls.data,
            "openat2(AT_FDCWD, /, O_PATH) = </>\n"
            "openat2(</>, /proc/sys, O_PATH, IN_ROOT) = <…//proc/sys>\n"
            "mount(<…//proc/sys>, <…//proc/sys>, NULL, 0x5000, NULL)\n"
            "openat2(</>, /proc/sys, O_PATH, IN_ROOT) = <…//proc/sys>\n"
            "mount_setattr(<…//proc/sys>, 0x9000, set 0x1, clr 0x0)\n"
            "openat2(</>, /proc/kcore) = ENOENT\n"
            "openat2(</>, /proc/keys, O_PATH, IN_ROOT) = <…//proc/keys>\n"
            "mount(tmpfs, <…//proc/keys>, tmpfs, 0x1, NULL)\n"
            "openat2(</>, /sys/firmware, O_PATH, IN_ROOT) = <…//sys/firmware>\n"
            "mount(tmpfs, <…//sys/firmware>, tmpfs, 0x1, NULL)\n"
            "mount_setattr(</>, 0x1000, set 0x1, clr 0x0)\n"
            "mount(NULL, /, NULL, 0x44000, NULL)");
}

int main(void) {
  test_overlay_sequence();
  test_dir_sequence();
  test_finish();
  T_DONE("test-mounts");
}

#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "../gen/protocol.h"
#include "err.h"
#include "inroot.h"

#define PROPAGATION_FLAGS (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

unsigned long long ms_to_mount_attr(unsigned long flags) {
  unsigned long long a = 0;
  if (flags & MS_RDONLY) a |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID) a |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV) a |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC) a |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NODIRATIME) a |= MOUNT_ATTR_NODIRATIME;
  return a;
}

size_t rootfs_fd_count(const struct plan *p) {
  size_t binds = 0;
  for (size_t i = 0; i < p->n_mounts; i++) binds += p->mounts[i].bind;
  return (p->rootfs == ROOTFS_OVERLAY ? p->n_lowers + 1 : 1) + binds + p->n_devices;
}

/* Opens name inside the staging tmpfs; the lookup crosses into what is attached there. */
static int staged(const struct sys_ops *sys, int stage, const char *name) {
  return sys->openat2(stage, name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0, 0);
}

/* Attaches a received clone on a new directory of the staging tmpfs. */
static int stage_clone(const struct sys_ops *sys, int stage, const char *name, int clone, const char *what) {
  if (sys->mkdirat(stage, name, 0700) < 0) return ts_fail_errno(TS_STEP_STAGING, name);
  if (sys->move_mount(clone, "", stage, name, MOVE_MOUNT_F_EMPTY_PATH) < 0) return ts_fail_errno(TS_STEP_MOVE_MOUNT, what);
  return 0;
}

/*
 * A private staging area: a tmpfs attached over the cwd (the state directory, inherited from
 * the monitor), which only this private mount namespace sees covered and which the init can
 * name without traversing host directories its root may not enter. Returns its root's fd.
 */
static int make_staging(const struct sys_ops *sys) {
  int fs = sys->fsopen("tmpfs", FSOPEN_CLOEXEC), mnt = -1;
  if (fs < 0) return ts_fail_errno(TS_STEP_STAGING, "tmpfs");
  if (sys->fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
      sys->fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
      (mnt = sys->fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)) < 0) {
    ts_fail_errno(TS_STEP_STAGING, "tmpfs");
  } else if (sys->move_mount(mnt, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    ts_fail_errno(TS_STEP_STAGING, ".");
    sys->close(mnt);
    mnt = -1;
  }
  sys->close(fs);
  return mnt;
}

static int ovl_set(const struct sys_ops *sys, int fs, const char *key, int stage, const char *name, const char *what) {
  int fd = staged(sys, stage, name);
  if (fd < 0) return ts_fail(TS_STEP_OVERLAY, errno, what, "%s", name);
  int r = sys->fsconfig(fs, FSCONFIG_SET_FD, key, NULL, fd);
  int e = errno;
  sys->close(fd);
  return r < 0 ? ts_fail(TS_STEP_OVERLAY, e, what, "%s", key) : 0;
}

/*
 * The overlay. The clones are attached in the staging area first: overlay takes private
 * clones of its layers, which the kernel allows only from mounts of the caller's own mount
 * namespace, not from the monitor's detached trees. Layers are then given by fd (fsconfig
 * FSCONFIG_SET_FD "lowerdir+"), so no option string outgrows its page with many layers.
 * upper/ and work/ come from the one clone of their parent: overlay needs them on one mount.
 * Returns the overlay's root fd, attached at <staging>/root.
 */
static int build_overlay(const struct sys_ops *sys, const struct plan *p, const struct rootfs_fds *fds) {
  int stage = make_staging(sys), fs = -1, mnt = -1;
  if (stage < 0) return -1;
  char name[24];
  for (size_t i = 0; i < p->n_lowers; i++) {
    snprintf(name, sizeof name, "%zu", i);
    if (stage_clone(sys, stage, name, fds->lowers[i], p->lowers[i]) < 0) goto out;
  }
  if (stage_clone(sys, stage, "u", fds->upper, p->rootfs_path) < 0) goto out;
  if ((fs = sys->fsopen("overlay", FSOPEN_CLOEXEC)) < 0) {
    ts_fail_errno(TS_STEP_OVERLAY, p->rootfs_path);
    goto out;
  }
  for (size_t i = 0; i < p->n_lowers; i++) {
    snprintf(name, sizeof name, "%zu", i);
    if (ovl_set(sys, fs, "lowerdir+", stage, name, p->lowers[i]) < 0) goto out;
  }
  if (ovl_set(sys, fs, "upperdir", stage, "u/upper", p->rootfs_path) < 0 ||
      ovl_set(sys, fs, "workdir", stage, "u/work", p->rootfs_path) < 0)
    goto out;
  /* userxattr always, also without a user namespace: the layer format stores user.overlay.*
   * xattrs (opaque dirs), the only ones overlay reads inside a user namespace. */
  if (sys->fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0 ||
      sys->fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
    ts_fail(TS_STEP_OVERLAY, errno, p->rootfs_path, "fsconfig create");
    goto out;
  }
  /* nodev: device nodes of an image never work (implied anyway in a user namespace). */
  if ((mnt = sys->fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)) < 0) {
    ts_fail_errno(TS_STEP_OVERLAY, p->rootfs_path);
    goto out;
  }
  if (sys->mkdirat(stage, "root", 0755) < 0 || sys->move_mount(mnt, "", stage, "root", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    ts_fail_errno(TS_STEP_OVERLAY, p->rootfs_path);
    sys->close(mnt);
    mnt = -1;
  }
out:
  if (fs >= 0) sys->close(fs);
  sys->close(stage);
  return mnt;
}

/* A directory rootfs: the monitor's recursive clone of it, attached over the cwd. */
static int attach_dir(const struct sys_ops *sys, int fd, const char *what) {
  if (sys->move_mount(fd, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return ts_fail(TS_STEP_ROOTFS, errno, what, "move_mount");
  return 0;
}

/* Applies a bind mount's attributes with mount_setattr on the new mount. Unlike a
 * MS_REMOUNT, it only adds what is asked, so the flags the kernel locked in a user
 * namespace (nosuid, nodev, … of the source) are kept and the call cannot fail with EPERM. */
static int bind_attrs(const struct sys_ops *sys, int rootfd, const struct mount_plan *m) {
  unsigned long long attr = ms_to_mount_attr(m->flags);
  if (!attr) return 0;
  int fd = inroot_open(sys, rootfd, m->target, O_PATH);
  if (fd < 0) return ts_fail_errno(TS_STEP_MOUNT, m->target);
  int r = sys->mount_setattr(fd, "", AT_EMPTY_PATH | ((m->flags & MS_REC) ? AT_RECURSIVE : 0), attr, 0);
  int e = errno;
  sys->close(fd);
  if (r < 0) return ts_fail(TS_STEP_MOUNT_SETATTR, e, m->target, NULL);
  return 0;
}

static int set_propagation(const struct sys_ops *sys, int rootfd, const char *target, unsigned long prop) {
  if (!prop) return 0;
  char buf[32];
  int fd = inroot_open(sys, rootfd, target, O_PATH);
  if (fd < 0) return ts_fail_errno(TS_STEP_MOUNT, target);
  int r = sys->mount(NULL, fd_path(fd, buf), NULL, prop, NULL);
  int e = errno;
  sys->close(fd);
  return r < 0 ? ts_fail(TS_STEP_MOUNT, e, target, "Cannot set propagation") : 0;
}

static int do_mount(const struct sys_ops *sys, int rootfd, const struct mount_plan *m, int clone) {
  bool dir = true;
  struct stat st;
  if (m->bind) {
    if (sys->fstat(clone, &st) < 0) return ts_fail(TS_STEP_MOUNT, errno, m->source, "Bind source");
    dir = S_ISDIR(st.st_mode);
  }
  int tfd = inroot_target(sys, rootfd, m->target, dir);
  if (tfd < 0) return ts_fail_errno(TS_STEP_MOUNT_TARGET, m->target);
  char buf[32];
  int r;
  if (m->bind)
    r = sys->move_mount(clone, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  else
    r = sys->mount(m->source, fd_path(tfd, buf), m->fstype, m->flags & ~(PROPAGATION_FLAGS | MS_BIND | MS_REC),
                   m->data[0] ? m->data : NULL);
  int e = errno;
  sys->close(tfd);
  if (r < 0) return ts_fail(TS_STEP_MOUNT, e, m->target, "%s from \"%s\"", m->bind ? "bind" : m->fstype, m->source);
  if (m->bind && bind_attrs(sys, rootfd, m) < 0) return -1;
  return set_propagation(sys, rootfd, m->target, m->propagation);
}

/* Host devices are bound (from the monitor's clone) onto empty files: never mknod (refused
 * in a user namespace, and the tmpfs is nodev there), never chown a host device. */
static int do_device(const struct sys_ops *sys, int rootfd, const struct device_plan *d, int clone) {
  int tfd = inroot_target(sys, rootfd, d->target, false);
  if (tfd < 0) return ts_fail_errno(TS_STEP_MOUNT_TARGET, d->target);
  int r = sys->move_mount(clone, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  int e = errno;
  sys->close(tfd);
  return r < 0 ? ts_fail(TS_STEP_DEVICE, e, d->target, "from \"%s\"", d->host) : 0;
}

static int do_symlink(const struct sys_ops *sys, int rootfd, const struct symlink_plan *s) {
  char parent[4096], base[256];
  split_path(s->link, parent, sizeof parent, NULL, base, sizeof base);
  int pfd = inroot_mkdir_p(sys, rootfd, parent);
  if (pfd < 0) return ts_fail_errno(TS_STEP_SYMLINK, s->link);
  int r = sys->symlinkat(s->target, pfd, base);
  int e = errno;
  sys->close(pfd);
  /* An existing entry (an image's own /dev/fd link, say) is left as it is. */
  return r < 0 && e != EEXIST ? ts_fail(TS_STEP_SYMLINK, e, s->link, NULL) : 0;
}

/* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
 * only the new root (no directory for the old root needed; never chroot). */
static int do_pivot(const struct sys_ops *sys, int rootfd, const char *what) {
  if (sys->fchdir(rootfd) < 0) return ts_fail_errno(TS_STEP_PIVOT_ROOT, what);
  if (sys->pivot_root(".", ".") < 0) return ts_fail_errno(TS_STEP_PIVOT_ROOT, what);
  if (sys->umount2(".", MNT_DETACH) < 0) return ts_fail_errno(TS_STEP_PIVOT_ROOT, "old root");
  if (sys->chdir("/") < 0) return ts_fail_errno(TS_STEP_PIVOT_ROOT, "/");
  return 0;
}

int rootfs_build(const struct sys_ops *sys, const struct plan *p, const struct rootfs_fds *fds) {
  /* Private, recursively, before anything is mounted: nothing may propagate to the host's
   * mount table (and pivot_root refuses shared mounts). */
  if (sys->mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return ts_fail_errno(TS_STEP_MOUNT_PRIVATE, "/");
  bool overlay = p->rootfs == ROOTFS_OVERLAY;
  int rootfd = overlay ? build_overlay(sys, p, fds) : fds->upper;
  if (rootfd < 0) return -1;
  int ret = -1;
  if (!overlay && attach_dir(sys, rootfd, p->rootfs_path) < 0) goto out;
  size_t bind_i = 0;
  for (size_t i = 0; i < p->n_mounts; i++) {
    const struct mount_plan *m = &p->mounts[i];
    if (do_mount(sys, rootfd, m, m->bind ? fds->binds[bind_i++] : -1) < 0) goto out;
  }
  for (size_t i = 0; i < p->n_devices; i++)
    if (do_device(sys, rootfd, &p->devices[i], fds->devices[i]) < 0) goto out;
  for (size_t i = 0; i < p->n_symlinks; i++)
    if (do_symlink(sys, rootfd, &p->symlinks[i]) < 0) goto out;
  ret = do_pivot(sys, rootfd, overlay ? "overlay" : p->rootfs_path);
out:
  if (overlay) sys->close(rootfd);
  return ret;
}

static int readonly_path(const struct sys_ops *sys, int rootfd, const char *path) {
  int fd = inroot_open(sys, rootfd, path, O_PATH);
  if (fd < 0) return errno == ENOENT ? 0 : ts_fail_errno(TS_STEP_READONLY_PATH, path);
  char buf[32];
  int r = sys->mount(fd_path(fd, buf), buf, NULL, MS_BIND | MS_REC, NULL);
  int e = errno;
  sys->close(fd);
  if (r < 0) return ts_fail(TS_STEP_READONLY_PATH, e, path, NULL);
  if ((fd = inroot_open(sys, rootfd, path, O_PATH)) < 0) return ts_fail_errno(TS_STEP_READONLY_PATH, path);
  r = sys->mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0);
  e = errno;
  sys->close(fd);
  return r < 0 ? ts_fail(TS_STEP_READONLY_PATH, e, path, NULL) : 0;
}

static int masked_path(const struct sys_ops *sys, int rootfd, const char *path) {
  int fd = inroot_open(sys, rootfd, path, O_PATH);
  if (fd < 0) return errno == ENOENT ? 0 : ts_fail_errno(TS_STEP_MASKED_PATH, path);
  struct stat st;
  char buf[32];
  int r = sys->fstat(fd, &st);
  if (r == 0)
    r = S_ISDIR(st.st_mode) ? sys->mount("tmpfs", fd_path(fd, buf), "tmpfs", MS_RDONLY, NULL)
                            : sys->mount("/dev/null", fd_path(fd, buf), NULL, MS_BIND, NULL);
  int e = errno;
  sys->close(fd);
  return r < 0 ? ts_fail(TS_STEP_MASKED_PATH, e, path, NULL) : 0;
}

int rootfs_finish(const struct sys_ops *sys, const struct plan *p) {
  int rootfd = sys->openat2(AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, 0);
  if (rootfd < 0) return ts_fail_errno(TS_STEP_READONLY_PATH, "/");
  int ret = -1;
  for (size_t i = 0; i < p->n_readonly; i++)
    if (readonly_path(sys, rootfd, p->readonly[i]) < 0) goto out;
  for (size_t i = 0; i < p->n_masked; i++)
    if (masked_path(sys, rootfd, p->masked[i]) < 0) goto out;
  /* Only the root mount: volumes, binds and tmpfs mounts stay writable (docker --read-only). */
  if (p->rootfs_readonly && sys->mount_setattr(rootfd, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0) < 0) {
    ts_fail_errno(TS_STEP_ROOTFS_READONLY, "/");
    goto out;
  }
  if (p->root_propagation && sys->mount(NULL, "/", NULL, p->root_propagation, NULL) < 0) {
    ts_fail_errno(TS_STEP_ROOT_PROPAGATION, "/");
    goto out;
  }
  ret = 0;
out:
  sys->close(rootfd);
  return ret;
}

#include "sys.h"

#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int real_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve) {
  struct open_how how = {.flags = (uint64_t)flags, .mode = mode, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static int real_mount_setattr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr) {
  struct mount_attr attr = {.attr_set = set, .attr_clr = clr};
  return mount_setattr(dfd, path, flags, &attr, sizeof attr);
}

static int real_pivot_root(const char *new_root, const char *put_old) {
  return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int real_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux) {
  return fsconfig(fd, cmd, key, value, aux);
}

static int real_fstat(int fd, struct stat *st) { return fstat(fd, st); }

const struct sys_ops sys_real = {
    .mount = mount,
    .umount2 = umount2,
    .openat2 = real_openat2,
    .mkdirat = mkdirat,
    .symlinkat = symlinkat,
    .readlinkat = readlinkat,
    .fstat = real_fstat,
    .fsopen = fsopen,
    .fsconfig = real_fsconfig,
    .fsmount = fsmount,
    .move_mount = move_mount,
    .mount_setattr = real_mount_setattr,
    .pivot_root = real_pivot_root,
    .fchdir = fchdir,
    .chdir = chdir,
    .close = close,
    .write = write,
    .sethostname = sethostname,
    .setdomainname = setdomainname,
};

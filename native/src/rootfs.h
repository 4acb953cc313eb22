/*
 * The container's filesystem, assembled by the init in its own mount namespace: the rootfs
 * (overlay from the monitor's clones, or a directory bound onto itself), the plan's mounts,
 * devices and symlinks, pivot_root; then, inside the new root, read-only and masked paths,
 * a read-only rootfs and the root's propagation.
 */
#ifndef TSRUN_ROOTFS_H
#define TSRUN_ROOTFS_H

#include <stddef.h>

#include "plan.h"
#include "sys.h"

/*
 * Mounts received from the monitor: detached clones (open_tree) it made as real root, so the
 * init never resolves a host path (the container's root may not even traverse the host
 * directories above them). Idmapped when the plan says so.
 */
struct rootfs_fds {
  const int *lowers; /* overlay: plan->n_lowers of them */
  int upper;         /* overlay: the clone of upperParent; dir: the clone of the directory */
  const int *binds;  /* one per bind mount, in mount order */
  const int *devices; /* one per device */
};

/* How many fds the monitor sends for a plan, in the order above. */
size_t rootfs_fd_count(const struct plan *p);

/* Everything up to and including pivot_root. Afterwards the cwd is the new "/". */
int rootfs_build(const struct sys_ops *sys, const struct plan *p, const struct rootfs_fds *fds);

/* Read-only paths, masked paths, rootfs read-only, root propagation (after pivot_root). */
int rootfs_finish(const struct sys_ops *sys, const struct plan *p);

/* MS_RDONLY/NOSUID/NODEV/NOEXEC/NODIRATIME as MOUNT_ATTR_* bits. */
unsigned long long ms_to_mount_attr(unsigned long flags);

#endif

/*
 * The plan, as the C side reads it from <stateDir>/plan (format: native/protocol.def).
 * Strings point into the file's buffer, which must outlive the plan.
 */
#ifndef TSRUN_PLAN_H
#define TSRUN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "restart.h"

struct idmap_line {
  uint32_t inside, outside, count;
};

struct ns_join {
  int nstype; /* CLONE_NEW* */
  const char *path;
};

enum rootfs_kind { ROOTFS_NONE, ROOTFS_OVERLAY, ROOTFS_DIR };

struct mount_plan {
  bool bind; /* else "fs": a fresh filesystem */
  const char *source, *target, *fstype, *data;
  unsigned long flags, propagation;
  bool idmap;
  const char *source_ns; /* "" or a mount namespace file: source is a path there */
};

struct device_plan {
  const char *host, *target;
};

struct symlink_plan {
  const char *target, *link;
};

struct sysctl_plan {
  const char *key, *value;
};

struct rlimit_plan {
  int resource;
  uint64_t soft, hard;
};

struct plan {
  const char *container_id;
  int new_ns;        /* CLONE_NEW* flags to create */
  struct ns_join *joins;
  size_t n_joins;
  struct idmap_line *uid_map, *gid_map;
  size_t n_uid_map, n_gid_map;
  const char **cgroup_procs;
  size_t n_cgroup_procs;

  enum rootfs_kind rootfs;
  const char *rootfs_path; /* dir: the directory; overlay: upperParent */
  const char **lowers;     /* overlay, top-most first */
  size_t n_lowers;
  bool rootfs_idmap, rootfs_readonly;
  unsigned long root_propagation;

  struct mount_plan *mounts;
  size_t n_mounts;
  struct device_plan *devices;
  size_t n_devices;
  struct symlink_plan *symlinks;
  size_t n_symlinks;
  const char **masked, **readonly;
  size_t n_masked, n_readonly;
  const char *hostname, *domainname;
  struct sysctl_plan *sysctls;
  size_t n_sysctls;

  char **args; /* NULL-terminated */
  char **env;  /* NULL-terminated */
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t *gids;
  size_t n_gids;
  bool terminal;
  unsigned short rows, cols;
  uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
  bool no_new_privs;
  struct rlimit_plan *rlimits;
  size_t n_rlimits;
  bool has_oom_score_adj;
  int oom_score_adj;
  bool has_umask;
  mode_t umask;

  const char *state_dir;
  bool stdin;
  const char *log_path;
  char **exit_command; /* NULL-terminated, or NULL */
  const char **own_cgroup_procs;
  size_t n_own_cgroup_procs;
  const char *oom_events_file;
  struct restart_plan restart; /* policy RESTART_NO without a RESTART record */
  char **restart_fields;       /* the record's fields (restart.command points into them) */
};

/* Parses a plan file's bytes. On failure: < 0, ts_err = (plan, EINVAL, "", what is wrong). */
int plan_parse(char *buf, size_t len, struct plan *out);
void plan_free(struct plan *p);

/* Reads and parses a plan file. *buf receives the file's bytes (free after plan_free). */
int plan_load(const char *path, char **buf, struct plan *out);

/* Number of idmapped bind mounts (the fds the monitor sends after the rootfs clones). */
size_t plan_idmapped_binds(const struct plan *p);

/* The user namespace is created or joined (the init becomes root in it). */
bool plan_has_userns(const struct plan *p);

#endif

#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "buf.h"
#include "err.h"

#define NKINDS (sizeof ts_record_kinds / sizeof ts_record_kinds[0])

/* One record as found in the file: its type and its fields (pointers into the buffer). */
struct rec {
  unsigned type;
  const struct ts_record_kind *kind;
  char **fields;
  size_t n;
};

/* A malformed plan: step "plan", EINVAL, and what is wrong. */
#define bad(...) ts_fail(TS_STEP_PLAN, EINVAL, "", __VA_ARGS__)

static const struct ts_record_kind *kind_of(unsigned type) {
  for (size_t i = 0; i < NKINDS; i++)
    if (ts_record_kinds[i].type == type) return &ts_record_kinds[i];
  return NULL;
}

static int parse_u64(const char *s, uint64_t *out, const char *what) {
  uint64_t v = 0;
  if (!*s) return bad("Field %s is empty", what);
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9') return bad("Field %s is not a decimal number", what);
    unsigned d = (unsigned)(*c - '0');
    if (v > (UINT64_MAX - d) / 10) return bad("Field %s overflows", what);
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out, const char *what) {
  uint64_t v;
  if (parse_u64(s, &v, what) < 0) return -1;
  if (v > UINT32_MAX) return bad("Field %s overflows", what);
  *out = (uint32_t)v;
  return 0;
}

static int parse_int(const char *s, int *out, const char *what) {
  bool neg = *s == '-';
  uint64_t v;
  if (parse_u64(s + neg, &v, what) < 0) return -1;
  if (v > (uint64_t)INT_MAX) return bad("Field %s overflows", what);
  *out = neg ? -(int)v : (int)v;
  return 0;
}

static int parse_bool(const char *s, bool *out, const char *what) {
  if (strcmp(s, "0") && strcmp(s, "1")) return bad("Field %s is not 0 or 1", what);
  *out = s[0] == '1';
  return 0;
}

static int ns_flag(const char *kind) {
  static const struct {
    const char *name;
    int flag;
  } t[] = {{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID},      {"uts", CLONE_NEWUTS},
           {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(kind, t[i].name)) return t[i].flag;
  return 0;
}

/* Splits the file into records, checking every length before using it. */
static int split_records(char *buf, size_t len, struct rec **out, size_t *n_out) {
  if (len < 8) return bad("Plan is too short (%zu bytes)", len);
  const uint8_t *u = (const uint8_t *)buf;
  if (get_u32le(u) != TS_PLAN_MAGIC) return bad("Plan has a bad magic number (0x%08x)", get_u32le(u));
  if (get_u32le(u + 4) != TS_PLAN_FORMAT)
    return bad("Plan format version %u is unsupported", get_u32le(u + 4));

  size_t cap = 64, n = 0;
  struct rec *recs = calloc(cap, sizeof *recs);
  if (!recs) return ts_fail(TS_STEP_PLAN, ENOMEM, "", NULL);
  size_t off = 8;
  bool ended = false;
  while (off < len) {
    if (ended) goto trailing;
    if (len - off < 8) {
      bad("Record header is truncated at offset %zu", off);
      goto fail;
    }
    unsigned type = get_u32le(u + off);
    size_t plen = get_u32le(u + off + 4);
    off += 8;
    if (plen > len - off) {
      bad("Record length runs past the end of the plan at offset %zu", off);
      goto fail;
    }
    const struct ts_record_kind *kind = kind_of(type);
    if (!kind) {
      bad("Unknown record type %u", type);
      goto fail;
    }
    char *payload = buf + off;
    if (plen && payload[plen - 1] != '\0') {
      bad("Record %s has a field without its NUL", kind->name);
      goto fail;
    }
    size_t nf = 0;
    for (size_t i = 0; i < plen; i++) nf += payload[i] == '\0';
    if ((int)nf < kind->min_fields || (kind->max_fields >= 0 && (int)nf > kind->max_fields)) {
      bad("Record %s has the wrong number of fields (%zu)", kind->name, nf);
      goto fail;
    }
    char **fields = calloc(nf + 1, sizeof *fields);
    if (!fields) {
      ts_fail(TS_STEP_PLAN, ENOMEM, "", NULL);
      goto fail;
    }
    for (size_t i = 0, f = 0; f < nf; f++) {
      fields[f] = payload + i;
      i += strlen(payload + i) + 1;
    }
    if (n == cap) {
      struct rec *r = realloc(recs, 2 * cap * sizeof *recs);
      if (!r) {
        free(fields);
        ts_fail(TS_STEP_PLAN, ENOMEM, "", NULL);
        goto fail;
      }
      recs = r;
      cap *= 2;
    }
    recs[n++] = (struct rec){type, kind, fields, nf};
    off += plen;
    if (type == TS_REC_END) {
      uint64_t count;
      if (parse_u64(fields[0], &count, "END.count") < 0) goto fail;
      if (count != n - 1) {
        bad("END record counts %llu records, but the plan has %zu", (unsigned long long)count, n - 1);
        goto fail;
      }
      ended = true;
    }
  }
  if (!ended) {
    bad("Plan has no END record (truncated)");
    goto fail;
  }
  *out = recs;
  *n_out = n;
  return 0;
trailing:
  bad("Data after the END record at offset %zu", off);
fail:
  for (size_t i = 0; i < n; i++) free(recs[i].fields);
  free(recs);
  return -1;
}

static size_t count_of(struct rec *r, size_t n, unsigned type) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += r[i].type == type;
  return c;
}

/* Records that may appear at most once. */
static const unsigned singletons[] = {
    TS_REC_CONTAINER_ID, TS_REC_ROOTFS_OVERLAY, TS_REC_ROOTFS_DIR, TS_REC_ROOT_PROPAGATION, TS_REC_HOSTNAME,
    TS_REC_DOMAINNAME,   TS_REC_ARGS,           TS_REC_ENV,        TS_REC_CWD,              TS_REC_USER,
    TS_REC_ADDITIONAL_GIDS, TS_REC_TERMINAL,    TS_REC_CAPS,       TS_REC_NO_NEW_PRIVS,     TS_REC_OOM_SCORE_ADJ,
    TS_REC_UMASK,        TS_REC_STATE_DIR,      TS_REC_STDIN,      TS_REC_LOG_PATH,         TS_REC_EXIT_COMMAND,
    TS_REC_OOM_EVENTS_FILE, TS_REC_RESTART};

/* Records that must appear. */
static const unsigned required[] = {TS_REC_CONTAINER_ID, TS_REC_ARGS, TS_REC_CWD, TS_REC_USER, TS_REC_CAPS,
                                    TS_REC_STATE_DIR};

#define ALLOC(field, count)                                        \
  do {                                                             \
    if ((count) && !((field) = calloc((count), sizeof *(field)))) \
      return ts_fail(TS_STEP_PLAN, ENOMEM, "", NULL);              \
  } while (0)

static int allocate(struct plan *p, struct rec *r, size_t n) {
  ALLOC(p->joins, count_of(r, n, TS_REC_NS_JOIN));
  ALLOC(p->uid_map, count_of(r, n, TS_REC_UID_MAP));
  ALLOC(p->gid_map, count_of(r, n, TS_REC_GID_MAP));
  ALLOC(p->cgroup_procs, count_of(r, n, TS_REC_CGROUP_PROCS));
  ALLOC(p->lowers, count_of(r, n, TS_REC_ROOTFS_LOWER));
  ALLOC(p->mounts, count_of(r, n, TS_REC_MOUNT));
  ALLOC(p->devices, count_of(r, n, TS_REC_DEVICE));
  ALLOC(p->symlinks, count_of(r, n, TS_REC_SYMLINK));
  ALLOC(p->masked, count_of(r, n, TS_REC_MASKED));
  ALLOC(p->readonly, count_of(r, n, TS_REC_READONLY));
  ALLOC(p->sysctls, count_of(r, n, TS_REC_SYSCTL));
  ALLOC(p->rlimits, count_of(r, n, TS_REC_RLIMIT));
  ALLOC(p->own_cgroup_procs, count_of(r, n, TS_REC_OWN_CGROUP_PROCS));
  return 0;
}

static int fill(struct plan *p, struct rec *r) {
  char **f = r->fields;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  switch (r->type) {
    case TS_REC_CONTAINER_ID: p->container_id = f[0]; break;
    case TS_REC_NS_NEW: {
      int fl = ns_flag(f[0]);
      if (!fl) return bad("Unknown namespace kind \"%s\"", f[0]);
      p->new_ns |= fl;
      break;
    }
    case TS_REC_NS_JOIN: {
      int fl = ns_flag(f[0]);
      if (!fl) return bad("Unknown namespace kind \"%s\"", f[0]);
      p->joins[p->n_joins++] = (struct ns_join){fl, f[1]};
      break;
    }
    case TS_REC_UID_MAP:
    case TS_REC_GID_MAP: {
      struct idmap_line l;
      if (parse_u32(f[0], &l.inside, "idmap.inside") < 0 || parse_u32(f[1], &l.outside, "idmap.outside") < 0 ||
          parse_u32(f[2], &l.count, "idmap.count") < 0)
        return -1;
      if (r->type == TS_REC_UID_MAP) p->uid_map[p->n_uid_map++] = l;
      else p->gid_map[p->n_gid_map++] = l;
      break;
    }
    case TS_REC_CGROUP_PROCS: p->cgroup_procs[p->n_cgroup_procs++] = f[0]; break;
    case TS_REC_ROOTFS_OVERLAY:
      p->rootfs = ROOTFS_OVERLAY;
      p->rootfs_path = f[0];
      if (parse_bool(f[1], &p->rootfs_idmap, "rootfs.idmap") < 0 ||
          parse_bool(f[2], &p->rootfs_readonly, "rootfs.readonly") < 0)
        return -1;
      break;
    case TS_REC_ROOTFS_LOWER: p->lowers[p->n_lowers++] = f[0]; break;
    case TS_REC_ROOTFS_DIR:
      p->rootfs = ROOTFS_DIR;
      p->rootfs_path = f[0];
      if (parse_bool(f[1], &p->rootfs_readonly, "rootfs.readonly") < 0) return -1;
      break;
    case TS_REC_ROOT_PROPAGATION:
      if (parse_u64(f[0], &u64, "rootPropagation") < 0) return -1;
      p->root_propagation = u64;
      break;
    case TS_REC_MOUNT: {
      struct mount_plan *m = &p->mounts[p->n_mounts++];
      if (strcmp(f[0], "fs") && strcmp(f[0], "bind")) return bad("Unknown mount kind \"%s\"", f[0]);
      m->bind = !strcmp(f[0], "bind");
      m->source = f[1];
      m->target = f[2];
      m->fstype = f[3];
      if (parse_u64(f[4], &u64, "mount.flags") < 0) return -1;
      m->flags = u64;
      if (parse_u64(f[5], &u64, "mount.propagation") < 0) return -1;
      m->propagation = u64;
      m->data = f[6];
      if (parse_bool(f[7], &m->idmap, "mount.idmap") < 0) return -1;
      m->source_ns = f[8];
      if (m->target[0] != '/') return bad("Mount target \"%s\" is not absolute", m->target);
      if (m->source_ns[0] && (!m->bind || m->source[0] != '/')) return bad("Mount source namespace \"%s\" needs a bind of an absolute path", m->source_ns);
      break;
    }
    case TS_REC_DEVICE: p->devices[p->n_devices++] = (struct device_plan){f[0], f[1]}; break;
    case TS_REC_SYMLINK: p->symlinks[p->n_symlinks++] = (struct symlink_plan){f[0], f[1]}; break;
    case TS_REC_MASKED: p->masked[p->n_masked++] = f[0]; break;
    case TS_REC_READONLY: p->readonly[p->n_readonly++] = f[0]; break;
    case TS_REC_HOSTNAME: p->hostname = f[0]; break;
    case TS_REC_DOMAINNAME: p->domainname = f[0]; break;
    case TS_REC_SYSCTL: p->sysctls[p->n_sysctls++] = (struct sysctl_plan){f[0], f[1]}; break;
    case TS_REC_ARGS: p->args = f; break;
    case TS_REC_ENV: p->env = f; break;
    case TS_REC_CWD: p->cwd = f[0]; break;
    case TS_REC_USER:
      if (parse_u32(f[0], &u32, "process.uid") < 0) return -1;
      p->uid = u32;
      if (parse_u32(f[1], &u32, "process.gid") < 0) return -1;
      p->gid = u32;
      break;
    case TS_REC_ADDITIONAL_GIDS:
      ALLOC(p->gids, r->n);
      for (size_t i = 0; i < r->n; i++) {
        if (parse_u32(f[i], &u32, "process.additionalGids") < 0) return -1;
        p->gids[p->n_gids++] = u32;
      }
      break;
    case TS_REC_TERMINAL:
      p->terminal = true;
      if (parse_u32(f[0], &u32, "consoleSize.rows") < 0 || u32 > 65535) return bad("Field consoleSize.rows is too large");
      p->rows = (unsigned short)u32;
      if (parse_u32(f[1], &u32, "consoleSize.cols") < 0 || u32 > 65535) return bad("Field consoleSize.cols is too large");
      p->cols = (unsigned short)u32;
      break;
    case TS_REC_CAPS:
      if (parse_u64(f[0], &p->cap_bounding, "caps.bounding") < 0 ||
          parse_u64(f[1], &p->cap_effective, "caps.effective") < 0 ||
          parse_u64(f[2], &p->cap_permitted, "caps.permitted") < 0 ||
          parse_u64(f[3], &p->cap_inheritable, "caps.inheritable") < 0 ||
          parse_u64(f[4], &p->cap_ambient, "caps.ambient") < 0)
        return -1;
      break;
    case TS_REC_NO_NEW_PRIVS: p->no_new_privs = true; break;
    case TS_REC_RLIMIT: {
      struct rlimit_plan *l = &p->rlimits[p->n_rlimits++];
      if (parse_u32(f[0], &u32, "rlimit.resource") < 0 || parse_u64(f[1], &l->soft, "rlimit.soft") < 0 ||
          parse_u64(f[2], &l->hard, "rlimit.hard") < 0)
        return -1;
      l->resource = (int)u32;
      break;
    }
    case TS_REC_OOM_SCORE_ADJ:
      if (parse_int(f[0], &p->oom_score_adj, "oomScoreAdj") < 0) return -1;
      p->has_oom_score_adj = true;
      break;
    case TS_REC_UMASK:
      if (parse_u32(f[0], &u32, "umask") < 0 || u32 > 0777) return bad("Field umask is not a mode");
      p->umask = u32;
      p->has_umask = true;
      break;
    case TS_REC_STATE_DIR: p->state_dir = f[0]; break;
    case TS_REC_STDIN: p->stdin = true; break;
    case TS_REC_LOG_PATH: p->log_path = f[0]; break;
    case TS_REC_EXIT_COMMAND: p->exit_command = f; break;
    case TS_REC_OWN_CGROUP_PROCS: p->own_cgroup_procs[p->n_own_cgroup_procs++] = f[0]; break;
    case TS_REC_OOM_EVENTS_FILE: p->oom_events_file = f[0]; break;
    case TS_REC_RESTART: {
      struct restart_plan *rp = &p->restart;
      if (restart_policy_parse(f[0], &rp->policy) < 0) return bad("Unknown restart policy \"%s\"", f[0]);
      if (parse_u32(f[1], &rp->max_retries, "restart.maxRetries") < 0 ||
          parse_u32(f[2], &rp->retry_count, "restart.retryCount") < 0 ||
          parse_u64(f[3], &rp->delay_ms, "restart.delayMs") < 0)
        return -1;
      if (!f[4][0]) return bad("Field restart.command is empty");
      p->restart_fields = f;
      rp->command = f + 4;
      break;
    }
    case TS_REC_END: break;
  }
  return 0;
}

static char *empty_list[] = {NULL};

int plan_parse(char *buf, size_t len, struct plan *p) {
  struct rec *recs = NULL;
  size_t n = 0;
  memset(p, 0, sizeof *p);
  if (split_records(buf, len, &recs, &n) < 0) return -1;
  int ret = -1;
  for (size_t i = 0; i < sizeof singletons / sizeof singletons[0]; i++)
    if (count_of(recs, n, singletons[i]) > 1) {
      bad("Record %s appears more than once", kind_of(singletons[i])->name);
      goto out;
    }
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!count_of(recs, n, required[i])) {
      bad("Record %s is missing", kind_of(required[i])->name);
      goto out;
    }
  if (count_of(recs, n, TS_REC_ROOTFS_OVERLAY) + count_of(recs, n, TS_REC_ROOTFS_DIR) != 1) {
    bad("Plan needs exactly one of ROOTFS_OVERLAY and ROOTFS_DIR");
    goto out;
  }
  if (count_of(recs, n, TS_REC_ROOTFS_LOWER) && !count_of(recs, n, TS_REC_ROOTFS_OVERLAY)) {
    bad("ROOTFS_LOWER without ROOTFS_OVERLAY");
    goto out;
  }
  if (allocate(p, recs, n) < 0) goto out;
  for (size_t i = 0; i < n; i++)
    if (fill(p, &recs[i]) < 0) goto out;
  if (p->rootfs == ROOTFS_OVERLAY && !p->n_lowers) {
    bad("Overlay rootfs has no lower layer");
    goto out;
  }
  for (size_t i = 0; i < p->n_joins; i++)
    if (p->new_ns & p->joins[i].nstype) {
      bad("Namespace \"%s\" is both joined and created", p->joins[i].path);
      goto out;
    }
  if (!p->env) p->env = empty_list;
  ret = 0;
out:
  /* The ARGS, ENV, EXIT_COMMAND and RESTART field arrays are kept (the plan points at them). */
  for (size_t i = 0; i < n; i++) {
    unsigned t = recs[i].type;
    if (ret < 0 || (t != TS_REC_ARGS && t != TS_REC_ENV && t != TS_REC_EXIT_COMMAND && t != TS_REC_RESTART))
      free(recs[i].fields);
  }
  free(recs);
  if (ret < 0) {
    p->args = p->env = p->exit_command = p->restart_fields = NULL;
    plan_free(p);
  }
  return ret;
}

void plan_free(struct plan *p) {
  free(p->joins);
  free(p->uid_map);
  free(p->gid_map);
  free(p->cgroup_procs);
  free(p->lowers);
  free(p->mounts);
  free(p->devices);
  free(p->symlinks);
  free(p->masked);
  free(p->readonly);
  free(p->sysctls);
  free(p->rlimits);
  free(p->own_cgroup_procs);
  free(p->gids);
  free(p->args);
  if (p->env != empty_list) free(p->env);
  free(p->exit_command);
  free(p->restart_fields);
  memset(p, 0, sizeof *p);
}

int plan_load(const char *path, char **bufp, struct plan *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ts_fail_errno(TS_STEP_PLAN, path);
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size > TS_PLAN_MAX_SIZE) {
    int e = errno;
    close(fd);
    return ts_fail(TS_STEP_PLAN, st.st_size > TS_PLAN_MAX_SIZE ? EFBIG : e, path, NULL);
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return ts_fail(TS_STEP_PLAN, ENOMEM, path, NULL);
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      close(fd);
      free(buf);
      return ts_fail(TS_STEP_PLAN, e, path, "Short read");
    }
    got += (size_t)r;
  }
  close(fd);
  if (plan_parse(buf, got, out) < 0) {
    free(buf);
    snprintf(ts_err.path, sizeof ts_err.path, "%s", path);
    return -1;
  }
  *bufp = buf;
  return 0;
}

size_t plan_idmapped_binds(const struct plan *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->n_mounts; i++) n += p->mounts[i].bind && p->mounts[i].idmap;
  return n;
}

bool plan_has_userns(const struct plan *p) {
  if (p->new_ns & CLONE_NEWUSER) return true;
  for (size_t i = 0; i < p->n_joins; i++)
    if (p->joins[i].nstype == CLONE_NEWUSER) return true;
  return false;
}

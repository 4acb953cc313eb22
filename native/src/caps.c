#include "caps.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../gen/protocol.h"
#include "err.h"

static int capset3(uint64_t eff, uint64_t prm, uint64_t inh) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {
      {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
  };
  return (int)syscall(SYS_capset, &h, d);
}

int privileges_apply(const struct plan *p) {
  /* The bounding set first: dropping needs CAP_SETPCAP, which capset may take away. The
   * kernel answers EINVAL past its last capability. */
  for (int c = 0; c < 64; c++) {
    if (p->cap_bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
      if (errno == EINVAL) break;
      return ts_fail(TS_STEP_CAPABILITIES, errno, "", "PR_CAPBSET_DROP %d", c);
    }
  }
  /* Keep the permitted set across the uid change, so capset can still grant it after. */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return ts_fail(TS_STEP_CAPABILITIES, errno, "", "PR_SET_KEEPCAPS");
  if (setgroups(p->n_gids, p->gids) < 0) return ts_fail(TS_STEP_SETGROUPS, errno, "", NULL);
  if (setresgid(p->gid, p->gid, p->gid) < 0) return ts_fail(TS_STEP_SETUID, errno, "", "setresgid %u", p->gid);
  if (setresuid(p->uid, p->uid, p->uid) < 0) return ts_fail(TS_STEP_SETUID, errno, "", "setresuid %u", p->uid);
  if (capset3(p->cap_effective, p->cap_permitted, p->cap_inheritable) < 0)
    return ts_fail(TS_STEP_CAPABILITIES, errno, "", "capset");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return ts_fail(TS_STEP_CAPABILITIES, errno, "", "PR_SET_KEEPCAPS");
  for (int c = 0; c < 64; c++)
    if ((p->cap_ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      return ts_fail(TS_STEP_CAPABILITIES, errno, "", "PR_CAP_AMBIENT_RAISE %d", c);
  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ts_fail(TS_STEP_NO_NEW_PRIVS, errno, "", NULL);
  return 0;
}

/**
 * Idmapped binds over filesystems that cannot be idmapped. The kernel idmaps a mount only
 * when its filesystem allows it (FS_ALLOW_IDMAP: ext4, xfs, btrfs, tmpfs, overlay…), and a
 * recursive idmap (AT_RECURSIVE) fails as a whole, EINVAL, when one submount's does not —
 * `-v /:/host` meets /proc and /sys. Decision: such a filesystem is bound without idmapping
 * (its files then show as nobody inside, as with Docker's userns-remap, and the container's
 * root cannot write them), and a recursive bind with one under it is split into one bind per
 * mount, in the host's mount order, each idmapped where it can be. Known here: the kernel's
 * pseudo filesystems and network and FUSE filesystems. Any other refusal still fails the start,
 * naming the path (see the engine's start errors).
 */
import path from "node:path";
import { MS } from "./mount-options.js";
import type { MountPlan } from "./plan.js";

/** Filesystems whose mounts the kernel does not idmap (no FS_ALLOW_IDMAP), or that are not worth trying. */
const NOT_IDMAPPABLE = new Set([
  "proc",
  "sysfs",
  "devpts",
  "devtmpfs",
  "mqueue",
  "cgroup",
  "cgroup2",
  "debugfs",
  "tracefs",
  "securityfs",
  "pstore",
  "bpf",
  "configfs",
  "fusectl",
  "binfmt_misc",
  "autofs",
  "efivarfs",
  "selinuxfs",
  "nsfs",
  "ramfs",
  "rpc_pipefs",
  "nfsd",
  "nfs",
  "nfs4",
  "cifs",
  "smb3",
  "9p",
  "fuse",
  "fuseblk",
]);

export function canIdmap(fstype: string): boolean {
  return !NOT_IDMAPPABLE.has(fstype) && !fstype.startsWith("fuse.");
}

export interface MountEntry {
  mountPoint: string;
  fstype: string;
}

/** The mounts of a mountinfo text (proc(5)), in its order. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep === -1) continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    const fstype = line.slice(sep + 3).split(" ")[0];
    if (mountPoint && fstype) out.push({ mountPoint: unescape(mountPoint), fstype });
  }
  return out;
}

/** Octal escapes (\040 for a space) that mountinfo uses in paths. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

const isUnder = (p: string, dir: string) => (dir === "/" ? p !== "/" : p.startsWith(dir + "/"));

/** The mount a path is on: the last one mounted at its longest mount point prefix. */
function mountOf(p: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    if (m.mountPoint !== p && !isUnder(p, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

export interface IdmapHost {
  /** The host's mountinfo text (read once, only when an idmapped bind needs it). */
  mountinfo(): string;
  /** A source's real path (binds follow symlinks); undefined when it does not resolve. */
  realpath(p: string): string | undefined;
}

/**
 * The plan's idmapped binds, adjusted to what the kernel can idmap (see above). `own(m)`
 * says a bind is of tsrun's own files (the container's /etc files), which need no check.
 */
export function adaptIdmappedBinds(mounts: readonly MountPlan[], host: IdmapHost, own: (m: MountPlan) => boolean): MountPlan[] {
  let table: MountEntry[] | undefined;
  const out: MountPlan[] = [];
  for (const m of mounts) {
    if (m.kind !== "bind" || !m.idmap || own(m)) {
      out.push(m);
      continue;
    }
    const source = host.realpath(m.source);
    if (source === undefined) {
      out.push(m); // the monitor reports the missing source
      continue;
    }
    table ??= parseMountinfo(host.mountinfo());
    const top = mountOf(source, table);
    const recursive = (m.flags & MS.REC) !== 0;
    const below = recursive ? table.filter((e) => isUnder(e.mountPoint, source)) : [];
    const topIdmaps = !top || canIdmap(top.fstype);
    if (below.every((e) => canIdmap(e.fstype))) {
      // Nothing under it stands in the way: one clone, idmapped if its own filesystem allows.
      if (topIdmaps) {
        out.push(m);
        continue;
      }
      if (below.length === 0) {
        out.push({ ...m, idmap: false });
        continue;
      }
    }
    // One non-recursive bind per mount, the source's own first, each idmapped if it can be.
    const single = m.flags & ~MS.REC;
    out.push({ ...m, source, flags: single, idmap: topIdmaps });
    for (const e of below) {
      out.push({
        ...m,
        source: e.mountPoint,
        target: path.posix.join(m.target, path.posix.relative(source, e.mountPoint)),
        flags: single,
        idmap: canIdmap(e.fstype),
      });
    }
  }
  return out;
}

import { describe, expect, it } from "vitest";
import { adaptIdmappedBinds, canIdmap, parseMountinfo, type IdmapHost } from "../../src/runtime/idmap-binds.js";
import { MS } from "../../src/runtime/mount-options.js";
import type { MountPlan } from "../../src/runtime/plan.js";

const MOUNTINFO = [
  "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw",
  "23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw",
  "24 22 0:22 / /sys rw,nosuid shared:3 - sysfs sysfs rw",
  "25 24 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
  "26 22 0:24 / /srv/data rw - tmpfs data rw",
  "27 22 0:25 / /srv/nfs rw - nfs4 server:/x rw",
  "28 22 0:26 / /srv/with\\040space rw - tmpfs t rw",
  "29 22 0:27 / /mnt/fuse rw - fuse.sshfs host: rw",
].join("\n");

const host = (reads: { n: number }, links: Record<string, string> = {}): IdmapHost => ({
  mountinfo: () => {
    reads.n++;
    return MOUNTINFO;
  },
  realpath: (p) => (p.startsWith("/missing") ? undefined : (links[p] ?? p)),
});

const bind = (source: string, target: string, opts: { rec?: boolean; idmap?: boolean } = {}): MountPlan => ({
  kind: "bind",
  source,
  target,
  fstype: "",
  flags: MS.BIND | (opts.rec === false ? 0 : MS.REC) | MS.RDONLY,
  propagation: MS.PRIVATE | MS.REC,
  data: "",
  idmap: opts.idmap ?? true,
});

describe("idmapped binds over filesystems that cannot be idmapped", () => {
  it("knows the kernel's pseudo filesystems, network and FUSE filesystems", () => {
    for (const t of ["proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "nfs4", "cifs", "fuse.sshfs"]) expect([t, canIdmap(t)]).toEqual([t, false]);
    for (const t of ["ext4", "xfs", "btrfs", "tmpfs", "overlay", "hugetlbfs"]) expect([t, canIdmap(t)]).toEqual([t, true]);
    expect(parseMountinfo(MOUNTINFO).find((m) => m.fstype === "tmpfs" && m.mountPoint.includes("space"))?.mountPoint).toBe("/srv/with space");
  });

  it("splits a recursive bind with such a submount into one bind per mount, idmapped where it can be", () => {
    const reads = { n: 0 };
    const out = adaptIdmappedBinds([bind("/", "/host")], host(reads), () => false);
    expect(out.map((m) => [m.source, m.target, m.idmap, (m.flags & MS.REC) !== 0, (m.flags & MS.RDONLY) !== 0])).toEqual([
      ["/", "/host", true, false, true],
      ["/proc", "/host/proc", false, false, true],
      ["/sys", "/host/sys", false, false, true],
      ["/sys/fs/cgroup/memory", "/host/sys/fs/cgroup/memory", false, false, true],
      ["/srv/data", "/host/srv/data", true, false, true],
      ["/srv/nfs", "/host/srv/nfs", false, false, true],
      ["/srv/with space", "/host/srv/with space", true, false, true],
      ["/mnt/fuse", "/host/mnt/fuse", false, false, true],
    ]);
    expect(out.every((m) => m.propagation === (MS.PRIVATE | MS.REC))).toBe(true);
  });

  it("leaves binds the kernel can idmap as asked, and reads mountinfo once, only when needed", () => {
    const reads = { n: 0 };
    const plain = [bind("/srv", "/a"), bind("/srv/data", "/b"), bind("/var/lib/x/etc/hosts", "/etc/hosts", { rec: true })];
    const own = (m: MountPlan) => m.source.startsWith("/var/lib/x/");
    expect(adaptIdmappedBinds(plain.slice(2), host(reads), own)).toEqual(plain.slice(2));
    expect(reads.n).toBe(0);
    // /srv holds tmpfs mounts only (and an nfs4 one: split, see above); /srv/data is all tmpfs.
    expect(adaptIdmappedBinds([plain[1]!], host(reads), own)).toEqual([plain[1]]);
    const split = adaptIdmappedBinds([plain[0]!, plain[1]!], host(reads), own);
    expect(split.map((m) => [m.source, m.idmap])).toEqual([
      ["/srv", true],
      ["/srv/data", true],
      ["/srv/nfs", false],
      ["/srv/with space", true],
      ["/srv/data", true],
    ]);
    expect(reads.n).toBe(2);
  });

  it("binds a source on such a filesystem unmapped; a non-recursive bind ignores what is below", () => {
    const reads = { n: 0 };
    const out = adaptIdmappedBinds([bind("/proc/sys", "/p"), bind("/sys", "/s", { rec: false }), bind("/srv/nfs/dir", "/n")], host(reads), () => false);
    expect(out.map((m) => [m.source, m.idmap, (m.flags & MS.REC) !== 0])).toEqual([
      ["/proc/sys", false, true],
      ["/sys", false, false],
      ["/srv/nfs/dir", false, true],
    ]);
  });

  it("follows the source's symlinks, and leaves unmapped binds and missing sources alone", () => {
    const reads = { n: 0 };
    const out = adaptIdmappedBinds([bind("/link", "/l"), bind("/missing/x", "/m"), bind("/", "/plain", { idmap: false })], host(reads, { "/link": "/sys" }), () => false);
    expect(out.map((m) => [m.source, m.target, m.idmap])).toEqual([
      ["/sys", "/l", false],
      ["/sys/fs/cgroup/memory", "/l/fs/cgroup/memory", false],
      ["/missing/x", "/m", true],
      ["/", "/plain", false],
    ]);
  });
});

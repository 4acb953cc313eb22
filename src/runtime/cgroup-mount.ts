import path from "node:path";
import type { CgroupPlacement } from "../cgroups/driver.js";
import { MS } from "./mount-options.js";
import type { MountPlan } from "./plan.js";

/**
 * The spec's `cgroup` mount, laid out for the host: on a v1/hybrid host a tmpfs with one
 * mount per hierarchy, named as on the host, made read-only at the end when the spec says
 * so; on a pure v2 host one cgroup2 mount.
 *
 * Each hierarchy shows the container's own cgroup. In a new cgroup namespace a fresh
 * cgroup/cgroup2 mount does that (its root is the namespace's root); checked on this host
 * from a user namespace with unshare(1): every v1 hierarchy, name=systemd and cgroup2 mount
 * there. Without a cgroup namespace a fresh mount would show the host's root, so the
 * container's own directory is bound instead.
 *
 * Co-mounted controllers ("cpu,cpuacct") are mounted again under each controller's name
 * rather than symlinked: the symlinks would have to be made before the read-only remount.
 */
export function expandCgroupMount(
  destination: string,
  flags: number,
  propagation: number,
  placement: CgroupPlacement,
  cgroupNamespace: boolean,
): MountPlan[] {
  const readonly = (flags & MS.RDONLY) !== 0;
  const hierarchyMount = (target: string, h: CgroupPlacement["hierarchies"][number]): MountPlan =>
    cgroupNamespace
      ? { kind: "fs", source: h.fstype, target, fstype: h.fstype, flags, propagation: 0, data: h.mountData, idmap: false }
      : { kind: "bind", source: h.dir, target, fstype: "", flags: flags | MS.BIND | MS.REC, propagation: 0, data: "", idmap: false };

  if (placement.version === 2) {
    const h = placement.hierarchies[0];
    if (!h) throw new Error("Cannot mount cgroup: the host has no cgroup2 hierarchy");
    return [{ ...hierarchyMount(destination, h), propagation }];
  }

  const tmpfsFlags = (flags & ~MS.RDONLY) | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const out: MountPlan[] = [
    { kind: "fs", source: "tmpfs", target: destination, fstype: "tmpfs", flags: tmpfsFlags, propagation, data: "mode=755", idmap: false },
  ];
  const names = new Set(placement.hierarchies.map((h) => h.name));
  for (const h of placement.hierarchies) {
    out.push(hierarchyMount(path.posix.join(destination, h.name), h));
    if (!h.name.includes(",")) continue;
    for (const alias of h.name.split(",")) {
      if (!names.has(alias)) out.push(hierarchyMount(path.posix.join(destination, alias), h));
    }
  }
  if (readonly) {
    out.push({
      kind: "fs",
      source: "tmpfs",
      target: destination,
      fstype: "tmpfs",
      flags: tmpfsFlags | MS.REMOUNT | MS.RDONLY,
      propagation: 0,
      data: "mode=755",
      idmap: false,
    });
  }
  return out;
}

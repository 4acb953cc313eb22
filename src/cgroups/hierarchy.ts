import path from "node:path";

/** One mounted cgroup hierarchy of the host. */
export interface Hierarchy {
  /**
   * The mount's directory name under the cgroup root ("cpu", "cpu,cpuacct", "systemd",
   * "unified"), or "" when the hierarchy is mounted at the root itself (pure cgroup v2).
   * The container sees it under the same name in its /sys/fs/cgroup.
   */
  name: string;
  /** Where the hierarchy is mounted on the host. */
  mountPoint: string;
  fstype: "cgroup" | "cgroup2";
  /** v1 controllers bound to it ("cpu", "memory"…) plus "name=…" for named ones; empty for cgroup2. */
  controllers: string[];
}

export interface CgroupLayout {
  /** 1: v1 controllers (possibly with a controller-less cgroup2 beside them, "hybrid"); 2: unified only. */
  version: 1 | 2;
  hierarchies: Hierarchy[];
}

// Super-block options that describe the mount, not the hierarchy.
const NOT_CONTROLLERS = new Set(["rw", "ro", "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods"]);

/**
 * The cgroup hierarchies in a mountinfo text (proc(5)). Only mounts of a hierarchy's root
 * count (a bind of a subtree would place our cgroups wrongly), and each hierarchy once:
 * the first mount wins, so a container's own mounts made later never shadow the host's.
 */
export function parseCgroupMounts(mountinfo: string): Hierarchy[] {
  const found: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    if (!line.trim()) continue;
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const fields = pre.split(" ");
    const [fstype, , superOptions = ""] = post.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const root = unescapeMountinfo(fields[3] ?? "");
    const mountPoint = unescapeMountinfo(fields[4] ?? "");
    if (root !== "/" || !mountPoint) continue;
    const controllers =
      fstype === "cgroup2" ? [] : superOptions.split(",").filter((o) => o && !NOT_CONTROLLERS.has(o) && !o.startsWith("release_agent="));
    const key = `${fstype}:${[...controllers].sort().join(",")}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ name: "", mountPoint, fstype, controllers });
  }
  return found;
}

/** Octal escapes (\040 for a space) that mountinfo uses in paths. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The host's cgroup layout from its mountinfo. A pure v2 host has one cgroup2 mount and no
 * v1 hierarchy; anything with a v1 hierarchy is driven as v1, and a cgroup2 mounted beside
 * (systemd's "unified") is joined too, for cgroup.kill and so the container's view is whole.
 */
export function layoutFromMountinfo(mountinfo: string): CgroupLayout {
  const mounts = parseCgroupMounts(mountinfo);
  const v1 = mounts.filter((m) => m.fstype === "cgroup");
  const v2 = mounts.filter((m) => m.fstype === "cgroup2");
  if (v1.length === 0) {
    const unified = v2[0];
    if (!unified) throw new Error("Cannot find a cgroup hierarchy in mountinfo");
    return { version: 2, hierarchies: [{ ...unified, name: "" }] };
  }
  const chosen = [...v1, ...v2.slice(0, 1)];
  return { version: 1, hierarchies: chosen.map((h) => ({ ...h, name: path.basename(h.mountPoint) })) };
}

/** The hierarchy a v1 controller is bound to, if any. */
export function hierarchyOf(hierarchies: readonly Hierarchy[], controller: string): Hierarchy | undefined {
  return hierarchies.find((h) => h.controllers.includes(controller));
}

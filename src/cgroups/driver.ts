import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../common/errors.js";
import type { Cgroup, CgroupDir } from "./cgroup.js";
import { isTsrunOwned, monitorCgroupPath } from "./cgroup-path.js";
import { CgroupWriteError, realCgroupFs, type CgroupFs } from "./cgroupfs.js";
import { layoutFromMountinfo, type CgroupLayout, type Hierarchy } from "./hierarchy.js";
import { CgroupV1 } from "./v1.js";
import { CgroupV2 } from "./v2.js";

/**
 * What the planner needs to know about a container's cgroups: where the init and the
 * monitor join, where the OOM counter is, and the host's hierarchies (for the container's
 * own /sys/fs/cgroup).
 */
export interface CgroupPlacement {
  version: 1 | 2;
  /** The container's cgroup path, e.g. "/tsrun/<id>". */
  path: string;
  hierarchies: PlacedHierarchy[];
  /** cgroup.procs files the init joins. */
  procs: string[];
  /** cgroup.procs files the monitor joins. */
  monitorProcs: string[];
  oomEventsFile?: string;
}

export interface PlacedHierarchy {
  /** Directory name under /sys/fs/cgroup ("cpu", "systemd", "unified"), "" for a pure v2 host. */
  name: string;
  fstype: "cgroup" | "cgroup2";
  /** Data for a fresh mount of this hierarchy ("cpu", "none,name=systemd", "" for cgroup2). */
  mountData: string;
  /** The container's cgroup directory in this hierarchy, on the host. */
  dir: string;
}

const CREATE_ATTEMPTS = 5;

/**
 * Creates, opens and removes tsrun's cgroups on one host layout. The cgroup filesystem is a
 * parameter (the hierarchies' mount points and the CgroupFs), so tests drive it on a fake tree.
 */
export class CgroupDriver {
  readonly version: 1 | 2;
  readonly hierarchies: readonly Hierarchy[];

  constructor(
    layout: CgroupLayout,
    private readonly cgfs: CgroupFs = realCgroupFs,
  ) {
    this.version = layout.version;
    this.hierarchies = layout.hierarchies;
  }

  /** The cgroup at `cgroupPath`, whether or not it exists. */
  open(cgroupPath: string): Cgroup {
    const dirs: CgroupDir[] = this.hierarchies.map((h) => ({ hierarchy: h, dir: path.join(h.mountPoint, cgroupPath) }));
    return this.version === 1 ? new CgroupV1(cgroupPath, dirs, this.cgfs) : new CgroupV2(cgroupPath, dirs, this.cgfs);
  }

  /**
   * mkdir the cgroup in every hierarchy. Its last level must not exist yet (a cgroup tsrun did
   * not create is never taken over); missing parents are made and prepared on the way.
   * On failure nothing created here is left.
   */
  create(cgroupPath: string): Cgroup {
    const cgroup = this.open(cgroupPath);
    const made: string[] = [];
    try {
      for (const d of cgroup.dirs) {
        this.makeLevels(d.hierarchy, cgroupPath);
        made.push(d.dir);
      }
    } catch (e) {
      for (const dir of made.reverse()) this.tryRmdir(dir);
      this.removeEmptyAncestors(cgroupPath);
      throw e;
    }
    return cgroup;
  }

  /**
   * rmdir the empty levels above a removed cgroup, as far up as tsrun owns them (/tsrun and
   * below). Busy or vanished levels are left alone: another container may be using or
   * creating them.
   */
  removeEmptyAncestors(cgroupPath: string): void {
    for (const h of this.hierarchies) {
      for (let p = path.posix.dirname(cgroupPath); p !== "/" && isTsrunOwned(p); p = path.posix.dirname(p)) {
        if (!this.tryRmdir(path.join(h.mountPoint, p))) break;
      }
    }
  }

  /**
   * Remove monitor cgroups under `parentPath` whose container cgroup is gone and that are
   * empty: a monitor's cgroup cannot be removed while the monitor (or the exit command it
   * runs) is still in it, so the next removal in the same parent takes it.
   */
  sweepMonitorCgroups(parentPath: string): void {
    const first = this.hierarchies[0];
    if (!first || !isTsrunOwned(parentPath)) return;
    let names: string[];
    try {
      names = this.cgfs.children(path.join(first.mountPoint, parentPath));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    for (const name of names) {
      const container = path.posix.join(parentPath, name.replace(/\.monitor$/, ""));
      if (monitorCgroupPath(container) !== path.posix.join(parentPath, name)) continue;
      if (this.open(container).exists()) continue;
      const monitor = this.open(monitorCgroupPath(container));
      if (monitor.pids().length > 0) continue;
      for (const d of monitor.dirs) this.tryRmdir(d.dir);
    }
  }

  placement(container: Cgroup, monitor: Cgroup): CgroupPlacement {
    const oomEventsFile = container.oomEventsFile();
    return {
      version: this.version,
      path: container.path,
      hierarchies: container.dirs.map((d) => ({
        name: this.version === 2 ? "" : d.hierarchy.name,
        fstype: d.hierarchy.fstype,
        mountData: mountData(d.hierarchy),
        dir: d.dir,
      })),
      procs: container.procsFiles(),
      monitorProcs: monitor.procsFiles(),
      ...(oomEventsFile ? { oomEventsFile } : {}),
    };
  }

  private makeLevels(h: Hierarchy, cgroupPath: string): void {
    const segments = cgroupPath.split("/").filter(Boolean);
    for (let attempt = 1; ; attempt++) {
      try {
        let rel = "";
        for (const [i, segment] of segments.entries()) {
          rel += "/" + segment;
          const dir = path.join(h.mountPoint, rel);
          const leaf = i === segments.length - 1;
          const created = this.mkdirLevel(dir, leaf);
          // A level another container made may not be prepared yet (it is between its mkdir
          // and its writes), so tsrun's own levels are prepared by whoever passes.
          if (created || (!leaf && isTsrunOwned(rel))) this.prepareLevel(h, dir, leaf);
        }
        return;
      } catch (e) {
        // A shared parent can vanish between our mkdirs: another container removed it as empty.
        if (errnoCode(e) === "ENOENT" && attempt < CREATE_ATTEMPTS) continue;
        // mkdir's own errors get the operation and path; ours already say them.
        if (e instanceof CgroupWriteError || errnoCode(e) === undefined) throw e;
        throw new Error(`Cannot create cgroup "${path.join(h.mountPoint, cgroupPath)}": ${errnoCode(e)}`, { cause: e });
      }
    }
  }

  private mkdirLevel(dir: string, leaf: boolean): boolean {
    try {
      this.cgfs.mkdir(dir);
      return true;
    } catch (e) {
      if (errnoCode(e) !== "EEXIST") throw e;
      if (leaf) throw new Error(`Cannot create cgroup "${dir}": it exists`, { cause: e });
      return false;
    }
  }

  /**
   * v1 cpuset: a new level has empty cpuset.cpus/mems and refuses tasks (ENOSPC) until they
   * are copied from its parent. v2: a level that will have children passes its controllers
   * down (cgroup.subtree_control), or its children get no memory.max, cpu.max…
   */
  private prepareLevel(h: Hierarchy, dir: string, leaf: boolean): void {
    if (h.fstype === "cgroup" && h.controllers.includes("cpuset")) {
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        const own = path.join(dir, file);
        if (this.cgfs.read(own).trim() !== "") continue;
        this.cgfs.write(own, this.cgfs.read(path.join(path.dirname(dir), file)).trim());
      }
    }
    if (h.fstype === "cgroup2" && this.version === 2 && !leaf) {
      const available = this.cgfs.read(path.join(dir, "cgroup.controllers")).trim().split(/\s+/).filter(Boolean);
      if (available.length > 0) this.cgfs.write(path.join(dir, "cgroup.subtree_control"), available.map((c) => "+" + c).join(" "));
    }
  }

  /** rmdir, true when the directory is gone; false when it is busy or has children. */
  private tryRmdir(dir: string): boolean {
    try {
      this.cgfs.rmdir(dir);
      return true;
    } catch (e) {
      const code = errnoCode(e);
      if (code === "ENOENT") return true;
      if (code === "EBUSY" || code === "ENOTEMPTY" || code === "EEXIST") return false;
      throw new Error(`Cannot remove cgroup "${dir}": ${code ?? e}`, { cause: e });
    }
  }
}

function mountData(h: Hierarchy): string {
  if (h.fstype === "cgroup2") return "";
  const named = h.controllers.some((c) => c.startsWith("name="));
  const plain = h.controllers.filter((c) => !c.startsWith("name="));
  return named && plain.length === 0 ? ["none", ...h.controllers].join(",") : h.controllers.join(",");
}

/** The driver for this host, from /proc/self/mountinfo (or a given mountinfo text and fs, for tests). */
export function openCgroupDriver(opts: { mountinfo?: string; cgfs?: CgroupFs } = {}): CgroupDriver {
  const mountinfo = opts.mountinfo ?? fs.readFileSync("/proc/self/mountinfo", "utf8");
  return new CgroupDriver(layoutFromMountinfo(mountinfo), opts.cgfs);
}

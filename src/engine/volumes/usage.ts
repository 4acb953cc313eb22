/**
 * Disk usage and pruning of volumes: what `volume prune`, `system prune --volumes` and
 * `system df` report, with Docker's rules (only volumes of the local driver without mount
 * options count: the others hold no data of their own).
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../../common/errors.js";
import type { OwnerLock } from "../../linux/owner-lock.js";
import { prunePredicate, type Filters } from "./filters.js";
import type { Volume, VolumeRefs, VolumeStore } from "./store.js";

/** Bytes of the regular files under `dir`, each hard-linked inode once (Docker's directory.Size); -1 if `dir` is missing. */
export function directorySize(dir: string): number {
  const seen = new Set<bigint>();
  let size = 0;
  const walk = (d: string, top: boolean): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (!top && errnoCode(e) === "ENOENT") return; // removed while we walk
      throw e;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        walk(p, false);
        continue;
      }
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(p, { bigint: true });
      } catch {
        continue;
      }
      if (st.size === 0n || seen.has(st.ino)) continue;
      seen.add(st.ino);
      size += Number(st.size);
    }
  };
  try {
    walk(dir, true);
  } catch {
    return -1;
  }
  return size;
}

const hasOptions = (v: Volume) => v.Options !== null && Object.keys(v.Options).length > 0;

export interface PruneReport {
  /** Names of the removed volumes. */
  deleted: string[];
  /** Bytes their data took. */
  reclaimed: number;
}

/**
 * Removes unused volumes: anonymous ones only unless `all` (or the filter all=true), further
 * narrowed by label filters. A volume some container is taking into use right now (its lock
 * is held) is left alone. `system prune --volumes` is this with `all` false.
 */
export async function pruneVolumes(
  store: VolumeStore,
  refs: VolumeRefs,
  opts: { all?: boolean; filters?: Filters } = {},
): Promise<PruneReport> {
  const wanted = prunePredicate(opts.filters ?? new Map(), !!opts.all);
  const candidates = store
    .list()
    .filter((v) => !hasOptions(v) && wanted(v))
    .map((v) => v.Name)
    .sort();
  // Lock every candidate first, then read the records once: a container that takes one of
  // them into use has written its record before it lets go of the lock.
  const locks: OwnerLock[] = [];
  const report: PruneReport = { deleted: [], reclaimed: 0 };
  try {
    const locked: string[] = [];
    for (const name of candidates) {
      const lock = await store.tryLock(name);
      if (!lock) continue;
      locks.push(lock);
      locked.push(name);
    }
    const users = refs();
    for (const name of locked) {
      if ((users.get(name) ?? []).length > 0 || !store.get(name)) continue;
      const size = directorySize(store.dataPath(name));
      store.destroy(name);
      report.deleted.push(name);
      if (size > 0) report.reclaimed += size;
    }
  } finally {
    for (const lock of locks) lock.release();
  }
  return report;
}

export interface VolumeUsage {
  name: string;
  /** Containers referencing it. */
  links: number;
  /** Bytes, or -1 when it could not be measured. */
  size: number;
}

export interface VolumesDiskUsage {
  totalCount: number;
  activeCount: number;
  totalSize: number;
  reclaimable: number;
  volumes: VolumeUsage[];
}

/** `system df` for volumes (Docker's localVolumesSize). */
export function volumesDiskUsage(store: VolumeStore, refs: VolumeRefs): VolumesDiskUsage {
  const users = refs();
  const volumes = store
    .list()
    .filter((v) => !hasOptions(v))
    .map((v) => ({ name: v.Name, links: users.get(v.Name)?.length ?? 0, size: directorySize(store.dataPath(v.Name)) }));
  const du: VolumesDiskUsage = { totalCount: volumes.length, activeCount: volumes.length, totalSize: 0, reclaimable: 0, volumes };
  for (const v of volumes) {
    if (v.size === -1) continue;
    du.totalSize += v.size;
    if (v.links === 0) {
      du.reclaimable += v.size;
      du.activeCount--;
    }
  }
  return du;
}

/**
 * `container prune` and `system prune`: what goes, and how much space it gave back. Each
 * kind of thing is a pruner; `system prune` runs them in order (the volumes and networks
 * issues add theirs to SYSTEM_PRUNERS).
 */
import fs from "node:fs";
import path from "node:path";
import { isTsrunError, logger } from "../common/index.js";
import type { Engine } from "./engine.js";
import { networksOf } from "./network-wiring.js";
import { ContainerFiles } from "./record.js";

const log = logger("engine");

export interface PruneReport {
  /** Docker's section title, e.g. "Deleted Containers:". */
  title: string;
  /** One line each: ids, or "deleted: sha256:…" / "untagged: …". */
  lines: string[];
  reclaimed: number;
}

export interface Pruner {
  /** The line in system prune's warning ("all stopped containers"). */
  warning: string;
  /** The `system prune` flag without which this pruner does not run (`--volumes`). */
  flag?: "volumes";
  prune(engine: Engine): Promise<PruneReport>;
}

/** Every container that is not running (created, exited, dead), as Docker's prune. */
export async function pruneContainers(engine: Engine): Promise<PruneReport> {
  const report: PruneReport = { title: "Deleted Containers:", lines: [], reclaimed: 0 };
  for (const v of await engine.list()) {
    if (v.status.Running || v.status.Status === "removing") continue;
    const size = treeSize(path.join(new ContainerFiles(engine.root, v.record.Id).fs, "upper"));
    try {
      await engine.remove(v.record.Id);
    } catch (e) {
      // Started or removed by someone else meanwhile: not ours to prune any more.
      if (isTsrunError(e, "conflict") || isTsrunError(e, "not-found")) continue;
      throw e;
    }
    report.lines.push(v.record.Id);
    report.reclaimed += size;
  }
  log(`pruned ${report.lines.length} containers`);
  return report;
}

/** Dangling images (no name) that no container uses. */
export async function pruneDanglingImages(engine: Engine): Promise<PruneReport> {
  const report: PruneReport = { title: "Deleted Images:", lines: [], reclaimed: 0 };
  const store = await engine.images();
  const users = await engine.imageUsers();
  const used = new Set(users.map((u) => u.image));
  for (const img of store.list()) {
    if (img.repoTags.length > 0 || used.has(img.id)) continue;
    try {
      const records = await store.remove(img.id, {
        inUse: (imageId) => users.filter((u) => u.image === imageId),
        layersInUse: () => users.flatMap((u) => u.layers),
      });
      for (const r of records) report.lines.push("untagged" in r ? `untagged: ${r.untagged}` : `deleted: ${r.deleted}`);
      report.reclaimed += img.size;
    } catch (e) {
      if (isTsrunError(e, "conflict") || isTsrunError(e, "not-found")) continue;
      throw e;
    }
  }
  return report;
}

/** Anonymous volumes no container uses (`system prune --volumes`: Docker keeps named ones). */
export async function pruneUnusedVolumes(engine: Engine): Promise<PruneReport> {
  const lib = await import("./volumes/index.js");
  const r = await lib.pruneVolumes(new lib.VolumeStore(engine.root), lib.recordVolumeRefs(engine.root));
  return { title: "Deleted Volumes:", lines: r.deleted, reclaimed: r.reclaimed };
}

/**
 * User networks no running container uses (Docker's network prune), after repairing what
 * crashes left behind (endpoints, leases, bridges, rules of dead containers, any root).
 */
export async function pruneNetworks(engine: Engine): Promise<PruneReport> {
  const nets = await networksOf(engine);
  await nets.repair();
  const removed = await nets.prune();
  return { title: "Deleted Networks:", lines: removed.map((n) => n.Name), reclaimed: 0 };
}

export const SYSTEM_PRUNERS: Pruner[] = [
  { warning: "all stopped containers", prune: pruneContainers },
  { warning: "all networks not used by at least one container", prune: pruneNetworks },
  { warning: "all anonymous volumes not used by at least one container", flag: "volumes", prune: pruneUnusedVolumes },
  { warning: "all dangling images", prune: pruneDanglingImages },
];

/** Bytes of the files of a tree (hard links once), without following symlinks. */
export function treeSize(dir: string): number {
  let total = 0;
  const seen = new Set<string>();
  const walk = (p: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const child = path.join(p, e.name);
      if (e.isDirectory()) {
        walk(child);
        continue;
      }
      try {
        const st = fs.lstatSync(child);
        const key = `${st.dev}:${st.ino}`;
        if (st.nlink > 1 && seen.has(key)) continue;
        seen.add(key);
        total += st.size;
      } catch {
        // gone meanwhile
      }
    }
  };
  walk(dir);
  return total;
}

/**
 * `system df`: what images, containers and local volumes take on disk, and what a prune
 * could give back (Docker's system.DiskUsage). Sizes are measured when asked: no
 * bookkeeping on any other command's path.
 */
import path from "node:path";
import type { Engine, ContainerView } from "./engine.js";
import { treeSize } from "./prune.js";
import { ContainerFiles } from "./record.js";
import type { VolumesDiskUsage } from "./volumes/index.js";

export interface ImageUsage {
  id: string;
  repoTags: string[];
  created?: string;
  size: number;
  /** Containers using it. */
  containers: number;
}

export interface ContainerUsage {
  view: ContainerView;
  /** Bytes of its writable layer. */
  size: number;
  /** Volumes it mounts. */
  localVolumes: number;
}

export interface Totals {
  totalCount: number;
  activeCount: number;
  totalSize: number;
  reclaimable: number;
}

export interface DiskUsage {
  images: Totals & { items: ImageUsage[] };
  containers: Totals & { items: ContainerUsage[] };
  volumes: VolumesDiskUsage;
}

export async function diskUsage(engine: Engine): Promise<DiskUsage> {
  const views = await engine.list();
  const containers: ContainerUsage[] = views.map((view) => ({
    view,
    size: treeSize(path.join(new ContainerFiles(engine.root, view.record.Id).fs, "upper")),
    localVolumes: (view.record.Mounts ?? []).filter((m) => m.Type === "volume").length,
  }));
  const users = new Map<string, number>();
  for (const v of views) users.set(v.record.Image, (users.get(v.record.Image) ?? 0) + 1);
  const images: ImageUsage[] = (await engine.images()).list().map((img) => ({
    id: img.id,
    repoTags: img.repoTags,
    ...(img.created ? { created: img.created } : {}),
    size: img.size,
    containers: users.get(img.id) ?? 0,
  }));
  const lib = await import("./volumes/index.js");
  return {
    // Layers shared between images are counted once per image (Docker subtracts SharedSize).
    images: {
      ...totals(images, (i) => i.size, (i) => i.containers > 0),
      items: images,
    },
    containers: {
      ...totals(containers, (c) => c.size, (c) => c.view.status.Running),
      items: containers,
    },
    volumes: lib.volumesDiskUsage(new lib.VolumeStore(engine.root), lib.recordVolumeRefs(engine.root)),
  };
}

/** Counts and sizes; what is not active is reclaimable. */
function totals<T>(items: readonly T[], size: (t: T) => number, active: (t: T) => boolean): Totals {
  const t: Totals = { totalCount: items.length, activeCount: 0, totalSize: 0, reclaimable: 0 };
  for (const item of items) {
    const bytes = Math.max(0, size(item));
    t.totalSize += bytes;
    if (active(item)) t.activeCount++;
    else t.reclaimable += bytes;
  }
  return t;
}

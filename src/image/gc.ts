/**
 * Garbage collection of the image store, run under the images lock after names or images
 * were removed: blobs that no image's manifest reaches, and unpacked layers that no image
 * lists and no container still uses. Also sweeps blobs left by a load that crashed between
 * moving its blobs in and writing index.json, and scratch dirs of processes that died.
 */
import { logger } from "../common/index.js";
import type { Catalog, ImageRecord } from "./catalog.js";
import type { LayerStore } from "./layers.js";
import type { OciLayout } from "./layout.js";
import type { OciManifest } from "./oci-types.js";
import { sweepScratch } from "./scratch.js";

const log = logger("image");

export interface GcResult {
  removedBlobs: string[];
  /** Diff ids whose unpacked layer stays: some image lists it or a container uses it. */
  keptDiffIds: Set<string>;
}

/** The 64-hex diff id in a layer dir path, a digest, or a bare hex string. */
function hexOf(s: string): string | undefined {
  const all = s.match(/[a-f0-9]{64}/g);
  return all ? all[all.length - 1] : undefined;
}

export function collectGarbage(
  layout: OciLayout,
  layers: LayerStore,
  catalog: Catalog,
  diffIdsOf: (rec: ImageRecord) => string[],
  layersInUse: Iterable<string>,
): GcResult {
  const liveBlobs = new Set<string>();
  const liveDiffIds = new Set<string>();
  for (const rec of catalog.all()) {
    liveBlobs.add(rec.manifest.digest);
    try {
      const manifest = layout.readJsonBlob<OciManifest>(rec.manifest.digest);
      liveBlobs.add(manifest.config.digest);
      for (const l of manifest.layers) liveBlobs.add(l.digest);
    } catch (e) {
      log(`image ${rec.id} cannot be read (${(e as Error).message}); only its manifest is kept`);
    }
    for (const d of diffIdsOf(rec)) liveDiffIds.add(d);
  }

  const removedBlobs: string[] = [];
  for (const digest of layout.listBlobs()) {
    if (liveBlobs.has(digest)) continue;
    layout.removeBlob(digest);
    removedBlobs.push(digest);
  }

  const keep = new Set<string>();
  for (const d of liveDiffIds) keep.add(d.slice("sha256:".length));
  for (const dir of layersInUse) {
    const hex = hexOf(dir);
    if (hex) keep.add(hex);
  }
  for (const hex of layers.list()) {
    if (keep.has(hex)) continue;
    layers.remove(hex);
    log(`removed unpacked layer sha256:${hex}`);
  }

  sweepScratch(layers.root);
  return { removedBlobs, keptDiffIds: new Set([...keep].map((hex) => `sha256:${hex}`)) };
}

/**
 * What an archive format yields for the store to commit: one image, already verified
 * (every blob's digest, every layer's diff id), with the temp files of its blobs.
 */
import { corrupt } from "../common/index.js";
import { isDigest } from "./digest.js";
import { scanLayer, type LayerScan } from "./layer-scan.js";
import type { Descriptor, ImageConfig } from "./oci-types.js";
import type { SpooledArchive, SpooledFile } from "./spool.js";

export interface LoadCandidate {
  /** The config digest: the image id. */
  id: string;
  /** Full normalized references, in archive order. */
  names: string[];
  manifest: Descriptor;
  /** Temp file of every blob the image needs (manifest, config, layers), by digest. */
  blobs: Map<string, string>;
  created?: string;
  size: number;
}

/** Layer scans shared by the images of one archive (several images may share a layer). */
export class LayerChecks {
  private readonly scans = new Map<string, Promise<LayerScan>>();

  scan(file: SpooledFile): Promise<LayerScan> {
    let scan = this.scans.get(file.file);
    if (!scan) {
      scan = scanLayer(file.file, file.member);
      this.scans.set(file.file, scan);
    }
    return scan;
  }
}

/** Parses an image config from the archive and checks it has what tsrun relies on. */
export function readConfig(spool: SpooledArchive, file: SpooledFile): ImageConfig {
  const config = spool.readJson<ImageConfig>(file.member, "image config");
  const diffIds = config?.rootfs?.diff_ids;
  if (typeof config !== "object" || config === null || !Array.isArray(diffIds) || !diffIds.every(isDigest)) {
    throw corrupt(`Cannot load image: config "${file.member}" has no valid rootfs.diff_ids`);
  }
  return config;
}

/** Checks each layer against the diff id the config gives it; returns the scans in order. */
export async function checkLayers(config: ImageConfig, layers: SpooledFile[], checks: LayerChecks): Promise<LayerScan[]> {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length) {
    throw corrupt(`Cannot load image: the config names ${diffIds.length} layers, the manifest ${layers.length}`);
  }
  const scans: LayerScan[] = [];
  for (const [i, layer] of layers.entries()) {
    const scan = await checks.scan(layer);
    if (scan.diffId !== diffIds[i]) {
      throw corrupt(`Cannot load image: layer "${layer.member}" has diff id ${scan.diffId}, the config says ${diffIds[i]}`);
    }
    scans.push(scan);
  }
  return scans;
}

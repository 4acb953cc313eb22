/**
 * `docker load`, all or nothing. The archive is spooled into a private temp dir and every
 * image in it verified (blob digests and sizes, layer diff ids, tar structure) before the
 * store is touched; only then, under the images lock, are the blobs renamed into place and
 * index.json replaced. A failure anywhere before that last write leaves index.json as it
 * was; the scratch dir always goes, and blobs moved in by a commit that crashed midway are
 * unreferenced and swept by the next garbage collection.
 */
import fs from "node:fs";
import { corrupt, notFound, type StateRoot } from "../common/index.js";
import type { Catalog } from "./catalog.js";
import { dockerArchiveImages } from "./docker-archive.js";
import type { LoadCandidate } from "./load-candidate.js";
import type { OciLayout } from "./layout.js";
import { ociArchiveImages } from "./oci-archive.js";
import { familiarize } from "./reference.js";
import { makeScratch } from "./scratch.js";
import { SpooledArchive } from "./spool.js";

export interface LoadResult {
  /** Each image loaded, with the full names it was given. */
  images: { id: string; names: string[] }[];
  /** What `docker load` prints, line by line ("Loaded image: busybox:latest"…). */
  lines: string[];
}

/** Reads the images out of a spooled archive, telling the format by its content. */
async function candidatesOf(spool: SpooledArchive, workDir: string): Promise<LoadCandidate[]> {
  if (spool.isEmpty) throw corrupt("Cannot load image: the archive is empty or not a tar archive");
  let candidates: LoadCandidate[];
  if (spool.has("manifest.json")) candidates = await dockerArchiveImages(spool, workDir);
  else if (spool.has("index.json")) candidates = await ociArchiveImages(spool);
  else throw corrupt("Cannot load image: the archive has neither manifest.json (docker-archive) nor index.json (oci-archive)");
  if (candidates.length === 0) throw corrupt("Cannot load image: the archive holds no image");
  return candidates;
}

function commit(catalog: Catalog, candidates: LoadCandidate[], layout: OciLayout): LoadResult {
  layout.ensure();
  for (const c of candidates) {
    if (catalog.get(c.id)) continue;
    for (const [digest, file] of c.blobs) layout.commitBlob(file, digest);
  }
  layout.syncBlobs();

  const lines: string[] = [];
  for (const c of candidates) {
    const rec: Parameters<Catalog["add"]>[0] = { id: c.id, manifest: c.manifest, names: [], size: c.size };
    if (c.created !== undefined) rec.created = c.created;
    catalog.add(rec);
    for (const name of c.names) {
      const previous = catalog.setName(c.id, name);
      if (previous !== undefined) {
        lines.push(`The image ${familiarize(name)} already exists, renaming the old one with ID ${previous} to empty string`);
      }
      lines.push(`Loaded image: ${familiarize(name)}`);
    }
    if (c.names.length === 0) lines.push(`Loaded image ID: ${c.id}`);
  }
  layout.writeIndex(catalog.toIndex());
  return { images: candidates.map((c) => ({ id: c.id, names: [...c.names] })), lines };
}

/**
 * Loads an archive into the store. `locked` runs the commit under the images lock with the
 * catalog as index.json holds it at that moment.
 */
export async function loadArchive(
  input: string | NodeJS.ReadableStream,
  root: StateRoot,
  layout: OciLayout,
  locked: (commit: (catalog: Catalog) => LoadResult) => Promise<LoadResult>,
): Promise<LoadResult> {
  const scratch = makeScratch(root, "load");
  try {
    if (typeof input === "string" && !fs.existsSync(input)) {
      throw notFound(`open ${input}: no such file or directory`);
    }
    const spool = await SpooledArchive.read(input, scratch.dir);
    const candidates = await candidatesOf(spool, scratch.dir);
    return await locked((catalog) => commit(catalog, candidates, layout));
  } finally {
    scratch.dispose();
  }
}

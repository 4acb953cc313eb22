/**
 * Unpacking one layer blob into a directory, checking its content digest on the way. A
 * module of its own so that the machinery (streams, zlib, hashing, tar) loads only when a
 * layer really is unpacked, never on `run` of an image whose layers are in place.
 */
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { corrupt } from "../common/index.js";
import { openLayerFile } from "./compression.js";
import { DigestStream } from "./digest.js";
import { unpackLayerTar } from "./unpack.js";

/** Unpacks `blobFile` into `work/diff` (which must exist) and records opaque dirs in `work/opaque`. */
export async function unpackLayerBlob(diffId: string, blobFile: string, work: string): Promise<{ entries: number; skipped: number }> {
  const { stream } = openLayerFile(blobFile, diffId);
  const hasher = new DigestStream();
  const feeding = pipeline(stream, hasher);
  feeding.catch(() => undefined);
  const result = await unpackLayerTar(hasher, path.join(work, "diff"));
  await feeding;
  if (hasher.digest() !== diffId) {
    throw corrupt(`Layer ${diffId} is corrupt: its content has digest ${hasher.digest()}`);
  }
  if (result.opaque.length > 0) fs.writeFileSync(path.join(work, "opaque"), result.opaque.join("\n") + "\n");
  return result;
}

/**
 * Checks a layer blob before it enters the store: it decompresses, it is a complete tar,
 * and its uncompressed digest is the diff id the config names. Also measures the layer the
 * way Docker's SIZE does (content bytes, a hardlinked file counted once). Streams the blob;
 * nothing is written to disk.
 */
import { pipeline } from "node:stream/promises";
import { corrupt, isTsrunError } from "../common/index.js";
import { openLayerFile, type Compression } from "./compression.js";
import { DigestStream } from "./digest.js";
import { readTar } from "./tar.js";

export interface LayerScan {
  diffId: string;
  compression: Compression;
  /** Bytes of regular files plus symlink targets. */
  contentSize: number;
}

/** Scans a layer file; `what` names it in errors (an archive member or a digest). */
export async function scanLayer(file: string, what: string): Promise<LayerScan> {
  const { compression, stream } = openLayerFile(file, `"${what}"`);
  const hasher = new DigestStream();
  const feeding = pipeline(stream, hasher);
  feeding.catch(() => undefined);
  let contentSize = 0;
  try {
    for await (const { header } of readTar(hasher)) {
      if (header.type === "file" || header.type === "contiguous-file") contentSize += header.size ?? 0;
      else if (header.type === "symlink") contentSize += Buffer.byteLength(header.linkname ?? "");
    }
    await feeding;
  } catch (e) {
    if (isTsrunError(e)) throw e;
    throw corrupt(`Cannot load image: layer "${what}" is not a valid tar archive: ${(e as Error).message}`, e);
  }
  return { diffId: hasher.digest(), compression, contentSize };
}

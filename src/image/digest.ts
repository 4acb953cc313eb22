/**
 * Content digests ("sha256:<64 hex>"), the only algorithm tsrun stores. Hashing is done on
 * streams so no blob or layer is ever held in memory.
 */
import { createHash, type Hash } from "node:crypto";
import fs from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";

export { isDigest, digestHex } from "./digest-name.js";

export function sha256Digest(data: string | Uint8Array): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

/** A pass-through that hashes and counts what flows through it. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private count = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    done(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): string {
    return "sha256:" + this.hash.copy().digest("hex");
  }

  get size(): number {
    return this.count;
  }
}

/** A pipeline sink that only pulls data through (for streams whose side effects matter). */
export async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // Nothing to keep: pulling the data is the point.
  }
}

/** Digest and size of a file, streamed. */
export async function digestFile(file: string): Promise<{ digest: string; size: number }> {
  const hasher = new DigestStream();
  await pipeline(fs.createReadStream(file), hasher, drain);
  return { digest: hasher.digest(), size: hasher.size };
}

/** Docker's chain ids: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : sha256Digest(`${prev} ${diffId}`));
  }
  return out;
}

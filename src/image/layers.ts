/**
 * Unpacked layers: `<root>/layers/<diffid-hex>/diff` holds one layer's content, plus
 * `opaque` (the directories the layer made opaque, one in-layer path a line) beside it for
 * readers that do not want to read xattrs. Each layer is unpacked once and shared by every
 * image that has it.
 *
 * A layer appears whole or not at all: it is unpacked into a private scratch dir under
 * `<root>/tmp` (scratch.ts) and renamed into place. Concurrent callers in one process share one unpack; concurrent
 * processes each unpack privately and the first rename wins (the loser drops its copy), so
 * nobody ever writes into, or reads, a half-unpacked layer.
 */
import fs from "node:fs";
import path from "node:path";
import { corrupt, errnoCode, isTsrunError, logger, type StateRoot } from "../common/index.js";
import { digestHex } from "./digest-name.js";
import { makeScratch, withDirLock } from "./scratch.js";

const log = logger("image");

/** Unpacks in flight in this process, by final layer dir. */
const inflight = new Map<string, Promise<string>>();

export class LayerStore {
  constructor(readonly root: StateRoot) {}

  /** The content dir of a layer (whether or not it is unpacked yet). */
  diffDir(diffId: string): string {
    return path.join(this.root.layer(digestHex(diffId)), "diff");
  }

  isUnpacked(diffId: string): boolean {
    return fs.existsSync(this.diffDir(diffId));
  }

  /**
   * The content dir of layer `diffId`, unpacking `blobFile` first if needed. The blob is
   * checked against the diff id while it is unpacked.
   */
  async ensure(diffId: string, blobFile: string): Promise<string> {
    const diff = this.diffDir(diffId);
    if (fs.existsSync(diff)) return diff;
    const key = path.dirname(diff);
    let job = inflight.get(key);
    if (!job) {
      job = this.unpack(diffId, blobFile).finally(() => inflight.delete(key));
      inflight.set(key, job);
    }
    return job;
  }

  private async unpack(diffId: string, blobFile: string): Promise<string> {
    const hex = digestHex(diffId);
    fs.mkdirSync(this.root.layers, { recursive: true, mode: 0o700 });
    const scratch = makeScratch(this.root, "layer", `${hex.slice(0, 12)}-`);
    try {
      await this.unpackInto(diffId, blobFile, scratch.dir);
      return this.install(scratch.dir, this.root.layer(hex));
    } catch (e) {
      fs.rmSync(scratch.dir, { recursive: true, force: true });
      if (isTsrunError(e)) throw e;
      const reason = errnoCode(e) === "ENOENT" ? "its blob is missing" : (e as Error).message;
      throw corrupt(`Cannot unpack layer ${diffId}: ${reason}`, e);
    } finally {
      // Held until the dir is in place (or gone): until then a sweeper must not touch it.
      scratch.release();
    }
  }

  /** Unpacks into `work/diff` and checks the content against the diff id. */
  private async unpackInto(diffId: string, blobFile: string, work: string): Promise<void> {
    const diff = path.join(work, "diff");
    fs.mkdirSync(diff);
    fs.chmodSync(diff, 0o755);
    const started = Date.now();
    const { unpackLayerBlob } = await import("./layer-unpacker.js");
    const result = await unpackLayerBlob(diffId, blobFile, work);
    log(`unpacked ${diffId}: ${result.entries} entries, ${result.skipped} skipped, ${Date.now() - started} ms`);
  }

  /** Renames a finished layer into place; if another process won the race, keeps theirs. */
  private install(work: string, final: string): string {
    const diff = path.join(final, "diff");
    try {
      fs.renameSync(work, final);
    } catch (e) {
      const code = errnoCode(e);
      if ((code === "ENOTEMPTY" || code === "EEXIST") && fs.existsSync(diff)) {
        fs.rmSync(work, { recursive: true, force: true });
        return diff;
      }
      throw e;
    }
    return diff;
  }

  /** Hex diff ids of every unpacked layer. */
  list(): string[] {
    try {
      return fs.readdirSync(this.root.layers).filter((n) => /^[a-f0-9]{64}$/.test(n));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  /**
   * Removes an unpacked layer: locked and renamed away first, so it never looks
   * half-deleted and a crash midway leaves only a scratch dir for the sweeper. A layer whose
   * unpacker still holds it is left for the next collection.
   */
  remove(hex: string): void {
    const dir = this.root.layer(hex);
    fs.mkdirSync(this.root.tmp, { recursive: true, mode: 0o700 });
    const doomed = path.join(this.root.tmp, `layer-gc-${hex.slice(0, 12)}-${process.pid}-${Date.now()}`);
    withDirLock(dir, () => {
      try {
        fs.renameSync(dir, doomed);
      } catch (e) {
        if (errnoCode(e) === "ENOENT") return;
        throw e;
      }
      fs.rmSync(doomed, { recursive: true, force: true });
    });
  }
}

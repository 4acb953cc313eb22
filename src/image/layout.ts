/**
 * The on-disk OCI image layout at `<root>/images`: `oci-layout`, `index.json` and
 * content-addressed `blobs/sha256/<hex>`. Blobs arrive as temp files under `<root>/tmp`
 * (same filesystem), are fsynced and renamed into place; index.json is replaced atomically.
 * Callers that change index.json hold `<root>/locks/images.lock`; readers need no lock.
 */
import fs from "node:fs";
import path from "node:path";
import { corrupt, errnoCode, readJsonIfExists, writeJsonAtomic, type StateRoot } from "../common/index.js";
import { digestHex } from "./digest-name.js";
import type { OciIndex } from "./oci-types.js";

const OCI_LAYOUT = { imageLayoutVersion: "1.0.0" };
/** JSON blobs (manifests, configs, indexes) are read into memory; nothing legitimate is this big. */
export const MAX_JSON_BLOB = 16 * 1024 * 1024;

export function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] };
}

/** fsync a directory, so a rename inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class OciLayout {
  readonly dir: string;
  private readonly blobDir: string;

  constructor(private readonly root: StateRoot) {
    this.dir = root.images;
    this.blobDir = path.join(this.dir, "blobs", "sha256");
  }

  get indexPath(): string {
    return path.join(this.dir, "index.json");
  }

  get lockPath(): string {
    return path.join(this.root.locks, "images.lock");
  }

  /** Creates the layout's directories and `oci-layout`; for writers only. */
  ensure(): void {
    fs.mkdirSync(this.blobDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.root.tmp, { recursive: true, mode: 0o700 });
    const marker = path.join(this.dir, "oci-layout");
    if (!fs.existsSync(marker)) writeJsonAtomic(marker, OCI_LAYOUT);
  }

  blobPath(digest: string): string {
    return path.join(this.blobDir, digestHex(digest));
  }

  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  /**
   * A JSON blob of the store. Its digest was verified when it was written (load, pull);
   * the store is root's alone, so reads trust it, and `run` never loads a hash function.
   */
  readJsonBlob<T>(digest: string): T {
    const file = this.blobPath(digest);
    let data: Buffer;
    try {
      if (fs.statSync(file).size > MAX_JSON_BLOB) throw corrupt(`Blob ${digest} is too large to be a JSON document`);
      data = fs.readFileSync(file);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw corrupt(`The image store lacks blob ${digest}`, e);
      throw e;
    }
    try {
      return JSON.parse(data.toString("utf8")) as T;
    } catch (e) {
      throw corrupt(`Blob ${digest} is not valid JSON`, e);
    }
  }

  readIndex(): OciIndex {
    let index: OciIndex | undefined;
    try {
      index = readJsonIfExists<OciIndex>(this.indexPath);
    } catch (e) {
      throw corrupt(`Cannot read "${this.indexPath}": ${(e as Error).message}`, e);
    }
    if (index === undefined) return emptyIndex();
    if (!Array.isArray(index.manifests)) throw corrupt(`"${this.indexPath}" has no manifests list`);
    return index;
  }

  writeIndex(index: OciIndex): void {
    writeJsonAtomic(this.indexPath, index);
    fsyncDir(this.dir);
  }

  /**
   * Moves a verified temp file into place as blob `digest`. The caller has checked the
   * digest; a blob already present is kept (same digest, same content).
   */
  commitBlob(tempFile: string, digest: string): void {
    const target = this.blobPath(digest);
    if (fs.existsSync(target)) return;
    const fd = fs.openSync(tempFile, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tempFile, target);
  }

  /** Makes a directory's renames durable once a batch of commitBlob calls is done. */
  syncBlobs(): void {
    fsyncDir(this.blobDir);
  }

  /** The digests of every blob present. */
  listBlobs(): string[] {
    try {
      return fs
        .readdirSync(this.blobDir)
        .filter((name) => /^[a-f0-9]{64}$/.test(name))
        .map((hex) => `sha256:${hex}`);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  removeBlob(digest: string): void {
    fs.rmSync(this.blobPath(digest), { force: true });
  }
}

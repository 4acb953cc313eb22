/**
 * An image archive (`docker save` / `podman save` output) read once, front to back, into a
 * private temp dir: each regular member becomes a numbered file whose sha256 and size are
 * computed on the way in. Memory stays bounded whatever the archive holds, the input may be
 * a pipe, and the metadata (which `docker save` writes after the layers) can then be read
 * in any order. Member names are only keys here, never paths on disk.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { corrupt, isTsrunError } from "../common/index.js";
import { decompressArchive } from "./compression.js";
import { DigestStream } from "./digest.js";
import { cleanMemberPath } from "./in-root.js";
import { MAX_JSON_BLOB } from "./layout.js";
import { readTar } from "./tar.js";

const MAX_LINK_HOPS = 16;

export interface SpooledFile {
  member: string;
  file: string;
  digest: string;
  size: number;
}

export class SpooledArchive {
  private readonly files = new Map<string, SpooledFile>();
  /** Symlinks and hardlinks between members, by normalized member name. */
  private readonly links = new Map<string, string>();

  private constructor(readonly dir: string) {}

  /** Reads `input` (a path or a stream) into `dir`, which must exist and be empty. */
  static async read(input: string | NodeJS.ReadableStream, dir: string): Promise<SpooledArchive> {
    const spool = new SpooledArchive(dir);
    const raw = typeof input === "string" ? fs.createReadStream(input) : Readable.from(input as AsyncIterable<Buffer>, { objectMode: false });
    try {
      let n = 0;
      for await (const entry of readTar(await decompressArchive(raw))) {
        const member = cleanMemberPath(entry.header.name);
        if (entry.header.type === "file" || entry.header.type === "contiguous-file") {
          const file = path.join(dir, String(n++));
          const hasher = new DigestStream();
          // Opened here, not by the stream: an async open could outlive a failed read.
          const fd = fs.openSync(file, "wx", 0o600);
          await pipeline(entry.body, hasher, fs.createWriteStream("", { fd }));
          spool.files.set(member, { member, file, digest: hasher.digest(), size: hasher.size });
          spool.links.delete(member);
        } else if (entry.header.type === "symlink") {
          const target = path.posix.join(path.posix.dirname(member), entry.header.linkname ?? "");
          spool.links.set(member, cleanMemberPath(target));
        } else if (entry.header.type === "link") {
          spool.links.set(member, cleanMemberPath(entry.header.linkname ?? ""));
        }
      }
    } catch (e) {
      if (isTsrunError(e)) throw e;
      throw corrupt(`Cannot read the image archive: ${(e as Error).message}`, e);
    } finally {
      raw.destroy();
    }
    return spool;
  }

  get isEmpty(): boolean {
    return this.files.size === 0;
  }

  /** A member by name, following links between members. */
  get(member: string): SpooledFile | undefined {
    let name = cleanMemberPath(member);
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const file = this.files.get(name);
      if (file) return file;
      const next = this.links.get(name);
      if (next === undefined) return undefined;
      name = next;
    }
    return undefined;
  }

  has(member: string): boolean {
    return this.get(member) !== undefined;
  }

  /** A member that must exist; `what` says what it is for in the error. */
  require(member: string, what: string): SpooledFile {
    const file = this.get(member);
    if (!file) throw corrupt(`Cannot load image: the archive lacks ${what} "${member}"`);
    return file;
  }

  readJson<T>(member: string, what: string): T {
    const file = this.require(member, what);
    if (file.size > MAX_JSON_BLOB) throw corrupt(`Cannot load image: ${what} "${member}" is too large`);
    try {
      return JSON.parse(fs.readFileSync(file.file, "utf8")) as T;
    } catch (e) {
      throw corrupt(`Cannot load image: ${what} "${member}" is not valid JSON`, e);
    }
  }
}

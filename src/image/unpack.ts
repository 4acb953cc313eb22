/**
 * Unpacks one layer tar into a fresh directory, as root, the way overlayfs wants to read it:
 *
 * - kept: file modes (setuid/setgid/sticky included), numeric uid/gid, mtimes, symlinks,
 *   hardlinks, directories, fifos, and the xattrs a layer may carry (user.* and
 *   security.capability, from PAX `SCHILY.xattr.*` or `LIBARCHIVE.xattr.*`);
 * - converted: `.wh.<name>` becomes a 0/0 character device `<name>`; `.wh..wh..opq` becomes
 *   `user.overlay.opaque=y` on its directory (containers mount overlay with `userxattr`);
 * - refused, with a debug log: device nodes and unknown entry types (never created),
 *   trusted.*, other security.* and user.overlay.* xattrs (only the unpacker speaks to
 *   overlay), hardlinks to missing paths or directories, paths through non-directories.
 *
 * Hostile input is normal input: every member name is made relative and clamped at the
 * root, and every parent path is resolved inside the root (in-root.ts explains why that is
 * safe here), so nothing is written, linked or followed outside `dest`. Later duplicates
 * replace earlier ones, as tar does, and an existing symlink is replaced, never followed.
 * Directory mtimes are set last, after their content is written.
 */
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { corrupt, errnoCode, logger, systemError } from "../common/index.js";
import { lgetxattr, lsetxattr, mkfifo, mkwhiteout } from "../linux/index.js";
import { cleanMemberPath, RootResolver, UnresolvablePath } from "./in-root.js";
import { readTar, type TarEntry } from "./tar.js";

const log = logger("image");

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
export const OPAQUE_XATTR = "user.overlay.opaque";

export interface UnpackResult {
  entries: number;
  skipped: number;
  /** Directories made opaque (in-layer paths, "" for the root). */
  opaque: string[];
}

/** Whether a layer may set this xattr. Only the unpacker writes what overlay reads. */
export function isAllowedXattr(name: string): boolean {
  if (name === "security.capability") return true;
  return name.startsWith("user.") && !name.startsWith("user.overlay.");
}

/** The xattrs of an entry from its PAX records (SCHILY wins over LIBARCHIVE for the same name). */
export function xattrsFromPax(pax: Map<string, Buffer>): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith("LIBARCHIVE.xattr.")) {
      const name = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
      xattrs.set(name, Buffer.from(value.toString("latin1"), "base64"));
    }
  }
  for (const [key, value] of pax) {
    if (key.startsWith("SCHILY.xattr.")) xattrs.set(key.slice("SCHILY.xattr.".length), value);
  }
  return xattrs;
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  xattrs: Map<string, Buffer>;
}

function metaOf(entry: TarEntry): Meta {
  const { header, pax } = entry;
  const paxNumber = (key: string): number | undefined => {
    const v = pax.get(key);
    if (v === undefined) return undefined;
    const n = Number(v.toString("latin1"));
    return Number.isFinite(n) ? n : undefined;
  };
  const seconds = paxNumber("mtime");
  return {
    mode: (header.mode ?? 0o644) & 0o7777,
    uid: paxNumber("uid") ?? header.uid ?? 0,
    gid: paxNumber("gid") ?? header.gid ?? 0,
    mtime: seconds !== undefined ? new Date(seconds * 1000) : (header.mtime ?? new Date(0)),
    xattrs: xattrsFromPax(pax),
  };
}

class Unpacker {
  private readonly resolver: RootResolver;
  private readonly dirTimes = new Map<string, Date>();
  private readonly opaque = new Set<string>();
  private entries = 0;
  private skipped = 0;

  constructor(private readonly dest: string) {
    this.resolver = new RootResolver(dest);
  }

  async run(source: Readable): Promise<UnpackResult> {
    for await (const entry of readTar(source)) {
      this.entries++;
      try {
        await this.unpackEntry(entry);
      } catch (e) {
        if (!(e instanceof UnresolvablePath)) throw this.wrap(entry, e);
        this.skip(entry, e.reason);
      }
    }
    this.setDirTimes();
    return { entries: this.entries, skipped: this.skipped, opaque: this.stillOpaque() };
  }

  private wrap(entry: TarEntry, e: unknown): Error {
    const name = entry.header.name.length > 200 ? entry.header.name.slice(0, 200) + "…" : entry.header.name;
    const code = errnoCode(e);
    if (code === "ENAMETOOLONG") return corrupt(`Cannot unpack "${name}": path too long`, e);
    return systemError(`Cannot unpack "${name}" into "${this.dest}": ${code ?? (e as Error).message}`, e);
  }

  private skip(entry: TarEntry, why: string): void {
    this.skipped++;
    log(`skipping layer entry ${JSON.stringify(entry.header.name)}: ${why}`);
  }

  private async unpackEntry(entry: TarEntry): Promise<void> {
    const { header } = entry;
    if (header.name.includes("\0")) return this.skip(entry, "name contains a NUL byte");
    const rel = cleanMemberPath(header.name);
    if (rel === "") return this.unpackRoot(entry);

    const { parent, name } = this.resolver.resolveParent(rel, true);
    if (name.startsWith(WHITEOUT_PREFIX)) return this.unpackWhiteout(entry, parent, name);
    const target = parent === "" ? name : `${parent}/${name}`;
    const host = this.resolver.host(target);

    switch (header.type) {
      case "directory":
        return this.unpackDirectory(entry, target, host);
      case "file":
      case "contiguous-file":
        return this.unpackFile(entry, host);
      case "symlink":
        return this.unpackSymlink(entry, host);
      case "link":
        return this.unpackHardlink(entry, host);
      case "fifo":
        return this.unpackFifo(entry, host);
      default:
        // Device nodes included: a layer never creates one on the host.
        return this.skip(entry, `entry type "${header.type ?? "unknown"}" is not unpacked`);
    }
  }

  /**
   * Removes whatever is at `host` (never following it), unless it is a directory and
   * `keepDirectory` is set. Returns whether a directory was kept.
   */
  private clear(host: string, keepDirectory: boolean): boolean {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return false;
      throw e;
    }
    if (st.isDirectory()) {
      if (keepDirectory) return true;
      fs.rmSync(host, { recursive: true, force: true });
      this.resolver.forget();
      return false;
    }
    fs.unlinkSync(host);
    return false;
  }

  private unpackRoot(entry: TarEntry): void {
    if (entry.header.type !== "directory") return this.skip(entry, "only a directory can be the layer root");
    this.applyDirMeta(entry, "", this.dest);
  }

  private unpackDirectory(entry: TarEntry, target: string, host: string): void {
    if (!this.clear(host, true)) fs.mkdirSync(host, 0o700);
    this.resolver.noteDir(target);
    this.applyDirMeta(entry, target, host);
  }

  private applyDirMeta(entry: TarEntry, target: string, host: string): void {
    const meta = metaOf(entry);
    fs.lchownSync(host, meta.uid, meta.gid);
    fs.chmodSync(host, meta.mode);
    this.setXattrs(entry, host, meta.xattrs);
    this.dirTimes.set(target, meta.mtime);
  }

  private async unpackFile(entry: TarEntry, host: string): Promise<void> {
    const meta = metaOf(entry);
    this.clear(host, false);
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    const file = await fs.promises.open(host, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of entry.body) {
        for (let off = 0; off < chunk.length; ) off += (await file.write(chunk, off)).bytesWritten;
      }
      // chown clears setuid/setgid bits and capabilities, so it comes first.
      await file.chown(meta.uid, meta.gid);
      await file.chmod(meta.mode);
    } finally {
      await file.close();
    }
    this.setXattrs(entry, host, meta.xattrs);
    fs.lutimesSync(host, meta.mtime, meta.mtime);
  }

  private unpackSymlink(entry: TarEntry, host: string): void {
    const meta = metaOf(entry);
    this.clear(host, false);
    // The target is stored as it is: it is only ever followed inside a container's root.
    fs.symlinkSync(entry.header.linkname ?? "", host);
    fs.lchownSync(host, meta.uid, meta.gid);
    fs.lutimesSync(host, meta.mtime, meta.mtime);
  }

  private unpackHardlink(entry: TarEntry, host: string): void {
    const linkRel = cleanMemberPath(entry.header.linkname ?? "");
    if (linkRel === "") return this.skip(entry, "hardlink to the layer root");
    // The target is resolved inside the root too; link() never follows its last component,
    // so a link to a symlink pointing outside just makes another such symlink.
    const { parent, name } = this.resolver.resolveParent(linkRel, false);
    const targetHost = this.resolver.host(parent === "" ? name : `${parent}/${name}`);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(targetHost);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return this.skip(entry, `hardlink target "${entry.header.linkname}" does not exist`);
      throw e;
    }
    if (st.isDirectory()) return this.skip(entry, "hardlink to a directory");
    if (targetHost === host) return;
    this.clear(host, false);
    fs.linkSync(targetHost, host);
  }

  private unpackFifo(entry: TarEntry, host: string): void {
    const meta = metaOf(entry);
    this.clear(host, false);
    mkfifo(host, 0o600);
    fs.lchownSync(host, meta.uid, meta.gid);
    fs.chmodSync(host, meta.mode);
    this.setXattrs(entry, host, meta.xattrs);
    fs.lutimesSync(host, meta.mtime, meta.mtime);
  }

  private unpackWhiteout(entry: TarEntry, parent: string, name: string): void {
    const parentHost = this.resolver.host(parent);
    if (name === OPAQUE_MARKER) {
      lsetxattr(parentHost, OPAQUE_XATTR, Buffer.from("y"));
      this.opaque.add(parent);
      return;
    }
    const hidden = name.slice(WHITEOUT_PREFIX.length);
    if (hidden.startsWith(WHITEOUT_PREFIX)) return this.skip(entry, "aufs metadata");
    if (hidden === "" || hidden === "." || hidden === "..") return this.skip(entry, "whiteout of nothing");
    const host = path.join(parentHost, hidden);
    this.clear(host, false);
    mkwhiteout(host);
  }

  private setXattrs(entry: TarEntry, host: string, xattrs: Map<string, Buffer>): void {
    for (const [name, value] of xattrs) {
      if (!isAllowedXattr(name)) {
        this.skip(entry, `xattr "${name}" is not allowed in a layer`);
        continue;
      }
      lsetxattr(host, name, value);
    }
  }

  /** Directory mtimes last: writing into a directory changes its mtime. */
  private setDirTimes(): void {
    for (const [target, mtime] of this.dirTimes) {
      try {
        const host = target === "" ? this.dest : this.resolveExisting(target);
        if (host !== undefined && fs.lstatSync(host).isDirectory()) fs.lutimesSync(host, mtime, mtime);
      } catch (e) {
        if (!(e instanceof UnresolvablePath) && errnoCode(e) !== "ENOENT") throw e;
      }
    }
  }

  private resolveExisting(target: string): string | undefined {
    const { parent, name } = this.resolver.resolveParent(target, false);
    return this.resolver.host(parent === "" ? name : `${parent}/${name}`);
  }

  /** Opaque markers whose directory was not replaced later in the layer. */
  private stillOpaque(): string[] {
    return [...this.opaque].filter((dir) => {
      try {
        return lgetxattr(this.resolver.host(dir), OPAQUE_XATTR)?.toString() === "y";
      } catch {
        return false;
      }
    });
  }
}

/**
 * Unpacks an uncompressed layer tar into `dest`, an empty directory that only this call
 * writes to while it runs (see in-root.ts for why that matters). Must run as root.
 */
export async function unpackLayerTar(source: Readable, dest: string): Promise<UnpackResult> {
  return new Unpacker(dest).run(source);
}

/**
 * Copy-up: an empty volume is filled from the image's content at its mount point the first
 * time a container mounts it (unless nocopy), as Docker's copyExistingContents does. The
 * image's path is resolved inside the union of its layers (symlinks followed inside it
 * only); only a directory is copied (a file or a missing path copies nothing, as in moby);
 * the volume's own directory takes that directory's owner, mode and times.
 *
 * Everything keeps its mode, owner (0-based on disk, as in the layers: volumes are mounted
 * idmapped like the layers), times, hard links, symlinks (as links, never followed), fifos
 * and the xattrs a layer may carry (security.capability, user.* but not user.overlay.*).
 *
 * The copy is built in a private scratch directory beside the volume's data and moved in
 * entry by entry: a container that already has the (empty) volume mounted can never steer
 * a write of ours through a symlink it plants meanwhile.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, logger } from "../../common/index.js";
import type { OpaqueCheck } from "../union-tree.js";
import { ownerStamp, removeTreeOnOneDevice, sweepScratch } from "./store.js";
import { UnionTree, type UnionEntry } from "../union-tree.js";

const log = logger("volumes");

type XattrOps = typeof import("../../linux/xattr.js");
type MknodOps = typeof import("../../linux/mknod.js");

/** Which xattrs travel with a file: those a layer may carry, minus what only overlayfs reads. */
const copiedXattr = (name: string) => name === "security.capability" || (name.startsWith("user.") && !name.startsWith("user.overlay."));

class TreeCopier {
  private readonly links = new Map<string, string>();
  private readonly isRoot = process.getuid?.() === 0;
  count = 0;

  constructor(
    private readonly tree: UnionTree,
    private readonly xattr: XattrOps,
    private readonly mknod: () => Promise<MknodOps>,
  ) {}

  /** Copies the union directory at `parts` into the existing directory `dest`. */
  async copyChildren(parts: readonly string[], dest: string): Promise<void> {
    for (const [name, e] of this.tree.list(parts)) {
      const to = path.join(dest, name);
      if (await this.copyEntry(e, to)) {
        if (e.st.isDirectory()) await this.copyChildren([...parts, name], to);
        this.applyMetadata(e, to);
      }
    }
  }

  /** Creates `to` like `e`; false when there is nothing (more) to do for it. */
  private async copyEntry(e: UnionEntry, to: string): Promise<boolean> {
    const st = e.st;
    this.count++;
    if (st.isDirectory()) {
      fs.mkdirSync(to, { mode: 0o700 });
    } else if (st.isFile()) {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.links.get(key);
        if (first) {
          fs.linkSync(first, to);
          return false; // one inode: its metadata is already set
        }
        this.links.set(key, to);
      }
      fs.copyFileSync(e.hostPath, to, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(e.hostPath), to);
    } else if (st.isFIFO()) {
      (await this.mknod()).mkfifo(to, st.mode & 0o7777);
    } else {
      // Device nodes never come out of tsrun's unpacker, sockets are not content.
      log(`copy-up: skipping "${e.hostPath}" (not a file, directory, symlink or fifo)`);
      return false;
    }
    return true;
  }

  /** Owner, xattrs, mode, then times (a directory's after its children are in). */
  applyMetadata(e: UnionEntry, to: string): void {
    const st = e.st;
    const link = st.isSymbolicLink();
    if (this.isRoot) fs.lchownSync(to, st.uid, st.gid);
    if (!link) {
      this.copyXattrs(e.hostPath, to);
      fs.chmodSync(to, st.mode & 0o7777); // after chown, which clears set-id bits
      fs.utimesSync(to, st.atimeMs / 1000, st.mtimeMs / 1000);
    } else {
      fs.lutimesSync(to, st.atimeMs / 1000, st.mtimeMs / 1000);
    }
  }

  private copyXattrs(from: string, to: string): void {
    for (const name of this.xattr.llistxattr(from)) {
      if (!copiedXattr(name)) continue;
      const value = this.xattr.lgetxattr(from, name);
      if (value === undefined) continue;
      try {
        this.xattr.lsetxattr(to, name, value);
      } catch (e) {
        // As Docker: a volume filesystem without xattrs still gets the files.
        if (errnoCode(e) !== "ENOTSUP" && errnoCode(e) !== "EOPNOTSUPP") throw e;
      }
    }
  }
}

export interface CopyUpResult {
  /** Whether anything was copied (the image has a directory there and `dest` was empty). */
  copied: boolean;
  /** Entries copied. */
  entries: number;
}

/**
 * Fills the empty directory `dest` with the union of `layers` (content dirs, top-most first)
 * at `imagePath`. `dest`'s parent must be private to tsrun (a volume's directory): the
 * scratch copy is made there. A non-empty `dest` is left alone.
 */
export async function copyImageContent(
  layers: readonly string[],
  imagePath: string,
  dest: string,
  opts: { isOpaque?: OpaqueCheck } = {},
): Promise<CopyUpResult> {
  const tree = new UnionTree(layers, opts.isOpaque);
  const source = tree.resolve(imagePath);
  if (!source || !source.entry.st.isDirectory()) return { copied: false, entries: 0 };
  if (fs.readdirSync(dest).length > 0) return { copied: false, entries: 0 };
  const parent = path.dirname(dest);
  sweepScratch(parent, ["copyup"]);
  const scratch = path.join(parent, `.copyup-${ownerStamp()}`);
  fs.mkdirSync(scratch, { mode: 0o700 });
  try {
    const xattr = await import("../../linux/xattr.js");
    const copier = new TreeCopier(tree, xattr, () => import("../../linux/mknod.js"));
    await copier.copyChildren(source.parts, scratch);
    for (const name of fs.readdirSync(scratch)) {
      try {
        fs.renameSync(path.join(scratch, name), path.join(dest, name));
      } catch (e) {
        // A container that has the volume mounted wrote this name first: its entry stays.
        if (!["EEXIST", "ENOTEMPTY", "EISDIR", "ENOTDIR"].includes(errnoCode(e) ?? "")) throw e;
      }
    }
    copier.applyMetadata(source.entry, dest);
    log(`copy-up: ${copier.count} entries from "${imagePath}" into "${dest}"`);
    return { copied: true, entries: copier.count };
  } finally {
    removeTreeOnOneDevice(scratch);
  }
}

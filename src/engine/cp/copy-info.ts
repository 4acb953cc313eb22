/**
 * What `docker cp` decides on the client side (moby go-archive copy.go, docker/cli): what a
 * local source or destination is, and how an archive must be extracted so that the copy
 * lands where Docker's does — into a directory, or renamed to a destination that does not
 * exist yet — or which of Docker's errors it is.
 */
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { errnoCode, invalidArgument, systemError, TsrunError } from "../../common/index.js";
import { assertsDirectory, base, getRebaseName, hasTrailingSeparator, preserveTrailingDotOrSeparator, split, splitPathDirEntry } from "./paths.js";

/** A source or destination of a copy (Docker's archive.CopyInfo). */
export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  /** The name the copy takes, when a followed symlink changed the last element. */
  rebaseName?: string;
}

/** Where to extract, and the name the archive's top entry must take there (if another). */
export interface PreparedCopy {
  dstDir: string;
  renameTo?: string;
}

/** Go's text of a failed system call: "lstat /x: no such file or directory". */
export function goError(op: string, file: string, e: unknown): TsrunError {
  if (e instanceof TsrunError) return e;
  const errno = (e as NodeJS.ErrnoException).errno;
  const text = errno !== undefined ? util.getSystemErrorMap().get(errno)?.[1] : undefined;
  return systemError(`${op} ${file}: ${text ?? (e as Error).message}`, e);
}

/** An absolute local path, with the trailing "/" or "/." the user wrote. */
export function resolveLocalPath(p: string): string {
  return preserveTrailingDotOrSeparator(path.resolve(p), p);
}

/** Docker's ValidateOutputPathFileMode: why a path cannot be written to, if it cannot. */
export function unwritableKind(mode: number): string | undefined {
  const type = mode & 0o170000;
  if (type === 0o020000 || type === 0o060000) return "got a device";
  if (type === 0o140000) return "got an irregular file";
  return undefined;
}

/** docker/cli's ValidateOutputPath for `cp CONTAINER:SRC DEST`. */
export function validateOutputPath(p: string): void {
  const parent = path.dirname(path.normalize(p));
  if (parent !== "" && parent !== "." && !fs.existsSync(parent)) {
    throw invalidArgument(`invalid output path: directory "${parent}" does not exist`);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw goError("stat", p, e);
  }
  if (st.isDirectory() || st.isFile()) return;
  const why = unwritableKind(Number(st.mode));
  if (why) throw invalidArgument(`invalid output path: "${p}" must be a directory or a regular file: ${why}`);
}

function evalSymlinks(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch (e) {
    throw goError("lstat", p, e);
  }
}

/** A local source: symlinks before the last element followed (all of them with -L). */
export function copyInfoSourcePath(p: string, followLink: boolean): CopyInfo {
  let resolved: string;
  let rebaseName: string | undefined;
  if (followLink) {
    ({ resolved, rebaseName } = getRebaseName(p, evalSymlinks(p)));
  } else {
    const [dirPart, basePart] = split(p);
    resolved = `${evalSymlinks(dirPart)}/${basePart}`.replace(/^\/\//, "/");
    if (hasTrailingSeparator(p) && base(p) !== base(resolved)) rebaseName = base(p);
  }
  let st: fs.Stats;
  try {
    st = fs.lstatSync(resolved);
  } catch (e) {
    throw goError("lstat", resolved, e);
  }
  return { path: resolved, exists: true, isDir: st.isDirectory(), ...(rebaseName ? { rebaseName } : {}) };
}

/** A local destination: a final symlink is followed (a dangling one names what to create). */
export function copyInfoDestinationPath(p: string): CopyInfo {
  const original = p;
  let current = p;
  for (let n = 0; ; n++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(current);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw goError("lstat", current, e);
      const parent = splitPathDirEntry(current).dir;
      let pst: fs.Stats;
      try {
        pst = fs.statSync(parent);
      } catch (pe) {
        throw goError("stat", parent, pe);
      }
      if (!pst.isDirectory()) throw invalidArgument("not a directory");
      return { path: current, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path: current, exists: true, isDir: st.isDirectory() };
    if (n >= 10) throw invalidArgument(`too many symlinks in ${original}`);
    let target = fs.readlinkSync(current);
    if (!target.startsWith("/")) target = path.posix.join(splitPathDirEntry(current).dir, target);
    current = target;
  }
}

/** Docker's PrepareArchiveCopy: where the archive of src goes so that the copy lands at dst. */
export function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): PreparedCopy {
  const { dir: dstDir, base: dstBase } = splitPathDirEntry(dst.path);
  if (dst.exists && dst.isDir) return { dstDir: dst.path };
  if (dst.exists && src.isDir) throw invalidArgument("cannot copy directory");
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw invalidArgument("no such directory");
  return { dstDir, renameTo: dstBase };
}

/** The bytes of regular files under p (what Docker reports as copied from a local source). */
export function localContentSize(p: string): number | undefined {
  try {
    const st = fs.lstatSync(p);
    if (!st.isDirectory()) return st.isFile() ? st.size : 0;
    let total = 0;
    for (const entry of fs.readdirSync(p, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) total += fs.lstatSync(path.join(entry.parentPath ?? entry.path, entry.name)).size;
    }
    return total;
  } catch {
    return undefined;
  }
}

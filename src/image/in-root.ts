/**
 * Path resolution confined to a directory, with the semantics of openat2's RESOLVE_IN_ROOT:
 * the directory is "/", `..` at the top stays at the top, and a symlink (absolute or
 * relative) is followed as if the process were chrooted there. Used by the layer unpacker
 * for every path an archive names.
 *
 * Why this is safe without openat2: the unpacker works in a directory it has just created
 * under tsrun's own tmp/ (mode 0700), which no other process writes while it runs. So the
 * only symlinks in the tree are the ones the archive put there, and nothing can swap a
 * path component between our lstat() and our use of the path: after resolveParent()
 * returns, every component of the parent is a real directory inside the root. The final
 * component is then only ever used with calls that do not follow it (lstat, lchown,
 * lutimes, lsetxattr, link, symlink, mknod, open with O_CREAT|O_EXCL, rm without following).
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../common/index.js";

const MAX_SYMLINKS = 40;

/** An entry whose path cannot be resolved inside the root (loop, through a non-directory…). */
export class UnresolvablePath extends Error {
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`Cannot resolve "${entry}" inside the layer: ${reason}`);
    this.name = "UnresolvablePath";
  }
}

/**
 * An archive member name made relative to the root: leading "/" and "./" dropped, "." and
 * ".." applied lexically and clamped at the top ("../../etc/x" → "etc/x"). "" is the root.
 */
export function cleanMemberPath(name: string): string {
  return path.posix.normalize("/" + name).replace(/^\/+|\/+$/g, "");
}

export class RootResolver {
  /** In-root paths known to be real directories (never symlinks), so deep trees cost one lstat a level. */
  private readonly knownDirs = new Set<string>();

  constructor(readonly root: string) {}

  /** The host path of a resolved in-root path (as returned by resolveParent). */
  host(rel: string): string {
    return rel === "" ? this.root : path.join(this.root, rel);
  }

  /** Drop cached knowledge; call after anything in the tree was removed or replaced. */
  forget(): void {
    this.knownDirs.clear();
  }

  /** Record that `rel` (resolved) is now a real directory. */
  noteDir(rel: string): void {
    this.knownDirs.add(rel);
  }

  /**
   * Resolves every component of `rel` but the last inside the root, following symlinks
   * inside it. With `create`, missing parents are made (0755, like tar); without, a missing
   * parent throws UnresolvablePath. Returns the resolved parent (in-root, "" for the root)
   * and the last component, which is never followed.
   */
  resolveParent(rel: string, create: boolean): { parent: string; name: string } {
    const parts = rel.split("/").filter((p) => p !== "" && p !== ".");
    const name = parts.pop() ?? "";
    const parent = this.resolveDir(rel, parts, create);
    return { parent, name };
  }

  private resolveDir(entry: string, pending: string[], create: boolean): string {
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === "" || part === ".") continue;
      if (part === "..") {
        done.pop();
        continue;
      }
      const candidate = [...done, part].join("/");
      if (this.knownDirs.has(candidate)) {
        done.push(part);
        continue;
      }
      const hostPath = this.host(candidate);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(hostPath);
      } catch (e) {
        if (errnoCode(e) !== "ENOENT") throw e;
        if (!create) throw new UnresolvablePath(entry, `"${candidate}" does not exist`);
        fs.mkdirSync(hostPath, 0o755);
        this.knownDirs.add(candidate);
        done.push(part);
        continue;
      }
      if (st.isDirectory()) {
        this.knownDirs.add(candidate);
        done.push(part);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new UnresolvablePath(entry, "too many levels of symbolic links");
        const target = fs.readlinkSync(hostPath);
        if (target.startsWith("/")) done.length = 0;
        pending.unshift(...target.split("/"));
      } else {
        throw new UnresolvablePath(entry, `"${candidate}" is not a directory`);
      }
    }
    return done.join("/");
  }
}

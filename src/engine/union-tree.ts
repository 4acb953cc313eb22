/**
 * An image's file tree as overlayfs shows it, read from the unpacked layer directories
 * before any container of it is mounted (user lookups for -u, copy-up into volumes):
 * a whiteout (0/0 character device) hides the name below it, an opaque directory hides the
 * layers below it, a non-directory hides the directories below it. Symlinks are followed
 * inside the union's root only, never on the host; nothing here follows one otherwise.
 *
 * Safe without openat2: layer directories are private to tsrun and never change after they
 * are unpacked, so nothing can swap a path component between our lstat and our read.
 */
import fs from "node:fs";
import path from "node:path";

const MAX_SYMLINKS = 40;

/** Tells whether a directory of a layer is opaque (hides the layers below). */
export type OpaqueCheck = (layerDir: string, relPath: string) => boolean;

/** Opaque directories as recorded by the unpacker in `<layer>/opaque` (one relative path a line). */
export function opaqueFromSidecar(): OpaqueCheck {
  const cache = new Map<string, Set<string>>();
  return (layerDir, rel) => {
    let set = cache.get(layerDir);
    if (!set) {
      set = new Set();
      try {
        const text = fs.readFileSync(path.join(path.dirname(layerDir), "opaque"), "utf8");
        for (const line of text.split("\n")) if (line) set.add(line.replace(/^\/+|\/+$/g, ""));
      } catch {
        // No sidecar: the layer has no opaque directory.
      }
      cache.set(layerDir, set);
    }
    return set.has(rel);
  };
}


export interface UnionEntry {
  /** The entry in the top-most layer that has it. */
  hostPath: string;
  st: fs.Stats;
}

const isWhiteout = (st: fs.Stats) => st.isCharacterDevice() && st.rdev === 0;

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

export class UnionTree {
  /** @param layers layer content directories (layers/<id>/diff), top-most first */
  constructor(
    private readonly layers: readonly string[],
    private readonly isOpaque: OpaqueCheck = opaqueFromSidecar(),
  ) {}

  /** The union entry at `parts` (no symlink followed), if any. */
  entry(parts: readonly string[]): UnionEntry | undefined {
    if (parts.length === 0) {
      const top = this.layers[0];
      const st = top === undefined ? undefined : lstat(top);
      return top !== undefined && st ? { hostPath: top, st } : undefined;
    }
    for (const layer of this.layers) {
      let hidesBelow = false;
      for (let k = 1; k <= parts.length; k++) {
        const rel = parts.slice(0, k).join("/");
        const st = lstat(path.join(layer, rel));
        if (!st) break;
        if (isWhiteout(st)) return undefined;
        if (k === parts.length) return { hostPath: path.join(layer, rel), st };
        if (!st.isDirectory()) return undefined;
        if (this.isOpaque(layer, rel)) hidesBelow = true;
      }
      if (hidesBelow) return undefined;
    }
    return undefined;
  }

  /**
   * Resolves an absolute path of the image as a process inside would (every symlink,
   * the last one included, followed inside the union's root; ".." stops at "/"). Returns
   * the canonical path's components and its entry, or undefined when it does not exist.
   */
  resolve(file: string): { parts: string[]; entry: UnionEntry } | undefined {
    const pending = file.split("/").filter(Boolean);
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === ".") continue;
      if (c === "..") {
        done.pop();
        continue;
      }
      const e = this.entry([...done, c]);
      if (!e) return undefined;
      if (e.st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) return undefined;
        const target = fs.readlinkSync(e.hostPath);
        if (target.startsWith("/")) done.length = 0;
        pending.unshift(...target.split("/").filter(Boolean));
        continue;
      }
      if (pending.length > 0 && !e.st.isDirectory()) return undefined;
      done.push(c);
    }
    const entry = this.entry(done);
    return entry ? { parts: done, entry } : undefined;
  }

  /** The content of a regular file of the image (symlinks followed inside), or undefined. */
  readFile(file: string): string | undefined {
    const r = this.resolve(file);
    return r && r.entry.st.isFile() ? fs.readFileSync(r.entry.hostPath, "utf8") : undefined;
  }

  /** The entries of the union directory at `parts` (a canonical path), each from its top-most layer. */
  list(parts: readonly string[]): Map<string, UnionEntry> {
    const out = new Map<string, UnionEntry>();
    const hidden = new Set<string>();
    for (const layer of this.layers) {
      let present = true;
      let hidesBelow = parts.length === 0 && this.isOpaque(layer, "");
      for (let k = 1; k <= parts.length; k++) {
        const rel = parts.slice(0, k).join("/");
        const st = lstat(path.join(layer, rel));
        if (!st) {
          present = false;
          break;
        }
        if (isWhiteout(st) || !st.isDirectory()) return out; // hides this path in every layer below
        if (this.isOpaque(layer, rel)) hidesBelow = true;
      }
      if (present) {
        const dir = path.join(layer, ...parts);
        for (const name of fs.readdirSync(dir)) {
          if (out.has(name) || hidden.has(name)) continue;
          const st = lstat(path.join(dir, name));
          if (!st) continue;
          if (isWhiteout(st)) hidden.add(name);
          else out.set(name, { hostPath: path.join(dir, name), st });
        }
      }
      if (hidesBelow) break;
    }
    return out;
  }
}

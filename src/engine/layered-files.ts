/**
 * Reads files of an image before any container of it is mounted: the union of its unpacked
 * layer directories, as overlayfs would show it (whiteouts hide, opaque directories cut off
 * the layers below), with symlinks resolved inside the union's root, never on the host.
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

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

export class LayeredFiles {
  /** @param layers layer content directories, top-most first */
  constructor(
    private readonly layers: string[],
    private readonly isOpaque: OpaqueCheck = opaqueFromSidecar(),
  ) {}

  /** The host path and stat of the union entry at `parts` (no symlink following), if any. */
  private entry(parts: string[]): { hostPath: string; st: fs.Stats } | undefined {
    if (parts.length === 0) return undefined;
    for (const layer of this.layers) {
      let hidesBelow = false;
      for (let k = 1; k <= parts.length; k++) {
        const rel = parts.slice(0, k).join("/");
        const p = path.join(layer, rel);
        const st = lstatOrUndefined(p);
        if (!st) break;
        if (isWhiteout(st)) return undefined;
        if (k === parts.length) return { hostPath: p, st };
        if (!st.isDirectory()) return undefined;
        if (this.isOpaque(layer, rel)) hidesBelow = true;
      }
      if (hidesBelow) return undefined;
    }
    return undefined;
  }

  /** Resolves `file` (absolute, inside the image) following symlinks inside the union. */
  resolve(file: string): { hostPath: string; st: fs.Stats } | undefined {
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
      done.push(c);
    }
    return done.length === 0 ? undefined : this.entry(done);
  }

  /** The content of a regular file of the image, or undefined when it is absent. */
  readFile(file: string): string | undefined {
    const e = this.resolve(file);
    if (!e || !e.st.isFile()) return undefined;
    return fs.readFileSync(e.hostPath, "utf8");
  }
}

/**
 * A container taking its volumes into use, and giving them back. The protocol with `volume
 * rm` and `prune`: a container locks each of its volumes (in name order, so two containers
 * never wait on each other), creates the missing ones, fills empty ones from the image,
 * and keeps the locks until its record, which lists them in `Mounts`, is written. A remover
 * takes the same lock before it reads the records, so it either sees that record or runs
 * before the volume is used (and the container then creates it afresh).
 */
import fs from "node:fs";
import { invalidArgument, newId, systemError } from "../../common/index.js";
import type { OwnerLock } from "../../linux/owner-lock.js";
import { copyImageContent } from "./copy-up.js";
import { ANONYMOUS_LABEL } from "./names.js";
import type { VolumeRefs, VolumeStore } from "./store.js";
import type { MountPoint, MountRequest, VolumeRequest } from "./types.js";
import { UnionTree } from "../union-tree.js";

export interface PrepareOptions {
  /** The image's unpacked layer content dirs, top-most first (copy-up, VOLUME checks). */
  layers: readonly string[];
  /** Fill empty volumes from the image's content at their mount points (default true). */
  copyUp?: boolean;
}

export interface PreparedMounts {
  /** The requests, every volume now named (what toOciMounts and toMountPoints take). */
  requests: MountRequest[];
  /** Volumes this call created. */
  created: string[];
  /** Lets go of the volumes' locks: call once the container record with these mounts is written. */
  release(): void;
  /** Undoes the call (for a create that fails later): removes the volumes it created, releases the locks. */
  abort(): void;
}

/**
 * Creates what the requests need and locks their volumes (see the protocol above). On
 * failure nothing it created is left and no lock is held.
 */
export async function prepareMounts(
  store: VolumeStore,
  requests: readonly MountRequest[],
  opts: PrepareOptions,
): Promise<PreparedMounts> {
  const tree = new UnionTree(opts.layers);
  // Docker refuses an anonymous volume over an image file (a VOLUME or `-v /path` on /etc/passwd).
  for (const r of requests) {
    if (r.kind !== "volume" || (r.origin !== "image" && r.origin !== "anonymous-flag")) continue;
    const found = tree.resolve(r.target);
    if (found && !found.entry.st.isDirectory()) {
      throw invalidArgument(`cannot mount volume over existing file, file exists ${r.target}`);
    }
  }
  const named: MountRequest[] = requests.map((r) =>
    r.kind === "volume" && r.name === undefined ? { ...r, name: newId(), anonymous: true } : r,
  );
  const volumes = named.filter((r): r is VolumeRequest & { name: string } => r.kind === "volume");
  const locks: OwnerLock[] = [];
  const created: string[] = [];
  const release = () => {
    for (const l of locks.splice(0)) l.release();
  };
  const abort = () => {
    try {
      for (const name of created.splice(0)) store.destroy(name);
    } finally {
      release();
    }
  };
  try {
    for (const name of [...new Set(volumes.map((v) => v.name))].sort()) {
      locks.push(await store.lock(name));
      const first = volumes.find((v) => v.name === name)!;
      const { created: isNew } = store.create({
        name,
        anonymous: first.anonymous,
        ...(first.createOptions ? { options: first.createOptions } : {}),
        ...(first.createLabels ? { labels: first.createLabels } : {}),
      });
      if (isNew) created.push(name);
    }
    if (opts.copyUp !== false) {
      for (const v of volumes) {
        if (v.nocopy) continue;
        const vol = store.get(v.name);
        // A volume with mount options holds no data of its own here (see oci-mounts.ts).
        if (!vol || (vol.Options && Object.keys(vol.Options).length > 0)) continue;
        if (!store.isEmpty(v.name)) continue;
        await copyImageContent(opts.layers, v.target, vol.Mountpoint);
      }
    }
    for (const r of named) if (r.kind === "bind" && r.createSource) ensureBindSource(r.source);
  } catch (e) {
    abort();
    throw e;
  }
  return { requests: named, created, release, abort };
}

/**
 * A `-v` bind source that does not exist is created as an empty directory (root's, 0755:
 * Docker's behaviour; an existing source is never touched, let alone chowned).
 */
export function ensureBindSource(source: string): void {
  if (fs.existsSync(source)) return;
  try {
    fs.mkdirSync(source, { recursive: true, mode: 0o755 });
  } catch (e) {
    // A dangling symlink or a file in the way: the mount itself then reports it.
    if ((e as NodeJS.ErrnoException).code !== "EEXIST" && (e as NodeJS.ErrnoException).code !== "ENOTDIR") {
      throw systemError(`error while creating mount source path '${source}': ${(e as Error).message}`, e);
    }
  }
}

/**
 * `rm -v` and `--rm`: removes the anonymous volumes among a removed container's mount
 * points, unless another container still uses one (as Docker, that is no error). Named
 * volumes always stay. Call after the container's record is gone. Returns the removed names.
 */
export async function removeAnonymousVolumes(
  store: VolumeStore,
  points: readonly MountPoint[],
  refs: VolumeRefs,
): Promise<string[]> {
  const removed: string[] = [];
  const failures: string[] = [];
  for (const name of [...new Set(points.flatMap((p) => (p.Type === "volume" && p.Name ? [p.Name] : [])))]) {
    const v = store.get(name);
    if (!v || !v.Labels || !(ANONYMOUS_LABEL in v.Labels)) continue;
    const lock = await store.lock(name);
    try {
      if (!store.get(name) || (refs().get(name) ?? []).length > 0) continue;
      store.destroy(name);
      removed.push(name);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    } finally {
      lock.release();
    }
  }
  if (failures.length > 0) throw systemError(`Cannot remove volumes: ${failures.join("; ")}`);
  return removed;
}

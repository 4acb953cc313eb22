/**
 * A container's volumes and mounts through create, in the order the volumes library asks
 * for (see src/engine/volumes/index.ts): flags checked before anything exists, resolved
 * against the image and other containers, volumes taken into use once the container's
 * directory exists, then the spec's mounts and the record's Mounts. The library loads only
 * for a container that has mounts: a plain `run` pays nothing for it.
 */
import type { Mount, Spec } from "../runtime/spec.js";
import type { Engine } from "./engine.js";
import type { HostConfig } from "./record.js";
import type { MountPoint, MountRequest, ParsedMounts, PreparedMounts, VolumeStore } from "./volumes/index.js";

type VolumesLib = typeof import("./volumes/index.js");

/** The mount flags of run/create, as given. */
export interface ContainerMountFlags {
  mounts?: readonly string[];
  volumes?: readonly string[];
  tmpfs?: readonly string[];
  volumesFrom?: readonly string[];
}

/** What inspect shows of the mount flags in HostConfig (Docker's fields). */
export type MountHostConfig = Pick<HostConfig, "Binds" | "VolumesFrom" | "Tmpfs" | "Mounts">;

export class ContainerMounts {
  private requests: MountRequest[] = [];
  private prepared?: PreparedMounts;
  private store?: VolumeStore;

  private constructor(
    private lib: VolumesLib | undefined,
    private readonly flags: ContainerMountFlags,
    private readonly parsed: ParsedMounts | undefined,
  ) {}

  /** Step 1, before anything exists: every flag checked, Docker's messages (exit 125). */
  static async parse(flags: ContainerMountFlags, cwd = process.cwd()): Promise<ContainerMounts> {
    const given = [flags.mounts, flags.volumes, flags.tmpfs, flags.volumesFrom].some((l) => (l?.length ?? 0) > 0);
    if (!given) return new ContainerMounts(undefined, flags, undefined);
    const lib = await import("./volumes/index.js");
    const parsed = lib.parseMountFlags(
      { mounts: flags.mounts ?? [], volumes: flags.volumes ?? [], tmpfs: flags.tmpfs ?? [], volumesFrom: flags.volumesFrom ?? [] },
      { cwd },
    );
    return new ContainerMounts(lib, flags, parsed);
  }

  /**
   * Step 2, once the image is known: `--volumes-from` looked up, the image's VOLUMEs added
   * where nothing else is mounted.
   */
  async resolve(engine: Engine, imageVolumes: readonly string[]): Promise<void> {
    if (!this.parsed && imageVolumes.length === 0) return;
    this.lib ??= await import("./volumes/index.js");
    this.requests = this.lib.resolveMounts(this.parsed ?? { explicit: [], anonymous: [], volumesFrom: [], binds: [], specs: [] }, {
      mountsOf: (ref) => engine.resolve(ref).Mounts ?? [],
      imageVolumes,
    });
  }

  /**
   * Step 3, once the container's directory exists: volumes locked, created, filled from
   * the image. Hold them until the record is written (`release`), or `abort` on failure.
   */
  async prepare(engine: Engine, layers: readonly string[]): Promise<void> {
    if (!this.lib || this.requests.length === 0) return;
    this.store = new this.lib.VolumeStore(engine.root);
    this.prepared = await this.lib.prepareMounts(this.store, this.requests, { layers });
  }

  /** Step 4: the user's mounts into the spec, replacing defaults on the same destination. */
  applyTo(spec: Spec, opts: { userns: boolean }): void {
    if (!this.lib || !this.prepared || !this.store) return;
    const user: Mount[] = this.lib.toOciMounts(this.prepared.requests, this.store, opts);
    spec.mounts = this.lib.mergeMounts(spec.mounts ?? [], user);
  }

  /** Step 5: the record's Mounts (what makes a volume "in use"). */
  mountPoints(): MountPoint[] {
    if (!this.lib || !this.prepared || !this.store) return [];
    return this.lib.toMountPoints(this.prepared.requests, this.store);
  }

  /** After the record is written: removers of these volumes now see it. */
  release(): void {
    this.prepared?.release();
    // Once released, a volume this create made may be another container's too: never undo it.
    this.prepared = undefined;
  }

  /** A create that failed after step 3: the volumes it created go, the locks are released. */
  abort(): void {
    this.prepared?.abort();
    this.prepared = undefined;
  }

  /** Config.Volumes: the image's VOLUMEs and the `-v /path` anonymous volumes (as docker/cli puts them). */
  configVolumes(imageVolumes: Record<string, object> | undefined): Record<string, object> | null {
    const out: Record<string, object> = { ...(imageVolumes ?? {}) };
    for (const target of this.parsed?.anonymous ?? []) out[target] = {};
    return Object.keys(out).length > 0 ? out : null;
  }

  /** HostConfig's Binds, VolumesFrom, Tmpfs and Mounts, as Docker's inspect shows them. */
  hostConfig(): MountHostConfig {
    const p = this.parsed;
    const tmpfs = Object.fromEntries(
      (this.flags.tmpfs ?? []).map((t) => {
        const colon = t.indexOf(":");
        return colon === -1 ? [t, ""] : [t.slice(0, colon), t.slice(colon + 1)];
      }),
    );
    return {
      Binds: p && p.binds.length > 0 ? p.binds : null,
      VolumesFrom: this.flags.volumesFrom && this.flags.volumesFrom.length > 0 ? [...this.flags.volumesFrom] : null,
      ...(Object.keys(tmpfs).length > 0 ? { Tmpfs: tmpfs } : {}),
      ...(p && p.specs.length > 0 ? { Mounts: p.specs } : {}),
    };
  }
}

/**
 * `rm -v` and `--rm`: the anonymous volumes among a removed container's mount points go,
 * unless another container uses one too; named volumes always stay. Call after the
 * container's record is gone. Returns the removed names.
 */
export async function removeAnonymousVolumesOf(engine: Engine, points: readonly MountPoint[]): Promise<string[]> {
  if (!points.some((p) => p.Type === "volume")) return [];
  const lib = await import("./volumes/index.js");
  return lib.removeAnonymousVolumes(new lib.VolumeStore(engine.root), points, lib.recordVolumeRefs(engine.root));
}

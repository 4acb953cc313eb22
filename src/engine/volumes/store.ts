/**
 * The local volume store: `volumes/<name>/_data` (the data, 0:0 and 0755 on disk: containers
 * mount it idmapped, so what one container's root writes belongs to root in the next) and
 * `volumes/<name>/volume.json` (Docker's metadata: creation time, labels, options).
 *
 * A volume appears atomically: it is built in a scratch directory beside the others and
 * renamed into place, so a reader never sees half a volume, and two creators of one name
 * agree (the loser of the rename takes the winner's volume, as Docker's create returns an
 * existing volume). It disappears atomically too: renamed out of sight, then deleted.
 *
 * Locks (`volumes/.locks/<name>`, owner-identity locks) order the operations that must not
 * interleave: removal (check that no container record references the volume, then remove)
 * against a container taking the volume into use (create it if missing, fill it, write the
 * record). Listing and inspecting take no lock.
 */
import fs from "node:fs";
import path from "node:path";
import { StateRoot, conflict, errnoCode, newId, notFound, randomHex, systemError, writeJsonAtomic } from "../../common/index.js";
import { OwnerLock } from "../../linux/owner-lock.js";
import { isAlive, processStartTime } from "../../linux/process-identity.js";
import { ANONYMOUS_LABEL, validateDriver, validateVolumeName, validateVolumeOptions, volumeNameProblem } from "./names.js";

/** What volume.json holds. Labels and Options are null when the creator gave none (Docker's inspect shows that). */
export interface VolumeMetadata {
  Name: string;
  Driver: "local";
  /** RFC 3339, seconds, in the local zone (as Docker prints it). */
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

/** A volume as `volume inspect` shows it (Docker's field order). */
export interface Volume {
  CreatedAt: string;
  Driver: "local";
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
}

export interface CreateVolumeOptions {
  /** Omitted: an anonymous volume (a 64-hex name and Docker's anonymous label). */
  name?: string;
  /** Label the volume anonymous even though a name is given (one chosen by the caller with newId()). */
  anonymous?: boolean;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
}

/**
 * For each volume name, the ids of the containers whose records reference it, read when
 * called. The engine provides it; see `recordVolumeRefs`.
 */
export type VolumeRefs = () => Map<string, string[]>;

const DATA = "_data";
const METADATA = "volume.json";

export class VolumeStore {
  readonly dir: string;

  constructor(readonly root: StateRoot) {
    this.dir = root.volumes;
  }

  volumeDir(name: string): string {
    return path.join(this.dir, name);
  }

  /** The host directory a container mounts (Docker's Mountpoint). */
  dataPath(name: string): string {
    return path.join(this.dir, name, DATA);
  }

  /** The volume, or undefined when there is none of that name (an invalid name never touches the disk). */
  get(name: string): Volume | undefined {
    if (volumeNameProblem(name)) return undefined;
    let meta: VolumeMetadata;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(this.dir, name, METADATA), "utf8")) as VolumeMetadata;
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
      throw systemError(`Cannot read volume "${name}": ${(e as Error).message}`, e);
    }
    return {
      CreatedAt: meta.CreatedAt,
      Driver: "local",
      Labels: sortedKeys(meta.Labels),
      Mountpoint: this.dataPath(name),
      Name: name,
      Options: sortedKeys(meta.Options),
      Scope: "local",
    };
  }

  /** The volume, or Docker's not-found error. */
  inspect(name: string): Volume {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  list(): Volume[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
    // Scratch entries start with "." and no volume name does.
    return names.flatMap((n) => (n.startsWith(".") ? [] : (this.get(n) ?? [])));
  }

  /**
   * Creates a volume, or returns the existing one of that name (whose labels and options
   * stay as they were, as in Docker). Validation happens only for a new volume.
   */
  create(opts: CreateVolumeOptions = {}): { volume: Volume; created: boolean } {
    const unnamed = opts.name === undefined || opts.name === "";
    const anonymous = unnamed || !!opts.anonymous;
    const name = unnamed ? newId() : opts.name!;
    validateDriver(opts.driver, name);
    if (!unnamed) {
      const existing = this.get(name);
      if (existing) return { volume: existing, created: false };
      validateVolumeName(name);
    }
    if (opts.options) validateVolumeOptions(name, opts.options);
    const labels = anonymous ? { ...(opts.labels ?? {}), [ANONYMOUS_LABEL]: "" } : (opts.labels ?? null);
    const meta: VolumeMetadata = {
      Name: name,
      Driver: "local",
      CreatedAt: rfc3339Local(new Date()),
      Labels: labels,
      Options: opts.options ?? null,
    };
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o701 });
    this.sweep();
    const scratch = path.join(this.dir, `.new-${ownerStamp()}`);
    fs.mkdirSync(scratch, { mode: 0o701 });
    try {
      const data = path.join(scratch, DATA);
      fs.mkdirSync(data, { mode: 0o755 });
      fs.chmodSync(data, 0o755); // whatever the umask
      if (process.getuid?.() === 0) fs.chownSync(data, 0, 0); // even under a setgid parent
      writeJsonAtomic(path.join(scratch, METADATA), meta, 0o644);
      fs.renameSync(scratch, this.volumeDir(name));
    } catch (e) {
      removeTreeOnOneDevice(scratch);
      const code = errnoCode(e);
      if (code === "ENOTEMPTY" || code === "EEXIST") {
        // Someone else created it meanwhile: theirs is the volume.
        const existing = this.get(name);
        if (existing) return { volume: existing, created: false };
      }
      throw systemError(`Cannot create volume "${name}": ${(e as Error).message}`, e);
    }
    return { volume: this.get(name)!, created: true };
  }

  /** Waits for the volume's lock (held only for the length of one operation). */
  async lock(name: string): Promise<OwnerLock> {
    return OwnerLock.acquire(this.lockFile(name));
  }

  /** The volume's lock, or undefined when a live process holds it. */
  async tryLock(name: string): Promise<OwnerLock | undefined> {
    return OwnerLock.tryAcquire(this.lockFile(name));
  }

  private lockFile(name: string): string {
    const dir = path.join(this.dir, ".locks");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, name);
  }

  /**
   * Docker's `volume rm`: refuses a volume any container record references (running or
   * not); with `force`, a missing volume is not an error. Returns false when there was none.
   */
  async remove(name: string, opts: { refs: VolumeRefs; force?: boolean }): Promise<boolean> {
    if (volumeNameProblem(name)) {
      if (opts.force) return false;
      throw notFound(`get ${name}: no such volume`);
    }
    const lock = await this.lock(name);
    try {
      if (!this.get(name)) {
        if (opts.force) return false;
        throw notFound(`get ${name}: no such volume`);
      }
      const users = opts.refs().get(name) ?? [];
      if (users.length > 0) throw conflict(`remove ${name}: volume is in use - [${users.join(", ")}]`);
      this.destroy(name);
      return true;
    } finally {
      lock.release();
    }
  }

  /** Removes a volume and its data; the caller holds its lock and checked it is unused. */
  destroy(name: string): void {
    const grave = path.join(this.dir, `.removed-${ownerStamp()}`);
    try {
      fs.renameSync(this.volumeDir(name), grave);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw systemError(`Cannot remove volume "${name}": ${(e as Error).message}`, e);
    }
    removeTreeOnOneDevice(grave);
  }

  /** True when the volume's data directory has no entries. */
  isEmpty(name: string): boolean {
    return fs.readdirSync(this.dataPath(name)).length === 0;
  }

  /** Removes scratch directories (`.new-*`, `.removed-*`) whose owner died before finishing. */
  sweep(): void {
    sweepScratch(this.dir, ["new", "removed"]);
  }
}

/** A map with its keys in order, as Go's JSON encoder writes maps. */
function sortedKeys(m: Record<string, string> | null): Record<string, string> | null {
  return m && Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A scratch name that says who made it, so a sweeper can tell abandoned scratch from work in progress. */
export function ownerStamp(): string {
  return `${process.pid}-${processStartTime(process.pid) ?? 0}-${randomHex(4)}`;
}

/** Removes `dir/.<prefix>-<owner stamp>` entries whose owner is dead. */
export function sweepScratch(dir: string, prefixes: readonly string[]): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  const pattern = new RegExp(`^\\.(?:${prefixes.join("|")})-(\\d+)-(\\d+)-[0-9a-f]+$`);
  for (const n of names) {
    const m = pattern.exec(n);
    if (!m || isAlive({ pid: Number(m[1]), startTime: Number(m[2]) })) continue;
    try {
      removeTreeOnOneDevice(path.join(dir, n));
    } catch {
      // Another sweeper got there first, or something odd: the next sweep retries.
    }
  }
}

/** Go's time.RFC3339 in the local zone: "2024-05-06T10:11:12+02:00", or "…Z" in UTC. */
export function rfc3339Local(d: Date): string {
  const off = -d.getTimezoneOffset();
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  if (off === 0) return `${local}Z`;
  const abs = Math.abs(off);
  return `${local}${off > 0 ? "+" : "-"}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/**
 * rm -rf that never leaves the filesystem it starts on: a mount point inside (something
 * mounted over a volume's data on the host) is an error, not a tree to empty.
 */
export function removeTreeOnOneDevice(dir: string): void {
  let top: fs.Stats;
  try {
    top = fs.lstatSync(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  if (!top.isDirectory()) return fs.unlinkSync(dir);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (fs.lstatSync(p).dev !== top.dev) throw systemError(`Cannot remove "${p}": it is a mount point`);
        walk(p);
      } else {
        fs.unlinkSync(p);
      }
    }
    fs.rmdirSync(d);
  };
  walk(dir);
}

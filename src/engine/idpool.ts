/**
 * The machine-wide pool of user-namespace id ranges. setup reserves one big range in
 * /etc/subuid and /etc/subgid for the user `tsrun`; each container gets its own
 * ID_RANGE_SIZE slice (root inside = the slice's first id outside).
 *
 * Claims are lease files in MACHINE_DIR/idpool/, link(2)ed from a written temp file (atomic
 * like O_EXCL), so two tsrun processes (of any state root) can never take the same slice,
 * with no lock on the hot path. A lease names its owner (state root + container id). The
 * owner releases its lease before its container directory goes away, so a lease whose
 * container directory is missing can only be left over by damage from outside; such leases
 * are collected, under a lock so that two collectors never race, only when no slice is
 * free. The lease of a create killed before its record was written is released by the
 * engine's repair (repair.ts), which finds it by its owner (releaseAllOf).
 */
import fs from "node:fs";
import path from "node:path";
import { MACHINE_DIR, TsrunError, errnoCode, logger, randomHex } from "../common/index.js";
import { ID_RANGE_SIZE } from "./defaults.js";

const log = logger("idpool");
/** Temp files of allocators: `.lease-<pid>-<rand>.tmp`. */
const TEMP_PREFIX = ".lease-";
const TEMP_FILE = /^\.lease-(\d+)-[0-9a-f]+\.tmp$/;
export const POOL_USER = "tsrun";

export interface IdRange {
  uid: number;
  gid: number;
  size: number;
}

export interface LeaseOwner {
  root: string;
  id: string;
}

interface SubidEntry {
  start: number;
  count: number;
}

/** The ranges /etc/subuid (or subgid) grants to `user`. */
export function parseSubid(text: string, user: string): SubidEntry[] {
  const out: SubidEntry[] = [];
  for (const line of text.split("\n")) {
    const [name, start, count] = line.trim().split(":");
    if (name !== user || start === undefined || count === undefined) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/** Ids in use by the host's own accounts (passwd uids or group gids). */
export function hostIds(text: string, field: 2): number[] {
  const ids: number[] = [];
  for (const line of text.split("\n")) {
    const v = Number(line.split(":")[field]);
    if (line && Number.isSafeInteger(v)) ids.push(v);
  }
  return ids;
}

/** Starts of the ID_RANGE_SIZE slices that lie wholly inside the grants. */
function sliceStarts(entries: SubidEntry[]): number[] {
  const out: number[] = [];
  for (const e of entries) {
    const first = Math.ceil(e.start / ID_RANGE_SIZE) * ID_RANGE_SIZE;
    for (let s = first; s + ID_RANGE_SIZE <= e.start + e.count; s += ID_RANGE_SIZE) out.push(s);
  }
  return out;
}

const overlaps = (start: number, used: number[]) => used.some((u) => u >= start && u < start + ID_RANGE_SIZE);

/** The granted slices, uid and gid paired by position; host ids are checked when one is tried. */
interface Slices {
  uids: number[];
  gids: number[];
  usedUids: number[];
  usedGids: number[];
}

function sliceAt(s: Slices, i: number): IdRange | undefined {
  const uid = s.uids[i]!;
  const gid = s.gids[i]!;
  return overlaps(uid, s.usedUids) || overlaps(gid, s.usedGids) ? undefined : { uid, gid, size: ID_RANGE_SIZE };
}

/** Every usable slice (for tests and reports; allocation checks only the ones it tries). */
export function candidateSlices(
  subuid: SubidEntry[],
  subgid: SubidEntry[],
  usedUids: number[],
  usedGids: number[],
): IdRange[] {
  const s: Slices = { uids: sliceStarts(subuid), gids: sliceStarts(subgid), usedUids, usedGids };
  const out: IdRange[] = [];
  for (let i = 0; i < Math.min(s.uids.length, s.gids.length); i++) {
    const r = sliceAt(s, i);
    if (r) out.push(r);
  }
  return out;
}

export class IdPool {
  private readonly dir: string;

  constructor(private readonly machineDir = MACHINE_DIR) {
    this.dir = path.join(machineDir, "idpool");
  }

  private slices(): Slices {
    const read = (f: string) => {
      try {
        return fs.readFileSync(f, "utf8");
      } catch {
        return "";
      }
    };
    const subuid = parseSubid(read("/etc/subuid"), POOL_USER);
    const subgid = parseSubid(read("/etc/subgid"), POOL_USER);
    if (subuid.length === 0 || subgid.length === 0) {
      throw new TsrunError(
        "system",
        `No user-namespace id range is reserved for user "${POOL_USER}" in /etc/subuid and /etc/subgid: run scripts/setup, or use --userns=host`,
      );
    }
    return {
      uids: sliceStarts(subuid),
      gids: sliceStarts(subgid),
      usedUids: hostIds(read("/etc/passwd"), 2),
      usedGids: hostIds(read("/etc/group"), 2),
    };
  }

  private leaseFile(r: IdRange): string {
    return path.join(this.dir, `${r.uid}-${r.gid}.lease`);
  }

  /**
   * Claims a free slice for `owner`. The owner's container directory must already exist.
   * A lease is link(2)ed from a fully written temp file: atomic like O_EXCL, and never seen
   * empty (an O_EXCL create killed before its write would leave a lease nobody can read).
   */
  async allocate(owner: LeaseOwner): Promise<IdRange> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const slices = this.slices();
    const n = Math.min(slices.uids.length, slices.gids.length);
    const tmp = path.join(this.dir, `${TEMP_PREFIX}${process.pid}-${randomHex(4)}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(owner), { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        // Start at a random slice so concurrent allocators rarely contend for the same file.
        const offset = Math.floor(Math.random() * n);
        for (let i = 0; i < n; i++) {
          const r = sliceAt(slices, (offset + i) % n);
          if (!r) continue;
          try {
            fs.linkSync(tmp, this.leaseFile(r));
            log(`leased ${r.uid}/${r.gid} to ${owner.id.slice(0, 12)}`);
            return r;
          } catch (e) {
            if (errnoCode(e) !== "EEXIST") throw e;
          }
        }
        if (attempt === 0 && (await this.collect()) === 0) break;
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    throw new TsrunError("system", `No free user-namespace id range left in the pool of user "${POOL_USER}"`);
  }

  /** Gives a slice back. Only the owner's lease is removed. */
  release(r: IdRange, owner: LeaseOwner): void {
    const file = this.leaseFile(r);
    let holder: LeaseOwner;
    try {
      holder = JSON.parse(fs.readFileSync(file, "utf8")) as LeaseOwner;
    } catch (e) {
      // Gone, or not a lease we wrote (unreadable): not the owner's to remove.
      if (errnoCode(e) === "ENOENT" || e instanceof SyntaxError) return;
      throw e;
    }
    if (holder.root === owner.root && holder.id === owner.id) fs.rmSync(file, { force: true });
  }

  /** Every lease `owner` holds (one, unless a crash interrupted its release), given back. */
  releaseAllOf(owner: LeaseOwner): void {
    this.sweepTemps();
    for (const name of this.leaseNames()) {
      const [uid, gid] = name.replace(/\.lease$/, "").split("-").map(Number);
      if (Number.isSafeInteger(uid) && Number.isSafeInteger(gid)) this.release({ uid: uid!, gid: gid!, size: ID_RANGE_SIZE }, owner);
    }
  }

  /**
   * Temp files of allocators that died before removing theirs. A pid alone may have been
   * reused, which only delays the sweep; a live allocator's file is never taken.
   */
  private sweepTemps(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    for (const name of names) {
      const m = TEMP_FILE.exec(name);
      if (m && !fs.existsSync(`/proc/${m[1]}`)) fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }

  private leaseNames(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => /^\d+-\d+\.lease$/.test(n));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  /** Removes leases whose container no longer exists, and dead allocators' temp files; returns how many leases. */
  async collect(): Promise<number> {
    // koffi (for flock) is loaded only on this slow path, never on run's usual one.
    const { withLock } = await import("../linux/index.js");
    this.sweepTemps();
    return withLock(path.join(this.machineDir, "idpool.lock"), () => {
      let removed = 0;
      for (const name of fs.readdirSync(this.dir)) {
        if (!name.endsWith(".lease")) continue;
        const file = path.join(this.dir, name);
        try {
          const owner = JSON.parse(fs.readFileSync(file, "utf8")) as LeaseOwner;
          if (!fs.existsSync(path.join(owner.root, "containers", owner.id))) {
            fs.rmSync(file, { force: true });
            removed++;
          }
        } catch (e) {
          log(`skipping unreadable lease ${name}: ${String(e)}`);
        }
      }
      return removed;
    });
  }
}

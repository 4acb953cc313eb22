/**
 * The machine-wide pool of user-namespace id ranges. setup reserves one big range in
 * /etc/subuid and /etc/subgid for the user `tsrun`; each container gets its own
 * ID_RANGE_SIZE slice (root inside = the slice's first id outside).
 *
 * Claims are lease files in MACHINE_DIR/idpool/, created with O_EXCL, so two tsrun
 * processes (of any state root) can never take the same slice, with no lock on the hot
 * path. A lease names its owner (state root + container id). The owner releases its lease
 * before its container directory goes away, so a lease whose container directory is missing
 * can only be left over by damage from outside; such leases are collected, under a lock so
 * that two collectors never race, only when no slice is free.
 */
import fs from "node:fs";
import path from "node:path";
import { MACHINE_DIR, TsrunError, errnoCode, logger } from "../common/index.js";
import { ID_RANGE_SIZE } from "./defaults.js";

const log = logger("idpool");
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

  /** Claims a free slice for `owner`. The owner's container directory must already exist. */
  async allocate(owner: LeaseOwner): Promise<IdRange> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const slices = this.slices();
    const n = Math.min(slices.uids.length, slices.gids.length);
    for (let attempt = 0; attempt < 2; attempt++) {
      // Start at a random slice so concurrent allocators rarely contend for the same file.
      const offset = Math.floor(Math.random() * n);
      for (let i = 0; i < n; i++) {
        const r = sliceAt(slices, (offset + i) % n);
        if (!r) continue;
        try {
          fs.writeFileSync(this.leaseFile(r), JSON.stringify(owner), { flag: "wx", mode: 0o600 });
          log(`leased ${r.uid}/${r.gid} to ${owner.id.slice(0, 12)}`);
          return r;
        } catch (e) {
          if (errnoCode(e) !== "EEXIST") throw e;
        }
      }
      if (attempt === 0 && (await this.collect()) === 0) break;
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
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    if (holder.root === owner.root && holder.id === owner.id) fs.rmSync(file, { force: true });
  }

  /** Removes leases whose container no longer exists; returns how many. */
  async collect(): Promise<number> {
    // koffi (for flock) is loaded only on this slow path, never on run's usual one.
    const { withLock } = await import("../linux/index.js");
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

/**
 * A lock held by a live process, with no FFI on its common path (koffi's ~10 ms load would
 * otherwise be paid by every `tsrun run`).
 *
 * The lock is a file naming its owner by pid and start time. It is taken with link(2) of a
 * fully written temp file: atomic like O_EXCL, and never seen empty or half-written. The
 * owner removes it on release; if the owner died, the file stays behind and is broken by
 * the next contender. Why that is safe: nobody can replace an existing lock file (link
 * fails with EEXIST), and a dead owner cannot release, so the file a breaker finds naming a
 * dead owner is still that file when it unlinks it — provided breakers do not race each
 * other, which a flock on a side file (FFI, but only on this rare path) prevents.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../common/errors.js";
import { randomHex } from "../common/random.js";
import { isAlive, processStartTime, type ProcessIdentity } from "./process-identity.js";

function self(): ProcessIdentity {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 };
}

function readOwner(file: string): ProcessIdentity | null | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  try {
    const o = JSON.parse(text) as ProcessIdentity;
    return Number.isInteger(o.pid) && Number.isInteger(o.startTime) ? o : null;
  } catch {
    return null; // not ours to understand: stale
  }
}

const same = (a: ProcessIdentity, b: ProcessIdentity) => a.pid === b.pid && a.startTime === b.startTime;

export class OwnerLock {
  private held = true;

  private constructor(
    readonly file: string,
    private readonly owner: ProcessIdentity,
  ) {}

  /** The live process holding the lock at `file`, if any. */
  static holder(file: string): ProcessIdentity | undefined {
    const o = readOwner(file);
    return o && isAlive(o) ? o : undefined;
  }

  /** Takes the lock, or returns undefined when a live process holds it. ENOENT if its directory is gone. */
  static async tryAcquire(file: string): Promise<OwnerLock | undefined> {
    const me = self();
    const tmp = `${file}.${process.pid}.${randomHex(4)}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(me), { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          fs.linkSync(tmp, file);
          return new OwnerLock(file, me);
        } catch (e) {
          if (errnoCode(e) !== "EEXIST") throw e;
        }
        const owner = readOwner(file);
        if (owner === undefined) continue; // released meanwhile
        if (owner && isAlive(owner)) return undefined;
        await breakStale(file, owner);
      }
      return undefined;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Waits for the lock (polling with back-off; holders keep it for milliseconds). */
  static async acquire(file: string, timeoutMs = 60_000): Promise<OwnerLock> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      const lock = await OwnerLock.tryAcquire(file);
      if (lock) return lock;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for lock "${file}"`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Runs fn holding the lock (its directory made first, private to root), then releases it. */
  static async with<R>(file: string, fn: () => R | Promise<R>): Promise<R> {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const lock = await OwnerLock.acquire(file);
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /**
   * Takes the lock in a directory only this process can see yet (a scratch dir it just
   * made): a plain O_EXCL write, no temp file and link, since nobody can contend. Killed
   * midway it leaves an unreadable file, which counts as stale.
   */
  static acquireUnseen(file: string): OwnerLock {
    const me = self();
    fs.writeFileSync(file, JSON.stringify(me), { flag: "wx", mode: 0o600 });
    return new OwnerLock(file, me);
  }

  /**
   * The same lock after the directory holding its file was renamed (a directory built in a
   * scratch place and moved into sight already locked); this object is then spent.
   */
  movedTo(file: string): OwnerLock {
    this.held = false;
    return new OwnerLock(file, this.owner);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    const o = readOwner(this.file);
    if (o && same(o, this.owner)) fs.rmSync(this.file, { force: true });
  }
}

/** Removes a lock file whose owner (as read) is dead, unless it changed meanwhile. */
async function breakStale(file: string, seen: ProcessIdentity | null): Promise<void> {
  const { withLock } = await import("./flock.js");
  await withLock(path.join(path.dirname(file), `.${path.basename(file)}.break`), () => {
    const now = readOwner(file);
    if (now === undefined) return;
    const unchanged = now === null ? seen === null : seen !== null && same(now, seen);
    if (unchanged && !(now && isAlive(now))) fs.rmSync(file, { force: true });
  });
}

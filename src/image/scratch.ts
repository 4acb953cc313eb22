/**
 * Scratch dirs of the image store under `<root>/tmp`: a load's spool (`load-*`), a layer
 * being unpacked (`layer-*`) or deleted (`layer-gc-*`). Each is flocked by the process that
 * works in it, for as long as it does, so a sweeper can tell the leftovers of a process that
 * died (kill -9, power loss) from work in progress: unlocked and not brand new means dead.
 * The name also carries the owner's pid and start time (`layer-<tag><pid>-<start>-XXXXXX`):
 * one whose owner is provably dead is swept at once, however new.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, logger, type StateRoot } from "../common/index.js";
import { DirLock } from "../linux/index.js";
import { isAlive, processStartTime } from "../linux/process-identity.js";

const log = logger("image");

/** Younger dirs are left alone: their owner may not have locked them yet. */
const MIN_AGE_MS = 60_000;
const PREFIXES = ["load-", "layer-"];

export interface Scratch {
  readonly dir: string;
  /** Drops the lock (after the dir was renamed away or removed). */
  release(): void;
  /** Removes the dir and drops the lock. */
  dispose(): void;
}

export function makeScratch(root: StateRoot, prefix: "load" | "layer", tag = ""): Scratch {
  fs.mkdirSync(root.tmp, { recursive: true, mode: 0o700 });
  // mkdtemp makes the dir 0700: private to its owner (the unpacker relies on it, see in-root.ts).
  const owner = `${process.pid}-${processStartTime(process.pid) ?? 0}-`;
  const dir = fs.mkdtempSync(path.join(root.tmp, `${prefix}-${tag}${owner}`));
  const lock = DirLock.acquireNew(dir);
  return {
    dir,
    release: () => lock.release(),
    dispose: () => {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * Runs `body` on `dir` while holding its lock, unless someone else holds it (then returns
 * false). A dir that vanished meanwhile counts as done.
 */
export function withDirLock(dir: string, body: () => void): boolean {
  let lock: DirLock | undefined;
  try {
    lock = DirLock.tryAcquire(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return true;
    throw e;
  }
  if (!lock) return false;
  try {
    body();
  } finally {
    lock.release();
  }
  return true;
}

/** Removes scratch dirs whose owner is gone. Returns their names. */
export function sweepScratch(root: StateRoot, now = Date.now()): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(root.tmp);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return [];
    throw e;
  }
  const swept: string[] = [];
  for (const name of names) {
    if (!PREFIXES.some((p) => name.startsWith(p))) continue;
    const dir = path.join(root.tmp, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch {
      continue;
    }
    if (!st.isDirectory() || (now - st.mtimeMs < MIN_AGE_MS && !ownerIsDead(name))) continue;
    if (withDirLock(dir, () => fs.rmSync(dir, { recursive: true, force: true }))) {
      swept.push(name);
      log(`removed stale scratch dir ${dir}`);
    }
  }
  return swept;
}

/** True when the name carries an owner (pid and start time) that is no longer alive. */
function ownerIsDead(name: string): boolean {
  const m = /-(\d+)-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
  return m !== null && !isAlive({ pid: Number(m[1]), startTime: Number(m[2]) });
}

/**
 * The engine's lock on one container (`containers/<id>/lock`): start, stop, kill, restart,
 * pause, rm, rename and the exit and restart hooks hold it while they read the container's
 * state, decide and write it, so concurrent tsrun commands on one container never act on a
 * state another has just changed. An owner-identity lock (no FFI on its common path): a
 * holder killed with -9 leaves a file the next contender breaks. Held for the transitions
 * only, never while a process is awaited (a `stop -t 10` must not block `ps` or `kill`).
 *
 * Lock order: this lock, then the runtime's (runtime/<id>/lock); never the other way.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, notFound, removeTreeSync, type StateRoot } from "../common/index.js";
import { OwnerLock } from "../linux/owner-lock.js";
import { CREATING_PREFIX, ownerTag } from "./scratch-dirs.js";

export const LOCK_FILE = "lock";

function lockFile(root: StateRoot, id: string): string {
  return path.join(root.container(id), LOCK_FILE);
}

/**
 * Runs `body` holding the container's lock. "No such container: <ref>" when its directory
 * is gone (removed meanwhile: removal renames the directory away, lock and all).
 */
export async function withContainerLock<T>(root: StateRoot, id: string, ref: string, body: () => Promise<T>): Promise<T> {
  let lock: OwnerLock;
  try {
    lock = await OwnerLock.acquire(lockFile(root, id));
  } catch (e) {
    if (errnoCode(e) === "ENOENT") throw notFound(`No such container: ${ref}`);
    throw e;
  }
  try {
    return await body();
  } finally {
    lock.release();
  }
}

/** Like withContainerLock, but gives up at once (undefined) when another process holds it. */
export async function tryWithContainerLock<T>(root: StateRoot, id: string, body: () => Promise<T>): Promise<T | undefined> {
  let lock: OwnerLock | undefined;
  try {
    lock = await OwnerLock.tryAcquire(lockFile(root, id));
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  if (!lock) return undefined;
  try {
    return await body();
  } finally {
    lock.release();
  }
}

/**
 * Makes `containers/<id>/` appear already locked by its creator: built as a scratch dir in
 * tmp/ (named with the creator's pid and start time, so a sweeper can prove a leftover is a
 * dead creator's), locked there, and renamed into place. A container directory without a
 * record whose lock nobody holds is therefore an abandoned create, never one in progress.
 * The caller releases the lock once the record is written (or the directory removed).
 */
export function createLockedContainerDir(root: StateRoot, id: string): OwnerLock {
  const scratch = path.join(root.tmp, `${CREATING_PREFIX}${id}-${ownerTag()}`);
  const dir = root.container(id);
  // The parents exist but on a root's first create: made only when missing (each mkdir counts on run's path).
  mkdirRetrying(scratch, root.tmp);
  let lock: OwnerLock;
  try {
    lock = OwnerLock.acquireUnseen(path.join(scratch, LOCK_FILE));
    try {
      fs.renameSync(scratch, dir);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
      fs.mkdirSync(root.containers, { recursive: true, mode: 0o700 });
      fs.renameSync(scratch, dir);
    }
  } catch (e) {
    removeTreeSync(scratch);
    throw e;
  }
  return lock.movedTo(lockFile(root, id));
}

function mkdirRetrying(dir: string, parent: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
    fs.mkdirSync(parent, { recursive: true, mode: 0o700 });
    fs.mkdirSync(dir, { mode: 0o700 });
  }
}

/** Whether a live process holds the container's lock (a create, a removal, a transition). */
export function isContainerLocked(root: StateRoot, id: string): boolean {
  return OwnerLock.holder(lockFile(root, id)) !== undefined;
}

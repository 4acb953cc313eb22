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
import path from "node:path";
import { errnoCode, notFound, type StateRoot } from "../common/index.js";
import { OwnerLock } from "../linux/owner-lock.js";

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

/**
 * Finishing what a tsrun process killed midway (kill -9, OOM, power loss) left in a state
 * root. Which leftovers there can be follows from the order of each operation (see
 * docs/ARCHITECTURE.md, "Crash safety"); each is recognised by a proof that its owner is
 * dead, never by its age:
 *
 * - a container directory without a record whose lock nobody holds: a create that died
 *   (the directory appears already locked by its creator, who writes the record before
 *   releasing it) — its name, id-range lease and any runtime state go, then the directory;
 * - a record marked "removing" whose lock nobody holds: a removal that died — it is resumed;
 * - scratch dirs in tmp/ named after a dead process (scratch-dirs.ts).
 *
 * Exits that nobody recorded (monitor gone) are settle.ts's; leases of containers whose
 * directory is gone are the id pool's (IdPool.collect).
 */
import fs from "node:fs";
import { logger, type StateRoot } from "../common/index.js";
import { isContainerLocked, tryWithContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { ContainerFiles, readRecord } from "./record.js";
import { removeTree } from "./remove-tree.js";

const log = logger("engine");

/**
 * The name in a container's record; "" for an abandoned create (its name is a leftover);
 * undefined while a create in progress has not written the record yet.
 */
export function recordedName(root: StateRoot, id: string): string | undefined {
  const rec = readRecord(root, id);
  if (rec) return rec.Name.replace(/^\//, "");
  if (isContainerLocked(root, id)) return undefined;
  // Read again after seeing the lock free: the creator writes the record before releasing it.
  return readRecord(root, id)?.Name.replace(/^\//, "") ?? "";
}

/**
 * Finishes an interrupted create or removal of container `id` (no record, or a record
 * marked "removing"), unless a live process holds its lock. True when it is gone now.
 */
export async function finishInterrupted(engine: Engine, id: string): Promise<boolean> {
  const done = await tryWithContainerLock(engine.root, id, async () => {
    const rec = readRecord(engine.root, id);
    if (!rec) {
      await removeAbandonedCreate(engine, id);
      return true;
    }
    if (rec.State.Status !== "removing") return false;
    log.withId(id)("resuming an interrupted removal");
    // A listing must not fail on a volume it could not take along (--rm's anonymous ones).
    const onVolumeError = (e: Error) => log.withId(id)(`removing volumes: ${e.message}`);
    await engine.destroy(rec, { volumes: rec.HostConfig.AutoRemove, onVolumeError });
    return true;
  });
  return done ?? !fs.existsSync(engine.root.container(id));
}

/** Everything a create that died may have claimed, in the order removal releases it. Under the lock. */
async function removeAbandonedCreate(engine: Engine, id: string): Promise<void> {
  log.withId(id)("removing an abandoned create");
  if (fs.existsSync(engine.root.runtimeState(id))) await (await engine.runtime()).delete(id, { force: true });
  engine.pool.releaseAllOf({ root: engine.root.root, id });
  for (const [name, holder] of engine.names.all()) if (holder === id) engine.names.release(name, id);
  removeTree(engine.root, new ContainerFiles(engine.root, id).dir);
}

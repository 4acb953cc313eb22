/** Removal of a tree of a state root that must vanish at once even if a crash interrupts it. */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, removeTreeSync, type StateRoot } from "../common/index.js";
import { crashPoint } from "../common/crash-points.js";
import { randomHex } from "../common/random.js";
import { REMOVED_PREFIX, ownerTag } from "./scratch-dirs.js";

/**
 * Takes a directory out of sight atomically (rename into tmp/, under a name that says who
 * deletes it), then deletes it. A crash midway leaves a scratch dir that sweepScratchDirs()
 * takes once its owner is dead.
 */
export function removeTree(root: StateRoot, dir: string): void {
  fs.mkdirSync(root.tmp, { recursive: true, mode: 0o700 });
  const grave = path.join(root.tmp, `${REMOVED_PREFIX}${path.basename(dir)}-${ownerTag()}-${randomHex(4)}`);
  try {
    fs.renameSync(dir, grave);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  crashPoint("remove-tree:after-rename");
  removeTreeSync(grave);
}

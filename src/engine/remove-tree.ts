/** Removal of a tree of a state root that must vanish at once even if a crash interrupts it. */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, removeTreeSync, type StateRoot } from "../common/index.js";
import { randomBytes } from "../common/random.js";

/** Takes a directory out of sight atomically (rename into tmp/), then deletes it. */
export function removeTree(root: StateRoot, dir: string): void {
  fs.mkdirSync(root.tmp, { recursive: true, mode: 0o700 });
  const grave = path.join(root.tmp, `removed-${path.basename(dir)}-${randomBytes(4).toString("hex")}`);
  try {
    fs.renameSync(dir, grave);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  removeTreeSync(grave);
}

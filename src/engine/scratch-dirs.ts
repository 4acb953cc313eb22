/**
 * The engine's scratch directories in `<root>/tmp`: a container directory being built
 * (`creating-<id>-<pid>-<start>`) and one being deleted (`removed-<id>-<pid>-<start>-<rand>`).
 * Each name carries its owner's pid and start time, so a leftover is provably a dead
 * process's (kill -9 between the rename and the end of the deletion) and safe to sweep,
 * while one whose owner lives is never touched.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode, logger, randomHex, removeTreeSync, type StateRoot } from "../common/index.js";
import { isAlive, processStartTime } from "../linux/process-identity.js";

const log = logger("engine");

export const CREATING_PREFIX = "creating-";
export const REMOVED_PREFIX = "removed-";
/** The image store's scratch dirs (src/image/scratch.ts). */
const IMAGE_SCRATCH = /^(load|layer)-/;

let tag: string | undefined;

/** `<pid>-<start time>` of this process. */
export function ownerTag(): string {
  tag ??= `${process.pid}-${processStartTime(process.pid) ?? 0}`;
  return tag;
}

/** Owner of a scratch name `<prefix><64 hex>-<pid>-<start>[-<rand>]`, or undefined if it is not one. */
export function scratchOwner(name: string): { pid: number; startTime: number } | undefined {
  const m = /^(?:creating|removed)-[0-9a-f]{64}-(\d+)-(\d+)(?:-[0-9a-f]+)?$/.exec(name);
  return m ? { pid: Number(m[1]), startTime: Number(m[2]) } : undefined;
}

/**
 * Deletes the engine's scratch dirs whose owner is dead, and has the image store sweep its
 * own (a `run` killed while it unpacked a layer). Returns how many.
 */
export async function sweepScratchDirs(root: StateRoot): Promise<number> {
  let names: string[];
  try {
    names = fs.readdirSync(root.tmp);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return 0;
    throw e;
  }
  let swept = 0;
  for (const name of names) {
    const owner = scratchOwner(name);
    if (!owner || isAlive(owner)) continue;
    // Claimed by a rename to a name of our own first: of two sweepers only one deletes it,
    // and if we die midway it is ours, dead, for the next sweeper.
    const id = /^[a-z]+-([0-9a-f]{64})-/.exec(name)![1]!;
    const claimed = path.join(root.tmp, `${REMOVED_PREFIX}${id}-${ownerTag()}-${randomHex(4)}`);
    try {
      fs.renameSync(path.join(root.tmp, name), claimed);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") continue; // another sweeper's now
      throw e;
    }
    removeTreeSync(claimed);
    log(`removed ${name}, left by dead process ${owner.pid}`);
    swept++;
  }
  if (names.some((n) => IMAGE_SCRATCH.test(n))) {
    // Loaded only when there is some: its sweeper takes flocks (koffi).
    const { sweepScratch } = await import("../image/scratch.js");
    swept += sweepScratch(root).length;
  }
  return swept;
}

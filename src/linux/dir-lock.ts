/**
 * An exclusive flock(2) on a directory itself, held by the process that works in it (the
 * kernel drops it when the process dies). A directory's lock follows it through renames,
 * so "locked" means "its owner is alive", which is what a sweeper of scratch dirs needs.
 */
import fs from "node:fs";
import { check, fn } from "./ffi.js";

const LOCK_EX = 2;
const LOCK_NB = 4;

export class DirLock {
  private constructor(private fd: number | undefined) {}

  /** The lock, or undefined when another open file description holds it. */
  static tryAcquire(dir: string): DirLock | undefined {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    if ((fn("int flock(int fd, int op)")(fd, LOCK_EX | LOCK_NB) as number) === 0) return new DirLock(fd);
    fs.closeSync(fd);
    return undefined;
  }

  /** Takes the lock of a directory this process just created (nobody else can hold it). */
  static acquireNew(dir: string): DirLock {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      check(fn("int flock(int fd, int op)")(fd, LOCK_EX | LOCK_NB) as number, "flock", dir);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new DirLock(fd);
  }

  release(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

import fs from "node:fs";
import { check, fn } from "./ffi.js";

const LOCK_EX = 2;
const LOCK_UN = 8;
const LOCK_NB = 4;

/**
 * An exclusive advisory lock on a file, held until release() or until the process dies
 * (the kernel drops it, so a kill -9 never leaves a lock behind). Blocking acquisition
 * polls with LOCK_NB so no libuv thread is ever parked in flock().
 */
export class FileLock {
  private constructor(private fd: number | undefined, readonly path: string) {}

  static tryAcquire(path: string): FileLock | undefined {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const ret = fn("int flock(int fd, int op)")(fd, LOCK_EX | LOCK_NB) as number;
    if (ret === 0) return new FileLock(fd, path);
    fs.closeSync(fd);
    return undefined;
  }

  static async acquire(path: string, timeoutMs = 60_000): Promise<FileLock> {
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    for (;;) {
      const lock = FileLock.tryAcquire(path);
      if (lock) return lock;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for lock "${path}"`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  release(): void {
    if (this.fd === undefined) return;
    check(fn("int flock(int fd, int op)")(this.fd, LOCK_UN) as number, "flock", this.path);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export async function withLock<T>(path: string, body: () => Promise<T> | T): Promise<T> {
  const lock = await FileLock.acquire(path);
  try {
    return await body();
  } finally {
    lock.release();
  }
}

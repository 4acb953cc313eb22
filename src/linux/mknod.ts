/**
 * mknod(2), which Node lacks. The image unpacker uses it for overlay whiteouts (a 0/0
 * character device) and fifos; it never creates real device nodes.
 */
import { check, fn } from "./ffi.js";

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;

export function mknod(path: string, mode: number, dev = 0n): void {
  check(fn("int mknod(const char *path, uint32_t mode, uint64_t dev)")(path, mode, dev) as number, "mknod", path);
}

/** An overlay whiteout: a character device with device number 0/0. */
export function mkwhiteout(path: string): void {
  mknod(path, S_IFCHR, 0n);
}

export function mkfifo(path: string, perm: number): void {
  mknod(path, S_IFIFO | (perm & 0o7777));
}

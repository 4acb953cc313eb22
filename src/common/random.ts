import fs from "node:fs";

/**
 * Random bytes straight from the kernel. node:crypto would do, but loading it costs
 * several milliseconds on every `tsrun run`; ids and temp names need only the kernel's
 * CSPRNG, which getrandom(2) and /dev/urandom are.
 */
export function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = fs.openSync("/dev/urandom", "r");
  try {
    let off = 0;
    while (off < n) off += fs.readSync(fd, buf, off, n - off, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

export const randomHex = (bytes: number): string => randomBytes(bytes).toString("hex");

/** A uniform integer in [0, max), without modulo bias. */
export function randomInt(max: number): number {
  if (!Number.isSafeInteger(max) || max <= 0 || max > 2 ** 32) throw new RangeError(`randomInt: bad bound ${max}`);
  const limit = Math.floor(2 ** 32 / max) * max;
  for (;;) {
    const v = randomBytes(4).readUInt32LE(0);
    if (v < limit) return v % max;
  }
}

import fs from "node:fs";

/**
 * What the planner asks of the host: is a path there, and which device node is there.
 * A parameter so the planner stays pure for its tests.
 */
export interface HostProbe {
  exists(path: string): boolean;
  /** Type ("c"/"b") and major:minor of a device node, or undefined when the path is not one. */
  device(path: string): { type: "c" | "b"; major: number; minor: number } | undefined;
  /** The host's mountinfo text (idmap-binds.ts); without it, binds are planned as asked. */
  mountinfo?(): string;
  /** A path with its symlinks resolved, or undefined when it does not resolve. */
  realpath?(path: string): string | undefined;
}

export const realHostProbe: HostProbe = {
  exists: (p) => fs.existsSync(p),
  mountinfo: () => fs.readFileSync("/proc/self/mountinfo", "utf8"),
  realpath(p) {
    try {
      return fs.realpathSync(p);
    } catch {
      return undefined;
    }
  },
  device(p) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return undefined;
    }
    if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
    // Linux's dev_t encoding (glibc gnu_dev_major/minor).
    const rdev = BigInt(st.rdev);
    const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
    return { type: st.isCharacterDevice() ? "c" : "b", major, minor };
  },
};

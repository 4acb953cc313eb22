import { invalidArgument } from "../common/errors.js";
import type { Rlimit } from "./plan.js";

/** RLIMIT_* numbers from <sys/resource.h> (x86-64 and arm64 agree). */
const RLIMIT_NUMBERS: Record<string, number> = Object.fromEntries(
  [
    "CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS",
    "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
  ].map((name, n) => [`RLIMIT_${name}`, n]),
);

/** RLIM_INFINITY. */
export const RLIM_INFINITY = (1n << 64n) - 1n;

export function rlimitNumber(type: string): number {
  const n = RLIMIT_NUMBERS[type];
  if (n === undefined) throw invalidArgument(`Unknown rlimit "${type}"`);
  return n;
}

/**
 * One spec rlimit for setrlimit. JSON numbers lose precision near 2^64, so anything at or
 * above 2^63 is taken as the infinity that was meant.
 */
export function planRlimit(r: { type: string; soft: number; hard: number }): Rlimit {
  const soft = toLimit(r.type, "soft", r.soft);
  const hard = toLimit(r.type, "hard", r.hard);
  if (soft > hard) throw invalidArgument(`Invalid rlimit "${r.type}": soft limit ${soft} is above hard limit ${hard}`);
  return { resource: rlimitNumber(r.type), soft, hard };
}

function toLimit(type: string, which: string, v: number): bigint {
  if (typeof v !== "number" || !Number.isFinite(v) || !Number.isInteger(v) || v < 0) {
    throw invalidArgument(`Invalid rlimit "${type}": ${which} limit "${v}" is not a non-negative integer`);
  }
  return v >= 2 ** 63 ? RLIM_INFINITY : BigInt(v);
}

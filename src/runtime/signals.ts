import os from "node:os";
import { invalidArgument } from "../common/errors.js";

const BY_NAME = os.constants.signals as Record<string, number>;
const NUMBERS = new Set(Object.values(BY_NAME));

/** A signal as kill(1) and runc take it: 9, "9", "KILL", "SIGKILL", "sigterm". */
export function parseSignal(signal: number | string): number {
  if (typeof signal === "number" || /^\d+$/.test(signal)) {
    const n = Number(signal);
    if (NUMBERS.has(n) || (n >= 34 && n <= 64)) return n; // 34…64: real-time signals
    throw invalidArgument(`Invalid signal "${signal}"`);
  }
  const upper = signal.toUpperCase();
  const n = BY_NAME[upper.startsWith("SIG") ? upper : `SIG${upper}`];
  if (n === undefined) throw invalidArgument(`Invalid signal "${signal}"`);
  return n;
}

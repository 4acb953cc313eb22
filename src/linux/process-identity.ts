import fs from "node:fs";

/**
 * A process named by pid and start time (field 22 of /proc/PID/stat, in clock ticks since
 * boot). A pid alone can be reused by an unrelated process; the pair cannot, so tsrun only
 * ever signals a process whose start time still matches the one it recorded.
 */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
}

interface ProcStat {
  state: string;
  startTime: number;
}

/** State and start time of a pid, or undefined when there is no such process. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const startTime = Number(fields[19]);
  if (!state || !Number.isFinite(startTime)) return undefined;
  return { state, startTime };
}

export function processStartTime(pid: number): number | undefined {
  return readProcStat(pid)?.startTime;
}

/** True while the recorded process lives (a zombie or a reused pid does not count). */
export function isAlive(p: ProcessIdentity | undefined): boolean {
  if (!p || !Number.isInteger(p.pid) || p.pid <= 0) return false;
  const st = readProcStat(p.pid);
  return st !== undefined && st.startTime === p.startTime && st.state !== "Z" && st.state !== "X";
}

/**
 * Sends a signal to the recorded process only. Returns false when it is gone (or its pid
 * now belongs to another process).
 */
export function signalProcess(p: ProcessIdentity, signal: number | NodeJS.Signals): boolean {
  if (!isAlive(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

/** The parent pid of `pid` (field 4 of /proc/PID/stat), or undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** True when `pid` is `ancestor` or one of its descendants. */
export function isSelfOrDescendant(pid: number, ancestor: number): boolean {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; p = parentPid(p), hops++) {
    if (p === ancestor) return true;
  }
  return false;
}

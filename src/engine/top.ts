/**
 * Docker's `top`: the processes of a container's cgroup, with host pids. Without ps
 * options, the columns of `ps -ef` (UID PID PPID C STIME TTY TIME CMD) computed from /proc
 * as procps computes them; with options, the host's `ps` runs with them and its rows are
 * filtered to the container's pids, exactly as moby's ContainerTop does.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { badState, conflict, invalidArgument, readJsonIfExists, systemError } from "../common/index.js";
import { openCgroupDriver, resolveCgroupPath } from "../cgroups/index.js";
import type { Spec } from "../runtime/spec.js";
import type { Engine } from "./engine.js";
import { ContainerFiles } from "./record.js";

/** Docker's ContainerTopOKBody. */
export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

const PS_EF_TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
/** USER_HZ: the unit of /proc/PID/stat times on Linux. */
const HZ = 100;

export async function containerTop(engine: Engine, ref: string, psArgs: string[] = []): Promise<TopResult> {
  const rec = engine.resolve(ref);
  const st = await engine.status(rec);
  if (st.Restarting) throw conflict(`Container ${rec.Id} is restarting, wait until the container is running`);
  if (!st.Running) throw conflict(`Container ${rec.Id} is not running`);
  const spec = readJsonIfExists<Spec>(path.join(new ContainerFiles(engine.root, rec.Id).bundle, "config.json"));
  const pids = openCgroupDriver().open(resolveCgroupPath(spec?.linux?.cgroupsPath, rec.Id)).pids();
  const args = psArgs.join(" ").trim();
  if (args === "") return { Titles: PS_EF_TITLES, Processes: pids.map((p) => psEfRow(p)).filter((r): r is string[] => r !== undefined) };
  validatePsArgs(args);
  return parsePsOutput(await runPs(args.split(" "), pids), pids);
}

/** moby refuses output formats that rename the PID column. */
function validatePsArgs(args: string): void {
  for (const m of args.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== "pid") throw invalidArgument(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** The host's ps with the user's options, limited to the pids (-q) when ps accepts that. */
async function runPs(args: string[], pids: number[]): Promise<string> {
  const run = (argv: string[]) =>
    new Promise<{ ok: boolean; stdout: string; stderr: string }>((resolve) => {
      execFile("ps", argv, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }));
    });
  let r = await run([...args, `-q${pids.join(",")}`]);
  // Some options (f) cannot be combined with -q: then the full list, filtered below.
  if (!r.ok) r = await run(args);
  if (!r.ok) throw systemError(`ps: ${r.stderr.split("\n")[0] || "ps failed"}`);
  return r.stdout;
}

/** moby's parsePSOutput: find the PID column, keep the container's rows (and their thread lines). */
export function parsePsOutput(output: string, pids: number[]): TopResult {
  const lines = output.split("\n");
  const titles = fields(lines[0] ?? "");
  const pidIndex = titles.indexOf("PID");
  if (pidIndex === -1) throw badState("Couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const processes: string[][] = [];
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const f = fields(line);
    const row = [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(" ")];
    if (f[pidIndex] === "-") {
      if (inContainer) processes.push(row);
      continue;
    }
    const pid = Number(f[pidIndex]);
    if (!Number.isInteger(pid)) throw badState(`Unexpected pid '${f[pidIndex]}'`);
    inContainer = wanted.has(pid);
    if (inContainer) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

/** Splits on ASCII whitespace only (moby's fieldsASCII). */
function fields(line: string): string[] {
  return line.split(/[ \t\n\v\f\r]+/).filter((s) => s !== "");
}

/** One `ps -ef` row from /proc, or undefined if the process is gone. */
export function psEfRow(pid: number, now = new Date()): string[] | undefined {
  let stat: string;
  let status: string;
  let cmdline: Buffer;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself hold spaces and parentheses.
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(stat.indexOf("(") + 1, close);
  const f = stat.slice(close + 2).split(" ");
  // Fields from 3 (state) on: f[0] state, f[1] ppid, f[4] tty_nr, f[11] utime, f[12] stime, f[19] starttime.
  const state = f[0]!;
  const ppid = f[1]!;
  const tty = ttyName(Number(f[4]));
  const cpuTicks = Number(f[11]) + Number(f[12]);
  const startTicks = Number(f[19]);
  const euid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const bootTime = Number(/^btime (\d+)$/m.exec(readProc("/proc/stat"))?.[1] ?? 0);
  const uptime = Math.floor(Number(readProc("/proc/uptime").split(" ")[0]));
  const lifeSeconds = Math.max(0, uptime - Math.floor(startTicks / HZ));
  const c = lifeSeconds > 0 ? Math.min(99, Math.floor((cpuTicks * 100) / HZ / lifeSeconds)) : 0;
  const args = cmdline.toString("utf8").split("\0");
  while (args.length > 0 && args[args.length - 1] === "") args.pop();
  let cmd = args.length > 0 ? args.join(" ") : `[${comm}]`;
  if (state === "Z") cmd = `[${comm}] <defunct>`;
  return [
    userName(euid),
    String(pid),
    ppid,
    String(c),
    startTime(new Date((bootTime + Math.floor(startTicks / HZ)) * 1000), now),
    tty,
    cpuTime(Math.floor(cpuTicks / HZ)),
    cmd,
  ];
}

function readProc(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

let passwd: Map<number, string> | undefined;

/** ps's user column: the host's name for the uid (8 columns, "+" when cut), else the number. */
function userName(uid: number): string {
  if (!passwd) {
    passwd = new Map();
    for (const line of readProc("/etc/passwd").split("\n")) {
      const [name, , id] = line.split(":");
      if (name && id !== undefined && !passwd.has(Number(id))) passwd.set(Number(id), name);
    }
  }
  const name = passwd.get(uid);
  if (name === undefined) return String(uid);
  return name.length > 8 ? name.slice(0, 7) + "+" : name;
}

/** procps's STIME: HH:MM today, MonDD this year, else the year (local time). */
export function startTime(start: Date, now: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  if (start.getFullYear() !== now.getFullYear()) return String(start.getFullYear());
  const sameDay = start.getMonth() === now.getMonth() && start.getDate() === now.getDate();
  if (!sameDay) return start.toLocaleString("en-US", { month: "short" }) + pad(start.getDate());
  return `${pad(start.getHours())}:${pad(start.getMinutes())}`;
}

/** procps's TIME: [DD-]HH:MM:SS of CPU time. */
export function cpuTime(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const days = Math.floor(seconds / 86400);
  const hms = `${pad(Math.floor((seconds % 86400) / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

/** ps's TTY from stat's tty_nr: pts/N, ttyN, ttySN, or "?". */
export function ttyName(ttyNr: number): string {
  if (!ttyNr) return "?";
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${minor + (major - 136) * 256}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  return "?";
}

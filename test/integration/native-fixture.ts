/**
 * Fixtures for the native-*.test.ts integration tests: a busybox layer made from the host's
 * static busybox and the probe, and Plans shaped like the planner's, driven directly through
 * launchMonitor + MonitorConnection. Everything lives under one private temp dir.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchMonitor, MonitorConnection, type ExitStatus, type Launched } from "../../src/runtime/monitor-client.js";
import type { MountPlan, Plan } from "../../src/runtime/plan.js";

export const isRoot = process.getuid?.() === 0;
export const MONITOR = path.resolve(import.meta.dirname, "../../native/build/tsrun-monitor");
export const PROBE = path.resolve(import.meta.dirname, "../../native/build/tsrun-probe");

/** A host range no host user has: root inside maps here. */
export const HOST_BASE = 4_000_000_000;
const RANGE = 65536;

const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_STRICTATIME = 1 << 24;

/** Docker's default capability set. */
const DEFAULT_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31].reduce((m, c) => m | (1n << BigInt(c)), 0n);

export function makeTemp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-native-"));
}

/** A layer with static busybox and its applets in /bin, the probe, passwd/group and the usual dirs. */
export function makeBusyboxLayer(dir: string): void {
  for (const d of ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "home"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);
  fs.copyFileSync("/bin/busybox", path.join(dir, "bin", "busybox"));
  fs.chmodSync(path.join(dir, "bin", "busybox"), 0o755);
  fs.copyFileSync(PROBE, path.join(dir, "bin", "probe"));
  fs.chmodSync(path.join(dir, "bin", "probe"), 0o755);
  const applets = execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const a of applets) if (a !== "busybox") fs.symlinkSync("busybox", path.join(dir, "bin", a));
  fs.writeFileSync(path.join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  fs.writeFileSync(path.join(dir, "etc", "group"), "root:x:0:\ntty:x:5:\nnobody:x:65534:\n");
}

export interface PlanOptions {
  args: string[];
  lowers: string[];
  upperParent: string;
  stateDir: string;
  userns?: boolean;
  terminal?: { rows: number; cols: number };
  stdin?: boolean;
  logPath?: string;
  exitCommand?: string[];
  mounts?: MountPlan[];
  hostname?: string;
  cwd?: string;
}

/** A plan as the planner would make it for `docker run` with the defaults. */
export function makePlan(o: PlanOptions): Plan {
  const userns = o.userns ?? true;
  const fsm = (source: string, target: string, fstype: string, flags: number, data = ""): MountPlan => ({
    kind: "fs", source, target, fstype, flags, propagation: 0, data, idmap: false,
  });
  const mounts: MountPlan[] = [
    fsm("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC),
    fsm("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
    fsm("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
    fsm("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY),
    fsm("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC),
    fsm("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"),
    ...(o.mounts ?? []),
  ];
  return {
    containerId: path.basename(o.stateDir),
    newNamespaces: [...(userns ? (["user"] as const) : []), "mnt", "pid", "uts", "ipc", "net", "cgroup"],
    joinNamespaces: [],
    uidMap: userns ? [{ inside: 0, outside: HOST_BASE, count: RANGE }] : [],
    gidMap: userns ? [{ inside: 0, outside: HOST_BASE, count: RANGE }] : [],
    cgroupProcs: [],
    rootfs: { kind: "overlay", lowers: o.lowers, upperParent: o.upperParent, idmap: userns, readonly: false },
    rootPropagation: MS_PRIVATE | MS_REC,
    mounts,
    devices: ["null", "zero", "full", "random", "urandom", "tty"].map((d) => ({ hostPath: `/dev/${d}`, target: `/dev/${d}` })),
    symlinks: [
      { target: "pts/ptmx", linkPath: "/dev/ptmx" },
      { target: "/proc/self/fd", linkPath: "/dev/fd" },
      { target: "/proc/self/fd/0", linkPath: "/dev/stdin" },
      { target: "/proc/self/fd/1", linkPath: "/dev/stdout" },
      { target: "/proc/self/fd/2", linkPath: "/dev/stderr" },
    ],
    maskedPaths: ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/scsi"],
    readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    hostname: o.hostname ?? "tsrun-test",
    sysctls: [{ key: "net.ipv4.ip_unprivileged_port_start", value: "0" }],
    process: {
      args: o.args,
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
      cwd: o.cwd ?? "/",
      uid: 0,
      gid: 0,
      additionalGids: [],
      terminal: o.terminal !== undefined,
      ...(o.terminal ? { consoleSize: o.terminal } : {}),
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS, inheritable: 0n, ambient: 0n },
      noNewPrivileges: false,
      rlimits: [{ resource: 7, soft: 1048576n, hard: 1048576n }],
    },
    monitor: {
      stateDir: o.stateDir,
      stdin: o.stdin ?? false,
      ...(o.logPath ? { logPath: o.logPath } : {}),
      ...(o.exitCommand ? { exitCommand: o.exitCommand } : {}),
      ownCgroupProcs: [],
    },
  };
}

/** A fresh container: its state dir and upper dir under `tmp`. */
export function makeContainerDirs(tmp: string, name: string): { stateDir: string; upperParent: string } {
  const stateDir = path.join(tmp, "state", name);
  const upperParent = path.join(tmp, "fs", name);
  fs.mkdirSync(stateDir, { recursive: true });
  fs.mkdirSync(path.join(upperParent, "upper"), { recursive: true });
  fs.mkdirSync(path.join(upperParent, "work"), { recursive: true });
  return { stateDir, upperParent };
}

export interface RunResult {
  launched: Launched;
  stdout: string;
  stderr: string;
  status: ExitStatus;
}

/**
 * Runs a plan to its end as a foreground `run` would: attach, start, collect, wait. The
 * pids are handed to `track` at once, so a failed test can still kill them.
 */
export async function runPlan(plan: Plan, input?: string, track: (pid: number) => void = () => {}): Promise<RunResult> {
  const launched = await launchMonitor({ plan, monitorPath: MONITOR });
  track(launched.pid);
  track(launched.monitorPid);
  const conn = await MonitorConnection.connect(plan.monitor.stateDir, {
    stdout: true, stderr: true, stdin: input !== undefined, cleanupOwner: true,
  });
  let stdout = "", stderr = "";
  conn.on("stdout", (b) => (stdout += b.toString()));
  conn.on("stderr", (b) => (stderr += b.toString()));
  try {
    await conn.start();
    if (input !== undefined) {
      conn.writeStdin(Buffer.from(input));
      conn.closeStdin();
    }
    const status = await conn.waitExit();
    return { launched, stdout, stderr, status };
  } finally {
    conn.close();
    await waitGone(launched.monitorPid);
  }
}

export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Waits until pid is gone (the monitor exits once the container has and no owner is attached). */
export async function waitGone(pid: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`Process ${pid} is still alive after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Kills what a failed test may have left (by pid, never by name). */
export function killIfAlive(...pids: (number | undefined)[]): void {
  for (const pid of pids) if (pid && alive(pid)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
}

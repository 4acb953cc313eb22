/**
 * The runtime on real containers: a bundle whose rootfs is a dir made from the host's static
 * busybox, created, started, inspected from inside, killed and deleted, as root.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openCgroupDriver } from "../../src/cgroups/driver.js";
import { Runtime } from "../../src/runtime/runtime.js";
import type { ExitStatus } from "../../src/runtime/monitor-client.js";
import { ANNOTATION_LAYERS, ANNOTATION_UPPER, type Spec } from "../../src/runtime/spec.js";

const isRoot = process.getuid?.() === 0;
const MONITOR = path.resolve(import.meta.dirname, "../../native/build/tsrun-monitor");
const ready = isRoot && fs.existsSync(MONITOR);
if (!ready) console.warn(`runtime integration tests skipped: ${isRoot ? `no monitor at ${MONITOR} (npm run build)` : "not root"}`);

const HIERARCHIES = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"];

let tmp: string;
let rootfs: string;
let runtime: Runtime;
const created: string[] = [];

beforeAll(() => {
  if (!ready) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-runtime-it-"));
  rootfs = path.join(tmp, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc", "root"]) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync("/bin/busybox", path.join(rootfs, "bin", "busybox"));
  fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
  for (const a of execFileSync("/bin/busybox", ["--list"], { encoding: "utf8" }).split("\n")) {
    if (a && a !== "busybox") fs.symlinkSync("busybox", path.join(rootfs, "bin", a));
  }
  runtime = new Runtime(path.join(tmp, "runtime"), { monitorPath: MONITOR });
});

afterEach(async () => {
  // Whatever a failed test left: delete kills through the cgroup and removes everything.
  for (const id of created.splice(0)) await runtime.delete(id, { force: true }).catch(() => undefined);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A bundle like the engine's, with its own random cgroup path so parallel tests never collide. */
function bundle(args: string[]): { dir: string; cgroupPath: string; upper: string } {
  const name = randomBytes(6).toString("hex");
  const dir = path.join(tmp, "bundles", name);
  fs.mkdirSync(dir, { recursive: true });
  const cgroupPath = `/tsrun/it-${name}`;
  // The engine's way: an overlay of the busybox layer and the container's own upper dir.
  const upper = path.join(dir, "fs");
  for (const d of ["upper", "work"]) fs.mkdirSync(path.join(upper, d), { recursive: true });
  const base = 3_000_000_000 + Math.floor(Math.random() * 1000) * 65536;
  const spec: Spec = {
    ociVersion: "1.1.0",
    process: {
      user: { uid: 0, gid: 0 },
      args,
      env: ["PATH=/bin"],
      cwd: "/",
      capabilities: { bounding: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL", "CAP_CHOWN"], permitted: ["CAP_KILL", "CAP_CHOWN"] },
    },
    root: { path: "rootfs" },
    annotations: { [ANNOTATION_LAYERS]: JSON.stringify([rootfs]), [ANNOTATION_UPPER]: upper },
    hostname: name,
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
    ],
    linux: {
      namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"].map((type) => ({ type: type as "pid" })),
      uidMappings: [{ containerID: 0, hostID: base, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: base, size: 65536 }],
      devices: ["null", "zero"].map((d, i) => ({ path: `/dev/${d}`, type: "c", major: 1, minor: [3, 5][i]! })),
      cgroupsPath: cgroupPath,
      resources: { pids: { limit: 50 } },
    },
  };
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(spec));
  return { dir, cgroupPath, upper };
}

async function create(args: string[]) {
  const id = `it-${randomBytes(6).toString("hex")}`;
  const b = bundle(args);
  created.push(id);
  const st = await runtime.create(id, { bundle: b.dir });
  return { id, st, cgroupPath: b.cgroupPath, upper: b.upper };
}

/** Attaches, starts and waits for the exit, as a foreground run does. */
async function runToEnd(id: string): Promise<ExitStatus> {
  const conn = await runtime.attach(id, { cleanupOwner: true });
  try {
    await conn.start();
    return await conn.waitExit();
  } finally {
    conn.close();
  }
}

async function until(what: string, test: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const hostDir = (h: string, cgroupPath: string) => path.join("/sys/fs/cgroup", h, cgroupPath);

/** /tsrun is gone, or still has children other than `leaf` (another container's). */
function tsrunParentClean(leaf: string): boolean {
  return HIERARCHIES.every((h) => {
    const parent = path.join("/sys/fs/cgroup", h, "tsrun");
    if (!fs.existsSync(parent)) return true;
    const kids = fs.readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    return kids.length > 0 && !kids.includes(leaf) && !kids.includes(`${leaf}.monitor`);
  });
}

describe.skipIf(!ready)("runtime lifecycle on real containers", () => {
  it("creates, starts, kills and deletes, with cgroups only while it exists", async () => {
    const { id, st, cgroupPath } = await create(["sleep", "1000"]);
    expect(st.status).toBe("created");
    expect(st.pid).toBeGreaterThan(0);
    for (const h of HIERARCHIES) {
      expect(fs.readFileSync(path.join(hostDir(h, cgroupPath), "cgroup.procs"), "utf8").trim()).toBe(String(st.pid));
    }
    expect(fs.readFileSync(path.join(hostDir("pids", cgroupPath), "pids.max"), "utf8").trim()).toBe("50");
    expect(fs.readFileSync(path.join(hostDir("memory", `${cgroupPath}.monitor`), "cgroup.procs"), "utf8").trim()).toBe(String(st.monitorPid));

    await runtime.start(id);
    await until("running", () => runtime.state(id).status === "running");
    await expect(runtime.start(id)).rejects.toThrow(`container ${id} is not in created state`);
    await expect(runtime.delete(id)).rejects.toThrow(`cannot delete container ${id} that is not stopped: running`);

    await runtime.kill(id, "KILL");
    await until("stopped", () => runtime.state(id).status === "stopped");
    expect(runtime.state(id).exit).toMatchObject({ exitCode: 137, signal: 9 });
    await expect(runtime.start(id)).rejects.toThrow("cannot start a container that has stopped");

    await runtime.delete(id);
    for (const h of HIERARCHIES) {
      expect(fs.existsSync(hostDir(h, cgroupPath))).toBe(false);
      expect(fs.existsSync(hostDir(h, `${cgroupPath}.monitor`))).toBe(false);
    }
    expect(tsrunParentClean(path.basename(cgroupPath))).toBe(true);
    expect(fs.existsSync(runtime.stateDir(id))).toBe(false);
    // Gone, or a zombie: the monitor is the host init's child to reap (native/src/cgjoin.h).
    expect(fs.existsSync(`/proc/${st.monitorPid}`) && !/\) Z/.test(fs.readFileSync(`/proc/${st.monitorPid}/stat`, "utf8"))).toBe(false);
  });

  it("shows the container its own cgroups, at / in its cgroup namespace, read-only", async () => {
    // The report goes to a file in the container's upper dir, read from the host after exit.
    const { id, upper } = await create([
      "sh",
      "-c",
      "exec >/report 2>&1; cat /proc/self/cgroup; echo ==; ls /sys/fs/cgroup; echo ==; cat /sys/fs/cgroup/pids/cgroup.procs; cat /sys/fs/cgroup/pids/pids.max; echo ==; mkdir /sys/fs/cgroup/x; touch /sys/fs/cgroup/pids/x; echo done",
    ]);
    const status = await runToEnd(id);
    expect(status.exitCode).toBe(0);
    const [procCgroup, listing, procs, errors] = fs.readFileSync(path.join(upper, "upper", "report"), "utf8").split("==\n");
    expect(procCgroup!.trim().split("\n")).toHaveLength(HIERARCHIES.length);
    for (const line of procCgroup!.trim().split("\n")) expect(line).toMatch(/:\/$/);
    expect(listing!.trim().split("\n").sort()).toEqual([...HIERARCHIES].sort());
    // The container's own cgroup: PID 1 (sh) and cat; and the pids.max set for it.
    const lines = procs!.trim().split("\n");
    expect(lines).toContain("1");
    expect(lines.at(-1)).toBe("50");
    expect(errors).toMatch(/can't create directory '\/sys\/fs\/cgroup\/x': Read-only file system/);
    expect(errors).toMatch(/\/sys\/fs\/cgroup\/pids\/x: Read-only file system/);
    expect(errors).toMatch(/done/);
  });

  it("pauses and resumes through the freezer", async () => {
    const { id, cgroupPath } = await create(["sleep", "1000"]);
    await runtime.start(id);
    await runtime.pause(id);
    expect(runtime.state(id).status).toBe("paused");
    expect(fs.readFileSync(path.join(hostDir("freezer", cgroupPath), "freezer.state"), "utf8").trim()).toBe("FROZEN");
    await runtime.resume(id);
    expect(runtime.state(id).status).toBe("running");
    // A paused container still dies of SIGKILL: the runtime thaws it after the signal.
    await runtime.pause(id);
    await runtime.kill(id, "SIGKILL");
    await until("stopped", () => runtime.state(id).status === "stopped");
    expect(runtime.state(id).exit?.exitCode).toBe(137);
    await runtime.delete(id);
    expect(fs.existsSync(hostDir("freezer", cgroupPath))).toBe(false);
  });

  it("deletes a created container, whose monitor goes with it", async () => {
    const { id, st, cgroupPath } = await create(["sleep", "1000"]);
    await runtime.delete(id);
    expect(fs.existsSync(hostDir("pids", cgroupPath))).toBe(false);
    for (const pid of [st.pid!, st.monitorPid!]) expect(fs.existsSync(`/proc/${pid}`) && !/\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))).toBe(false);
  });

  it("repairs a create that was killed half-way", async () => {
    const id = `it-${randomBytes(6).toString("hex")}`;
    const cgroupPath = `/tsrun/it-${randomBytes(6).toString("hex")}`;
    const stateDir = runtime.stateDir(id);
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(
      path.join(stateDir, "state.json"),
      JSON.stringify({ ociVersion: "1.1.0", id, bundle: tmp, phase: "creating", created: new Date().toISOString(), cgroupPath }),
    );
    created.push(id);
    // What the killed create had made: cgroups, and a process already in them.
    const driver = openCgroupDriver();
    const cg = driver.create(cgroupPath);
    const straggler = spawn("sleep", ["1000"], { stdio: "ignore" });
    try {
      await new Promise((r) => straggler.once("spawn", r));
      for (const f of cg.procsFiles()) fs.writeFileSync(f, String(straggler.pid));
      expect(runtime.state(id).status).toBe("stopped");
      await runtime.delete(id);
      await until("the straggler to die", () => straggler.exitCode !== null || straggler.signalCode !== null);
      expect(straggler.signalCode).toBe("SIGKILL");
      expect(cg.exists()).toBe(false);
      expect(fs.existsSync(stateDir)).toBe(false);
    } finally {
      straggler.kill("SIGKILL");
      // Whatever the test's outcome, leave no cgroup behind.
      await until("the straggler to die", () => straggler.exitCode !== null || straggler.signalCode !== null).catch(() => undefined);
      await cg.remove().catch(() => undefined);
      driver.removeEmptyAncestors(cgroupPath);
    }
  });
});

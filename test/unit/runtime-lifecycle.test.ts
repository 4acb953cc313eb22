import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CgroupFs } from "../../src/cgroups/cgroupfs.js";
import { CgroupDriver } from "../../src/cgroups/driver.js";
import { FakeCgroupTree } from "../../src/cgroups/fake-tree.js";
import { layoutFromMountinfo } from "../../src/cgroups/hierarchy.js";
import type { Launched } from "../../src/runtime/monitor-client.js";
import type { Plan } from "../../src/runtime/plan.js";
import { processStartTime, type ProcessIdentity } from "../../src/linux/process-identity.js";
import { Runtime } from "../../src/runtime/runtime.js";
import type { Spec } from "../../src/runtime/spec.js";

// Lets a test act between the runtime's reads, as a process racing with it would.
const aliveHook = vi.hoisted(() => ({ fn: undefined as ((p: ProcessIdentity | undefined) => boolean | undefined) | undefined }));
vi.mock("../../src/linux/process-identity.js", async (original) => {
  const real = await original<typeof import("../../src/linux/process-identity.js")>();
  return { ...real, isAlive: (p: ProcessIdentity | undefined) => aliveHook.fn?.(p) ?? real.isAlive(p) };
});

// The Runtime on a fake cgroup tree with a fake monitor: two real `sleep` processes stand
// for the monitor and the init, joined to the fake cgroups as the real monitor joins them.

let dir: string;
let tree: FakeCgroupTree;
let children: ChildProcess[];
let plans: Plan[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-runtime-unit-"));
  // Without cgroup.kill, so killing goes through signals the stand-ins really receive.
  tree = new FakeCgroupTree("v1", { cgroupKill: false });
  children = [];
  plans = [];
});

afterEach(() => {
  aliveHook.fn = undefined;
  for (const c of children) c.kill("SIGKILL");
  tree.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function startProcess(cmd: string, args: string[]): Promise<{ pid: number; startTime: number }> {
  const c = spawn(cmd, args, { stdio: "ignore" });
  children.push(c);
  await new Promise((r, j) => c.once("spawn", r).once("error", j));
  // Wait until execve is done, so the exe and start time are the final ones.
  for (let i = 0; i < 200 && !fs.readFileSync(`/proc/${c.pid}/cmdline`, "utf8").startsWith(cmd); i++) await new Promise((r) => setTimeout(r, 5));
  return { pid: c.pid!, startTime: processStartTime(c.pid!)! };
}

/** "running": the init has started, as the monitor records it in `started`. */
function fakeLaunch(mode: "created" | "running" | "fail") {
  return async ({ plan }: { plan: Plan }): Promise<Launched> => {
    plans.push(plan);
    const monitor = await startProcess("sleep", ["60"]);
    for (const f of plan.monitor.ownCgroupProcs) tree.cgfs.write(f, String(monitor.pid));
    const init = await startProcess("sleep", ["60"]);
    for (const f of plan.cgroupProcs) tree.cgfs.write(f, String(init.pid));
    if (mode === "running") fs.writeFileSync(path.join(plan.monitor.stateDir, "started"), "2025-01-01T00:00:00.5Z\n");
    if (mode === "fail") throw new Error("Cannot exec \"nope\": ENOENT");
    return { pid: init.pid, pidStartTime: init.startTime, monitorPid: monitor.pid, monitorStartTime: monitor.startTime, protocol: 1 };
  };
}

function runtime(mode: "created" | "running" | "fail" = "created"): Runtime {
  // Signals reach the real stand-in processes too.
  const cgfs: CgroupFs = {
    ...tree.cgfs,
    kill: (pid, signal) => {
      tree.cgfs.kill(pid, signal);
      process.kill(pid, signal);
    },
  };
  return new Runtime(path.join(dir, "runtime"), { cgroups: new CgroupDriver(layoutFromMountinfo(tree.mountinfo), cgfs), launch: fakeLaunch(mode) });
}

function bundle(over: Partial<Spec> = {}): string {
  const b = path.join(dir, "bundle");
  fs.mkdirSync(path.join(b, "rootfs"), { recursive: true });
  const spec: Spec = {
    ociVersion: "1.1.0",
    process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" },
    root: { path: "rootfs" },
    annotations: { "org.example": "x" },
    linux: { cgroupsPath: "/tsrun/unit-c1", resources: { pids: { limit: 10 } } },
    ...over,
  };
  fs.writeFileSync(path.join(b, "config.json"), JSON.stringify(spec));
  return b;
}

const cg = (h: string, ...rest: string[]) => path.join(tree.hierarchy(h), "tsrun", ...rest);

describe("Runtime lifecycle on a fake cgroup tree", () => {
  it("creates: cgroups, resources, plan, state", async () => {
    const rt = runtime();
    const st = await rt.create("c1", { bundle: bundle(), stdin: true, logPath: "/l.log", exitCommand: ["x"] });
    expect(st).toMatchObject({ id: "c1", status: "created", bundle: path.join(dir, "bundle"), annotations: { "org.example": "x" }, protocol: 1 });
    expect(st.pid).toBe(children[1]!.pid);
    expect(st.monitorPid).toBe(children[0]!.pid);
    expect(fs.readFileSync(cg("pids", "unit-c1", "pids.max"), "utf8")).toBe("10");
    expect(fs.existsSync(cg("memory", "unit-c1.monitor"))).toBe(true);
    expect(plans[0]!.monitor).toMatchObject({ stateDir: rt.stateDir("c1"), stdin: true, logPath: "/l.log", exitCommand: ["x"] });
    expect(plans[0]!.rootfs).toEqual({ kind: "dir", path: path.join(dir, "bundle", "rootfs"), readonly: false });
    expect(rt.list().map((s) => s.id)).toEqual(["c1"]);
  });

  it("refuses an existing id", async () => {
    const rt = runtime();
    await rt.create("c1", { bundle: bundle() });
    await expect(rt.create("c1", { bundle: bundle() })).rejects.toThrow("container with id exists: c1");
    expect(rt.state("c1").status).toBe("created");
  });

  it("leaves nothing when the spec is bad", async () => {
    const rt = runtime();
    await expect(rt.create("c1", { bundle: bundle({ process: { user: { uid: 0, gid: 0 }, args: [], cwd: "/" } }) })).rejects.toThrow(
      "process.args must be a non-empty list of strings",
    );
    expect(fs.existsSync(rt.stateDir("c1"))).toBe(false);
    expect(fs.existsSync(cg("cpu"))).toBe(false);
  });

  it("leaves nothing, processes included, when the monitor fails", async () => {
    const rt = runtime("fail");
    await expect(rt.create("c1", { bundle: bundle() })).rejects.toThrow('Cannot exec "nope": ENOENT');
    expect(fs.existsSync(rt.stateDir("c1"))).toBe(false);
    expect(fs.existsSync(cg("pids"))).toBe(false);
    // The stand-in init was in the container's cgroup, and the monitor in its own: both killed.
    expect(tree.signals.map((s) => s.signal)).toContain("SIGKILL");
  });

  it("never takes over or removes a cgroup it did not create", async () => {
    const rt = runtime();
    fs.mkdirSync(cg("pids", "unit-c1"), { recursive: true });
    fs.writeFileSync(cg("pids", "unit-c1", "cgroup.procs"), "");
    await expect(rt.create("c1", { bundle: bundle() })).rejects.toThrow(`Cannot create cgroup "${cg("pids", "unit-c1")}": it exists`);
    expect(fs.existsSync(cg("pids", "unit-c1"))).toBe(true);
    expect(fs.existsSync(cg("cpu", "unit-c1"))).toBe(false);
  });

  it("reports running once the init has exec'd, refuses delete without force, deletes with it", async () => {
    const rt = runtime("running");
    await rt.create("c1", { bundle: bundle() });
    expect(rt.state("c1")).toMatchObject({ status: "running", startedAt: "2025-01-01T00:00:00.5Z" });
    await expect(rt.start("c1")).rejects.toThrow("container c1 is not in created state");
    await expect(rt.delete("c1")).rejects.toThrow("cannot delete container c1 that is not stopped: running");
    await rt.delete("c1", { force: true });
    expect(fs.existsSync(rt.stateDir("c1"))).toBe(false);
    expect(fs.existsSync(cg("cpu"))).toBe(false);
    expect(() => rt.state("c1")).toThrow("container c1 does not exist");
  });

  it("pauses and resumes through the freezer", async () => {
    const rt = runtime("running");
    await rt.create("c1", { bundle: bundle() });
    await rt.pause("c1");
    expect(rt.state("c1").status).toBe("paused");
    await expect(rt.pause("c1")).rejects.toThrow("container c1 is already paused");
    await rt.resume("c1");
    expect(rt.state("c1").status).toBe("running");
    await expect(rt.resume("c1")).rejects.toThrow("container c1 is not paused");
  });

  it("kills PID 1, then the container is stopped and can be deleted without force", async () => {
    const rt = runtime("running");
    const { pid } = await rt.create("c1", { bundle: bundle() });
    await rt.kill("c1", "KILL");
    const child = children.find((c) => c.pid === pid)!;
    await new Promise((r) => (child.exitCode !== null || child.signalCode ? r(null) : child.once("exit", r)));
    expect(rt.state("c1").status).toBe("stopped");
    await expect(rt.kill("c1", "TERM")).rejects.toThrow("container c1 is not running");
    await expect(rt.start("c1")).rejects.toThrow("cannot start a container that has stopped");
    await rt.delete("c1");
    expect(fs.existsSync(cg("cpu"))).toBe(false);
  });

  it("reports the monitor's exit record", async () => {
    const rt = runtime("running");
    await rt.create("c1", { bundle: bundle() });
    const exit = { exitCode: 3, oomKilled: false, startedAt: "2025-01-01T00:00:01Z", finishedAt: "2025-01-01T00:00:02Z" };
    fs.writeFileSync(path.join(rt.stateDir("c1"), "exit.json"), JSON.stringify(exit));
    expect(rt.state("c1")).toMatchObject({ status: "stopped", exit, startedAt: exit.startedAt, finishedAt: exit.finishedAt });
  });

  it("deletes a created container without force, killing its init and monitor", async () => {
    const rt = runtime();
    const st = await rt.create("c1", { bundle: bundle() });
    await rt.delete("c1");
    expect(tree.signals).toContainEqual({ pid: st.pid, signal: "SIGKILL" });
    expect(fs.existsSync(rt.stateDir("c1"))).toBe(false);
    expect(fs.existsSync(cg("memory"))).toBe(false);
  });

  it("treats a container whose monitor died as stopped and repairs it on delete", async () => {
    const rt = runtime("running");
    const st = await rt.create("c1", { bundle: bundle() });
    const monitor = children.find((c) => c.pid === st.monitorPid)!;
    monitor.kill("SIGKILL");
    await new Promise((r) => monitor.once("exit", r));
    expect(rt.state("c1").status).toBe("stopped");
    await rt.delete("c1");
    expect(tree.signals).toContainEqual({ pid: st.pid, signal: "SIGKILL" });
    expect(fs.existsSync(cg("cpu"))).toBe(false);
  });

  it("is not fooled by a monitor that records the exit and exits between its reads", async () => {
    const rt = runtime("running");
    const st = await rt.create("c1", { bundle: bundle() });
    const exit = { exitCode: 137, signal: 9, oomKilled: false, startedAt: "2025-01-01T00:00:01Z", finishedAt: "2025-01-01T00:00:02Z" };
    // The monitor's finalize, just after the runtime looked for exit.json and before it looks at the monitor.
    aliveHook.fn = (p) => {
      if (p?.pid !== st.monitorPid) return undefined;
      fs.writeFileSync(path.join(rt.stateDir("c1"), "exit.json"), JSON.stringify(exit));
      return false;
    };
    expect(rt.state("c1")).toMatchObject({ status: "stopped", exit: { exitCode: 137 }, monitorAlive: false });
  });

  it("repairs a create that died half-way", async () => {
    const rt = runtime();
    const stateDir = rt.stateDir("c2");
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(path.join(stateDir, "state.json"), JSON.stringify({ ociVersion: "1.1.0", id: "c2", bundle: "/b", phase: "creating", created: "t", cgroupPath: "/tsrun/unit-c2" }));
    const driver = new CgroupDriver(layoutFromMountinfo(tree.mountinfo), tree.cgfs);
    driver.create("/tsrun/unit-c2");
    driver.create("/tsrun/unit-c2.monitor");
    expect(rt.state("c2").status).toBe("stopped");
    await rt.delete("c2");
    expect(fs.existsSync(stateDir)).toBe(false);
    expect(fs.existsSync(cg("cpu"))).toBe(false);
  });

  it("repairs a state dir left without a record", async () => {
    const rt = runtime();
    fs.mkdirSync(rt.stateDir("c3"), { recursive: true });
    expect(rt.state("c3").status).toBe("stopped");
    await expect(rt.kill("c3", "KILL")).rejects.toThrow("container c3 was never created completely; delete it");
    await rt.delete("c3");
    expect(fs.existsSync(rt.stateDir("c3"))).toBe(false);
  });

  it("says when a container does not exist", async () => {
    const rt = runtime();
    expect(() => rt.state("nope")).toThrow("container nope does not exist");
    await expect(rt.delete("nope")).rejects.toThrow("container nope does not exist");
    expect(rt.list()).toEqual([]);
  });
});

/**
 * Who supervises a container, at the native level: the monitor and the init land in their
 * own cgroups (never the caller's), and when the monitor is killed the whole container goes
 * with it, leaving no exit record and running neither the exit nor the restart command.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { openCgroupDriver, monitorCgroupPath, type Cgroup } from "../../src/cgroups/index.js";
import { launchMonitor, MonitorConnection, readExitRecord, readRestartAt } from "../../src/runtime/monitor-client.js";
import type { Plan } from "../../src/runtime/plan.js";
import { MONITOR, alive, isRoot, killIfAlive, makeBusyboxLayer, makeContainerDirs, makePlan, makeTemp, waitGone } from "./native-fixture.js";

if (!isRoot) console.warn("native-supervision.test.ts: skipped, integration tests need root");

/** Every process in the PID namespace of `pid` (as the host sees them). */
function pidNamespaceMembers(pid: number): number[] {
  const ns = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/ns/pid`) === ns) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** /proc/PID/cgroup as { hierarchy: path }. */
function cgroupsOf(pid: number | "self"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n")) {
    const [, controllers, p] = /^\d+:([^:]*):(.*)$/.exec(line)!;
    out[controllers || "unified"] = p!;
  }
  return out;
}

describe.skipIf(!isRoot)("container supervision (native)", () => {
  let tmp: string;
  let layer: string;
  let n = 0;
  const pids: number[] = [];
  const cgroups: Cgroup[] = [];

  beforeAll(() => {
    tmp = makeTemp();
    layer = path.join(tmp, "layers", "base");
    makeBusyboxLayer(layer);
  });
  afterEach(async () => {
    killIfAlive(...pids.splice(0));
    const driver = openCgroupDriver();
    for (const cg of cgroups.splice(0)) {
      await cg.remove();
      driver.removeEmptyAncestors(cg.path);
    }
  });
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Fresh cgroups for a container and its monitor (removed after the test), placed in `plan`. */
  const placeInCgroups = (plan: Plan): string => {
    const driver = openCgroupDriver();
    const cgPath = `/tsrun/native-test-${process.pid}-${++n}`;
    const container = driver.create(cgPath);
    cgroups.push(container);
    const monitorCg = driver.create(monitorCgroupPath(cgPath));
    cgroups.push(monitorCg);
    const placement = driver.placement(container, monitorCg);
    plan.cgroupProcs = placement.procs;
    plan.monitor.ownCgroupProcs = placement.monitorProcs;
    return cgPath;
  };

  /** Launches, starts, and waits for the command to print "ready". */
  const startReady = async (plan: Plan) => {
    const launched = await launchMonitor({ plan, monitorPath: MONITOR });
    pids.push(launched.pid, launched.monitorPid);
    const conn = await MonitorConnection.connect(plan.monitor.stateDir, { stdout: true });
    let out = "";
    const ready = new Promise<void>((resolve) => conn.on("stdout", (b) => (out += b.toString()).includes("ready\n") && resolve()));
    await conn.start();
    await ready;
    return { launched, conn, out: () => out };
  };

  const expectPlaced = (pid: number, cgPath: string) => {
    const mine = cgroupsOf("self");
    const theirs = cgroupsOf(pid);
    for (const h of Object.keys(mine)) expect([h, theirs[h]]).toEqual([h, cgPath]);
  };

  it("puts the init in the container's cgroups and the monitor in its own, in every hierarchy", async () => {
    const mine = cgroupsOf("self");
    const plan = makePlan({ args: ["sh", "-c", "probe cgroup; echo ready; exec probe sleep-forever"], lowers: [layer], ...makeContainerDirs(tmp, `c${++n}`) });
    const cgPath = placeInCgroups(plan);
    expect(Object.keys(mine).length).toBe(plan.cgroupProcs.length);
    const { launched, conn, out } = await startReady(plan);

    expectPlaced(launched.pid, cgPath);
    expectPlaced(launched.monitorPid, monitorCgroupPath(cgPath));
    // The test's own process stayed where it was; the container sees its cgroup as its root.
    expect(cgroupsOf("self")).toEqual(mine);
    for (const line of out().trim().split("\n").slice(0, -1)) expect(line).toMatch(/:\/$/);
    expect(cgroups[0]!.pids()).toEqual([launched.pid]);
    expect(cgroups[1]!.pids()).toEqual([launched.monitorPid]);

    // A second container joining the first one's user and network namespaces, with a PID
    // namespace of its own (its init is cloned by an intermediate child), lands in its own.
    const second = makePlan({ args: ["sh", "-c", "echo ready; exec probe sleep-forever"], lowers: [layer], ...makeContainerDirs(tmp, `c${++n}`) });
    second.newNamespaces = ["mnt", "pid", "uts", "ipc", "cgroup"];
    second.joinNamespaces = [
      { kind: "user", path: `/proc/${launched.pid}/ns/user` },
      { kind: "net", path: `/proc/${launched.pid}/ns/net` },
    ];
    second.uidMap = [];
    second.gidMap = [];
    const secondPath = placeInCgroups(second);
    const b = await startReady(second);
    expectPlaced(b.launched.pid, secondPath);
    expectPlaced(b.launched.monitorPid, monitorCgroupPath(secondPath));

    for (const c of [conn, b.conn]) {
      c.signal(9);
      await c.waitExit();
      c.close();
    }
    await waitGone(launched.monitorPid);
    await waitGone(b.launched.monitorPid);
  });

  it("takes the whole container down with a killed monitor: no exit record, no exit or restart command", async () => {
    const dirs = makeContainerDirs(tmp, `c${++n}`);
    const marks = path.join(tmp, `marks${n}`);
    fs.mkdirSync(marks);
    const plan = makePlan({
      // PID 1, two children and an orphan (reparented to PID 1), all sleeping.
      args: ["sh", "-c", "sleep 1000 & sleep 1000 & (sleep 1000 &); echo ready; wait"],
      lowers: [layer],
      ...dirs,
      exitCommand: ["/bin/sh", "-c", `touch ${marks}/exited`],
    });
    plan.monitor.restart = { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 0, command: ["/bin/sh", "-c", `touch ${marks}/restarted`] };
    const launched = await launchMonitor({ plan, monitorPath: MONITOR });
    pids.push(launched.pid, launched.monitorPid);
    const conn = await MonitorConnection.connect(dirs.stateDir, { stdout: true });
    let out = "";
    const ready = new Promise<void>((resolve) => conn.on("stdout", (b) => (out += b.toString()).includes("ready\n") && resolve()));
    await conn.start();
    await ready;
    const members = pidNamespaceMembers(launched.pid);
    pids.push(...members);
    expect(members.length).toBeGreaterThanOrEqual(4);

    process.kill(launched.monitorPid, "SIGKILL");
    await waitGone(launched.monitorPid);
    for (const pid of members) await waitGone(pid);
    expect(members.filter(alive)).toEqual([]);
    conn.close();
    // Nothing recorded an exit, and nothing was left to run a command after it.
    expect(readExitRecord(dirs.stateDir)).toBeUndefined();
    expect(readRestartAt(dirs.stateDir)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.readdirSync(marks)).toEqual([]);
  });
});

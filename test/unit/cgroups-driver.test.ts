import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeCgroupTree } from "../../src/cgroups/fake-tree.js";
import type { CgroupFs } from "../../src/cgroups/cgroupfs.js";
import { CgroupDriver } from "../../src/cgroups/driver.js";
import { layoutFromMountinfo } from "../../src/cgroups/hierarchy.js";

const trees: FakeCgroupTree[] = [];
function tree(layout: "v1" | "v2", opts?: { swapAccounting?: boolean; cgroupKill?: boolean }): FakeCgroupTree {
  const t = new FakeCgroupTree(layout, opts);
  trees.push(t);
  return t;
}
afterEach(() => {
  for (const t of trees.splice(0)) t.dispose();
});

const read = (file: string) => fs.readFileSync(file, "utf8").trim();

describe("v1 driver on a fake tree", () => {
  it("creates the cgroup in every hierarchy, with cpuset copied into each new level", () => {
    const t = tree("v1");
    const cg = t.driver().create("/tsrun/a");
    expect(cg.version).toBe(1);
    for (const name of ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"]) {
      expect(fs.statSync(path.join(t.hierarchy(name), "tsrun", "a")).isDirectory()).toBe(true);
    }
    expect(read(path.join(t.hierarchy("cpuset"), "tsrun", "cpuset.cpus"))).toBe("0-1");
    expect(read(path.join(t.hierarchy("cpuset"), "tsrun", "a", "cpuset.mems"))).toBe("0");
    // A task can join only because of the copy (the fake refuses with ENOSPC otherwise).
    for (const f of cg.procsFiles()) t.cgfs.write(f, "100");
    expect(cg.pids()).toEqual([100]);
  });

  it("refuses to take over an existing cgroup and leaves nothing of its own", () => {
    const t = tree("v1");
    fs.mkdirSync(path.join(t.hierarchy("pids"), "tsrun", "a"), { recursive: true });
    expect(() => t.driver().create("/tsrun/a")).toThrow(`Cannot create cgroup "${t.hierarchy("pids")}/tsrun/a": it exists`);
    expect(fs.existsSync(path.join(t.hierarchy("cpu"), "tsrun"))).toBe(false);
    expect(fs.existsSync(path.join(t.hierarchy("pids"), "tsrun", "a"))).toBe(true);
  });

  it("fills a shared level another creator left unprepared, but never the host's own levels", () => {
    const t = tree("v1");
    const cpuset = t.hierarchy("cpuset");
    fs.mkdirSync(path.join(cpuset, "tsrun"));
    fs.writeFileSync(path.join(cpuset, "tsrun", "cpuset.cpus"), "");
    fs.writeFileSync(path.join(cpuset, "tsrun", "cpuset.mems"), "");
    fs.writeFileSync(path.join(cpuset, "tsrun", "cgroup.procs"), "");
    t.driver().create("/tsrun/a");
    expect(read(path.join(cpuset, "tsrun", "cpuset.cpus"))).toBe("0-1");
    expect(read(path.join(cpuset, "tsrun", "a", "cpuset.cpus"))).toBe("0-1");
    expect(t.writes.some((w) => w.file === "cpuset/cpuset.cpus")).toBe(false);
  });

  it("applies resources to the controllers' hierarchies", () => {
    const t = tree("v1");
    const cg = t.driver().create("/tsrun/a");
    cg.applyResources({ memory: { limit: 1 << 20, reservation: 1 << 19, swap: 2 << 20 }, cpu: { shares: 256, quota: 20000, period: 50000, cpus: "1" }, pids: { limit: 7 } });
    const at = (h: string, f: string) => read(path.join(t.hierarchy(h), "tsrun", "a", f));
    expect(at("memory", "memory.limit_in_bytes")).toBe("1048576");
    expect(at("memory", "memory.soft_limit_in_bytes")).toBe("524288");
    expect(at("memory", "memory.memsw.limit_in_bytes")).toBe("2097152");
    expect(at("cpu", "cpu.shares")).toBe("256");
    expect(at("cpu", "cpu.cfs_quota_us")).toBe("20000");
    expect(at("cpu", "cpu.cfs_period_us")).toBe("50000");
    expect(at("cpuset", "cpuset.cpus")).toBe("1");
    expect(at("pids", "pids.max")).toBe("7");
  });

  it("moves memsw first when raising the limit above it", () => {
    const t = tree("v1");
    const cg = t.driver().create("/tsrun/a");
    cg.applyResources({ memory: { limit: 100, swap: 200 } });
    t.writes.length = 0;
    cg.applyResources({ memory: { limit: 300, swap: 400 } });
    expect(t.writes.map((w) => path.basename(w.file))).toEqual(["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
  });

  it("skips the swap limit when swap accounting is off", () => {
    const t = tree("v1", { swapAccounting: false });
    const cg = t.driver().create("/tsrun/a");
    cg.applyResources({ memory: { limit: 100, swap: 200 } });
    expect(t.writes.map((w) => path.basename(w.file))).toContain("memory.limit_in_bytes");
    expect(t.writes.map((w) => path.basename(w.file))).not.toContain("memory.memsw.limit_in_bytes");
  });

  it("freezes and thaws with the v1 freezer", async () => {
    const t = tree("v1");
    const cg = t.driver().create("/tsrun/a");
    expect(cg.isFrozen()).toBe(false);
    await cg.freeze();
    expect(read(path.join(t.hierarchy("freezer"), "tsrun", "a", "freezer.state"))).toBe("FROZEN");
    expect(cg.isFrozen()).toBe(true);
    await cg.thaw();
    expect(cg.isFrozen()).toBe(false);
  });

  it("reads the OOM-kill counter from memory.oom_control", () => {
    const t = tree("v1");
    const cg = t.driver().create("/tsrun/a");
    expect(cg.oomEventsFile()).toBe(path.join(t.hierarchy("memory"), "tsrun", "a", "memory.oom_control"));
    expect(cg.oomKillCount()).toBe(0);
    fs.writeFileSync(cg.oomEventsFile()!, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    expect(cg.oomKillCount()).toBe(3);
  });

  it("kills through the unified cgroup.kill, then removes leaf-first and the empty /tsrun", async () => {
    const t = tree("v1");
    const driver = t.driver();
    const cg = driver.create("/tsrun/a");
    for (const f of cg.procsFiles()) t.cgfs.write(f, "41");
    const child = path.join(t.hierarchy("memory"), "tsrun", "a", "sub");
    t.cgfs.mkdir(child);
    t.addProcess(child, 42);
    await cg.freeze();
    await cg.remove();
    expect(t.writes.map((w) => w.file)).toContain("unified/tsrun/a/cgroup.kill");
    expect(cg.isFrozen()).toBe(false);
    expect(cg.exists()).toBe(false);
    driver.removeEmptyAncestors(cg.path);
    for (const name of ["cpu", "memory", "unified", "systemd"]) expect(fs.existsSync(path.join(t.hierarchy(name), "tsrun"))).toBe(false);
  });

  it("without cgroup.kill, freezes, kills each pid and thaws", async () => {
    const t = tree("v1", { cgroupKill: false });
    const cg = t.driver().create("/tsrun/a");
    for (const f of cg.procsFiles()) t.cgfs.write(f, "51");
    t.addProcess(path.join(t.hierarchy("pids"), "tsrun", "a"), 52);
    await cg.killAll();
    expect(t.signals).toEqual([
      { pid: 51, signal: "SIGKILL" },
      { pid: 52, signal: "SIGKILL" },
    ]);
    const freezer = t.writes.filter((w) => w.file.endsWith("freezer.state")).map((w) => w.value);
    expect(freezer).toEqual(["FROZEN", "THAWED"]);
    expect(cg.pids()).toEqual([]);
  });

  it("keeps /tsrun while another container uses it", async () => {
    const t = tree("v1");
    const driver = t.driver();
    const a = driver.create("/tsrun/a");
    driver.create("/tsrun/b");
    await a.remove();
    driver.removeEmptyAncestors(a.path);
    expect(fs.existsSync(path.join(t.hierarchy("cpu"), "tsrun", "b"))).toBe(true);
  });

  it("never removes levels above a cgroup outside /tsrun", async () => {
    const t = tree("v1");
    const driver = t.driver();
    const cg = driver.create("/other/a");
    await cg.remove();
    driver.removeEmptyAncestors(cg.path);
    expect(fs.existsSync(path.join(t.hierarchy("cpu"), "other"))).toBe(true);
    expect(fs.existsSync(path.join(t.hierarchy("cpu"), "other", "a"))).toBe(false);
  });

  it("retries when the shared parent vanishes between its mkdirs", () => {
    const t = tree("v1");
    let vanished = false;
    const racing: CgroupFs = {
      ...t.cgfs,
      mkdir(dir) {
        if (!vanished && dir.endsWith("/tsrun/a")) {
          vanished = true;
          t.cgfs.rmdir(path.dirname(dir)); // another container's delete took the empty parent
        }
        t.cgfs.mkdir(dir);
      },
    };
    const cg = new CgroupDriver(layoutFromMountinfo(t.mountinfo), racing).create("/tsrun/a");
    expect(vanished).toBe(true);
    expect(cg.exists()).toBe(true);
    expect(read(path.join(t.hierarchy("cpuset"), "tsrun", "a", "cpuset.cpus"))).toBe("0-1");
  });

  it("sweeps empty monitor cgroups whose container is gone", async () => {
    const t = tree("v1");
    const driver = t.driver();
    const gone = driver.create("/tsrun/gone.monitor");
    const busy = driver.create("/tsrun/busy.monitor");
    t.addProcess(busy.dirs[0]!.dir, 7);
    const alive = driver.create("/tsrun/alive");
    const aliveMonitor = driver.create("/tsrun/alive.monitor");
    driver.sweepMonitorCgroups("/tsrun");
    expect(gone.exists()).toBe(false);
    expect(busy.exists()).toBe(true);
    expect(alive.exists()).toBe(true);
    expect(aliveMonitor.exists()).toBe(true);
  });

  it("describes the placement for the planner", () => {
    const t = tree("v1");
    const driver = t.driver();
    const p = driver.placement(driver.create("/tsrun/a"), driver.create("/tsrun/a.monitor"));
    expect(p.version).toBe(1);
    expect(p.path).toBe("/tsrun/a");
    expect(p.procs).toContain(path.join(t.hierarchy("pids"), "tsrun", "a", "cgroup.procs"));
    expect(p.monitorProcs).toContain(path.join(t.hierarchy("pids"), "tsrun", "a.monitor", "cgroup.procs"));
    expect(p.oomEventsFile).toBe(path.join(t.hierarchy("memory"), "tsrun", "a", "memory.oom_control"));
    expect(p.hierarchies.find((h) => h.name === "systemd")?.mountData).toBe("none,name=systemd");
    expect(p.hierarchies.find((h) => h.name === "cpu")?.mountData).toBe("cpu");
    expect(p.hierarchies.find((h) => h.name === "unified")).toMatchObject({ fstype: "cgroup2", mountData: "" });
  });
});

describe("v2 driver on a fake tree (the only way it is exercised on this v1 host)", () => {
  it("creates one directory and passes controllers down from /tsrun", () => {
    const t = tree("v2");
    const cg = t.driver().create("/tsrun/a");
    expect(cg.version).toBe(2);
    expect(cg.dirs.map((d) => d.dir)).toEqual([path.join(t.root, "tsrun", "a")]);
    expect(read(path.join(t.root, "tsrun", "cgroup.subtree_control"))).toBe("cpuset cpu io memory pids");
    expect(read(path.join(t.root, "tsrun", "a", "cgroup.subtree_control"))).toBe("");
    expect(t.writes.some((w) => w.file === "cgroup.subtree_control")).toBe(false);
  });

  it("applies resources under their v2 names", () => {
    const t = tree("v2");
    const cg = t.driver().create("/tsrun/a");
    cg.applyResources({ memory: { limit: 1000, reservation: 500, swap: 3000 }, cpu: { shares: 2048, quota: 150000, period: 100000, cpus: "0-1" }, pids: { limit: 64 } });
    const at = (f: string) => read(path.join(t.root, "tsrun", "a", f));
    expect(at("memory.max")).toBe("1000");
    expect(at("memory.low")).toBe("500");
    expect(at("memory.swap.max")).toBe("2000");
    expect(at("cpu.weight")).toBe("79");
    expect(at("cpu.max")).toBe("150000 100000");
    expect(at("cpuset.cpus")).toBe("0-1");
    expect(at("pids.max")).toBe("64");
  });

  it("refuses a resource whose controller is not enabled", () => {
    const t = tree("v2");
    fs.writeFileSync(path.join(t.root, "cgroup.subtree_control"), "cpu");
    const cg = t.driver().create("/tsrun/a");
    expect(() => cg.applyResources({ memory: { limit: 1000 } })).toThrow(
      'Cannot apply "memory.max": the "memory" cgroup controller is not enabled for "/tsrun/a"',
    );
    expect(cg.oomEventsFile()).toBeUndefined();
  });

  it("freezes through cgroup.freeze and waits for cgroup.events", async () => {
    const t = tree("v2");
    const cg = t.driver().create("/tsrun/a");
    await cg.freeze();
    expect(cg.isFrozen()).toBe(true);
    expect(read(path.join(t.root, "tsrun", "a", "cgroup.events"))).toContain("frozen 1");
    await cg.thaw();
    expect(cg.isFrozen()).toBe(false);
  });

  it("reads oom_kill from memory.events and removes with cgroup.kill", async () => {
    const t = tree("v2");
    const driver = t.driver();
    const cg = driver.create("/tsrun/a");
    fs.writeFileSync(cg.oomEventsFile()!, "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n");
    expect(cg.oomKillCount()).toBe(1);
    t.addProcess(cg.dirs[0]!.dir, 9);
    expect(cg.pids()).toEqual([9]);
    await cg.remove();
    driver.removeEmptyAncestors(cg.path);
    expect(t.writes.map((w) => w.file)).toContain("tsrun/a/cgroup.kill");
    expect(fs.existsSync(path.join(t.root, "tsrun"))).toBe(false);
  });

  it("without cgroup.kill, freezes, kills each pid and thaws", async () => {
    const t = tree("v2", { cgroupKill: false });
    const cg = t.driver().create("/tsrun/a");
    t.addProcess(cg.dirs[0]!.dir, 61);
    await cg.killAll();
    expect(t.signals).toEqual([{ pid: 61, signal: "SIGKILL" }]);
    expect(t.writes.filter((w) => w.file.endsWith("cgroup.freeze")).map((w) => w.value)).toEqual(["1", "0"]);
  });

  it("describes a v2 placement with one unnamed cgroup2 hierarchy", () => {
    const t = tree("v2");
    const driver = t.driver();
    const p = driver.placement(driver.create("/tsrun/a"), driver.create("/tsrun/a.monitor"));
    expect(p.hierarchies).toEqual([{ name: "", fstype: "cgroup2", mountData: "", dir: path.join(t.root, "tsrun", "a") }]);
    expect(p.oomEventsFile).toBe(path.join(t.root, "tsrun", "a", "memory.events"));
  });
});

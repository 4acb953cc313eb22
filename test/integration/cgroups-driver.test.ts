/**
 * The cgroup driver on this host's real hierarchies (cgroup v1 with a controller-less
 * cgroup2 beside it), as root. Only cgroups under a random /tsrun/it-… path are touched.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Cgroup } from "../../src/cgroups/cgroup.js";
import { openCgroupDriver } from "../../src/cgroups/driver.js";

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("cgroups integration tests skipped: not root");

const made: Cgroup[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  const driver = openCgroupDriver();
  for (const cg of made.splice(0)) {
    await cg.remove().catch(() => undefined);
    driver.removeEmptyAncestors(cg.path);
  }
});

async function sleeper(): Promise<number> {
  const c = spawn("sleep", ["1000"], { stdio: "ignore" });
  children.push(c);
  await new Promise((r) => c.once("spawn", r));
  return c.pid!;
}

function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

describe.skipIf(!isRoot)("cgroup driver on this host", () => {
  it("finds the hybrid layout", () => {
    const driver = openCgroupDriver();
    expect(driver.version).toBe(1);
    expect(driver.hierarchies.map((h) => h.name)).toEqual(expect.arrayContaining(["cpu", "cpuacct", "cpuset", "memory", "freezer", "pids", "unified"]));
  });

  it("creates a joinable cgroup, applies limits, freezes, kills and removes it", async () => {
    const driver = openCgroupDriver();
    const cgPath = `/tsrun/it-${randomBytes(6).toString("hex")}`;
    const cg = driver.create(cgPath);
    made.push(cg);
    // Joining every hierarchy works only because cpuset.cpus/mems were copied in.
    const pid = await sleeper();
    for (const f of cg.procsFiles()) fs.writeFileSync(f, String(pid));
    expect(cg.pids()).toEqual([pid]);

    cg.applyResources({ memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 }, cpu: { shares: 512, quota: 50000, period: 100000 }, pids: { limit: 20 } });
    const at = (h: string, f: string) => fs.readFileSync(path.join("/sys/fs/cgroup", h, cgPath, f), "utf8").trim();
    expect(at("memory", "memory.limit_in_bytes")).toBe(String(64 << 20));
    expect(at("memory", "memory.memsw.limit_in_bytes")).toBe(String(128 << 20));
    expect(at("cpu", "cpu.cfs_quota_us")).toBe("50000");
    expect(at("cpu", "cpu.shares")).toBe("512");
    expect(at("pids", "pids.max")).toBe("20");
    expect(cg.oomKillCount()).toBe(0);

    await cg.freeze();
    expect(cg.isFrozen()).toBe(true);
    expect(at("freezer", "freezer.state")).toBe("FROZEN");
    await cg.thaw();
    expect(cg.isFrozen()).toBe(false);

    await cg.freeze(); // removal must work on a frozen cgroup too
    await cg.remove();
    expect(cg.exists()).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(stateOf(pid) === undefined || stateOf(pid) === "Z").toBe(true);
    driver.removeEmptyAncestors(cgPath);
  });

  it("keeps /tsrun while another cgroup uses it and removes it after the last", async () => {
    const driver = openCgroupDriver();
    const a = driver.create(`/tsrun/it-${randomBytes(6).toString("hex")}`);
    const b = driver.create(`/tsrun/it-${randomBytes(6).toString("hex")}`);
    made.push(a, b);
    await a.remove();
    driver.removeEmptyAncestors(a.path);
    expect(fs.existsSync(path.join("/sys/fs/cgroup/pids", b.path))).toBe(true);
    await b.remove();
    driver.removeEmptyAncestors(b.path);
    // Gone unless a parallel test has its own cgroup under it.
    for (const h of ["pids", "unified", "cpuset"]) {
      const parent = path.join("/sys/fs/cgroup", h, "tsrun");
      if (fs.existsSync(parent)) expect(fs.readdirSync(parent, { withFileTypes: true }).some((d) => d.isDirectory())).toBe(true);
    }
  });

  it("refuses to take over an existing cgroup", () => {
    const driver = openCgroupDriver();
    const cg = driver.create(`/tsrun/it-${randomBytes(6).toString("hex")}`);
    made.push(cg);
    expect(() => driver.create(cg.path)).toThrow(/Cannot create cgroup ".*": it exists/);
    expect(cg.exists()).toBe(true);
  });
});

/**
 * Resource limits on real containers: each one read back from inside the container (its
 * own /sys/fs/cgroup), enforced (a pids limit refuses forks, a memory limit OOM-kills),
 * recorded in HostConfig, and Docker's messages for bad values.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("limits-cli.test.ts: skipped, integration tests need root");

const cgroupV1 = fs.existsSync("/sys/fs/cgroup/memory/memory.limit_in_bytes");
const MiB = 1024 * 1024;

describe.skipIf(!isRoot)("resource limits", () => {
  let root: TestRoot;
  const sh = (flags: string[], script: string) => root.run(["run", "--rm", ...flags, "busybox", "sh", "-c", script]);
  const inspect = async (name: string, path: string) => (await root.run(["inspect", "-f", `{{json ${path}}}`, name])).stdout.trim();

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  it.skipIf(!cgroupV1)("--memory, --memory-reservation and swap are the container's memory cgroup", async () => {
    const r = await sh(["-m", "32m", "--memory-reservation", "16m"], "cd /sys/fs/cgroup/memory; cat memory.limit_in_bytes memory.soft_limit_in_bytes memory.memsw.limit_in_bytes 2>/dev/null");
    expect(r.stderr).toBe("");
    const [limit, soft, memsw] = r.stdout.trim().split("\n").map(Number);
    expect(limit).toBe(32 * MiB);
    expect(soft).toBe(16 * MiB);
    // Docker's default: memory+swap twice the memory (when swap accounting is on).
    if (memsw !== undefined) expect(memsw).toBe(64 * MiB);
    const unlimited = await sh(["-m", "32m", "--memory-swap", "-1"], "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo none");
    expect(["none", "9223372036854771712"]).toContain(unlimited.stdout.trim());
  });

  it.skipIf(!cgroupV1)("--cpus is a CFS quota per 100 ms, --cpu-shares the cpu.shares, --cpuset-cpus the cpuset", async () => {
    const r = await sh(["--cpus", "0.5", "-c", "512", "--cpuset-cpus", "0"], "cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus");
    expect(r.stdout.trim().split("\n")).toEqual(["50000", "100000", "512", "0"]);
    const affinity = await sh(["--cpuset-cpus", "0"], "grep Cpus_allowed_list /proc/self/status");
    expect(affinity.stdout).toMatch(/Cpus_allowed_list:\s+0\n/);
  });

  it("--pids-limit refuses forks past the limit", async () => {
    const forks = "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; echo all-forked";
    const limited = await sh(["--pids-limit", "5"], forks);
    expect(limited.stdout).not.toContain("all-forked");
    expect(limited.stderr).toContain("can't fork");
    const free = await sh([], forks);
    expect(free.stdout).toBe("all-forked\n");
    if (cgroupV1) expect((await sh(["--pids-limit", "5"], "cat /sys/fs/cgroup/pids/pids.max")).stdout).toBe("5\n");
  });

  it("records the limits in HostConfig as Docker does", async () => {
    const r = await root.run(["create", "--name", "limited", "-m", "64m", "--cpus", "1.5", "-c", "256", "--cpuset-cpus", "0", "--pids-limit", "100", "--memory-reservation", "32m", "busybox", "true"]);
    if (r.code !== 0 && /unknown command/.test(r.stderr)) {
      // `create` comes with the lifecycle commands; run the same flags instead.
      expect((await root.run(["run", "--name", "limited", "-m", "64m", "--cpus", "1.5", "-c", "256", "--cpuset-cpus", "0", "--pids-limit", "100", "--memory-reservation", "32m", "busybox", "true"])).code).toBe(0);
    } else {
      expect(r.code).toBe(0);
    }
    const hc = JSON.parse(await inspect("limited", ".HostConfig"));
    expect(hc).toMatchObject({
      Memory: 64 * MiB,
      MemoryReservation: 32 * MiB,
      NanoCpus: 1_500_000_000,
      CpuShares: 256,
      CpusetCpus: "0",
      PidsLimit: 100,
    });
    expect([128 * MiB, -1]).toContain(hc.MemorySwap);
    expect(await inspect("limited", ".HostConfig.PidsLimit")).toBe("100");
  });

  it("an OOM kill shows as exit 137 and State.OOMKilled", async () => {
    // The shell doubles a variable until the 32 MiB limit (no swap allowed) stops it.
    const r = await root.run(["run", "--name", "oom", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c", "x=0123456789; while true; do x=$x$x; done"], { timeoutMs: 60_000 });
    expect(r.code).toBe(137);
    expect(await inspect("oom", ".State.OOMKilled")).toBe("true");
    expect(await inspect("oom", ".State.ExitCode")).toBe("137");
    const fine = await root.run(["run", "--name", "fine", "-m", "32m", "busybox", "true"]);
    expect(fine.code).toBe(0);
    expect(await inspect("fine", ".State.OOMKilled")).toBe("false");
  });

  it("refuses bad values with Docker's messages (exit 125), creating nothing", async () => {
    const before = (await root.run(["ps", "-aq"])).stdout;
    const cases: [string[], string][] = [
      [["-m", "4m"], "Minimum memory limit allowed is 6MB"],
      [["-m", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit, see usage"],
      [["--memory-swap", "64m"], "You should always set the Memory limit when using Memoryswap limit, see usage"],
      [["-m", "32m", "--memory-reservation", "64m"], "Minimum memory limit can not be less than memory reservation limit, see usage"],
      [["-m", "lots"], `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`],
      [["--cpus", "abc"], `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`],
      [["--cpus", "4096"], "Range of CPUs is from 0.01 to"],
      [["--cpuset-cpus", "0-4095"], "Requested CPUs are not available - requested 0-4095, available: "],
      [["--cpuset-cpus", "x"], "Invalid value x for cpuset cpus: invalid format: x"],
      [["--pids-limit", "many"], `invalid argument "many" for "--pids-limit" flag: strconv.ParseInt: parsing "many": invalid syntax`],
    ];
    for (const [flags, message] of cases) {
      const r = await root.run(["run", "--rm", ...flags, "busybox", "true"]);
      expect(r.code, flags.join(" ")).toBe(125);
      expect(r.stderr, flags.join(" ")).toContain(message);
    }
    expect((await root.run(["ps", "-aq"])).stdout).toBe(before);
  });
});

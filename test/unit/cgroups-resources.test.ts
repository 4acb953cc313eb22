import { describe, expect, it } from "vitest";
import { sharesToWeight, v1ResourceWrites, v2ResourceWrites } from "../../src/cgroups/resources.js";

describe("v1ResourceWrites", () => {
  it("writes memory, cpu, cpuset and pids files in a safe order", () => {
    const writes = v1ResourceWrites({
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0", mems: "0" },
      pids: { limit: 20 },
    });
    expect(writes.map((w) => `${w.controller}/${w.file}=${w.value}`)).toEqual([
      "memory/memory.limit_in_bytes=67108864",
      "memory/memory.soft_limit_in_bytes=33554432",
      "memory/memory.memsw.limit_in_bytes=134217728",
      "cpu/cpu.shares=512",
      "cpu/cpu.cfs_period_us=100000",
      "cpu/cpu.cfs_quota_us=50000",
      "cpuset/cpuset.cpus=0",
      "cpuset/cpuset.mems=0",
      "pids/pids.max=20",
    ]);
  });

  it("writes nothing for unset or zero fields and max for unlimited pids", () => {
    expect(v1ResourceWrites({})).toEqual([]);
    expect(v1ResourceWrites({ memory: { limit: 0 }, cpu: { shares: 0 }, pids: { limit: 0 } })).toEqual([]);
    expect(v1ResourceWrites({ pids: { limit: -1 } })).toEqual([{ controller: "pids", file: "pids.max", value: "max" }]);
    expect(v1ResourceWrites({ memory: { limit: -1, swap: -1 } }).map((w) => w.value)).toEqual(["-1", "-1"]);
  });

  it("refuses a swap limit below the memory limit or without one", () => {
    expect(() => v1ResourceWrites({ memory: { limit: 100, swap: 50 } })).toThrow(
      "Cannot set memory+swap limit 50: it is below the memory limit 100",
    );
    expect(() => v1ResourceWrites({ memory: { swap: 50 } })).toThrow("Cannot set memory+swap limit 50 without a memory limit");
  });

  it("refuses unified resources", () => {
    expect(() => v1ResourceWrites({ unified: { "memory.high": "1" } })).toThrow("on a cgroup v1 host");
  });
});

describe("v2ResourceWrites", () => {
  it("converts the v1-shaped spec to v2 files", () => {
    const writes = v2ResourceWrites({
      memory: { limit: 100, reservation: 40, swap: 300 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: "1", mems: "0" },
      pids: { limit: -1 },
      unified: { "memory.high": "90" },
    });
    expect(writes.map((w) => `${w.file}=${w.value}`)).toEqual([
      "memory.max=100",
      "memory.low=40",
      "memory.swap.max=200",
      "cpu.weight=39",
      "cpu.max=50000 100000",
      "cpuset.cpus=1",
      "cpuset.mems=0",
      "pids.max=max",
      "memory.high=90",
    ]);
    expect(writes.find((w) => w.file === "memory.high")?.controller).toBe("memory");
  });

  it("writes max for unlimited values and quota-less periods", () => {
    expect(v2ResourceWrites({ memory: { limit: -1 } }).map((w) => `${w.file}=${w.value}`)).toEqual(["memory.max=max", "memory.swap.max=max"]);
    expect(v2ResourceWrites({ memory: { limit: 10, swap: -1 } }).map((w) => w.value)).toEqual(["10", "max"]);
    expect(v2ResourceWrites({ cpu: { period: 20000 } })).toEqual([{ controller: "cpu", file: "cpu.max", value: "max 20000" }]);
    expect(v2ResourceWrites({ cpu: { quota: 1000 } })).toEqual([{ controller: "cpu", file: "cpu.max", value: "1000" }]);
  });

  it("refuses a unified key that is not a file name", () => {
    expect(() => v2ResourceWrites({ unified: { "../memory.max": "1" } })).toThrow('Cannot apply unified resource "../memory.max"');
  });
});

describe("sharesToWeight", () => {
  it("maps the ends and the defaults of the ranges", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(1)).toBe(1);
    expect(sharesToWeight(10_000_000)).toBe(10000);
  });
});

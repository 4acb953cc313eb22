/** Resource flags → HostConfig and linux.resources, with Docker's messages; no root needed. */
import { describe, expect, it } from "vitest";
import { parseNanoCpus, parseUintList, probeHostSupport, resolveLimits, type HostSupport } from "../../src/engine/limits.js";

const host = (over: Partial<HostSupport> = {}): HostSupport => ({
  memoryLimit: true,
  swapLimit: true,
  memoryReservation: true,
  cpuCfs: true,
  cpuShares: true,
  cpuset: true,
  pidsLimit: true,
  cpus: "0-3",
  numCpu: 4,
  ...over,
});
const resolve = (flags: Parameters<typeof resolveLimits>[0], h = host()) => resolveLimits(flags, () => h);
const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("did not throw");
};

describe("resource limits", () => {
  it("asks nothing of the host without flags", () => {
    const r = resolveLimits({}, () => {
      throw new Error("probed");
    });
    expect(r.resources).toEqual({});
    expect(r.hostConfig).toMatchObject({ Memory: 0, MemorySwap: 0, NanoCpus: 0, PidsLimit: null });
  });

  it("--memory sets the limit and, by default, memory+swap to twice it", () => {
    const r = resolve({ memory: "32m" });
    expect(r.hostConfig.Memory).toBe(32 * 1024 * 1024);
    expect(r.hostConfig.MemorySwap).toBe(64 * 1024 * 1024);
    expect(r.resources.memory).toEqual({ limit: 32 * 1024 * 1024, swap: 64 * 1024 * 1024 });
    expect(r.warnings).toEqual([]);
  });

  it("--memory-swap -1 is unlimited swap; an explicit value is memory+swap", () => {
    expect(resolve({ memory: "32m", memorySwap: "-1" }).resources.memory).toEqual({ limit: 32 * 1024 * 1024 });
    expect(resolve({ memory: "32m", memorySwap: "-1" }).hostConfig.MemorySwap).toBe(-1);
    expect(resolve({ memory: "32m", memorySwap: "100m" }).resources.memory).toEqual({ limit: 32 << 20, swap: 100 << 20 });
  });

  it("refuses Docker's bad combinations with Docker's messages", () => {
    expect(message(() => resolve({ memory: "4m" }))).toBe("Minimum memory limit allowed is 6MB");
    expect(message(() => resolve({ memory: "64m", memorySwap: "32m" }))).toBe(
      "Minimum memoryswap limit should be larger than memory limit, see usage",
    );
    expect(message(() => resolve({ memorySwap: "64m" }))).toBe("You should always set the Memory limit when using Memoryswap limit, see usage");
    expect(message(() => resolve({ memoryReservation: "1m" }))).toBe("Minimum memory reservation allowed is 6MB");
    expect(message(() => resolve({ memory: "32m", memoryReservation: "64m" }))).toBe(
      "Minimum memory limit can not be less than memory reservation limit, see usage",
    );
    expect(message(() => resolve({ memory: "lots" }))).toBe(`invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`);
    expect(message(() => resolve({ pidsLimit: "x" }))).toBe(
      `invalid argument "x" for "--pids-limit" flag: strconv.ParseInt: parsing "x": invalid syntax`,
    );
  });

  it("drops swap with Docker's warning when swap accounting is off", () => {
    const r = resolve({ memory: "32m", memorySwap: "64m" }, host({ swapLimit: false }));
    expect(r.warnings).toEqual(["Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."]);
    expect(r.hostConfig.MemorySwap).toBe(-1);
    expect(r.resources.memory).toEqual({ limit: 32 << 20 });
  });

  it("--cpus becomes a CFS quota over a 100 ms period, exactly", () => {
    expect(resolve({ cpus: "1.5" }).resources.cpu).toEqual({ period: 100000, quota: 150000 });
    expect(resolve({ cpus: "0.5" }).hostConfig.NanoCpus).toBe(500_000_000);
    expect(parseNanoCpus("3/2")).toBe(1_500_000_000);
    expect(parseNanoCpus("1e-3")).toBe(1_000_000);
    expect(message(() => parseNanoCpus("abc"))).toBe(`invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`);
    expect(message(() => parseNanoCpus("0.0000000001"))).toBe(`invalid argument "0.0000000001" for "--cpus" flag: value is too precise`);
    expect(message(() => resolve({ cpus: "8" }))).toBe("Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available");
    expect(message(() => resolve({ cpus: "1" }, host({ cpuCfs: false })))).toBe(
      "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted",
    );
  });

  it("--cpu-shares and --cpuset-cpus (checked against the host's CPUs)", () => {
    expect(resolve({ cpuShares: "512", cpusetCpus: "0,2-3" }).resources.cpu).toEqual({ shares: 512, cpus: "0,2-3" });
    expect(message(() => resolve({ cpusetCpus: "0-9" }))).toBe("Requested CPUs are not available - requested 0-9, available: 0-3");
    expect(message(() => resolve({ cpusetCpus: "0-z" }))).toBe("Invalid value 0-z for cpuset cpus: invalid format: 0-z");
    expect(message(() => resolve({ cpusetCpus: "3-1" }))).toBe("Invalid value 3-1 for cpuset cpus: invalid format: 3-1");
    expect(resolve({ cpuShares: "512" }, host({ cpuShares: false })).warnings).toEqual([
      "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
    ]);
  });

  it("--pids-limit: positive limits, 0 and -1 mean none", () => {
    expect(resolve({ pidsLimit: "10" }).resources.pids).toEqual({ limit: 10 });
    expect(resolve({ pidsLimit: "10" }).hostConfig.PidsLimit).toBe(10);
    expect(resolve({ pidsLimit: "-1" }).resources.pids).toBeUndefined();
    expect(resolve({ pidsLimit: "0" }).hostConfig.PidsLimit).toBeNull();
  });

  it("parses cpu lists as Go's ParseUintList", () => {
    expect([...parseUintList("0-2,5")!]).toEqual([0, 1, 2, 5]);
    expect(parseUintList("a")).toBeUndefined();
    expect(parseUintList("")!.size).toBe(0);
  });

  it("probes a v1 layout from mountinfo", () => {
    const mountinfo = [
      "30 25 0:26 / /sys/fs/cgroup/nope rw - cgroup cgroup rw,nope",
      "31 25 0:27 / /nonexistent/pids rw - cgroup cgroup rw,pids",
    ].join("\n");
    const h = probeHostSupport(mountinfo);
    expect(h.pidsLimit).toBe(true);
    expect(h.memoryLimit).toBe(false);
    expect(h.numCpu).toBeGreaterThan(0);
  });
});

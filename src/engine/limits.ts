/**
 * Resource flags of run/create (--memory, --memory-swap, --memory-reservation, --cpus,
 * --cpu-shares, --cpuset-cpus, --pids-limit) → Docker's HostConfig fields and the OCI
 * spec's linux.resources, with Docker's parsing (docker/cli opts), checks and messages
 * (moby's verifyPlatformContainerResources) and its defaults (memory-swap twice the
 * memory). What the host cannot enforce is dropped with Docker's warning, as Docker does.
 * The cgroup drivers (src/cgroups) write the resources; this module only decides them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { invalidArgument } from "../common/index.js";
import { layoutFromMountinfo, type Hierarchy } from "../cgroups/hierarchy.js";
import type { Resources } from "../runtime/spec.js";
import { parseSize } from "./run-options.js";

/** The flags as the user wrote them. */
export interface ResourceFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
}

/** The HostConfig fields (Docker's names and units) the flags set. */
export interface ResourceHostConfig {
  Memory: number;
  MemoryReservation: number;
  /** memory+swap; -1 unlimited; 0 unset. */
  MemorySwap: number;
  NanoCpus: number;
  CpuShares: number;
  CpusetCpus: string;
  /** null: no limit. */
  PidsLimit: number | null;
}

/** What the host's cgroups can enforce (Docker's sysinfo). */
export interface HostSupport {
  memoryLimit: boolean;
  swapLimit: boolean;
  memoryReservation: boolean;
  cpuCfs: boolean;
  cpuShares: boolean;
  cpuset: boolean;
  pidsLimit: boolean;
  /** CPUs the host lets containers use ("0-1"). */
  cpus: string;
  /** CPUs this process may run on (Go's runtime.NumCPU). */
  numCpu: number;
}

export interface Limits {
  hostConfig: ResourceHostConfig;
  resources: Resources;
  /** Docker's warnings for limits the host cannot enforce (printed as "WARNING: …"). */
  warnings: string[];
}

/** Docker's linuxMinMemory. */
const MIN_MEMORY = 6 * 1024 * 1024;
/** The CFS period Docker uses for --cpus, in µs. */
export const CPU_PERIOD_US = 100_000;

export const NO_LIMITS: ResourceHostConfig = {
  Memory: 0,
  MemoryReservation: 0,
  MemorySwap: 0,
  NanoCpus: 0,
  CpuShares: 0,
  CpusetCpus: "",
  PidsLimit: null,
};

export function hasResourceFlags(f: ResourceFlags): boolean {
  return Object.values(f).some((v) => v !== undefined);
}

/**
 * Parses, checks and completes the flags. `host` is probed only when a flag needs it, so a
 * run without limits reads nothing.
 */
export function resolveLimits(flags: ResourceFlags, host: () => HostSupport = probeHostSupport): Limits {
  const hc = parseResourceFlags(flags);
  if (!hasResourceFlags(flags)) return { hostConfig: hc, resources: {}, warnings: [] };
  const warnings = verifyResources(hc, host());
  // Docker's default: swap as large as the memory limit (memory+swap = twice the memory).
  if (hc.Memory > 0 && hc.MemorySwap === 0) hc.MemorySwap = hc.Memory * 2;
  return { hostConfig: hc, resources: ociResources(hc), warnings };
}

/** The CLI's parsing of each flag (docker/cli opts: MemBytes, MemSwapBytes, NanoCPUs, int64). */
export function parseResourceFlags(f: ResourceFlags): ResourceHostConfig {
  const hc: ResourceHostConfig = { ...NO_LIMITS };
  if (f.memory !== undefined) hc.Memory = parseSize(f.memory, "-m, --memory");
  if (f.memorySwap !== undefined) hc.MemorySwap = f.memorySwap === "-1" ? -1 : parseSize(f.memorySwap, "--memory-swap");
  if (f.memoryReservation !== undefined) hc.MemoryReservation = parseSize(f.memoryReservation, "--memory-reservation");
  if (f.cpus !== undefined) hc.NanoCpus = parseNanoCpus(f.cpus);
  if (f.cpuShares !== undefined) hc.CpuShares = parseInt64(f.cpuShares, "-c, --cpu-shares");
  if (f.cpusetCpus !== undefined) hc.CpusetCpus = f.cpusetCpus;
  if (f.pidsLimit !== undefined) {
    // 0 and negative values mean "unlimited" (moby stores them as no limit at all).
    const n = parseInt64(f.pidsLimit, "--pids-limit");
    hc.PidsLimit = n > 0 ? n : null;
  }
  return hc;
}

/** A rational number of CPUs ("1.5", "3/2") in units of 1e-9 CPUs, exact or refused. */
export function parseNanoCpus(value: string): number {
  const flagError = (why: string) => invalidArgument(`invalid argument "${value}" for "--cpus" flag: ${why}`);
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?(?:\/(\d+))?$/.exec(value.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw flagError(`failed to parse ${value} as a rational number`);
  const [, sign, whole, frac = "", exp = "0", denom = "1"] = m;
  if (BigInt(denom) === 0n) throw flagError(`failed to parse ${value} as a rational number`);
  // numerator / 10^(len(frac) - exp) / denom, times 1e9, must be an integer.
  let num = BigInt(whole! + frac) * 10n ** 9n;
  let den = BigInt(denom);
  const shift = frac.length - Number(exp);
  if (shift >= 0) den *= 10n ** BigInt(shift);
  else num *= 10n ** BigInt(-shift);
  if (num % den !== 0n) throw flagError("value is too precise");
  const nano = Number(num / den);
  return sign === "-" ? -nano : nano;
}

function parseInt64(value: string, flag: string): number {
  if (!/^[+-]?\d+$/.test(value.trim())) {
    throw invalidArgument(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`);
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw invalidArgument(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": value out of range`);
  }
  return n;
}

/**
 * moby's verifyPlatformContainerResources for create: refuses bad combinations with
 * Docker's messages; drops (with a warning) what the host cannot enforce. Mutates `hc`.
 */
export function verifyResources(hc: ResourceHostConfig, host: HostSupport): string[] {
  const warnings: string[] = [];
  if (hc.Memory !== 0 && hc.Memory < MIN_MEMORY) throw invalidArgument("Minimum memory limit allowed is 6MB");
  if (hc.Memory > 0 && !host.memoryLimit) {
    warnings.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.");
    hc.Memory = 0;
    hc.MemorySwap = -1;
  }
  if (hc.Memory > 0 && hc.MemorySwap !== -1 && !host.swapLimit) {
    warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
    hc.MemorySwap = -1;
  }
  if (hc.Memory > 0 && hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory) {
    throw invalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage");
  }
  if (hc.Memory === 0 && hc.MemorySwap > 0) {
    throw invalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage");
  }
  if (hc.MemoryReservation > 0 && !host.memoryReservation) {
    warnings.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.");
    hc.MemoryReservation = 0;
  }
  if (hc.MemoryReservation > 0 && hc.MemoryReservation < MIN_MEMORY) throw invalidArgument("Minimum memory reservation allowed is 6MB");
  if (hc.Memory > 0 && hc.MemoryReservation > 0 && hc.Memory < hc.MemoryReservation) {
    throw invalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  if (hc.PidsLimit !== null && !host.pidsLimit) {
    warnings.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.");
    hc.PidsLimit = null;
  }
  if (hc.NanoCpus > 0 && !host.cpuCfs) {
    throw invalidArgument("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted");
  }
  if (hc.NanoCpus < 0 || hc.NanoCpus > host.numCpu * 1e9) {
    throw invalidArgument(`Range of CPUs is from 0.01 to ${host.numCpu}.00, as there are only ${host.numCpu} CPUs available`);
  }
  if (hc.CpuShares < 0) throw invalidArgument("shares: invalid argument");
  if (hc.CpuShares > 0 && !host.cpuShares) {
    warnings.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.");
    hc.CpuShares = 0;
  }
  if (hc.CpusetCpus !== "" && !host.cpuset) {
    warnings.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
    hc.CpusetCpus = "";
  }
  if (hc.CpusetCpus !== "") {
    const wanted = parseUintList(hc.CpusetCpus);
    if (!wanted) throw invalidArgument(`Invalid value ${hc.CpusetCpus} for cpuset cpus: invalid format: ${hc.CpusetCpus}`);
    const available = parseUintList(host.cpus) ?? new Set<number>();
    if ([...wanted].some((c) => !available.has(c))) {
      throw invalidArgument(`Requested CPUs are not available - requested ${hc.CpusetCpus}, available: ${host.cpus}`);
    }
  }
  return warnings;
}

/** moby's oci_linux.go: HostConfig resources → linux.resources. */
export function ociResources(hc: ResourceHostConfig): Resources {
  const r: Resources = {};
  const memory: NonNullable<Resources["memory"]> = {};
  if (hc.Memory > 0) memory.limit = hc.Memory;
  if (hc.MemoryReservation > 0) memory.reservation = hc.MemoryReservation;
  if (hc.MemorySwap > 0) memory.swap = hc.MemorySwap;
  if (Object.keys(memory).length > 0) r.memory = memory;
  const cpu: NonNullable<Resources["cpu"]> = {};
  if (hc.CpuShares > 0) cpu.shares = hc.CpuShares;
  if (hc.CpusetCpus !== "") cpu.cpus = hc.CpusetCpus;
  if (hc.NanoCpus > 0) {
    cpu.period = CPU_PERIOD_US;
    cpu.quota = Math.floor((hc.NanoCpus * CPU_PERIOD_US) / 1e9);
  }
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  if (hc.PidsLimit !== null && hc.PidsLimit > 0) r.pids = { limit: hc.PidsLimit };
  return r;
}

/** Go's parsers.ParseUintList ("0-2,4"): the set, or undefined when malformed. */
export function parseUintList(list: string): Set<number> | undefined {
  const out = new Set<number>();
  if (list.trim() === "") return out;
  for (const part of list.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** What this host's cgroups can enforce, from its mountinfo and the controllers' files. */
export function probeHostSupport(mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8")): HostSupport {
  const layout = layoutFromMountinfo(mountinfo);
  const numCpu = os.availableParallelism();
  const exists = (p: string) => fs.existsSync(p);
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, "utf8").trim();
    } catch {
      return "";
    }
  };
  const online = read("/sys/devices/system/cpu/online") || `0-${numCpu - 1}`;
  if (layout.version === 2) {
    const root = layout.hierarchies[0]!.mountPoint;
    const controllers = read(path.join(root, "cgroup.controllers")).split(/\s+/);
    const has = (c: string) => controllers.includes(c);
    return {
      memoryLimit: has("memory"),
      swapLimit: has("memory"),
      memoryReservation: has("memory"),
      cpuCfs: has("cpu"),
      cpuShares: has("cpu"),
      cpuset: has("cpuset"),
      pidsLimit: has("pids"),
      cpus: read(path.join(root, "cpuset.cpus.effective")) || online,
      numCpu,
    };
  }
  const dir = (controller: string) => layout.hierarchies.find((h: Hierarchy) => h.controllers.includes(controller))?.mountPoint;
  const file = (controller: string, name: string) => {
    const d = dir(controller);
    return d !== undefined && exists(path.join(d, name));
  };
  const cpusetDir = dir("cpuset");
  return {
    memoryLimit: file("memory", "memory.limit_in_bytes"),
    swapLimit: file("memory", "memory.memsw.limit_in_bytes"),
    memoryReservation: file("memory", "memory.soft_limit_in_bytes"),
    cpuCfs: file("cpu", "cpu.cfs_quota_us"),
    cpuShares: file("cpu", "cpu.shares"),
    cpuset: cpusetDir !== undefined,
    pidsLimit: dir("pids") !== undefined,
    cpus: (cpusetDir && (read(path.join(cpusetDir, "cpuset.effective_cpus")) || read(path.join(cpusetDir, "cpuset.cpus")))) || online,
    numCpu,
  };
}

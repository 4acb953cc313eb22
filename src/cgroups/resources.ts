import type { Resources } from "../runtime/spec.js";

/** One interface-file write: the v1 controller whose hierarchy holds the file (v2: the controller that provides it). */
export interface ResourceWrite {
  controller: string;
  file: string;
  value: string;
}

const MAX = "max";

/**
 * cgroup v1 files for linux.resources, in the order to write them into a fresh cgroup
 * (limit before memsw, period before quota). Unset fields write nothing.
 */
export function v1ResourceWrites(r: Resources): ResourceWrite[] {
  const out: ResourceWrite[] = [];
  const mem = r.memory;
  if (mem) {
    checkSwap(mem.limit, mem.swap);
    if (mem.limit !== undefined && mem.limit !== 0) out.push(w("memory", "memory.limit_in_bytes", mem.limit));
    if (mem.reservation !== undefined && mem.reservation !== 0) out.push(w("memory", "memory.soft_limit_in_bytes", mem.reservation));
    if (mem.swap !== undefined && mem.swap !== 0) out.push(w("memory", "memory.memsw.limit_in_bytes", mem.swap));
  }
  const cpu = r.cpu;
  if (cpu) {
    if (cpu.shares) out.push(w("cpu", "cpu.shares", cpu.shares));
    if (cpu.period) out.push(w("cpu", "cpu.cfs_period_us", cpu.period));
    if (cpu.quota !== undefined && cpu.quota !== 0) out.push(w("cpu", "cpu.cfs_quota_us", cpu.quota));
    if (cpu.cpus) out.push(w("cpuset", "cpuset.cpus", cpu.cpus));
    if (cpu.mems) out.push(w("cpuset", "cpuset.mems", cpu.mems));
  }
  if (r.pids && r.pids.limit !== 0) out.push(w("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : MAX));
  if (r.unified && Object.keys(r.unified).length > 0) {
    throw new Error(`Cannot apply linux.resources.unified on a cgroup v1 host`);
  }
  return out;
}

/** cgroup v2 files for linux.resources (memory.max, cpu.weight, cpu.max…), converted from the v1-shaped spec. */
export function v2ResourceWrites(r: Resources): ResourceWrite[] {
  const out: ResourceWrite[] = [];
  const mem = r.memory;
  if (mem) {
    checkSwap(mem.limit, mem.swap);
    if (mem.limit !== undefined && mem.limit !== 0) out.push(w("memory", "memory.max", limitOrMax(mem.limit)));
    if (mem.reservation !== undefined && mem.reservation !== 0) out.push(w("memory", "memory.low", limitOrMax(mem.reservation)));
    const swap = v2SwapMax(mem.limit, mem.swap);
    if (swap !== undefined) out.push(w("memory", "memory.swap.max", swap));
  }
  const cpu = r.cpu;
  if (cpu) {
    if (cpu.shares) out.push(w("cpu", "cpu.weight", sharesToWeight(cpu.shares)));
    const max = v2CpuMax(cpu.quota, cpu.period);
    if (max !== undefined) out.push(w("cpu", "cpu.max", max));
    if (cpu.cpus) out.push(w("cpuset", "cpuset.cpus", cpu.cpus));
    if (cpu.mems) out.push(w("cpuset", "cpuset.mems", cpu.mems));
  }
  if (r.pids && r.pids.limit !== 0) out.push(w("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : MAX));
  for (const [file, value] of Object.entries(r.unified ?? {})) {
    if (file.includes("/") || !file.includes(".")) throw new Error(`Cannot apply unified resource "${file}": not a cgroup file name`);
    out.push({ controller: file.slice(0, file.indexOf(".")), file, value });
  }
  return out;
}

/**
 * cpu.shares (2…262144, default 1024) onto cpu.weight (1…10000, default 100), linearly,
 * the mapping runc and crun use so that a Docker --cpu-shares means the same on both.
 */
export function sharesToWeight(shares: number): number {
  const clamped = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

function v2CpuMax(quota: number | undefined, period: number | undefined): string | undefined {
  if (!quota && !period) return undefined;
  const q = quota !== undefined && quota > 0 ? String(quota) : MAX;
  return period ? `${q} ${period}` : q;
}

/** The OCI swap value is memory+swap (v1 memsw); v2 limits the swap alone. */
function v2SwapMax(limit: number | undefined, swap: number | undefined): string | undefined {
  if (swap === undefined || swap === 0) return limit === -1 ? MAX : undefined;
  if (swap === -1) return MAX;
  return String(swap - (limit ?? 0));
}

function checkSwap(limit: number | undefined, swap: number | undefined): void {
  if (swap === undefined || swap === 0 || swap === -1) return;
  if (limit === undefined || limit <= 0) throw new Error(`Cannot set memory+swap limit ${swap} without a memory limit`);
  if (swap < limit) throw new Error(`Cannot set memory+swap limit ${swap}: it is below the memory limit ${limit}`);
}

const limitOrMax = (n: number): string => (n < 0 ? MAX : String(n));

const w = (controller: string, file: string, value: number | string): ResourceWrite => ({ controller, file, value: String(value) });

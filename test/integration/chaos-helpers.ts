/**
 * Shared by the chaos tests: the repair a user would run after a crash, and the check that
 * nothing of a state root is left on the machine (processes, cgroups, mounts, state dirs,
 * temp files, names, id-range leases) and that the root still works.
 */
import fs from "node:fs";
import path from "node:path";
import type { TestRoot } from "../helpers/cli.js";

export const MACHINE_IDPOOL = "/var/lib/tsrun-machine/idpool";
/** Machine-wide network leases held by containers (a root's subnets live as long as its networks). */
const MACHINE_CONTAINER_LEASES = ["/var/lib/tsrun-machine/net/addresses", "/var/lib/tsrun-machine/net/ports"];
const CGROUP_ROOT = "/sys/fs/cgroup";
const ID = /[0-9a-f]{64}/g;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded PRNG (mulberry32), so a failing random run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Files under `dir` (recursively, not following symlinks) whose name ends in `.tmp`. */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.name.endsWith(".tmp")) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

/**
 * Every container id a root refers to anywhere: container dirs, runtime state dirs, scratch
 * dirs in tmp/, names, and the machine's id-range leases naming the root.
 */
export function idsOf(root: TestRoot): Set<string> {
  const ids = new Set<string>();
  const add = (s: string) => {
    for (const m of s.matchAll(ID)) ids.add(m[0]);
  };
  for (const sub of ["containers", "runtime", "tmp"]) for (const n of listDir(path.join(root.dir, sub))) add(n);
  for (const n of listDir(path.join(root.dir, "names"))) {
    try {
      add(fs.readFileSync(path.join(root.dir, "names", n), "utf8"));
    } catch {
      // released meanwhile
    }
  }
  for (const lease of leasesOf(root)) add(lease);
  return ids;
}

/** Contents of the machine's lease (and lease temp) files that name this root. */
export function leasesOf(root: TestRoot): string[] {
  const out: string[] = [];
  for (const n of listDir(MACHINE_IDPOOL)) {
    try {
      const text = fs.readFileSync(path.join(MACHINE_IDPOOL, n), "utf8");
      if (text.includes(JSON.stringify(root.dir))) out.push(`${n}: ${text}`);
    } catch {
      // released meanwhile
    }
  }
  return out;
}

/** Address and host-port leases naming this root. */
export function networkLeasesOf(root: TestRoot): string[] {
  const out: string[] = [];
  for (const dir of MACHINE_CONTAINER_LEASES) {
    for (const n of listDir(dir)) {
      try {
        const text = fs.readFileSync(path.join(dir, n), "utf8");
        if (text.includes(JSON.stringify(root.dir))) out.push(`${n}: ${text.trim()}`);
      } catch {
        // released meanwhile, or a directory
      }
    }
  }
  return out;
}

/** Processes of the root: tsrun commands and monitors (by path), and anything in its containers' cgroups. */
export function processesOf(root: TestRoot, ids: Set<string>): string[] {
  return pidsOf(root, ids).map(({ pid, cmd }) => `process ${pid}: ${cmd}`);
}

function pidsOf(root: TestRoot, ids: Set<string>): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const pid of listDir("/proc").filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      const cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
      const inContainer = [...ids].some((id) => cgroups.includes(`/tsrun/${id}`));
      if (cmd.includes(root.dir) || inContainer) out.push({ pid: Number(pid), cmd });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** cgroups (container's or monitor's) of these ids in any hierarchy. */
export function cgroupsOf(ids: Set<string>): string[] {
  const out: string[] = [];
  for (const h of listDir(CGROUP_ROOT)) {
    for (const n of listDir(path.join(CGROUP_ROOT, h, "tsrun"))) {
      if (ids.has(n.replace(/\.monitor$/, ""))) out.push(`cgroup ${h}/tsrun/${n}`);
    }
  }
  return out;
}

/** Waits (bounded) until no process of the root is left: exit and restart commands finish on their own. */
export async function waitQuiet(root: TestRoot, ids: Set<string>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (processesOf(root, ids).length > 0 && Date.now() < deadline) await sleep(50);
}

/** The ids `ps -a` lists. */
export async function listed(root: TestRoot): Promise<string[]> {
  const r = await root.run(["ps", "-aq", "--no-trunc"]);
  if (r.code !== 0) throw new Error(`ps -a failed (${r.code}): ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * What a user does after a crash: `ps -a`, then `rm -f` of everything listed; or `system
 * prune -f` first (which leaves running containers to the rm -f). Returns the errors seen.
 */
export async function repair(root: TestRoot, how: "rm" | "prune"): Promise<string[]> {
  const errors: string[] = [];
  if (how === "prune") {
    const p = await root.run(["system", "prune", "-f"]);
    if (p.code !== 0) errors.push(`system prune -f: exit ${p.code}: ${p.stderr.trim()}`);
  }
  const ids = await listed(root);
  if (ids.length > 0) {
    const r = await root.run(["rm", "-f", ...ids]);
    // An exited --rm container listed a moment ago may be gone by now (its exit command removed it).
    const failures = r.stderr.split("\n").filter((l) => l !== "" && !/^Error response from daemon: No such container: /.test(l));
    if (r.signal || failures.length > 0) errors.push(`rm -f: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  }
  return errors;
}

/**
 * Everything of the root still on the machine once every container is removed: its
 * processes, cgroups, mounts, runtime state, container dirs, names, scratch and temp files,
 * id-range, address and host-port leases. Then the root must still work: `run --rm busybox true` succeeds and
 * leaves nothing either, and `ps -a` lists nothing. Returns the problems found.
 */
export async function leftovers(root: TestRoot, knownIds: Set<string>): Promise<string[]> {
  const ids = new Set([...knownIds, ...idsOf(root)]);
  await waitQuiet(root, ids);
  const problems: string[] = [];
  const fresh = await root.run(["run", "--rm", "busybox", "true"]);
  if (fresh.code !== 0) problems.push(`run --rm busybox true: exit ${fresh.code}: ${fresh.stderr.trim()}`);
  for (const id of idsOf(root)) ids.add(id);
  await waitQuiet(root, ids);
  const still = await listed(root);
  if (still.length > 0) problems.push(`ps -a still lists ${still.join(", ")}`);
  problems.push(...processesOf(root, ids));
  problems.push(...cgroupsOf(ids));
  if (fs.readFileSync("/proc/self/mountinfo", "utf8").includes(root.dir)) problems.push("a mount under the root");
  for (const sub of ["containers", "runtime", "names", "tmp"]) {
    for (const n of listDir(path.join(root.dir, sub))) problems.push(`${sub}/${n}`);
  }
  problems.push(...tempFiles(root.dir).map((f) => `temp file ${f}`));
  problems.push(...leasesOf(root).map((l) => `lease ${l}`));
  problems.push(...networkLeasesOf(root).map((l) => `network lease ${l}`));
  return problems;
}

/**
 * Last resort once a test is over (TestRoot.destroy() has run `rm -f` and removed the
 * root): whatever tsrun failed to repair — processes, cgroups of these ids, leases naming
 * the root — is removed by hand, so that a failing test leaves nothing on the machine.
 */
export async function scrub(root: TestRoot, ids: Set<string>): Promise<void> {
  for (const { pid } of pidsOf(root, ids)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await waitQuiet(root, ids, 5_000);
  for (const cg of cgroupsOf(ids)) {
    try {
      fs.rmdirSync(path.join(CGROUP_ROOT, cg.replace(/^cgroup /, "")));
    } catch {
      // busy or gone: nothing more a test may do
    }
  }
  for (const n of listDir(MACHINE_IDPOOL)) {
    const file = path.join(MACHINE_IDPOOL, n);
    try {
      if (fs.readFileSync(file, "utf8").includes(JSON.stringify(root.dir))) fs.rmSync(file, { force: true });
    } catch {
      // released meanwhile
    }
  }
}

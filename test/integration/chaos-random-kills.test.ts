/**
 * Chaos, random: tsrun commands (run, create, start, stop, restart, kill, rm) on a few names,
 * two at a time, each SIGKILLed after a random delay if still running, and now and then a
 * monitor SIGKILLed, for a bounded time.
 * The delays come from a seeded PRNG whose seed is printed: TSRUN_CHAOS_SEED=<seed> replays
 * the same sequence of commands and delays (the machine's timing still varies). Then every
 * container must still be listed and inspectable, the repair must leave nothing behind
 * (chaos-helpers.ts: leftovers), and the root must still work.
 *
 * Also concurrency without kills: stop, rm -f, start and kill racing on one container never
 * corrupt it: it is either entirely gone or consistently inspectable.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot, type Result } from "../helpers/cli.js";
import { idsOf, leftovers, listed, repair, scrub, seededRandom, sleep } from "./chaos-helpers.js";

if (!isRoot) console.warn("chaos-random-kills.test.ts: skipped, integration tests need root");

const DURATION_MS = Number(process.env.TSRUN_CHAOS_MS ?? 15_000);
const MAX_DELAY_MS = 1000;
const NAMES = ["r1", "r2", "r3"];

/** A command line for one random step; NAME stands for one of NAMES; MONITOR: kill -9 one of the root's monitors. */
const OPERATIONS: string[][] = [
  ["run", "-d", "--name", "NAME", "busybox", "sleep", "30"],
  ["run", "-d", "--name", "NAME", "--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.2; exit 3"],
  ["run", "-d", "--rm", "busybox", "sleep", "0.3"],
  ["run", "--rm", "busybox", "true"],
  ["run", "--name", "NAME", "busybox", "echo", "hi"],
  ["create", "--name", "NAME", "busybox", "sleep", "30"],
  ["start", "NAME"],
  ["stop", "-t", "1", "NAME"],
  ["restart", "-t", "1", "NAME"],
  ["kill", "NAME"],
  ["rm", "-f", "NAME"],
  ["MONITOR"],
];

/** Messages that mean tsrun tripped over its own state rather than refusing an operation. */
const CORRUPTION = /SyntaxError|TypeError|Unexpected (token|end)|ENOENT|EEXIST|Timed out|was never created completely/;

/** Whether a container's inspect document agrees with itself and with the machine. */
function inconsistency(doc: { Id: string; Name: string; State: { Status: string; Running: boolean; Pid: number } }): string | undefined {
  const s = doc.State;
  if (s.Running !== ["running", "paused", "restarting"].includes(s.Status)) return `Running ${s.Running} with Status ${s.Status}`;
  if ((s.Status === "running" || s.Status === "paused") && (s.Pid <= 0 || !fs.existsSync(`/proc/${s.Pid}`))) {
    return `Status ${s.Status} with Pid ${s.Pid}`;
  }
  if (!/^\/[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(doc.Name)) return `Name ${JSON.stringify(doc.Name)}`;
  return undefined;
}

/** Every container `ps -a` lists, inspected: the problems found. */
async function inspectAll(root: TestRoot): Promise<string[]> {
  const problems: string[] = [];
  for (const id of await listed(root)) {
    const r = await root.run(["inspect", id]);
    if (r.code !== 0) {
      // Removed between the two commands (an exited --rm container's exit command).
      if (!/No such (object|container)/.test(r.stderr)) problems.push(`inspect ${id}: exit ${r.code}: ${r.stderr.trim()}`);
      continue;
    }
    const [doc] = JSON.parse(r.stdout) as Parameters<typeof inconsistency>[0][];
    const bad = doc && inconsistency(doc);
    if (bad) problems.push(`inspect ${id}: ${bad}`);
  }
  return problems;
}

/** Every container id either test made, for the last-resort cleanup. */
const seen = new Set<string>();

describe.skipIf(!isRoot)("chaos: random kills and races", () => {
  let root: TestRoot;

  beforeAll(() => {
    root = new TestRoot("tsrun-chaos-random-");
    root.loadBusybox();
  });
  afterAll(async () => {
    if (!root) return;
    root.destroy();
    await scrub(root, seen);
  });

  it("commands killed at random moments leave a state the next commands repair", { timeout: DURATION_MS + 90_000 }, async () => {
    const seed = Number(process.env.TSRUN_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`chaos: random kills, seed ${seed} (replay with TSRUN_CHAOS_SEED=${seed})`);
    const random = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const steps: { args: string[]; delay: number }[] = [];
    const errors: string[] = [];
    const ids = new Set<string>();
    let killed = 0;

    const lane = async () => {
      while (Date.now() < deadline) {
        const args = pick(OPERATIONS).map((a) => (a === "NAME" ? pick(NAMES) : a));
        const delay = Math.floor(random() * MAX_DELAY_MS);
        steps.push({ args, delay });
        if (args[0] === "MONITOR") {
          const monitors = monitorsOf(root);
          if (monitors.length > 0) process.kill(pick(monitors), "SIGKILL");
          await sleep(delay);
          continue;
        }
        const r = await runKilledAfter(root, args, delay);
        if (r.signal === "SIGKILL") killed++;
        else if (CORRUPTION.test(r.stderr)) errors.push(`${args.join(" ")}: ${r.stderr.trim()}`);
        for (const id of idsOf(root)) {
          ids.add(id);
          seen.add(id);
        }
      }
    };
    const deadline = Date.now() + DURATION_MS;
    await Promise.all([lane(), lane()]);
    console.log(`chaos: ${steps.length} commands, ${killed} killed`);

    const problems = [...errors, ...(await inspectAll(root)), ...(await repair(root, "rm")), ...(await leftovers(root, ids))];
    expect(problems, `seed ${seed}`).toEqual([]);
  });

  it("stop, rm -f, start and kill racing on one container never corrupt it", { timeout: 90_000 }, async () => {
    const problems: string[] = [];
    const ids = new Set<string>();
    for (let round = 0; round < 4; round++) {
      const run = await root.run(["run", "-d", "--name", "race", "busybox", "sleep", "30"]);
      expect(run.code, run.stderr).toBe(0);
      ids.add(run.stdout.trim());
      seen.add(run.stdout.trim());
      const results = await Promise.all([
        root.run(["stop", "-t", "1", "race"]),
        root.run(["start", "race"]),
        root.run(["kill", "race"]),
        root.run(["start", "race"]),
        root.run(["stop", "-t", "1", "race"]),
        ...(round % 2 === 0 ? [root.run(["rm", "-f", "race"])] : []),
      ]);
      for (const r of results) if (CORRUPTION.test(r.stderr)) problems.push(`round ${round}: ${r.stderr.trim()}`);
      const inspected = await root.run(["inspect", "race"]);
      if (inspected.code === 0) {
        const [doc] = JSON.parse(inspected.stdout) as Parameters<typeof inconsistency>[0][];
        const bad = doc && inconsistency(doc);
        if (bad) problems.push(`round ${round}: ${bad}`);
      } else {
        // Removed: then entirely.
        expect(inspected.stderr).toMatch(/No such object: race/);
        expect(fs.existsSync(path.join(root.dir, "names", "race")), `round ${round}: name left`).toBe(false);
      }
      problems.push(...(await repair(root, "rm")));
    }
    problems.push(...(await leftovers(root, ids)));
    expect(problems).toEqual([]);
  });
});

/** Pids of the root's monitors. */
function monitorsOf(root: TestRoot): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (path.basename(argv[0] ?? "") === "tsrun-monitor" && (argv[1] ?? "").startsWith(root.dir + "/")) out.push(Number(pid));
    } catch {
      // exited meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

/** Runs tsrun and SIGKILLs it after `delay` ms if it has not ended by then. */
function runKilledAfter(root: TestRoot, args: string[], delay: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = root.spawn(args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), delay);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

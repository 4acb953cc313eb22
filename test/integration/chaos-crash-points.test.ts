/**
 * Chaos, deterministic: for every registered crash point (src/common/crash-points.ts) a
 * command runs with TSRUN_CRASH_AT naming it and dies there by SIGKILL (or one of the exit
 * commands its monitor runs does: they inherit the variable). Then the repair a user would
 * run (`ps -a` and `rm -f` of what it lists, or `system prune -f` first), and the machine
 * must hold nothing of the root any more (chaos-helpers.ts: leftovers) while the root still
 * works.
 *
 * The points are spread over a few private roots that run side by side, to stay within a
 * minute; each point's failure names the point.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_POINTS, type CrashPointName } from "../../src/common/crash-points.js";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { idsOf, leftovers, repair, scrub, sleep } from "./chaos-helpers.js";

if (!isRoot) console.warn("chaos-crash-points.test.ts: skipped, integration tests need root");

const NAME = "victim";
const SLEEPER = ["busybox", "sleep", "30"];
/** Exits 143 on SIGTERM, as a process killed by it would (sleep as PID 1 ignores it). */
const HONOURS_TERM = ["busybox", "sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"];

interface Scenario {
  /** Commands run first, without a crash point. */
  setup?: string[][];
  /** The command that runs with TSRUN_CRASH_AT. */
  command: string[];
}

const runDetached: Scenario = { command: ["run", "-d", "--name", NAME, ...SLEEPER] };
const startCreated: Scenario = { setup: [["create", "--name", NAME, ...SLEEPER]], command: ["start", NAME] };
const removeRunning: Scenario = { setup: [["run", "-d", "--name", NAME, ...SLEEPER]], command: ["rm", "-f", NAME] };
const stopRunning: Scenario = { setup: [["run", "-d", "--name", NAME, ...SLEEPER]], command: ["stop", "-t", "1", NAME] };
/** Foreground, not --rm: the CLI settles the exit itself (and so may the monitor's exit command). */
const runForeground: Scenario = { command: ["run", "--name", NAME, "busybox", "true"] };

/** How each point is reached. Typed over every registered point, and checked below. */
const SCENARIOS: Record<CrashPointName, Scenario> = {
  "create:after-dir": runDetached,
  "create:after-name": runDetached,
  "create:after-idrange": runDetached,
  "create:after-files": { command: ["create", "--name", NAME, ...SLEEPER] },
  "create:after-bundle": runDetached,
  "create:after-record": runDetached,
  "start:locked": startCreated,
  "launch:before-networks": runDetached,
  "launch:created": startCreated,
  "launch:started": startCreated,
  "runtime:create:after-mkdir": runDetached,
  "runtime:create:after-state": runDetached,
  "runtime:create:after-cgroups": runDetached,
  "runtime:create:after-monitor": runDetached,
  "runtime:start:locked": startCreated,
  "runtime:start:after-start": runDetached,
  "stop:after-mark": stopRunning,
  "stop:after-signal": stopRunning,
  "stop:before-kill": stopRunning,
  "restart:after-stop": { setup: [["run", "-d", "--name", NAME, ...HONOURS_TERM]], command: ["restart", NAME] },
  "settle:after-record": runForeground,
  "settle:after-delete": runForeground,
  "rm:locked": removeRunning,
  "rm:after-mark": removeRunning,
  "rm:after-runtime-delete": removeRunning,
  "rm:after-lease": removeRunning,
  "rm:after-name": removeRunning,
  "remove-tree:after-rename": removeRunning,
  "runtime:delete:locked": removeRunning,
  "runtime:delete:after-kill": removeRunning,
  "runtime:delete:after-monitor": removeRunning,
  "runtime:delete:after-cgroups": removeRunning,
  "run:after-exit": { command: ["run", "--rm", "--name", NAME, "busybox", "true"] },
};

/**
 * The same points, reached by the commands a monitor runs after its container exits (they
 * inherit TSRUN_CRASH_AT from the command that started the container): the exit command
 * settling an exit or removing a --rm container, the restart command of a restart policy.
 */
const HOOK_SCENARIOS: [CrashPointName, Scenario][] = [
  ["settle:after-record", { command: ["run", "-d", "--name", NAME, "busybox", "true"] }],
  ["rm:after-mark", { command: ["run", "-d", "--rm", "--name", NAME, "busybox", "true"] }],
  ["runtime:delete:after-kill", { command: ["run", "-d", "--rm", "--name", NAME, "busybox", "true"] }],
  ["remove-tree:after-rename", { command: ["run", "-d", "--rm", "--name", NAME, "busybox", "true"] }],
  ["settle:after-delete", { command: ["run", "-d", "--name", NAME, "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 1"] }],
];

const ALL_POINTS = Object.keys(CRASH_POINTS) as CrashPointName[];
/** Every container id any scenario made, for the last-resort cleanup. */
const seen = new Set<string>();
/** TSRUN_CHAOS_POINTS=a,b replays only those points (the test that every point is hit then fails). */
const POINTS = process.env.TSRUN_CHAOS_POINTS ? (process.env.TSRUN_CHAOS_POINTS.split(",") as CrashPointName[]) : ALL_POINTS;
const WORKERS = 3;

interface Outcome {
  point: CrashPointName;
  /** Lines of the crash log for this point: who crashed there. */
  crashed: string[];
  /** How the command ended. */
  exit: string;
  problems: string[];
  /** Time taken by the scenario, the crash, the repair and the checks. */
  ms: number;
}

describe.skipIf(!isRoot)("chaos: a crash at every named step", () => {
  const roots: TestRoot[] = [];
  let logDir: string;

  beforeAll(() => {
    logDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-chaos-log-"));
    for (let i = 0; i < WORKERS; i++) {
      const root = new TestRoot("tsrun-chaos-");
      roots.push(root);
      root.loadBusybox();
    }
  });
  afterAll(async () => {
    for (const r of roots) {
      r.destroy();
      await scrub(r, seen);
    }
    if (logDir) fs.rmSync(logDir, { recursive: true, force: true });
  });

  it("has a scenario for every registered crash point", () => {
    expect(Object.keys(SCENARIOS).sort()).toEqual([...ALL_POINTS].sort());
    expect(POINTS, "TSRUN_CHAOS_POINTS narrows the run").toEqual(ALL_POINTS);
  });

  it("every crash point is hit, and the next commands repair everything", { timeout: 180_000 }, async () => {
    const outcomes: Outcome[] = [];
    const queue: [CrashPointName, Scenario][] = [
      ...POINTS.map((p): [CrashPointName, Scenario] => [p, SCENARIOS[p]]),
      ...(process.env.TSRUN_CHAOS_POINTS ? [] : HOOK_SCENARIOS),
    ];
    const worker = async (root: TestRoot, index: number) => {
      for (let n = 0; ; n++) {
        const next = queue.shift();
        if (!next) return;
        outcomes.push(await crashAndRepair(root, ...next, path.join(logDir, `${index}.log`), n % 2 === 0 ? "rm" : "prune"));
      }
    };
    const started = Date.now();
    await Promise.all(roots.map((r, i) => worker(r, i)));
    console.log(`chaos: ${outcomes.length} crashes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const report = (o: Outcome) => `${o.point} (${o.ms} ms): ${o.exit}; crashed: ${o.crashed.length > 0 ? o.crashed.join(" | ") : "nobody"}`;
    if (process.env.TSRUN_CHAOS_VERBOSE) console.log(outcomes.map(report).join("\n"));
    expect(outcomes.filter((o) => o.crashed.length === 0).map(report), "points never reached").toEqual([]);
    expect(outcomes.filter((o) => o.problems.length > 0).map((o) => `${report(o)}\n    ${o.problems.join("\n    ")}`)).toEqual([]);
  });

  it("after a crash the next commands see a consistent container", async () => {
    const root = roots[0]!;
    const crashAt = (point: CrashPointName, args: string[]) => root.run(args, { env: { TSRUN_CRASH_AT: point } });
    const psRow = async (name: string) => {
      const rows = (await root.run(["ps", "-a", "--format", "json"])).stdout.split("\n").filter(Boolean);
      return rows.map((l) => JSON.parse(l) as { Names: string; State: string; Status: string }).find((r) => r.Names === name);
    };
    const ids = idsOf(root);
    // A run that died between the runtime's create and START: Created (its monitor waits), and startable.
    expect((await crashAt("launch:created", ["run", "-d", "--name", "seen", ...SLEEPER])).signal).toBe("SIGKILL");
    expect(await psRow("seen")).toMatchObject({ State: "created", Status: "Created" });
    expect((await root.run(["start", "seen"])).code).toBe(0);
    expect(await psRow("seen")).toMatchObject({ State: "running" });
    for (const id of idsOf(root)) ids.add(id);
    // A removal that died midway: resumed by the next listing, the name free again.
    expect((await crashAt("rm:after-mark", ["rm", "-f", "seen"])).signal).toBe("SIGKILL");
    expect(await psRow("seen")).toBeUndefined();
    // A create that died holding the name: the name is taken over at once, without a repair first.
    expect((await crashAt("create:after-name", ["run", "-d", "--name", "seen", ...SLEEPER])).signal).toBe("SIGKILL");
    for (const id of idsOf(root)) ids.add(id);
    const again = await root.run(["run", "-d", "--name", "seen", ...SLEEPER]);
    expect(again.stderr).toBe("");
    expect(await psRow("seen")).toMatchObject({ State: "running" });
    for (const id of ids) seen.add(id);
    expect(await repair(root, "rm")).toEqual([]);
    expect(await leftovers(root, ids)).toEqual([]);
  });
});

async function crashAndRepair(root: TestRoot, point: CrashPointName, scenario: Scenario, log: string, how: "rm" | "prune"): Promise<Outcome> {
  const started = Date.now();
  const problems: string[] = [];
  for (const cmd of scenario.setup ?? []) {
    const r = await root.run(cmd);
    if (r.code !== 0) problems.push(`setup ${cmd.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  }
  fs.rmSync(log, { force: true });
  const r = await root.run(scenario.command, { env: { TSRUN_CRASH_AT: point, TSRUN_CRASH_LOG: log } });
  const exit = r.signal ? `${scenario.command[0]} killed by ${r.signal}` : `${scenario.command[0]} exited ${r.code}`;
  // Exit and restart commands run on after the command: give them the time to reach the point.
  const crashedAt = () => readLines(log).filter((l) => l.startsWith(point + " "));
  for (let waited = 0; crashedAt().length === 0 && waited < 3000; waited += 50) await sleep(50);
  const ids = idsOf(root);
  for (const id of ids) seen.add(id);
  problems.push(...(await repair(root, how)));
  problems.push(...(await leftovers(root, ids)));
  return { point, crashed: crashedAt(), exit, problems, ms: Date.now() - started };
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

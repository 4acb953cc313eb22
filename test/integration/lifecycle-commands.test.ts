/**
 * The container lifecycle commands end to end, as a user runs them: create, start, stop,
 * kill, restart, pause/unpause, wait, rename, rm, prune, `run -d`; their output, exit
 * codes and Docker's messages; and concurrent commands on one container or one name.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { eventually, idOf, psStatus, record, sleep } from "./lifecycle-helpers.js";

if (!isRoot) console.warn("lifecycle-commands.test.ts: skipped, integration tests need root");

/** A loop that ignores SIGTERM (PID 1 of a PID namespace ignores it anyway without a handler). */
const IGNORES_TERM = ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"];
/** A loop that exits 143 on SIGTERM, as a process killed by it would. */
const HONOURS_TERM = ["sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"];

describe.skipIf(!isRoot)("lifecycle commands", () => {
  let root: TestRoot;

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  it("create prints the full id; start -a runs it attached and exits with its status", async () => {
    const c = await root.run(["create", "--name", "cr1", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await psStatus(root, "cr1")).toBe("Created");
    const s = await root.run(["start", "-a", "cr1"]);
    expect(s.stdout).toBe("out\n");
    expect(s.stderr).toBe("err\n");
    expect(s.code).toBe(7);
    expect(await psStatus(root, "cr1")).toMatch(/^Exited \(7\) /);
    // Started again (detached): it runs once more and the name is printed.
    const again = await root.run(["start", "cr1"]);
    expect(again).toMatchObject({ code: 0, stdout: "cr1\n" });
    expect(await root.run(["wait", "cr1"])).toMatchObject({ code: 0, stdout: "7\n" });
  });

  it("create rejects bad flags with 125 and leaves nothing", async () => {
    const before = fs.readdirSync(path.join(root.dir, "containers")).length;
    const bad = [
      [["--restart", "always", "--rm"], "Conflicting options: --restart and --rm"],
      [["--restart", "sometimes"], "invalid restart policy: unknown policy 'sometimes'"],
      [["--stop-signal", "NOPE"], "Invalid signal: NOPE"],
      [["--pid", "bogus"], "--pid: invalid PID mode"],
      [["--ipc", "bogus"], "--ipc: invalid IPC mode"],
      [["--pid", "container:nosuch"], "No such container: nosuch"],
    ] as const;
    for (const [flags, message] of bad) {
      const r = await root.run(["create", ...flags, "busybox", "true"]);
      expect(r.code, flags.join(" ")).toBe(125);
      expect(r.stderr).toContain(message);
    }
    expect(fs.readdirSync(path.join(root.dir, "containers")).length).toBe(before);
  });

  it("start of a created container whose command is missing fails as run does", async () => {
    await root.run(["create", "--name", "nocmd", "busybox", "/no/such/cmd"]);
    const r = await root.run(["start", "-a", "nocmd"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("no such file or directory");
    const d = await root.run(["start", "nocmd"]);
    expect(d.code).toBe(127);
    expect(d.stderr).toContain("Error: failed to start containers: nocmd");
    expect(await psStatus(root, "nocmd")).toBe("Created");
    const notExec = await root.run(["create", "--name", "dircmd", "busybox", "/etc"]);
    expect(notExec.code).toBe(0);
    expect((await root.run(["start", "-a", "dircmd"])).code).toBe(126);
  });

  it("starting a running container is a no-op; start -a attaches to it", async () => {
    await root.run(["run", "-d", "--name", "twice", "busybox", "sh", "-c", "sleep 2; echo late; exit 3"]);
    const id = await idOf(root, "twice");
    const pid1 = () => (JSON.parse(fs.readFileSync(path.join(root.dir, "runtime", id, "state.json"), "utf8")) as { init: { pid: number } }).init.pid;
    const before = pid1();
    expect(await root.run(["start", "twice"])).toMatchObject({ code: 0, stdout: "twice\n" });
    expect(pid1()).toBe(before);
    const a = await root.run(["start", "-a", "twice"]);
    expect(a).toMatchObject({ code: 3, stdout: "late\n" });
  });

  it("run -d returns at once, even with its output captured by a shell", async () => {
    const cmd = root.commandLine(["run", "-d", "--name", "bg", "busybox", "sleep", "30"]);
    const r = spawnSync("sh", ["-c", `id=$(${cmd}); echo "$id"`], { encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await psStatus(root, "bg")).toMatch(/^Up /);
    await root.run(["rm", "-f", "bg"]);
  });

  it("stop gives 143 to a container that honours SIGTERM", async () => {
    await root.run(["run", "-d", "--name", "term", "busybox", ...HONOURS_TERM]);
    const r = await root.run(["stop", "term"]);
    expect(r).toMatchObject({ code: 0, stdout: "term\n" });
    expect(await psStatus(root, "term")).toMatch(/^Exited \(143\) /);
    expect(record(root, await idOf(root, "term")).State.ExitCode).toBe(143);
  });

  it("stop kills a container that ignores SIGTERM after the timeout: 137", async () => {
    await root.run(["run", "-d", "--name", "stubborn", "busybox", ...IGNORES_TERM]);
    const t0 = Date.now();
    const r = await root.run(["stop", "-t", "1", "stubborn"]);
    const took = Date.now() - t0;
    expect(r).toMatchObject({ code: 0, stdout: "stubborn\n" });
    expect(took).toBeGreaterThanOrEqual(1000); // it waited the timeout before SIGKILL
    expect(await psStatus(root, "stubborn")).toMatch(/^Exited \(137\) /);
    // Stopping a stopped container is not an error.
    expect(await root.run(["stop", "stubborn"])).toMatchObject({ code: 0, stdout: "stubborn\n" });
  });

  it("a stop whose CLI is killed while it waits still kills the container when the timeout runs out", async () => {
    await root.run(["run", "-d", "--name", "orphaned-stop", "busybox", ...IGNORES_TERM]);
    // SIGKILL of the stop CLI right after it signalled: its own escalation never happens.
    const r = await root.run(["stop", "-t", "1", "orphaned-stop"], { env: { TSRUN_CRASH_AT: "stop:after-signal" } });
    expect(r.signal).toBe("SIGKILL");
    expect(await psStatus(root, "orphaned-stop")).toMatch(/^Up /);
    // The monitor's SIGKILL, the timeout and its grace later; the exit is then recorded as the stop's.
    await eventually("the monitor's SIGKILL", async () => (/^Exited \(137\) /.test(await psStatus(root, "orphaned-stop")) ? true : undefined), 10_000);
  });

  it("stop uses --stop-signal and --stop-timeout", async () => {
    await root.run(["run", "-d", "--name", "usr1", "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c", "trap 'exit 42' USR1; trap '' TERM; while :; do sleep 0.1; done"]);
    expect((await root.run(["stop", "usr1"])).code).toBe(0);
    expect(record(root, await idOf(root, "usr1")).State.ExitCode).toBe(42);
    await root.run(["run", "-d", "--name", "tmo", "--stop-timeout", "1", "busybox", ...IGNORES_TERM]);
    expect((await root.run(["stop", "tmo"])).code).toBe(0);
    expect(record(root, await idOf(root, "tmo")).State.ExitCode).toBe(137);
  });

  it("kill sends SIGKILL or -s SIG, and refuses a container that is not running", async () => {
    await root.run(["run", "-d", "--name", "k1", "busybox", "sh", "-c", "trap 'exit 10' USR2; while :; do sleep 0.1; done"]);
    expect(await root.run(["kill", "-s", "USR2", "k1"])).toMatchObject({ code: 0, stdout: "k1\n" });
    expect(await root.run(["wait", "k1"])).toMatchObject({ code: 0, stdout: "10\n" });
    const id = await idOf(root, "k1");
    const r = await root.run(["kill", "k1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error response from daemon: Cannot kill container: k1: Container ${id} is not running\n`);
    await root.run(["run", "-d", "--name", "k2", "busybox", "sleep", "30"]);
    expect(await root.run(["kill", "k2"])).toMatchObject({ code: 0, stdout: "k2\n" });
    expect(await psStatus(root, "k2")).toMatch(/^Exited \(137\) /);
    const badSig = await root.run(["kill", "-s", "NOSUCH", "k2"]);
    expect(badSig.code).toBe(1);
    expect(badSig.stderr).toContain("Invalid signal: NOSUCH");
    const missing = await root.run(["kill", "nosuch"]);
    expect(missing).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: nosuch\n" });
  });

  it("pause stops all progress until unpause", async () => {
    await root.run(["run", "-d", "--name", "counter", "busybox", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"]);
    const id = await idOf(root, "counter");
    const counter = () => {
      // The container's upper dir holds what it wrote (a host-side read, no exec needed).
      const file = path.join(root.dir, "containers", id, "fs", "upper", "tmp", "n");
      return Number(fs.readFileSync(file, "utf8").trim());
    };
    await eventually("the counter to start", () => (fs.existsSync(path.join(root.dir, "containers", id, "fs", "upper", "tmp", "n")) ? true : undefined));
    expect(await root.run(["pause", "counter"])).toMatchObject({ code: 0, stdout: "counter\n" });
    expect(await psStatus(root, "counter")).toMatch(/^Up .* \(Paused\)$/);
    const frozen = counter();
    await sleep(400);
    expect(counter()).toBe(frozen);
    const again = await root.run(["pause", "counter"]);
    expect(again).toMatchObject({ code: 1, stderr: `Error response from daemon: Container ${id} is already paused\n` });
    const rm = await root.run(["rm", "counter"]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toContain(`You cannot remove a paused container ${id}`);
    expect(await root.run(["unpause", "counter"])).toMatchObject({ code: 0, stdout: "counter\n" });
    await eventually("the counter to move on", () => (counter() > frozen ? true : undefined));
    const notPaused = await root.run(["unpause", "counter"]);
    expect(notPaused).toMatchObject({ code: 1, stderr: `Error response from daemon: Container ${id} is not paused\n` });
    // A paused container stops too: the stop signal is delivered once it is thawed.
    await root.run(["pause", "counter"]);
    expect((await root.run(["stop", "-t", "1", "counter"])).code).toBe(0);
    expect(await psStatus(root, "counter")).toMatch(/^Exited \(137\) /);
    const notRunning = await root.run(["pause", "counter"]);
    expect(notRunning.stderr).toBe(`Error response from daemon: Cannot pause container ${id}: Container ${id} is not running\n`);
  });

  it("wait prints each exit code, waiting for running containers", async () => {
    await root.run(["run", "-d", "--name", "w1", "busybox", "sh", "-c", "sleep 0.5; exit 5"]);
    await root.run(["create", "--name", "w2", "busybox", "true"]);
    const r = await root.run(["wait", "w1", "w2"]);
    expect(r).toMatchObject({ code: 0, stdout: "5\n0\n" });
    const missing = await root.run(["wait", "nosuch"]);
    expect(missing).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: nosuch\n" });
  });

  it("restart stops and starts again", async () => {
    await root.run(["run", "-d", "--name", "rs", "busybox", ...HONOURS_TERM]);
    const id = await idOf(root, "rs");
    const first = record(root, id).State.StartedAt;
    expect(await root.run(["restart", "-t", "1", "rs"])).toMatchObject({ code: 0, stdout: "rs\n" });
    expect(await psStatus(root, "rs")).toMatch(/^Up /);
    // The first run exited with the stop signal; the second started later.
    await root.run(["stop", "rs"]);
    expect(record(root, id).State.StartedAt > first).toBe(true);
    expect(record(root, id).RestartCount).toBe(0);
  });

  it("rename moves the name; the old one is free, a taken one conflicts", async () => {
    await root.run(["create", "--name", "old1", "busybox", "true"]);
    await root.run(["create", "--name", "taken", "busybox", "true"]);
    const id = await idOf(root, "old1");
    expect(await root.run(["rename", "old1", "new1"])).toMatchObject({ code: 0, stdout: "" });
    expect(record(root, id).Name).toBe("/new1");
    expect((await root.run(["start", "-a", "new1"])).code).toBe(0);
    expect((await root.run(["create", "--name", "old1", "busybox", "true"])).code).toBe(0);
    const conflict = await root.run(["rename", "new1", "taken"]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('Error when allocating new name: Conflict. The container name "/taken" is already in use');
    expect((await root.run(["rename", "new1", "new1"])).stderr).toContain("Renaming a container with the same name as its current name");
    expect((await root.run(["rename", "new1"])).code).toBe(125);
    expect((await root.run(["rename", "nosuch", "x"])).stderr).toContain("No such container: nosuch");
  });

  it("rm refuses a running container without -f and removes it with -f", async () => {
    await root.run(["run", "-d", "--name", "busy", "busybox", "sleep", "30"]);
    const id = await idOf(root, "busy");
    const r = await root.run(["rm", "busy"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `Error response from daemon: You cannot remove a running container ${id}. Stop the container before attempting removal or force remove\n`,
    );
    const forced = await root.run(["rm", "-f", "-v", "busy"]);
    expect(forced.stderr).toBe("");
    expect(forced).toMatchObject({ code: 0, stdout: "busy\n" });
    expect(fs.existsSync(path.join(root.dir, "containers", id))).toBe(false);
  });

  it("20 parallel runs of one name make exactly one container", async () => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => root.run(["run", "-d", "--name", "same", "busybox", "sleep", "30"])),
    );
    const ok = runs.filter((r) => r.code === 0);
    const conflicts = runs.filter((r) => r.code === 125);
    expect(ok).toHaveLength(1);
    expect(conflicts).toHaveLength(19);
    for (const c of conflicts) expect(c.stderr).toMatch(/Conflict\. The container name "\/same" is already in use by container "[0-9a-f]{64}"/);
    const all = (await root.run(["ps", "-a", "--format", "json"])).stdout.trim().split("\n").map((l) => JSON.parse(l) as { Names: string });
    expect(all.filter((c) => c.Names === "same")).toHaveLength(1);
    await root.run(["rm", "-f", "same"]);
  });

  it("concurrent commands on one container leave one consistent state", async () => {
    await root.run(["run", "-d", "--name", "race", "busybox", ...HONOURS_TERM]);
    const id = await idOf(root, "race");
    const results = await Promise.all([
      root.run(["stop", "race"]),
      root.run(["kill", "race"]),
      root.run(["pause", "race"]),
      root.run(["stop", "race"]),
      root.run(["start", "race"]),
      root.run(["restart", "race"]),
    ]);
    for (const r of results) expect(r.stderr).not.toMatch(/Timed out|ENOENT|Unexpected|TypeError/);
    await root.run(["stop", "-t", "1", "race"]);
    expect(await psStatus(root, "race")).toMatch(/^Exited /);
    expect(record(root, id).State.Status).toBe("exited");
    expect(fs.existsSync(path.join(root.dir, "runtime", id))).toBe(false);
    const removal = await Promise.all([root.run(["rm", "-f", "race"]), root.run(["rm", "-f", "race"]), root.run(["start", "race"])]);
    expect(removal.filter((r) => r.code === 0 && r.stdout === "race\n").length).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(path.join(root.dir, "containers", id))).toBe(false);
    expect(fs.existsSync(path.join(root.dir, "runtime", id))).toBe(false);
  });

  it("container prune asks first, then removes every stopped container", async () => {
    await root.run(["run", "-d", "--name", "keep", "busybox", "sleep", "30"]);
    await root.run(["run", "--name", "gone", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /big"]);
    const goneId = await idOf(root, "gone");
    const no = await root.run(["container", "prune"], { input: "n\n" });
    expect(no).toMatchObject({ code: 0, stdout: "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] " });
    expect(fs.existsSync(path.join(root.dir, "containers", goneId))).toBe(true);
    const yes = await root.run(["container", "prune"], { input: "y\n" });
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain(`Deleted Containers:\n`);
    expect(yes.stdout).toContain(`${goneId}\n`);
    expect(yes.stdout).toMatch(/\n\nTotal reclaimed space: \d+(\.\d+)?kB\n$/);
    expect(fs.existsSync(path.join(root.dir, "containers", goneId))).toBe(false);
    expect(await psStatus(root, "keep")).toMatch(/^Up /);
    const empty = await root.run(["container", "prune", "-f"]);
    expect(empty).toMatchObject({ code: 0, stdout: "Total reclaimed space: 0B\n" });
    await root.run(["rm", "-f", "keep"]);
  });

  it("system prune removes stopped containers and dangling images", async () => {
    await root.run(["create", "--name", "stale", "busybox", "true"]);
    const staleId = await idOf(root, "stale");
    const cancelled = await root.run(["system", "prune"], { input: "" });
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(
      "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n\nAre you sure you want to continue? [y/N] ",
    );
    const r = await root.run(["system", "prune", "-f"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Deleted Containers:\n`);
    expect(r.stdout).toContain(staleId);
    expect(r.stdout).toMatch(/Total reclaimed space: .*B\n$/);
    // The tagged image stays.
    expect((await root.run(["images", "-q"])).stdout.trim()).not.toBe("");
  });
});

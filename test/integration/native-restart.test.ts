/**
 * Restart policies in the monitor, and STOP: Plans with `monitor.restart` driven through
 * launchMonitor + MonitorConnection. The restart and exit commands are small shell scripts
 * that leave a marker file (with the time they ran), so each test sees which one the
 * monitor chose and when. Every container lives under one private temp dir.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { launchMonitor, MonitorConnection, readExitRecord, readRestartAt, type Launched } from "../../src/runtime/monitor-client.js";
import type { Plan, RestartPlan } from "../../src/runtime/plan.js";
import { MONITOR, isRoot, killIfAlive, makeBusyboxLayer, makeContainerDirs, makePlan, makeTemp, waitGone } from "./native-fixture.js";

if (!isRoot) console.warn("native-restart.test.ts: skipped, integration tests need root");

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!isRoot)("restart policies in the monitor", () => {
  let tmp: string;
  let layer: string;
  let n = 0;
  const pids: number[] = [];

  beforeAll(() => {
    tmp = makeTemp();
    layer = path.join(tmp, "layers", "base");
    makeBusyboxLayer(layer);
  });
  afterEach(() => killIfAlive(...pids.splice(0)));
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A container whose restart and exit commands write `restarted` / `exited` (epoch ms) into its own dir. */
  const container = (args: string[], restart?: Omit<RestartPlan, "command">) => {
    const name = `c${++n}`;
    const dirs = makeContainerDirs(tmp, name);
    const marks = path.join(tmp, "marks", name);
    fs.mkdirSync(marks, { recursive: true });
    const mark = (file: string) => ["/bin/sh", "-c", `date +%s%3N > ${path.join(marks, file)}.tmp && mv ${path.join(marks, file)}.tmp ${path.join(marks, file)}`];
    const plan: Plan = makePlan({ args, lowers: [layer], ...dirs, exitCommand: mark("exited") });
    if (restart) plan.monitor.restart = { ...restart, command: mark("restarted") };
    const marked = (file: string): number | undefined => {
      try {
        return Number(fs.readFileSync(path.join(marks, file), "utf8"));
      } catch {
        return undefined;
      }
    };
    return { plan, stateDir: dirs.stateDir, marked };
  };

  const launch = async (plan: Plan): Promise<Launched> => {
    const launched = await launchMonitor({ plan, monitorPath: MONITOR });
    pids.push(launched.pid, launched.monitorPid);
    return launched;
  };

  /** Starts the container and waits for its first exit, as a `tsrun wait` client would. */
  const startAndWaitExit = async (plan: Plan) => {
    const launched = await launch(plan);
    const conn = await MonitorConnection.connect(plan.monitor.stateDir, {});
    await conn.start();
    const status = await conn.waitExit();
    conn.close();
    return { launched, status };
  };

  it("runs the restart command, not the exit command, after the back-off, advertising restarting meanwhile", async () => {
    const c = container(["sh", "-c", "exit 3"], { policy: "on-failure", maxRetries: 0, retryCount: 0, delayMs: 400 });
    const { launched, status } = await startAndWaitExit(c.plan);
    expect(status.exitCode).toBe(3);
    // While it waits: the record, and the state in HELLO with the last exit and the due time.
    const due = readRestartAt(c.stateDir);
    expect(due).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Date.parse(due!)).toBeGreaterThanOrEqual(Date.parse(status.finishedAt) + 400);
    expect(readExitRecord(c.stateDir)?.exitCode).toBe(3);
    const probe = await MonitorConnection.connect(c.stateDir, {});
    expect(probe.hello.state).toBe("restarting");
    expect(probe.hello.exit?.exitCode).toBe(3);
    expect(probe.hello.restartAt).toBe(due);
    probe.close();
    await waitGone(launched.monitorPid);
    await waitFor("the restart command", () => c.marked("restarted") !== undefined);
    // Not before it was due (the command's clock is the same wall clock, in ms).
    expect(c.marked("restarted")!).toBeGreaterThanOrEqual(Math.floor(Date.parse(due!)));
    expect(c.marked("exited")).toBeUndefined();
    // The record stays until the rebuild replaces the runtime state.
    expect(readRestartAt(c.stateDir)).toBe(due);
  });

  it("restarts after any exit with always, and after a signal sent with SIGNAL", async () => {
    const a = container(["true"], { policy: "always", maxRetries: 0, retryCount: 7, delayMs: 0 });
    const ra = await startAndWaitExit(a.plan);
    expect(ra.status.exitCode).toBe(0);
    await waitGone(ra.launched.monitorPid);
    await waitFor("the restart command", () => a.marked("restarted") !== undefined);

    const b = container(["probe", "sleep-forever"], { policy: "unless-stopped", maxRetries: 0, retryCount: 0, delayMs: 0 });
    const launched = await launch(b.plan);
    const conn = await MonitorConnection.connect(b.stateDir, {});
    await conn.start();
    conn.signal(9); // a PID 1 without a handler takes only SIGKILL from outside its namespace
    expect((await conn.waitExit()).exitCode).toBe(137);
    conn.close();
    await waitGone(launched.monitorPid);
    await waitFor("the restart command", () => b.marked("restarted") !== undefined);
    expect(b.marked("exited")).toBeUndefined();
  });

  it("runs the exit command when on-failure's retries are used up or the exit is a success", async () => {
    for (const [args, retryCount] of [[["sh", "-c", "exit 1"], 2], [["true"], 0]] as const) {
      const c = container([...args], { policy: "on-failure", maxRetries: 2, retryCount, delayMs: 0 });
      const { launched } = await startAndWaitExit(c.plan);
      await waitGone(launched.monitorPid);
      await waitFor("the exit command", () => c.marked("exited") !== undefined);
      expect(c.marked("restarted")).toBeUndefined();
      expect(readRestartAt(c.stateDir)).toBeUndefined();
    }
  });

  it("cancels a pending restart on STOP: the container stays exited and the exit command runs", async () => {
    const c = container(["sh", "-c", "exit 2"], { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 60_000 });
    const { launched } = await startAndWaitExit(c.plan);
    expect(readRestartAt(c.stateDir)).toBeDefined();
    const conn = await MonitorConnection.connect(c.stateDir, {});
    expect(conn.hello.state).toBe("restarting");
    expect(await conn.stop(0)).toBe("exited");
    expect(readRestartAt(c.stateDir)).toBeUndefined();
    conn.close();
    await waitGone(launched.monitorPid);
    await waitFor("the exit command", () => c.marked("exited") !== undefined);
    expect(c.marked("restarted")).toBeUndefined();
    expect(readExitRecord(c.stateDir)?.exitCode).toBe(2);
  });

  it("delivers STOP's signal to a running container and does not restart it after", async () => {
    const c = container(["probe", "signal-report"], { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 0 });
    const launched = await launch(c.plan);
    const conn = await MonitorConnection.connect(c.stateDir, { stdout: true });
    let out = "";
    const ready = new Promise<void>((resolve) =>
      conn.on("stdout", (b) => {
        out += b.toString();
        if (out.startsWith("ready\n")) resolve();
      }),
    );
    await conn.start();
    await ready;
    expect(await conn.stop(15)).toBe("running");
    expect((await conn.waitExit()).exitCode).toBe(0); // signal-report exits 0 after SIGTERM
    expect(out).toBe("ready\nsignal 15\n");
    conn.close();
    await waitGone(launched.monitorPid);
    await waitFor("the exit command", () => c.marked("exited") !== undefined);
    expect(c.marked("restarted")).toBeUndefined();
    expect(readRestartAt(c.stateDir)).toBeUndefined();
  });

  it("never restarts a container that did not start", async () => {
    const c = container(["true"], { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 0 });
    const launched = await launch(c.plan);
    process.kill(launched.pid, "SIGKILL"); // a delete of a created container
    await waitGone(launched.monitorPid);
    await waitFor("the exit command", () => c.marked("exited") !== undefined);
    expect(c.marked("restarted")).toBeUndefined();
  });

  it("answers STOP on a connection that closes first with undefined, and refuses a bad signal number", async () => {
    const c = container(["probe", "sleep-forever"]);
    const launched = await launch(c.plan);
    const conn = await MonitorConnection.connect(c.stateDir, {});
    await conn.start();
    expect(() => conn.stop(65)).toThrow(RangeError);
    conn.close();
    expect(await conn.stop(9)).toBeUndefined();
    const other = await MonitorConnection.connect(c.stateDir, {});
    expect(await other.stop(9)).toBe("running");
    expect((await other.waitExit()).exitCode).toBe(137);
    other.close();
    await waitGone(launched.monitorPid);
  });

  it("shows a protocol 1 client a restarting container as exited", async () => {
    const c = container(["sh", "-c", "exit 4"], { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 60_000 });
    const { launched } = await startAndWaitExit(c.plan);
    const dirfd = fs.openSync(c.stateDir, "r");
    const sock = net.createConnection(`/proc/self/fd/${dirfd}/monitor.sock`);
    await new Promise((r) => sock.once("connect", r));
    fs.closeSync(dirfd);
    const chunks: Buffer[] = [];
    sock.on("data", (b: Buffer) => chunks.push(b));
    // HELLO {u32 protocol 1, u32 flags 0}: length 9 (type + payload), type 1.
    sock.write(Buffer.from([9, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]));
    await waitFor("the monitor's HELLO", () => Buffer.concat(chunks).length >= 14);
    sock.destroy();
    const reply = Buffer.concat(chunks);
    expect(reply[4]).toBe(1); // HELLO
    expect(reply.readUInt32LE(5)).toBe(2); // the monitor's own protocol
    expect(reply[13]).toBe(3); // EXITED, not RESTARTING (4)
    expect(reply.readInt32LE(14)).toBe(4); // and the exit code after it
    const conn = await MonitorConnection.connect(c.stateDir, {});
    expect(await conn.stop(0)).toBe("exited");
    conn.close();
    await waitGone(launched.monitorPid);
  });
});

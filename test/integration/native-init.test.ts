/**
 * tsrun-init, the PID 1 of `run --init`: on the host (as a child subreaper, no root needed)
 * and as a container's PID 1, bound read-only at /dev/init the way the engine binds it.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { launchMonitor, MonitorConnection } from "../../src/runtime/monitor-client.js";
import type { MountPlan } from "../../src/runtime/plan.js";
import {
  MONITOR, PROBE, isRoot, killIfAlive, makeBusyboxLayer, makeContainerDirs, makePlan, makeTemp, runPlan, waitGone, type PlanOptions,
} from "./native-fixture.js";

const INIT = path.resolve(import.meta.dirname, "../../native/build/tsrun-init");
const MS_RDONLY = 1, MS_BIND = 4096;

/** A shell line printing how many zombies have `ppid` as their parent (fields of /proc/PID/stat). */
const countZombiesOf = (ppid: string) => `cat /proc/[0-9]*/stat 2>/dev/null | grep -c ") Z ${ppid} "`;

describe("tsrun-init on the host", () => {
  const init = (...args: string[]) => spawnSync(INIT, args, { encoding: "utf8", timeout: 10_000 });

  it("passes the child's exit status through, 128+n for a signal", () => {
    expect(init("--", "sh", "-c", "exit 5").status).toBe(5);
    expect(init("sh", "-c", "exit 0").status).toBe(0);
    expect(init("--", "sh", "-c", "kill -9 $$").status).toBe(137);
    expect(init("--", "sh", "-c", "kill -TERM $$").status).toBe(143);
  });

  it("reaps the orphans reparented to it", () => {
    // The background sleep is orphaned when its subshell exits and ends 0.1 s later; the
    // count, taken 0.5 s later, sees it as a zombie unless the init reaped it.
    const r = init("--", "sh", "-c", `(sleep 0.1 &); sleep 0.5; ${countZombiesOf("$PPID")}`);
    expect(r.stdout.trim()).toBe("0");
  });

  it("forwards the signals it receives to the child and exits with the child", async () => {
    const child = spawn(INIT, ["--", PROBE, "signal-report"], { stdio: ["ignore", "pipe", "inherit"] });
    const sent = [10, 1, 2, 28, 15];
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      // One at a time, each once the previous one is reported.
      const reported = out.split("\n").filter((l) => l.startsWith("signal ")).length;
      if (out.startsWith("ready\n") && out.endsWith("\n") && reported < sent.length) child.kill(sent[reported]!);
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(out).toBe(["ready", ...sent.map((s) => `signal ${s}`), ""].join("\n"));
    expect(code).toBe(0);
  });

  it("says why it cannot run a command, with Docker's 127 and 126", () => {
    const missing = init("--", "no-such-command");
    expect(missing.status).toBe(127);
    expect(missing.stderr).toBe('tsrun-init: cannot run "no-such-command": No such file or directory\n');
    expect(init("--", "/etc").status).toBe(126);
    const usage = init();
    expect(usage.status).toBe(1);
    expect(usage.stderr).toMatch(/^tsrun-init: usage: tsrun-init \[--\] PROGRAM/);
    expect(init("-g", "true").stderr).toMatch(/^tsrun-init: unknown option "-g"/);
  });
});

if (!isRoot) console.warn("native-init.test.ts: container tests skipped, integration tests need root");

describe.skipIf(!isRoot)("tsrun-init as a container's PID 1 (/dev/init)", () => {
  let tmp: string;
  let layer: string;
  let n = 0;
  const pids: number[] = [];
  const track = (pid: number) => pids.push(pid);
  const devInit: MountPlan = {
    kind: "bind", source: INIT, target: "/dev/init", fstype: "", flags: MS_BIND | MS_RDONLY, propagation: 0, data: "", idmap: true,
  };
  const plan = (o: Partial<PlanOptions> & { args: string[] }) =>
    makePlan({ lowers: [layer], ...makeContainerDirs(tmp, `c${++n}`), mounts: [devInit], ...o, args: ["/dev/init", "--", ...o.args] });

  beforeAll(() => {
    tmp = makeTemp();
    layer = path.join(tmp, "layers", "base");
    makeBusyboxLayer(layer);
  });
  afterEach(() => killIfAlive(...pids.splice(0)));
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("is PID 1, read-only and root-owned, with the command as its child", async () => {
    const r = await runPlan(plan({ args: ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; echo $PPID; probe stat /dev/init; echo x > /dev/init"] }), undefined, track);
    expect(r.stdout.split("\n").slice(0, 3)).toEqual(["/dev/init -- sh -c tr '\\0' ' ' < /proc/1/cmdline; echo; echo $PPID; probe stat /dev/init; echo x > /dev/init ", "1", "0 0 755"]);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.status.exitCode).toBe(1);
  });

  it("reaps the orphans of the container", async () => {
    const r = await runPlan(plan({ args: ["sh", "-c", `(sleep 0.1 &); sleep 0.5; ${countZombiesOf("1")}`] }), undefined, track);
    expect(r.stdout.trim()).toBe("0");
  });

  it("passes exit statuses through", async () => {
    expect((await runPlan(plan({ args: ["sh", "-c", "exit 3"] }), undefined, track)).status.exitCode).toBe(3);
    expect((await runPlan(plan({ args: ["sh", "-c", "kill -9 $$"] }), undefined, track)).status.exitCode).toBe(137);
    const missing = await runPlan(plan({ args: ["nope"] }), undefined, track);
    expect(missing.status.exitCode).toBe(127);
    expect(missing.stderr).toBe('tsrun-init: cannot run "nope": No such file or directory\n');
  });

  it("forwards the signals sent to the container (which PID 1 would otherwise ignore) to the command", async () => {
    const p = plan({ args: ["probe", "signal-report"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { stdout: true, cleanupOwner: true });
    const sent = [10, 12, 1, 2, 3, 28, 15];
    let out = "";
    conn.on("stdout", (b) => {
      out += b.toString();
      // One at a time: pending standard signals are delivered lowest number first.
      const reported = out.split("\n").filter((l) => l.startsWith("signal ")).length;
      if (out.startsWith("ready\n") && reported < sent.length && out.endsWith("\n")) conn.signal(sent[reported]!);
    });
    await conn.start();
    const status = await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    expect(out).toBe(["ready", ...sent.map((s) => `signal ${s}`), ""].join("\n"));
    expect(status.exitCode).toBe(0);
  });

  it("lets the terminal's ^C reach the command once, as the terminal's foreground group", async () => {
    const p = plan({ args: ["probe", "signal-report"], terminal: { rows: 24, cols: 80 }, stdin: true });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { stdin: true, stdout: true, cleanupOwner: true });
    let out = "";
    let interrupted = false;
    conn.on("stdout", (b) => {
      out += b.toString().replace(/\r/g, "");
      if (out.includes("ready\n") && !interrupted) {
        interrupted = true;
        conn.writeStdin(Buffer.from("\x03"));
        // A second signal after it, so the count of SIGINTs is final when the command exits.
        setTimeout(() => conn.signal(15), 300);
      }
    });
    await conn.start();
    const status = await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    // (the terminal echoes ^C, on the line the report then starts)
    expect(out.match(/signal \d+/g)).toEqual(["signal 2", "signal 15"]);
    expect(status.exitCode).toBe(0);
  });
});

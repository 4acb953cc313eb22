/**
 * Restart policies carried out by the monitor and rebuilt by the engine (`_restart-hook`),
 * and a container whose monitor is killed: real containers on a private root.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, hostTraces, isRoot } from "../helpers/cli.js";
import { eventually, idOf, psStatus, record, sleep } from "./lifecycle-helpers.js";

if (!isRoot) console.warn("lifecycle-restart.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("restart policies", () => {
  let root: TestRoot;

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  /**
   * The record after a `ps`: listing settles what a lost hook left behind (the monitor's
   * restart or exit command can die too, e.g. while the CLI bundle is being rebuilt), as a
   * user's next command would.
   */
  const seen = async (id: string) => {
    await root.run(["ps", "-a"]);
    return record(root, id);
  };

  const logLines = (id: string) => {
    const log = path.join(root.dir, "containers", id, `${id}-json.log`);
    return fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean).length : 0;
  };

  it("on-failure:2 restarts a failing command twice, then leaves it exited", async () => {
    const r = await root.run(["run", "-d", "--name", "of2", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3"]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    await eventually("two restarts", async () => ((await seen(id)).RestartCount === 2 && logLines(id) === 3 ? true : undefined));
    await sleep(1000); // the back-off of a third restart would be over by now (100 + 200 + 400 ms)
    expect(await psStatus(root, "of2")).toMatch(/^Exited \(3\) /);
    expect(fs.existsSync(path.join(root.dir, "runtime", id))).toBe(false);
    const rec = record(root, id);
    expect(rec.RestartCount).toBe(2);
    expect(rec.State).toMatchObject({ Status: "exited", ExitCode: 3 });
    expect(rec.HostConfig.RestartPolicy).toEqual({ Name: "on-failure", MaximumRetryCount: 2 });
    expect(logLines(id)).toBe(3);
    expect(await psStatus(root, "of2")).toMatch(/^Exited \(3\) /);
  });

  it("on-failure does not restart a success", async () => {
    const id = (await root.run(["run", "-d", "--name", "ok", "--restart", "on-failure", "busybox", "true"])).stdout.trim();
    await eventually("the exit", async () => ((await psStatus(root, "ok")).startsWith("Exited (0)") ? true : undefined));
    await sleep(300);
    expect(record(root, id).RestartCount).toBe(0);
  });

  it("always restarts any exit, shows Restarting during the back-off, and stop cancels it", async () => {
    const id = (await root.run(["run", "-d", "--name", "alw", "--restart", "always", "busybox", "sh", "-c", "exit 0"])).stdout.trim();
    await eventually("three restarts", async () => ((await seen(id)).RestartCount >= 3 ? true : undefined));
    await eventually("a Restarting status", async () => ((await psStatus(root, "alw")).match(/^Restarting \(0\) /) ? true : undefined));
    expect(await root.run(["stop", "alw"])).toMatchObject({ code: 0, stdout: "alw\n" });
    const count = record(root, id).RestartCount;
    await sleep(3000); // longer than the back-off it had reached
    expect(record(root, id).RestartCount).toBe(count);
    expect(await psStatus(root, "alw")).toMatch(/^Exited \(0\) /);
    // A start by hand begins the count anew.
    await root.run(["start", "alw"]);
    expect(record(root, id).RestartCount).toBeLessThan(count);
    await eventually("restarts after the start", async () => ((await seen(id)).RestartCount >= 1 ? true : undefined));
    await root.run(["stop", "alw"]);
  });

  it("always keeps a long-running container running and restarts it when it dies", async () => {
    const id = (await root.run(["run", "-d", "--name", "svc", "--restart", "always", "busybox", "sleep", "30"])).stdout.trim();
    const pid1 = () => {
      const st = JSON.parse(fs.readFileSync(path.join(root.dir, "runtime", id, "state.json"), "utf8")) as { init: { pid: number } };
      return st.init.pid;
    };
    const first = pid1();
    process.kill(first, "SIGKILL"); // dies without a stop: the policy applies
    await eventually("a restart", async () =>
      (await seen(id)).RestartCount === 1 && fs.existsSync(path.join(root.dir, "runtime", id, "started")) ? true : undefined,
    );
    expect(pid1()).not.toBe(first);
    expect(await psStatus(root, "svc")).toMatch(/^Up /);
    // kill (SIGKILL) is a stop on purpose too: no restart.
    expect((await root.run(["kill", "svc"])).code).toBe(0);
    await sleep(800);
    expect(record(root, id).RestartCount).toBe(1);
    expect(await psStatus(root, "svc")).toMatch(/^Exited \(137\) /);
  });

  it("unless-stopped restarts until stopped", async () => {
    const id = (await root.run(["run", "-d", "--name", "us", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.2; exit 1"])).stdout.trim();
    await eventually("a restart", async () => ((await seen(id)).RestartCount >= 1 ? true : undefined));
    await eventually("running again", async () => ((await psStatus(root, "us")).startsWith("Up") ? true : undefined));
    expect((await root.run(["stop", "-t", "1", "us"])).code).toBe(0);
    const count = record(root, id).RestartCount;
    await sleep(1500);
    expect(record(root, id).RestartCount).toBe(count);
    expect(await psStatus(root, "us")).toMatch(/^Exited /);
    expect(record(root, id).HostConfig.RestartPolicy.Name).toBe("unless-stopped");
  });

  it("removes a restarting container with rm -f and leaves nothing behind", async () => {
    const id = (await root.run(["run", "-d", "--name", "loop", "--restart", "always", "busybox", "sh", "-c", "exit 2"])).stdout.trim();
    await eventually("restarts", async () => ((await seen(id)).RestartCount >= 2 ? true : undefined));
    expect((await root.run(["rm", "-f", "loop"])).code).toBe(0);
    await sleep(1000); // a restart hook that was already on its way finds nothing to restart
    expect(fs.existsSync(path.join(root.dir, "containers", id))).toBe(false);
    expect(hostTraces(id)).toEqual([]);
  });
});

describe.skipIf(!isRoot)("a container whose monitor dies", () => {
  let root: TestRoot;

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  it("is killed with it, shows as exited (255) with an error, and is repaired by the next command", async () => {
    const id = (await root.run(["run", "-d", "--name", "orphan", "busybox", "sleep", "30"])).stdout.trim();
    const state = JSON.parse(fs.readFileSync(path.join(root.dir, "runtime", id, "state.json"), "utf8")) as {
      monitor: { pid: number };
      init: { pid: number };
    };
    process.kill(state.monitor.pid, "SIGKILL");
    // PID 1 goes with its monitor (PR_SET_PDEATHSIG): nothing runs unsupervised.
    await eventually("PID 1 gone", () => (fs.existsSync(`/proc/${state.init.pid}`) ? undefined : true));
    expect(await psStatus(root, "orphan")).toMatch(/^Exited \(255\) /);
    const rec = record(root, id);
    expect(rec.State.ExitCode).toBe(255);
    expect(rec.State.Error).toMatch(/monitor died/);
    // ps repaired it: no runtime state, cgroup or process is left; it can start again.
    expect(fs.existsSync(path.join(root.dir, "runtime", id))).toBe(false);
    expect(hostTraces(id)).toEqual([]);
    expect((await root.run(["start", "orphan"])).code).toBe(0);
    expect(await psStatus(root, "orphan")).toMatch(/^Up /);
    expect(record(root, id).State.Error).toBe("");
    await root.run(["rm", "-f", "orphan"]);
    expect(hostTraces(id)).toEqual([]);
  });
});

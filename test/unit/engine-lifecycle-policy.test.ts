/** Restart policies and the lifecycle state machine: pure decisions, Docker's words. */
import { describe, expect, it } from "vitest";
import {
  FIRST_DELAY_MS,
  MAX_DELAY_MS,
  nextDelay,
  parseRestartPolicy,
  shouldRestart,
  waitedDelay,
} from "../../src/engine/restart-policy.js";
import { checkRename, decide, type Operation } from "../../src/engine/transitions.js";
import type { DockerStatus } from "../../src/engine/status.js";

describe("--restart", () => {
  it("parses Docker's forms", () => {
    expect(parseRestartPolicy(undefined)).toEqual({ Name: "no", MaximumRetryCount: 0 });
    expect(parseRestartPolicy("no")).toEqual({ Name: "no", MaximumRetryCount: 0 });
    expect(parseRestartPolicy("always")).toEqual({ Name: "always", MaximumRetryCount: 0 });
    expect(parseRestartPolicy("unless-stopped")).toEqual({ Name: "unless-stopped", MaximumRetryCount: 0 });
    expect(parseRestartPolicy("on-failure")).toEqual({ Name: "on-failure", MaximumRetryCount: 0 });
    expect(parseRestartPolicy("on-failure:3")).toEqual({ Name: "on-failure", MaximumRetryCount: 3 });
  });

  it("refuses bad ones with Docker's messages", () => {
    expect(() => parseRestartPolicy(":3")).toThrow("invalid restart policy format: no policy provided before colon");
    expect(() => parseRestartPolicy("on-failure:x")).toThrow("invalid restart policy format: maximum retry count must be an integer");
    expect(() => parseRestartPolicy("sometimes")).toThrow(
      "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
    expect(() => parseRestartPolicy("always:2")).toThrow("invalid restart policy: maximum retry count can only be used with 'on-failure'");
    expect(() => parseRestartPolicy("on-failure:-1")).toThrow("invalid restart policy: maximum retry count cannot be negative");
  });

  const exit = (exitCode: number, over: Partial<{ restartCount: number; cancelled: boolean; manuallyStopped: boolean }> = {}) => ({
    exitCode,
    restartCount: 0,
    cancelled: false,
    manuallyStopped: false,
    ...over,
  });

  it("decides restarts as Docker's restart manager", () => {
    const p = parseRestartPolicy;
    expect(shouldRestart(p("no"), exit(1))).toBe(false);
    expect(shouldRestart(p("always"), exit(0))).toBe(true);
    expect(shouldRestart(p("always"), exit(0, { manuallyStopped: true }))).toBe(true);
    expect(shouldRestart(p("always"), exit(137, { cancelled: true }))).toBe(false);
    expect(shouldRestart(p("unless-stopped"), exit(0))).toBe(true);
    expect(shouldRestart(p("unless-stopped"), exit(0, { manuallyStopped: true }))).toBe(false);
    expect(shouldRestart(p("on-failure"), exit(0))).toBe(false);
    expect(shouldRestart(p("on-failure"), exit(1, { restartCount: 99 }))).toBe(true);
    expect(shouldRestart(p("on-failure:2"), exit(1, { restartCount: 1 }))).toBe(true);
    expect(shouldRestart(p("on-failure:2"), exit(1, { restartCount: 2 }))).toBe(false);
    expect(shouldRestart(p("on-failure:2"), exit(1, { cancelled: true }))).toBe(false);
  });

  it("backs off from 100 ms, doubling to a minute, and starts over after 10 s up", () => {
    expect(nextDelay(undefined)).toBe(FIRST_DELAY_MS);
    const delays: number[] = [];
    let d = FIRST_DELAY_MS;
    for (let i = 0; i < 12; i++) {
      delays.push(d);
      d = nextDelay(waitedDelay(d, 50));
    }
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600]);
    expect(delays.at(-1)).toBe(MAX_DELAY_MS);
    expect(waitedDelay(6400, 9_999)).toBe(6400);
    expect(waitedDelay(6400, 10_000)).toBe(FIRST_DELAY_MS);
    expect(nextDelay(waitedDelay(6400, 10_000))).toBe(200);
  });
});

describe("the lifecycle state machine", () => {
  const ctx = { id: "c".repeat(64), ref: "web" };
  const all: DockerStatus[] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];
  const outcome = (op: Operation, st: DockerStatus, force = false) => {
    try {
      return decide(op, st, { ...ctx, force });
    } catch (e) {
      return (e as Error).message;
    }
  };

  it("starts created and exited containers; starting a running one is a no-op", () => {
    expect(outcome("start", "created")).toBe("proceed");
    expect(outcome("start", "exited")).toBe("proceed");
    expect(outcome("start", "running")).toBe("noop");
    expect(outcome("start", "restarting")).toBe("noop");
    expect(outcome("start", "paused")).toBe("cannot start a paused container, try unpause instead");
  });

  it("stops only what runs, and cancels a pending restart", () => {
    expect(outcome("stop", "running")).toBe("proceed");
    expect(outcome("stop", "paused")).toBe("proceed");
    expect(outcome("stop", "restarting")).toBe("cancel-restart");
    expect(outcome("stop", "exited")).toBe("noop");
    expect(outcome("stop", "created")).toBe("noop");
  });

  it("refuses to kill what does not run, in Docker's words", () => {
    expect(outcome("kill", "running")).toBe("proceed");
    expect(outcome("kill", "exited")).toBe(`Cannot kill container: web: Container ${ctx.id} is not running`);
    expect(outcome("kill", "created")).toBe(`Cannot kill container: web: Container ${ctx.id} is not running`);
  });

  it("pauses running containers only", () => {
    expect(outcome("pause", "running")).toBe("proceed");
    expect(outcome("pause", "paused")).toBe(`Container ${ctx.id} is already paused`);
    expect(outcome("pause", "exited")).toBe(`Cannot pause container ${ctx.id}: Container ${ctx.id} is not running`);
    expect(outcome("pause", "restarting")).toBe(`Container ${ctx.id} is restarting, wait until the container is running`);
    expect(outcome("unpause", "paused")).toBe("proceed");
    expect(outcome("unpause", "running")).toBe(`Container ${ctx.id} is not paused`);
  });

  it("removes only stopped containers without force", () => {
    expect(outcome("remove", "exited")).toBe("proceed");
    expect(outcome("remove", "created")).toBe("proceed");
    expect(outcome("remove", "running")).toBe(
      `You cannot remove a running container ${ctx.id}. Stop the container before attempting removal or force remove`,
    );
    expect(outcome("remove", "paused")).toMatch(/^You cannot remove a paused container/);
    for (const st of all) expect(outcome("remove", st, true)).toBe("proceed");
    expect(outcome("remove", "removing")).toBe("proceed"); // resumes a removal that crashed
  });

  it("attaches to running containers only", () => {
    expect(outcome("attach", "running")).toBe("proceed");
    expect(outcome("attach", "exited")).toBe("You cannot attach to a stopped container, start it first");
  });

  it("lets nothing but rm touch a container being removed", () => {
    for (const op of ["start", "stop", "kill", "pause", "unpause", "attach", "rename"] as Operation[]) {
      expect(outcome(op, "removing")).toBe(`removal of container ${ctx.id} is already in progress`);
    }
  });

  it("checks rename's names", () => {
    expect(() => checkRename("", "b")).toThrow("Neither old nor new names may be empty");
    expect(() => checkRename("a", "/")).toThrow("Neither old nor new names may be empty");
    expect(() => checkRename("a", "a", "/a")).toThrow("Renaming a container with the same name as its current name");
    expect(() => checkRename("a", "b", "/a")).not.toThrow();
  });
});

describe("the live status", async () => {
  const { liveStatus, statusText, MONITOR_DIED } = await import("../../src/engine/status.js");
  const { emptyState } = await import("../../src/engine/record.js");
  const rec = { State: { ...emptyState(), Status: "exited", ExitCode: 1 } } as unknown as Parameters<typeof liveStatus>[0];
  const rt = (over: object) =>
    ({ ociVersion: "1.2.0", id: "x", bundle: "/b", status: "stopped", monitorAlive: false, monitorPid: 9, startedAt: "2026-01-01T00:00:00Z", ...over }) as Parameters<typeof liveStatus>[1];
  const exit = { exitCode: 3, oomKilled: false, startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:05Z" };

  it("shows a pending restart as restarting (Running, as Docker)", () => {
    const st = liveStatus(rec, rt({ exit, monitorAlive: true }), "2026-01-01T00:00:06Z");
    expect(st).toMatchObject({ Status: "restarting", Running: true, Restarting: true, ExitCode: 3 });
    expect(statusText(st, Date.parse("2026-01-01T00:00:08Z"))).toBe("Restarting (3) 3 seconds ago");
  });

  it("shows a container whose monitor died as exited (255) with an error", () => {
    expect(liveStatus(rec, rt({}))).toMatchObject({ Status: "exited", ExitCode: 255, Error: MONITOR_DIED });
  });

  it("keeps a container running while its monitor records the exit", () => {
    expect(liveStatus(rec, rt({ monitorAlive: true }))).toMatchObject({ Status: "running", Running: true });
    expect(liveStatus(rec, rt({ monitorAlive: true, exit }))).toMatchObject({ Status: "exited", ExitCode: 3 });
  });

  it("leaves a container that never ran as it was", () => {
    expect(liveStatus(rec, rt({ startedAt: undefined }))).toMatchObject({ Status: "exited", ExitCode: 1, Error: "" });
  });
});

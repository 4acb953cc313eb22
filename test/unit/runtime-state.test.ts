import { describe, expect, it } from "vitest";
import { isAlive, processStartTime } from "../../src/linux/process-identity.js";
import { validateId } from "../../src/runtime/runtime.js";
import { parseSignal } from "../../src/runtime/signals.js";
import { deriveStatus, toRuntimeState, type Observation, type StateRecord } from "../../src/runtime/state.js";

const record: StateRecord = {
  ociVersion: "1.1.0",
  id: "c1",
  bundle: "/b",
  annotations: { a: "b" },
  phase: "created",
  created: "2025-01-01T00:00:00.000Z",
  cgroupPath: "/tsrun/c1",
  init: { pid: 100, startTime: 5 },
  monitor: { pid: 99, startTime: 4 },
  protocol: 1,
};

const live: Observation = { record, exit: undefined, locked: false, initAlive: true, monitorAlive: true, startedAt: undefined, frozen: false };

describe("deriveStatus", () => {
  const cases: [string, Partial<Observation>, string][] = [
    ["a set-up init waiting for START", {}, "created"],
    ["an init that has run execve", { startedAt: "t" }, "running"],
    ["a frozen cgroup", { startedAt: "t", frozen: true }, "paused"],
    ["a frozen cgroup before START", { frozen: true }, "paused"],
    ["an exit record", { exit: { exitCode: 3, oomKilled: false, finishedAt: "t" }, startedAt: "t" }, "stopped"],
    ["a dead init", { initAlive: false }, "stopped"],
    ["a dead monitor (the init must not run on unsupervised)", { monitorAlive: false, startedAt: "t" }, "stopped"],
    ["a create in progress", { record: { ...record, phase: "creating" }, locked: true }, "creating"],
    ["a create whose process died", { record: { ...record, phase: "creating" }, locked: false }, "stopped"],
    ["a state dir without record, locked", { record: undefined, locked: true }, "creating"],
    ["a state dir without record, unlocked", { record: undefined, locked: false }, "stopped"],
  ];
  for (const [what, change, status] of cases) {
    it(`is ${status} for ${what}`, () => expect(deriveStatus({ ...live, ...change })).toBe(status));
  }
});

describe("toRuntimeState", () => {
  it("gives the OCI state with the pid while the container lives", () => {
    expect(toRuntimeState("c1", "/b", "running", { ...live, startedAt: "s" })).toEqual({
      ociVersion: "1.1.0",
      id: "c1",
      status: "running",
      pid: 100,
      bundle: "/b",
      annotations: { a: "b" },
      created: "2025-01-01T00:00:00.000Z",
      startedAt: "s",
      monitorPid: 99,
      monitorAlive: true,
      protocol: 1,
    });
  });

  it("gives exit status and times, and no pid, once stopped", () => {
    const exit = { exitCode: 137, signal: 9, oomKilled: true, startedAt: "s2", finishedAt: "f" };
    const st = toRuntimeState("c1", "/b", "stopped", { ...live, exit });
    expect(st.pid).toBeUndefined();
    expect(st).toMatchObject({ status: "stopped", startedAt: "s2", finishedAt: "f", exit });
  });
});

describe("parseSignal", () => {
  it("reads names with or without SIG, any case, and numbers", () => {
    expect(parseSignal("KILL")).toBe(9);
    expect(parseSignal("SIGTERM")).toBe(15);
    expect(parseSignal("hup")).toBe(1);
    expect(parseSignal("9")).toBe(9);
    expect(parseSignal(10)).toBe(10);
    expect(parseSignal(40)).toBe(40);
  });

  it("refuses unknown signals", () => {
    expect(() => parseSignal("FOO")).toThrow('Invalid signal "FOO"');
    expect(() => parseSignal(0)).toThrow('Invalid signal "0"');
    expect(() => parseSignal(65)).toThrow('Invalid signal "65"');
  });
});

describe("validateId", () => {
  it("accepts runc's ids and refuses paths", () => {
    for (const ok of ["abc", "a.b-c_d+e", "0".repeat(64)]) expect(() => validateId(ok)).not.toThrow();
    for (const bad of ["", ".", "..", "a/b", "a b", "../x"]) expect(() => validateId(bad)).toThrow(`Invalid container id "${bad}"`);
  });
});

describe("process identity", () => {
  it("trusts a pid only with its start time", () => {
    const start = processStartTime(process.pid)!;
    expect(start).toBeGreaterThan(0);
    expect(isAlive({ pid: process.pid, startTime: start })).toBe(true);
    expect(isAlive({ pid: process.pid, startTime: start + 1 })).toBe(false);
    expect(isAlive({ pid: 0, startTime: start })).toBe(false);
  });
});

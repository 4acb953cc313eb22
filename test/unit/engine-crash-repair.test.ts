/**
 * The pieces of crash safety that need no root: crash points, the engine's owner-named
 * scratch dirs, a container directory that appears already locked, telling an abandoned
 * create from one in progress, and the id pool's leftovers.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { StateRoot } from "../../src/common/paths.js";
import { createLockedContainerDir, isContainerLocked } from "../../src/engine/container-lock.js";
import { IdPool } from "../../src/engine/idpool.js";
import { recordedName } from "../../src/engine/repair.js";
import { ownerTag, scratchOwner, sweepScratchDirs } from "../../src/engine/scratch-dirs.js";
import { OwnerLock } from "../../src/linux/owner-lock.js";
import { processStartTime } from "../../src/linux/process-identity.js";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-crash-repair-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

/** A pid above pid_max: never a live process. */
const DEAD_PID = 4194000;
const ID = "ab".repeat(32);
const OTHER = "cd".repeat(32);
let n = 0;
const freshRoot = () => new StateRoot(fs.mkdtempSync(path.join(base, `root${n++}-`)));

describe("crashPoint", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
    vi.resetModules();
  });

  async function load(env: Record<string, string>) {
    vi.resetModules();
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    return import("../../src/common/crash-points.js");
  }

  it("kills the process with SIGKILL at the named point only, after logging it", async () => {
    const log = path.join(base, "crash.log");
    const { crashPoint } = await load({ TSRUN_CRASH_AT: "rm:after-name", TSRUN_CRASH_LOG: log });
    const kill = vi.spyOn(process, "kill").mockImplementation(() => {
      throw new Error("killed");
    });
    crashPoint("rm:after-mark");
    expect(kill).not.toHaveBeenCalled();
    expect(() => crashPoint("rm:after-name")).toThrow("killed");
    expect(kill).toHaveBeenCalledWith(process.pid, "SIGKILL");
    expect(fs.readFileSync(log, "utf8")).toMatch(new RegExp(`^rm:after-name ${process.pid} `));
  });

  it("does nothing when TSRUN_CRASH_AT is unset, and reads it only when loaded", async () => {
    const { crashPoint, CRASH_POINTS } = await load({});
    const kill = vi.spyOn(process, "kill");
    vi.stubEnv("TSRUN_CRASH_AT", "rm:after-name");
    for (const p of Object.keys(CRASH_POINTS) as (keyof typeof CRASH_POINTS)[]) crashPoint(p);
    expect(kill).not.toHaveBeenCalled();
  });

  it("registers each point once, with what it leaves", async () => {
    const { CRASH_POINTS } = await load({});
    for (const [name, what] of Object.entries(CRASH_POINTS)) {
      expect(name).toMatch(/^[a-z-]+(:[a-z-]+)+$/);
      expect(what.length).toBeGreaterThan(10);
    }
  });
});

describe("scratch dirs named after their owner", () => {
  it("parses owners and sweeps only dead owners' dirs", async () => {
    const root = freshRoot();
    const me = `${process.pid}-${processStartTime(process.pid)}`;
    expect(ownerTag()).toBe(me);
    expect(scratchOwner(`removed-${ID}-12-34-beef`)).toEqual({ pid: 12, startTime: 34 });
    expect(scratchOwner(`creating-${ID}-12-34`)).toEqual({ pid: 12, startTime: 34 });
    expect(scratchOwner("removed-short-12-34")).toBeUndefined();
    const dead = [`creating-${ID}-${DEAD_PID}-1`, `removed-${OTHER}-${DEAD_PID}-1-00ff`, `removed-${ID}-${process.pid}-1-00ff`];
    const kept = [`removed-${OTHER}-${me}-00ff`, `creating-${ID}-${me}`, "load-something", "unrelated"];
    for (const d of [...dead, ...kept]) fs.mkdirSync(path.join(root.tmp, d, "sub"), { recursive: true });
    // The last dead one: this pid, but another start time (the pid was reused).
    expect(await sweepScratchDirs(root)).toBe(dead.length);
    expect(fs.readdirSync(root.tmp).sort()).toEqual([...kept].sort());
  });
});

describe("a container directory that appears locked", () => {
  it("is in place, locked by its creator, with no scratch left, until released", async () => {
    const root = freshRoot();
    const lock = createLockedContainerDir(root, ID);
    expect(fs.existsSync(root.container(ID))).toBe(true);
    expect(isContainerLocked(root, ID)).toBe(true);
    expect(OwnerLock.holder(path.join(root.container(ID), "lock"))?.pid).toBe(process.pid);
    expect(fs.readdirSync(root.tmp)).toEqual([]);
    lock.release();
    expect(isContainerLocked(root, ID)).toBe(false);
    expect(fs.readdirSync(root.container(ID))).toEqual([]);
  });

  it("tells a create in progress from an abandoned one and from a finished one", async () => {
    const root = freshRoot();
    const lock = createLockedContainerDir(root, ID);
    expect(recordedName(root, ID)).toBeUndefined(); // being created: its name is held
    lock.release();
    expect(recordedName(root, ID)).toBe(""); // no record and nobody at work: abandoned
    fs.writeFileSync(path.join(root.container(ID), "lock"), JSON.stringify({ pid: DEAD_PID, startTime: 1 }));
    expect(recordedName(root, ID)).toBe(""); // its creator died holding the lock
    fs.writeFileSync(path.join(root.container(ID), "container.json"), JSON.stringify({ Id: ID, Name: "/web" }));
    expect(recordedName(root, ID)).toBe("web");
  });
});

describe("id pool leftovers", () => {
  it("gives back every lease of one owner, and sweeps dead allocators' temp files", () => {
    const machine = fs.mkdtempSync(path.join(base, "machine-"));
    const dir = path.join(machine, "idpool");
    fs.mkdirSync(dir);
    const mine = { root: "/r1", id: ID };
    fs.writeFileSync(path.join(dir, "100000-100000.lease"), JSON.stringify(mine));
    fs.writeFileSync(path.join(dir, "165536-165536.lease"), JSON.stringify(mine));
    fs.writeFileSync(path.join(dir, "231072-231072.lease"), JSON.stringify({ root: "/r2", id: ID }));
    fs.writeFileSync(path.join(dir, "296608-296608.lease"), ""); // unreadable: not ours to judge
    fs.writeFileSync(path.join(dir, `.lease-${DEAD_PID}-00ff.tmp`), JSON.stringify(mine));
    fs.writeFileSync(path.join(dir, `.lease-${process.pid}-00ff.tmp`), JSON.stringify(mine));
    new IdPool(machine).releaseAllOf(mine);
    expect(fs.readdirSync(dir).sort()).toEqual([`.lease-${process.pid}-00ff.tmp`, "231072-231072.lease", "296608-296608.lease"]);
  });
});

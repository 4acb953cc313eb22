/** The plan's binary form (native/protocol.def): layout, field encoding, refusals. */
import { describe, expect, it } from "vitest";

import { isTsrunError } from "../../src/common/errors.js";
import type { Plan } from "../../src/runtime/plan.js";
import { decodeRecords, encodePlan, encodeRecords, planRecords } from "../../src/runtime/plan-codec.js";
import { PLAN_FORMAT, PLAN_MAGIC, Rec } from "../../src/runtime/protocol.gen.js";

function basePlan(): Plan {
  return {
    containerId: "c0ffee",
    newNamespaces: ["user", "mnt", "pid"],
    joinNamespaces: [{ kind: "ipc", path: "/proc/42/ns/ipc" }],
    uidMap: [{ inside: 0, outside: 4_000_000_000, count: 65536 }],
    gidMap: [{ inside: 0, outside: 4_000_000_000, count: 65536 }],
    cgroupProcs: ["/sys/fs/cgroup/pids/tsrun/c0ffee/cgroup.procs"],
    rootfs: { kind: "overlay", lowers: ["/l/top", "/l/base"], upperParent: "/c/fs", idmap: true, readonly: false },
    rootPropagation: 0x44000,
    mounts: [{ kind: "fs", source: "proc", target: "/proc", fstype: "proc", flags: 14, propagation: 0, data: "", idmap: false }],
    devices: [{ hostPath: "/dev/null", target: "/dev/null" }],
    symlinks: [{ target: "pts/ptmx", linkPath: "/dev/ptmx" }],
    maskedPaths: ["/proc/kcore"],
    readonlyPaths: ["/proc/sys"],
    hostname: "h",
    sysctls: [{ key: "net.ipv4.ip_unprivileged_port_start", value: "0" }],
    process: {
      args: ["sh", "-c", "echo hi"],
      env: ["PATH=/bin", "EMPTY="],
      cwd: "/",
      uid: 1000,
      gid: 1000,
      additionalGids: [10, 20],
      terminal: true,
      consoleSize: { rows: 24, cols: 80 },
      capabilities: { bounding: (1n << 41n) - 1n, effective: 1n, permitted: 1n, inheritable: 0n, ambient: 0n },
      noNewPrivileges: true,
      rlimits: [{ resource: 7, soft: 1024n, hard: 0xffff_ffff_ffff_ffffn }],
      oomScoreAdj: -500,
      umask: 0o22,
    },
    monitor: {
      stateDir: "/run/tsrun/c0ffee",
      stdin: true,
      logPath: "/var/lib/tsrun/containers/c0ffee/c0ffee-json.log",
      exitCommand: ["/usr/bin/tsrun", "cleanup", "c0ffee"],
      ownCgroupProcs: [],
    },
  };
}

describe("encodePlan", () => {
  it("writes the header, length-prefixed records of NUL-terminated fields, and END", () => {
    const buf = encodePlan(basePlan());
    expect(buf.readUInt32LE(0)).toBe(PLAN_MAGIC);
    expect(buf.subarray(0, 4).toString("latin1")).toBe("TSRP");
    expect(buf.readUInt32LE(4)).toBe(PLAN_FORMAT);
    // The first record: CONTAINER_ID "c0ffee\0".
    expect(buf.readUInt32LE(8)).toBe(Rec.CONTAINER_ID);
    expect(buf.readUInt32LE(12)).toBe(7);
    expect(buf.subarray(16, 23).toString()).toBe("c0ffee\0");
    const recs = decodeRecords(buf);
    expect(recs).toEqual(planRecords(basePlan()));
    // END carries the count of the records before it.
    const end = buf.subarray(buf.length - 8 - String(recs.length).length - 1);
    expect(end.readUInt32LE(0)).toBe(Rec.END);
  });

  it("encodes numbers and bigints as decimal and booleans as 0/1", () => {
    const recs = planRecords(basePlan());
    const find = (t: number) => recs.filter((r) => r.type === t).map((r) => r.fields);
    expect(find(Rec.UID_MAP)).toEqual([["0", "4000000000", "65536"]]);
    expect(find(Rec.ROOTFS_OVERLAY)).toEqual([["/c/fs", "1", "0"]]);
    expect(find(Rec.ROOTFS_LOWER)).toEqual([["/l/top"], ["/l/base"]]);
    expect(find(Rec.CAPS)).toEqual([["2199023255551", "1", "1", "0", "0"]]);
    expect(find(Rec.RLIMIT)).toEqual([["7", "1024", "18446744073709551615"]]);
    expect(find(Rec.OOM_SCORE_ADJ)).toEqual([["-500"]]);
    expect(find(Rec.ARGS)).toEqual([["sh", "-c", "echo hi"]]);
    expect(find(Rec.ENV)).toEqual([["PATH=/bin", "EMPTY="]]);
    expect(find(Rec.TERMINAL)).toEqual([["24", "80"]]);
    expect(find(Rec.NO_NEW_PRIVS)).toEqual([[]]);
    expect(find(Rec.STDIN)).toEqual([[]]);
    expect(find(Rec.MOUNT)).toEqual([["fs", "proc", "/proc", "proc", "14", "0", "", "0", ""]]);
    expect(find(Rec.NS_NEW)).toEqual([["user"], ["mnt"], ["pid"]]);
  });

  it("encodes a bind's source mount namespace last, empty for the host's", () => {
    const p = basePlan();
    p.mounts.push({ kind: "bind", source: "/dev/shm", target: "/dev/shm", fstype: "", flags: 4096, propagation: 0, data: "", idmap: false, sourceNs: "/proc/42/ns/mnt" });
    const mounts = planRecords(p).filter((r) => r.type === Rec.MOUNT).map((r) => r.fields.at(-1));
    expect(mounts).toEqual(["", "/proc/42/ns/mnt"]);
  });

  it("encodes the restart policy as one RESTART record, the command last", () => {
    const p = basePlan();
    p.monitor.restart = { policy: "on-failure", maxRetries: 3, retryCount: 1, delayMs: 200, command: ["/usr/bin/tsrun", "_restart-hook", "c0ffee"] };
    const recs = planRecords(p).filter((r) => r.type === Rec.RESTART);
    expect(recs.map((r) => r.fields)).toEqual([["on-failure", "3", "1", "200", "/usr/bin/tsrun", "_restart-hook", "c0ffee"]]);
    expect(decodeRecords(encodePlan(p))).toEqual(planRecords(p));
    // "no" is the absence of the record.
    expect(planRecords(basePlan()).some((r) => r.type === Rec.RESTART)).toBe(false);
  });

  it("leaves out what is not set", () => {
    const p = basePlan();
    delete p.hostname;
    p.process.terminal = false;
    delete p.process.oomScoreAdj;
    p.process.noNewPrivileges = false;
    p.monitor.stdin = false;
    delete p.monitor.logPath;
    delete p.monitor.exitCommand;
    p.rootfs = { kind: "dir", path: "/bundle/rootfs", readonly: true };
    const types = new Set(planRecords(p).map((r) => r.type));
    for (const t of [Rec.HOSTNAME, Rec.TERMINAL, Rec.OOM_SCORE_ADJ, Rec.NO_NEW_PRIVS, Rec.STDIN, Rec.LOG_PATH, Rec.EXIT_COMMAND, Rec.ROOTFS_OVERLAY])
      expect(types.has(t)).toBe(false);
    expect(planRecords(p).find((r) => r.type === Rec.ROOTFS_DIR)?.fields).toEqual(["/bundle/rootfs", "1"]);
  });

  it("refuses values it cannot encode", () => {
    const cases: ((p: Plan) => void)[] = [
      (p) => (p.process.env = ["A=\0B"]),
      (p) => (p.process.args = []),
      (p) => (p.process.uid = -1),
      (p) => (p.process.uid = 2 ** 32),
      (p) => (p.process.capabilities.bounding = -1n),
      (p) => (p.process.rlimits = [{ resource: 7, soft: 1n << 64n, hard: 0n }]),
      (p) => (p.mounts[0]!.target = "relative"),
      (p) => (p.rootfs = { kind: "overlay", lowers: [], upperParent: "/u", idmap: false, readonly: false }),
      (p) => (p.process.umask = 0o1000),
      (p) => (p.monitor.restart = { policy: "no" as "always", maxRetries: 0, retryCount: 0, delayMs: 100, command: ["x"] }),
      (p) => (p.monitor.restart = { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 100, command: [] }),
      (p) => (p.monitor.restart = { policy: "always", maxRetries: -1, retryCount: 0, delayMs: 100, command: ["x"] }),
      (p) => (p.monitor.restart = { policy: "always", maxRetries: 0, retryCount: 0, delayMs: 1.5, command: ["x"] }),
    ];
    for (const mutate of cases) {
      const p = basePlan();
      mutate(p);
      expect(() => encodePlan(p)).toThrow();
      try {
        encodePlan(p);
      } catch (e) {
        expect(isTsrunError(e, "invalid-argument")).toBe(true);
      }
    }
  });
});

describe("decodeRecords", () => {
  const good = encodePlan(basePlan());

  it("rejects truncated plans at every length", () => {
    for (let len = 0; len < good.length; len++) expect(() => decodeRecords(good.subarray(0, len))).toThrow();
  });

  it("rejects a bad magic, an unknown version, unknown records, wrong arity and missing NULs", () => {
    const bad = (mutate: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      mutate(b);
      return () => decodeRecords(b);
    };
    expect(bad((b) => b.writeUInt32LE(0, 0))).toThrow(/magic/);
    expect(bad((b) => b.writeUInt32LE(99, 4))).toThrow(/version 99/);
    expect(bad((b) => b.writeUInt32LE(999, 8))).toThrow(/Unknown record type 999/);
    expect(() => decodeRecords(encodeRecords([{ type: Rec.SYSCTL, fields: ["only-key"] }]))).toThrow(/wrong number of fields/);
    expect(bad((b) => (b[22] = 0x41))).toThrow(/NUL/);
    expect(() => decodeRecords(Buffer.concat([good, Buffer.from([1])]))).toThrow(/after the END/);
  });
});

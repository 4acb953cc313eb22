import { describe, expect, it } from "vitest";
import { capabilityMask, capabilityNames, capabilityNumber } from "../../src/runtime/capabilities.js";
import { MS, parseMountOptions } from "../../src/runtime/mount-options.js";
import { planRlimit, RLIM_INFINITY, rlimitNumber } from "../../src/runtime/rlimits.js";

describe("capability names", () => {
  it("maps names to the kernel's bit numbers", () => {
    expect(capabilityNumber("CAP_CHOWN")).toBe(0);
    expect(capabilityNumber("CAP_NET_BIND_SERVICE")).toBe(10);
    expect(capabilityNumber("CAP_SYS_ADMIN")).toBe(21);
    expect(capabilityNumber("CAP_AUDIT_WRITE")).toBe(29);
    expect(capabilityNumber("CAP_CHECKPOINT_RESTORE")).toBe(40);
    expect(capabilityNames()).toHaveLength(41);
  });

  it("builds masks and names an unknown capability", () => {
    expect(capabilityMask(["CAP_KILL", "CAP_SETUID", "CAP_KILL"])).toBe((1n << 5n) | (1n << 7n));
    expect(capabilityMask(["CAP_BPF"])).toBe(1n << 39n);
    expect(capabilityMask()).toBe(0n);
    expect(() => capabilityMask(["CAP_KILL", "chown"])).toThrow('Unknown capability "chown"');
  });
});

describe("rlimit names", () => {
  it("maps names to RLIMIT numbers", () => {
    expect(rlimitNumber("RLIMIT_CPU")).toBe(0);
    expect(rlimitNumber("RLIMIT_NOFILE")).toBe(7);
    expect(rlimitNumber("RLIMIT_NPROC")).toBe(6);
    expect(rlimitNumber("RLIMIT_RTTIME")).toBe(15);
    expect(() => rlimitNumber("NOFILE")).toThrow('Unknown rlimit "NOFILE"');
  });

  it("reads 2^64-1 (as JSON rounds it) as infinity and refuses negatives", () => {
    expect(planRlimit({ type: "RLIMIT_STACK", soft: 8388608, hard: 2 ** 64 })).toEqual({ resource: 3, soft: 8388608n, hard: RLIM_INFINITY });
    expect(() => planRlimit({ type: "RLIMIT_STACK", soft: -1, hard: 1 })).toThrow('Invalid rlimit "RLIMIT_STACK": soft limit "-1" is not a non-negative integer');
  });
});

describe("parseMountOptions", () => {
  it("sets and clears flags, the last word winning", () => {
    expect(parseMountOptions(["ro", "nosuid", "rw"]).flags).toBe(MS.NOSUID);
    expect(parseMountOptions(["noatime", "atime", "nodiratime", "relatime", "strictatime"]).flags).toBe(MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME);
    expect(parseMountOptions(["nodev", "dev", "noexec", "suid", "defaults"]).flags).toBe(MS.NOEXEC);
  });

  it("knows bind and rbind, propagation and idmap forms", () => {
    expect(parseMountOptions(["bind"])).toEqual({ flags: MS.BIND, propagation: 0, data: "", bind: true, idmap: false });
    expect(parseMountOptions(["rbind", "rshared"])).toMatchObject({ flags: MS.BIND | MS.REC, propagation: MS.SHARED | MS.REC, bind: true });
    expect(parseMountOptions(["private", "slave"]).propagation).toBe(MS.SLAVE);
    expect(parseMountOptions(["runbindable"]).propagation).toBe(MS.UNBINDABLE | MS.REC);
    expect(parseMountOptions(["ridmap"])).toMatchObject({ idmap: true, flags: MS.REC, bind: false });
  });

  it("passes filesystem options as data and drops tmpcopyup", () => {
    expect(parseMountOptions(["mode=755", "tmpcopyup", "size=65536k", "uid=0"]).data).toBe("mode=755,size=65536k,uid=0");
    expect(parseMountOptions(undefined).flags).toBe(0);
  });
});

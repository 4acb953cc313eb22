import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  expandEnvArg,
  mergeEnv,
  parseAddHost,
  parseEnvFile,
  parseLabels,
  parseSize,
  validateHostname,
  validateWorkdir,
} from "../../src/engine/run-options.js";
import { resolveUser } from "../../src/engine/users.js";
import { validateName } from "../../src/engine/names.js";
import { candidateSlices, parseSubid } from "../../src/engine/idpool.js";
import { humanDuration, statusText } from "../../src/engine/status.js";
import { containerResolvConf } from "../../src/engine/container-fs.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-unit-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("env", () => {
  it("takes -e K from the host and drops it when unset", () => {
    expect(expandEnvArg("A=1")).toBe("A=1");
    expect(expandEnvArg("A=")).toBe("A=");
    expect(expandEnvArg("HOSTONLY", { HOSTONLY: "x" })).toBe("HOSTONLY=x");
    expect(expandEnvArg("MISSING", {})).toBeUndefined();
    expect(() => expandEnvArg("=v")).toThrow("invalid environment variable: =v");
  });

  it("reads env files as Docker does", () => {
    const f = path.join(tmp, "env");
    fs.writeFileSync(f, "# comment\n\n  A=1\nB= spaced value \nHOSTV\nUNSET\nC=x=y\r\n");
    expect(parseEnvFile(f, { HOSTV: "h" })).toEqual(["A=1", "B= spaced value ", "HOSTV=h", "C=x=y"]);
    fs.writeFileSync(f, "BAD NAME=1\n");
    expect(() => parseEnvFile(f)).toThrow("variable 'BAD NAME' contains whitespaces");
    fs.writeFileSync(f, "=1\n");
    expect(() => parseEnvFile(f)).toThrow("no variable name on line '=1'");
    fs.writeFileSync(f, Buffer.from([0x41, 0x3d, 0xff, 0x0a]));
    expect(() => parseEnvFile(f)).toThrow("contains invalid utf8 bytes at line 1");
    expect(() => parseEnvFile(path.join(tmp, "none"))).toThrow(`open ${path.join(tmp, "none")}: no such file or directory`);
  });

  it("merges with later values winning, first positions kept", () => {
    expect(mergeEnv(["PATH=/a", "X=1"], ["X=2", "Y=3"], ["PATH=/b"])).toEqual(["PATH=/b", "X=2", "Y=3"]);
  });
});

describe("flag values", () => {
  it("parses labels, hosts and sizes", () => {
    expect(parseLabels(["a=b", "c", "d=e=f"])).toEqual({ a: "b", c: "", d: "e=f" });
    expect(parseAddHost("db:10.0.0.1")).toEqual({ host: "db", ip: "10.0.0.1" });
    expect(parseAddHost("v6:::1")).toEqual({ host: "v6", ip: "::1" });
    expect(parseAddHost("v6:[fe80::1]")).toEqual({ host: "v6", ip: "fe80::1" });
    expect(parseAddHost("host.docker.internal:host-gateway")).toEqual({ host: "host.docker.internal", ip: "host-gateway" });
    expect(() => parseAddHost("db:notanip")).toThrow('invalid IP address in add-host: "notanip"');
    expect(() => parseAddHost("nocolon")).toThrow("bad format for add-host");
    expect(parseSize("64m", "--shm-size")).toBe(64 * 1024 * 1024);
    expect(parseSize("1g", "--shm-size")).toBe(1024 ** 3);
    expect(parseSize("512", "--shm-size")).toBe(512);
    expect(parseSize("1.5k", "--shm-size")).toBe(1536);
    expect(() => parseSize("lots", "--shm-size")).toThrow("invalid size: 'lots'");
  });

  it("validates names, hostnames and workdirs with Docker's messages", () => {
    expect(validateName("/web-1")).toBe("web-1");
    expect(() => validateName("a")).toThrow("Invalid container name (a)");
    expect(() => validateName("bad name")).toThrow("only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    expect(validateHostname("box.example")).toBe("box.example");
    expect(() => validateHostname("-bad")).toThrow("invalid hostname format: -bad");
    expect(() => validateWorkdir("rel")).toThrow("the working directory 'rel' is invalid, it needs to be an absolute path");
  });
});

describe("users", () => {
  const passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nweb:x:33:33::/var/www:/bin/sh\n";
  const group = "root:x:0:\nwheel:x:10:root\nwww:x:33:\nextra:x:500:web,other\nnogroup:x:65534:\n";

  it("resolves names and ids", () => {
    expect(resolveUser("", passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" });
    expect(resolveUser("web", passwd, group)).toEqual({ uid: 33, gid: 33, additionalGids: [33, 500], home: "/var/www" });
    expect(resolveUser("1234", passwd, group)).toEqual({ uid: 1234, gid: 0, additionalGids: [0], home: "/" });
    expect(resolveUser("web:root", passwd, group)).toEqual({ uid: 33, gid: 0, additionalGids: [0], home: "/var/www" });
    expect(resolveUser("5:7", passwd, group)).toEqual({ uid: 5, gid: 7, additionalGids: [7], home: "/" });
  });

  it("refuses unknown names and malformed specs", () => {
    expect(() => resolveUser("ghost", passwd, group)).toThrow("unable to find user ghost: no matching entries in passwd file");
    expect(() => resolveUser("web:ghosts", passwd, group)).toThrow("unable to find group ghosts: no matching entries in group file");
    expect(() => resolveUser("a:b:c", passwd, group)).toThrow('invalid user format: "a:b:c"');
    expect(() => resolveUser("web:", passwd, group)).toThrow("invalid user format");
    expect(() => resolveUser("nobody", undefined, undefined)).toThrow("unable to find user nobody");
  });
});

describe("id pool", () => {
  it("carves 65536-id slices inside both grants, skipping host ids", () => {
    const sub = parseSubid("alice:100000:65536\ntsrun:131072:262144\n", "tsrun");
    expect(sub).toEqual([{ start: 131072, count: 262144 }]);
    const slices = candidateSlices(sub, sub, [200000], []);
    expect(slices.map((s) => s.uid)).toEqual([131072, 262144, 327680]);
    expect(slices.map((s) => s.gid)).toEqual([131072, 262144, 327680]);
    expect(slices.every((s) => s.size === 65536)).toBe(true);
  });
});

describe("status", () => {
  it("words durations and states as docker ps does", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1000)).toBe("1 second");
    expect(humanDuration(59_000)).toBe("59 seconds");
    expect(humanDuration(90_000)).toBe("About a minute");
    expect(humanDuration(3 * 3600_000)).toBe("3 hours");
    const base = { Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, Error: "" };
    const now = Date.parse("2026-01-01T00:00:10Z");
    expect(statusText({ ...base, Status: "created", ExitCode: 0, StartedAt: "", FinishedAt: "" }, now)).toBe("Created");
    expect(statusText({ ...base, Status: "running", ExitCode: 0, StartedAt: "2026-01-01T00:00:07Z", FinishedAt: "" }, now)).toBe("Up 3 seconds");
    expect(statusText({ ...base, Status: "paused", ExitCode: 0, StartedAt: "2026-01-01T00:00:05Z", FinishedAt: "" }, now)).toBe("Up 5 seconds (Paused)");
    expect(statusText({ ...base, Status: "exited", ExitCode: 3, StartedAt: "", FinishedAt: "2026-01-01T00:00:08Z" }, now)).toBe("Exited (3) 2 seconds ago");
  });
});

describe("resolv.conf", () => {
  it("drops loopback resolvers the container cannot reach", () => {
    expect(containerResolvConf("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\n")).toBe("nameserver 10.0.0.2\nsearch lan\n");
    expect(containerResolvConf(undefined)).toBe("");
  });
});

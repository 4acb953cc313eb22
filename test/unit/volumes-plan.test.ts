/**
 * From flags to a container's mounts: precedence and duplicates (moby's registerMountPoints),
 * `--volumes-from`, image VOLUMEs, and the OCI mounts and record entries that come out.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StateRoot } from "../../src/common/index.js";
import { isTsrunError } from "../../src/common/errors.js";
import {
  VolumeStore,
  inspectMounts,
  mergeMounts,
  parseMountFlags,
  resolveMounts,
  toMountPoints,
  toOciMounts,
  type MountPoint,
  type MountRequest,
} from "../../src/engine/volumes/index.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-volplan-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const store = new VolumeStore(new StateRoot(tmp));
const exists = (p: string) => p.startsWith("/host");

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isTsrunError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("parseMountFlags", () => {
  it("rejects two explicit mounts on one destination, whichever flags they come from", () => {
    expect(errorOf(() => parseMountFlags({ volumes: ["/host/a:/x", "/host/b:/x"] }, { exists }))).toBe("Duplicate mount point: /x");
    expect(errorOf(() => parseMountFlags({ volumes: ["v1:/x/"], mounts: ["type=bind,src=/host,dst=/x/"] }, { exists }))).toBe(
      "Duplicate mount point: /x/",
    );
    expect(errorOf(() => parseMountFlags({ mounts: ["dst=/x", "type=tmpfs,dst=/x"] }, { exists }))).toBe("Duplicate mount point: /x");
    expect(errorOf(() => parseMountFlags({ volumes: ["v1:/x"], tmpfs: ["/x"] }, { exists }))).toBe("Duplicate mount point: /x");
    expect(errorOf(() => parseMountFlags({ mounts: ["dst=/x"], tmpfs: ["/x:size=1m"] }, { exists }))).toBe("Duplicate mount point: /x");
  });

  it("accepts the same -v twice, and -v /path beside an explicit mount there", () => {
    const p = parseMountFlags({ volumes: ["v1:/x", "v1:/x", "/x", "/y", "/y"] }, { exists });
    expect(p.explicit).toHaveLength(1);
    expect(p.anonymous).toEqual(["/x", "/y"]);
  });

  it("reports the first error it meets", () => {
    expect(errorOf(() => parseMountFlags({ mounts: ["type=bind,src=/missing,dst=/m"], volumes: ["v1:/x"] }, { exists }))).toBe(
      'invalid mount config for type "bind": bind source path does not exist: /missing',
    );
  });

  it("keeps what inspect shows: Binds with relative sources made absolute, --mount as API mounts", () => {
    const p = parseMountFlags(
      { volumes: ["v1:/x:ro", "/y", "./rel:/r", "v1:/x:ro"], mounts: ["type=tmpfs,dst=/t,tmpfs-size=1k", "src=v2,dst=/v,readonly,volume-nocopy"] },
      { cwd: "/host/cwd", exists },
    );
    expect(p.binds).toEqual(["v1:/x:ro", "/host/cwd/rel:/r"]);
    expect(p.specs).toEqual([
      { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1024 } },
      { Type: "volume", Source: "v2", Target: "/v", ReadOnly: true, VolumeOptions: { NoCopy: true } },
    ]);
  });

  it("parses --volumes-from for later resolution", () => {
    expect(parseMountFlags({ volumesFrom: ["db:ro", "cache"] }).volumesFrom).toEqual([
      { container: "db", mode: "ro", readonly: true },
      { container: "cache", mode: "rw", readonly: false },
    ]);
  });
});

describe("resolveMounts", () => {
  const dbMounts: MountPoint[] = [
    { Type: "volume", Name: "dbdata", Source: "/r/volumes/dbdata/_data", Destination: "/var/lib/db", Driver: "local", Mode: "z", RW: true, Propagation: "" },
    { Type: "bind", Source: "/host/conf", Destination: "/etc/db", Mode: "ro", RW: false, Propagation: "rprivate" },
    { Type: "tmpfs", Source: "", Destination: "/run", Mode: "", RW: true, Propagation: "", TmpfsOptions: { SizeBytes: 1024, Mode: 0o700 } },
    { Type: "bind", Source: "/host/logs", Destination: "/logs", Mode: "", RW: true, Propagation: "rprivate" },
  ];
  const mountsOf = (c: string) => {
    if (c === "db") return dbMounts;
    throw new Error(`No such container: ${c}`);
  };

  it("copies another container's mounts, read-only with :ro, never filled from the image", () => {
    const r = resolveMounts(parseMountFlags({ volumesFrom: ["db:ro"] }), { mountsOf });
    expect(r).toEqual([
      { kind: "volume", name: "dbdata", anonymous: false, target: "/var/lib/db", readonly: true, nocopy: true, origin: "volumes-from", mode: "z" },
      {
        kind: "bind",
        source: "/host/conf",
        target: "/etc/db",
        readonly: true,
        propagation: "rprivate",
        recursive: true,
        createSource: true,
        origin: "volumes-from",
        mode: "ro",
      },
      { kind: "tmpfs", target: "/run", readonly: true, size: 1024, mode: 0o700, options: [], origin: "volumes-from" },
      expect.objectContaining({ kind: "bind", source: "/host/logs", readonly: true }),
    ]);
  });

  it("lets explicit mounts override --volumes-from, and anonymous volumes fill only free destinations", () => {
    const parsed = parseMountFlags({ volumesFrom: ["db"], volumes: ["/host/other:/etc/db", "/data", "/logs"] }, { exists });
    const r = resolveMounts(parsed, { mountsOf, imageVolumes: ["/var/lib/db", "/cache/", "data"] });
    const byTarget = Object.fromEntries(r.map((m) => [m.target, m]));
    expect(byTarget["/etc/db"]).toMatchObject({ kind: "bind", source: "/host/other", origin: "volume-flag" });
    expect(byTarget["/var/lib/db"]).toMatchObject({ kind: "volume", name: "dbdata" }); // VOLUME does not replace it
    expect(byTarget["/logs"]).toMatchObject({ kind: "bind", source: "/host/logs" }); // -v /logs does not either
    expect(byTarget["/data"]).toEqual({ kind: "volume", anonymous: true, target: "/data", readonly: false, nocopy: false, origin: "anonymous-flag", mode: "" });
    expect(byTarget["/cache"]).toMatchObject({ kind: "volume", anonymous: true, origin: "image" });
    expect(r.filter((m) => m.target === "/data")).toHaveLength(1);
  });

  it("passes on the container lookup's error", () => {
    expect(() => resolveMounts(parseMountFlags({ volumesFrom: ["nope"] }), { mountsOf })).toThrow("No such container: nope");
  });
});

describe("toOciMounts / toMountPoints", () => {
  const v1 = store.create({ name: "v1" }).volume;
  const bindOpt = store.create({ name: "hostdir", options: { type: "none", o: "bind", device: "/host/dir" } }).volume;
  const tmpOpt = store.create({ name: "ram", options: { type: "tmpfs", device: "tmpfs", o: "size=10m,uid=1000" } }).volume;
  const nfs = store.create({ name: "nfs", options: { type: "nfs", device: ":/exports", o: "addr=10.0.0.1" } }).volume;
  const requests: MountRequest[] = [
    { kind: "tmpfs", target: "/a/b/c", readonly: false, size: 2 ** 20, options: [], origin: "mount" },
    { kind: "volume", name: "v1", anonymous: false, target: "/data", readonly: false, nocopy: false, origin: "volume-flag", mode: "z" },
    { kind: "bind", source: "/host/x", target: "/a/b", readonly: true, propagation: "rslave", recursive: false, createSource: false, origin: "mount", mode: "" },
    { kind: "volume", name: "hostdir", anonymous: false, target: "/h", readonly: true, nocopy: false, origin: "mount", mode: "z" },
    { kind: "volume", name: "ram", anonymous: false, target: "/ram", readonly: false, nocopy: false, origin: "mount", mode: "z" },
  ];

  it("binds volumes and host paths (idmapped with a user namespace), sorted parents first", () => {
    expect(toOciMounts(requests, store, { userns: true })).toEqual([
      { destination: "/data", type: "bind", source: v1.Mountpoint, options: ["rbind", "idmap"] },
      { destination: "/h", type: "bind", source: "/host/dir", options: ["bind", "ro", "idmap"] },
      { destination: "/ram", type: "tmpfs", source: "tmpfs", options: ["size=10m", "uid=1000"] },
      { destination: "/a/b", type: "bind", source: "/host/x", options: ["bind", "rslave", "ro", "idmap"] },
      { destination: "/a/b/c", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate", "size=1m"] },
    ]);
    expect(toOciMounts(requests.slice(1, 2), store, { userns: false })).toEqual([
      { destination: "/data", type: "bind", source: v1.Mountpoint, options: ["rbind"] },
    ]);
    expect(bindOpt.Options).toEqual({ type: "none", o: "bind", device: "/host/dir" });
    expect(tmpOpt.Name).toBe("ram");
  });

  it("refuses what it cannot mount: an unnamed volume, a missing one, a network filesystem", () => {
    expect(() => toOciMounts([{ kind: "volume", anonymous: true, target: "/x", readonly: false, nocopy: false, origin: "image", mode: "" }], store, { userns: true })).toThrow(
      /never created/,
    );
    expect(errorOf(() => toOciMounts([{ ...(requests[1] as object), name: "gone" } as MountRequest], store, { userns: true }))).toBe("get gone: no such volume");
    expect(errorOf(() => toOciMounts([{ ...(requests[1] as object), name: nfs.Name } as MountRequest], store, { userns: true }))).toMatch(
      /^Cannot mount volume "nfs": the local driver's option type=nfs/,
    );
  });

  it("records Docker's mount points", () => {
    const points = toMountPoints(requests.slice(0, 3), store);
    expect(points).toEqual([
      { Type: "tmpfs", Source: "", Destination: "/a/b/c", Mode: "", RW: true, Propagation: "", TmpfsOptions: { SizeBytes: 2 ** 20 } },
      { Type: "volume", Name: "v1", Source: v1.Mountpoint, Destination: "/data", Driver: "local", Mode: "z", RW: true, Propagation: "" },
      { Type: "bind", Source: "/host/x", Destination: "/a/b", Mode: "", RW: false, Propagation: "rslave" },
    ]);
    expect(inspectMounts(points)[0]).toEqual({ Type: "tmpfs", Source: "", Destination: "/a/b/c", Mode: "", RW: true, Propagation: "" });
    // A --tmpfs is no mount point in Docker (HostConfig.Tmpfs only): not in Mounts, not for --volumes-from.
    const tmpfsFlag: MountRequest = { kind: "tmpfs", target: "/run", readonly: false, options: ["size=1m"], origin: "volume-flag" };
    expect(toMountPoints([tmpfsFlag, requests[1]!], store).map((p) => p.Destination)).toEqual(["/data"]);
  });

  it("replaces default mounts a user mount covers (and everything under a user /dev)", () => {
    const defaults = [
      { destination: "/proc", type: "proc" },
      { destination: "/dev", type: "tmpfs" },
      { destination: "/dev/shm", type: "tmpfs" },
      { destination: "/etc/hosts", type: "bind", source: "/c/hosts" },
    ];
    expect(mergeMounts(defaults, [{ destination: "/dev/shm/", type: "tmpfs" }, { destination: "/etc/hosts", type: "bind", source: "/h" }]).map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/dev/shm/",
      "/etc/hosts",
    ]);
    expect(mergeMounts(defaults, [{ destination: "/dev", type: "bind", source: "/dev" }]).map((m) => m.destination)).toEqual(["/proc", "/dev", "/etc/hosts"]);
    // A volume on /etc is mounted before (under) the /etc/hosts bind.
    expect(mergeMounts(defaults, [{ destination: "/etc", type: "bind", source: "/v" }]).map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/etc",
      "/dev/shm",
      "/etc/hosts",
    ]);
  });
});

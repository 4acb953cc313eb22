/**
 * Copy-up and the volume side of creating and removing a container, on real layers (busybox
 * loaded into a private root and unpacked) plus synthetic ones with what only root can make:
 * whiteouts, other owners, set-id bits, xattrs, fifos.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StateRoot } from "../../src/common/index.js";
import {
  ANONYMOUS_LABEL,
  VolumeStore,
  copyImageContent,
  parseMountFlags,
  prepareMounts,
  pruneVolumes,
  removeAnonymousVolumes,
  resolveMounts,
  toMountPoints,
  type VolumeRefs,
} from "../../src/engine/volumes/index.js";
import { ImageStore } from "../../src/image/index.js";
import { lgetxattr, llistxattr, lsetxattr, mkfifo, mkwhiteout } from "../../src/linux/index.js";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("volumes-copy-up.test.ts: skipped, integration tests need root");

// A file capability: VFS_CAP_REVISION_2 with CAP_NET_RAW (13) permitted.
const NET_RAW_CAP = Buffer.from([0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const noRefs: VolumeRefs = () => new Map();

describe.skipIf(!isRoot)("volume copy-up and container mounts", () => {
  let root: TestRoot;
  let store: VolumeStore;
  let busybox: string[];
  let layers: string[];

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    const sr = new StateRoot(root.dir);
    busybox = await new ImageStore(sr).resolveForRun("busybox").layerDirs();
    store = new VolumeStore(sr);

    // Two layers above busybox, as the unpacker would leave them.
    const mk = (id: string) => {
      const diff = path.join(root.dir, "layers", id, "diff");
      fs.mkdirSync(diff, { recursive: true });
      return diff;
    };
    const lower = mk("synthetic-lower");
    fs.mkdirSync(path.join(lower, "etc/app"), { recursive: true });
    fs.writeFileSync(path.join(lower, "etc/app/hidden.txt"), "hidden by the opaque dir above");
    fs.writeFileSync(path.join(lower, "etc/app-config"), "kept");

    const upper = mk("synthetic-upper");
    fs.mkdirSync(path.join(upper, "etc/app"), { recursive: true });
    fs.writeFileSync(path.join(path.dirname(upper), "opaque"), "etc/app\n");
    lsetxattr(path.join(upper, "etc/app"), "user.overlay.opaque", Buffer.from("y"));
    fs.writeFileSync(path.join(upper, "etc/app/visible.txt"), "from the upper layer");
    mkwhiteout(path.join(upper, "etc/group"));
    const owned = path.join(upper, "etc/owned");
    fs.writeFileSync(owned, "#!/bin/sh\n");
    fs.chownSync(owned, 1000, 1001);
    fs.chmodSync(owned, 0o4755);
    lsetxattr(owned, "user.note", Buffer.from("kept"));
    const ping = path.join(upper, "etc/ping");
    fs.writeFileSync(ping, "");
    lsetxattr(ping, "security.capability", NET_RAW_CAP);
    mkfifo(path.join(upper, "etc/fifo"), 0o620);
    fs.symlinkSync("/etc/shadow-of-the-host", path.join(upper, "etc/dangling"));
    fs.mkdirSync(path.join(upper, "data"), { mode: 0o700 });
    fs.chownSync(path.join(upper, "data"), 999, 999);
    fs.writeFileSync(path.join(upper, "data/seed"), "seed");
    layers = [upper, lower, ...busybox];
  });
  afterAll(() => root?.destroy());

  const dataDir = (name: string) => store.dataPath(name);

  it("copies the union of the layers: whiteouts, opaque dirs, owners, set-id bits, xattrs, fifos, links as links", async () => {
    const v = store.create({ name: "etc-copy" }).volume;
    const r = await copyImageContent(layers, "/etc", v.Mountpoint);
    expect(r.copied).toBe(true);
    const names = fs.readdirSync(v.Mountpoint).sort();
    expect(names).toEqual(expect.arrayContaining(["passwd", "app", "app-config", "owned", "ping", "fifo", "dangling"]));
    expect(names).not.toContain("group"); // whited out
    expect(fs.readdirSync(path.join(v.Mountpoint, "app"))).toEqual(["visible.txt"]); // opaque
    const owned = fs.lstatSync(path.join(v.Mountpoint, "owned"));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 1001, 0o4755]);
    expect(lgetxattr(path.join(v.Mountpoint, "owned"), "user.note")?.toString()).toBe("kept");
    expect(lgetxattr(path.join(v.Mountpoint, "ping"), "security.capability")).toEqual(NET_RAW_CAP);
    expect(llistxattr(path.join(v.Mountpoint, "app"))).not.toContain("user.overlay.opaque");
    expect(fs.lstatSync(path.join(v.Mountpoint, "fifo")).isFIFO()).toBe(true);
    expect(fs.readlinkSync(path.join(v.Mountpoint, "dangling"))).toBe("/etc/shadow-of-the-host");
    const passwd = fs.lstatSync(path.join(v.Mountpoint, "passwd"));
    const imagePasswd = fs.lstatSync(path.join(busybox[0]!, "etc/passwd"));
    expect([passwd.uid, passwd.gid, passwd.mode, passwd.mtimeMs]).toEqual([0, 0, imagePasswd.mode, imagePasswd.mtimeMs]);
  });

  it("keeps busybox's hard links: one inode for all the applets", async () => {
    const v = store.create({ name: "bin-copy" }).volume;
    await copyImageContent(layers, "/bin", v.Mountpoint);
    const sh = fs.statSync(path.join(v.Mountpoint, "sh"));
    const bb = fs.statSync(path.join(v.Mountpoint, "busybox"));
    expect(sh.ino).toBe(bb.ino);
    expect(bb.nlink).toBeGreaterThan(10);
  });

  it("gives the volume the image directory's owner and mode", async () => {
    const v = store.create({ name: "data-copy" }).volume;
    await copyImageContent(layers, "/data", v.Mountpoint);
    const st = fs.statSync(v.Mountpoint);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([999, 999, 0o700]);
    expect(fs.readFileSync(path.join(v.Mountpoint, "seed"), "utf8")).toBe("seed");
  });

  it("takes a container's volumes into use: creates, fills, locks; then gives them back", async () => {
    const bindSource = path.join(root.dir, "host-dir-made-by-v");
    const parsed = parseMountFlags({
      volumes: ["cfg:/etc", "/data", `${bindSource}:/mnt/host`, "empty:/etc/app:nocopy"],
      mounts: ["type=tmpfs,dst=/tmp,tmpfs-size=1m"],
    });
    const requests = resolveMounts(parsed, { imageVolumes: ["/var/spool"] });
    const prepared = await prepareMounts(store, requests, { layers });
    try {
      const names = prepared.requests.flatMap((r) => (r.kind === "volume" ? [r.name!] : []));
      expect(names).toHaveLength(4);
      const [cfg, anonData, empty, spool] = ["/etc", "/data", "/etc/app", "/var/spool"].map(
        (t) => prepared.requests.find((r) => r.target === t && r.kind === "volume") as { name: string },
      );
      expect(cfg!.name).toBe("cfg");
      expect(prepared.created.sort()).toEqual(names.slice().sort());
      expect(fs.readdirSync(dataDir("cfg"))).toContain("passwd");
      expect(fs.readdirSync(dataDir(anonData!.name))).toEqual(["seed"]);
      expect(fs.readdirSync(dataDir(empty!.name))).toEqual([]); // nocopy
      expect(fs.readdirSync(dataDir(spool!.name))).toEqual(["mail"]);
      expect(store.get(anonData!.name)!.Labels).toEqual({ [ANONYMOUS_LABEL]: "" });
      expect(store.get("cfg")!.Labels).toBeNull();
      expect(fs.statSync(bindSource).isDirectory()).toBe(true);
      // While the container is being created, its new volumes are not prunable.
      expect((await pruneVolumes(store, noRefs, { all: true })).deleted).not.toContain(anonData!.name);
      expect(toMountPoints(prepared.requests, store).map((p) => `${p.Type}:${p.Destination}:${p.Mode}`)).toEqual([
        "volume:/etc:z",
        "bind:/mnt/host:",
        "volume:/etc/app:nocopy",
        "tmpfs:/tmp:",
        "volume:/data:",
        "volume:/var/spool:",
      ]);
    } finally {
      prepared.release();
    }

    // A second container: the now non-empty cfg volume is not filled again.
    fs.writeFileSync(path.join(dataDir("cfg"), "mine"), "x");
    fs.rmSync(path.join(dataDir("cfg"), "passwd"));
    const again = await prepareMounts(store, resolveMounts(parseMountFlags({ volumes: ["cfg:/etc"] })), { layers });
    again.release();
    expect(fs.existsSync(path.join(dataDir("cfg"), "passwd"))).toBe(false);
    expect(again.created).toEqual([]);

    // rm -v: the anonymous ones go, named ones stay, one still used elsewhere stays.
    const points = toMountPoints(prepared.requests, store);
    const anon = points.filter((p) => p.Type === "volume" && p.Name!.length === 64).map((p) => p.Name!);
    const stillUsed: VolumeRefs = () => new Map([[anon[0]!, ["c".repeat(64)]]]);
    const removed = await removeAnonymousVolumes(store, points, stillUsed);
    expect(removed.sort()).toEqual(anon.slice(1).sort());
    expect(store.get(anon[0]!)).toBeDefined();
    expect(store.get("cfg")).toBeDefined();
    expect(store.get("empty")).toBeDefined();
  });

  it("undoes everything when a create fails, and refuses a VOLUME over an image file first", async () => {
    const before = fs.readdirSync(store.dir).sort();
    const prepared = await prepareMounts(store, resolveMounts(parseMountFlags({ volumes: ["fresh:/x", "/y"] })), { layers });
    expect(prepared.created).toHaveLength(2);
    prepared.abort();
    expect(fs.readdirSync(store.dir).sort()).toEqual(before);
    await expect(
      prepareMounts(store, resolveMounts(parseMountFlags({ volumes: ["fresh2:/x"] }), { imageVolumes: ["/etc/passwd"] }), { layers }),
    ).rejects.toThrow("cannot mount volume over existing file, file exists /etc/passwd");
    expect(fs.readdirSync(store.dir).sort()).toEqual(before);
    // No lock is left behind either.
    expect(fs.readdirSync(path.join(store.dir, ".locks"))).toEqual([]);
  });
});

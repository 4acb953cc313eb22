/**
 * The volume store on a private directory: names, atomic and idempotent creation (also
 * from concurrent processes), inspect's shape, removal against users, filters, prune and
 * disk usage.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildSync } from "esbuild";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { StateRoot } from "../../src/common/index.js";
import { isTsrunError } from "../../src/common/errors.js";
import {
  ANONYMOUS_LABEL,
  VolumeStore,
  directorySize,
  listPredicate,
  parseFilterFlags,
  pruneVolumes,
  volumesDiskUsage,
  type VolumeRefs,
} from "../../src/engine/volumes/index.js";
import { rfc3339Local } from "../../src/engine/volumes/store.js";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-volstore-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
let n = 0;
let store: VolumeStore;
beforeEach(() => {
  store = new VolumeStore(new StateRoot(path.join(base, `root${n++}`)));
});

const noRefs: VolumeRefs = () => new Map();
const refsOf = (m: Record<string, string[]>): VolumeRefs => () => new Map(Object.entries(m));

async function errorOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(isTsrunError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("VolumeStore", () => {
  it("creates a named volume with Docker's inspect fields, data dir 0755", () => {
    const { volume, created } = store.create({ name: "web-data", labels: { a: "1" }, options: {} });
    expect(created).toBe(true);
    expect(Object.keys(volume)).toEqual(["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    expect(volume).toMatchObject({
      Driver: "local",
      Labels: { a: "1" },
      Mountpoint: path.join(store.dir, "web-data", "_data"),
      Name: "web-data",
      Options: {},
      Scope: "local",
    });
    expect(volume.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    expect(fs.statSync(volume.Mountpoint).mode & 0o7777).toBe(0o755);
    expect(store.isEmpty("web-data")).toBe(true);
    expect(fs.readdirSync(store.dir).filter((e) => !e.startsWith(".locks"))).toEqual(["web-data"]); // no scratch left
  });

  it("returns an existing volume unchanged (labels and options as first created)", () => {
    store.create({ name: "v1", labels: { a: "1" } });
    const again = store.create({ name: "v1", labels: { b: "2" }, options: { bogus: "x" } });
    expect(again.created).toBe(false);
    expect(again.volume.Labels).toEqual({ a: "1" });
  });

  it("keeps null labels and options when none were given (as a volume made by run -v)", () => {
    expect(store.create({ name: "plain" }).volume).toMatchObject({ Labels: null, Options: null });
  });

  it("names an anonymous volume with 64 hex digits and Docker's anonymous label", () => {
    const { volume } = store.create({});
    expect(volume.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(volume.Labels).toEqual({ [ANONYMOUS_LABEL]: "" });
    expect(store.create({ name: "f".repeat(64), anonymous: true }).volume.Labels).toEqual({ [ANONYMOUS_LABEL]: "" });
  });

  it("refuses bad names, drivers and options with Docker's messages, creating nothing", async () => {
    const chars = `only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
    for (const [name, msg] of [
      ["../x", `create ../x: "../x" includes invalid characters for a local volume name, ${chars}`],
      ["a/b", `create a/b: "a/b" includes invalid characters for a local volume name, ${chars}`],
      [".hidden", `create .hidden: ".hidden" includes invalid characters for a local volume name, ${chars}`],
      ["-x", `create -x: "-x" includes invalid characters for a local volume name, ${chars}`],
      ["x", "create x: volume name is too short, names should be at least two alphanumeric characters"],
    ]) {
      expect(await errorOf(() => store.create({ name }))).toBe(msg);
    }
    expect(await errorOf(() => store.create({ name: "v1", driver: "nfs" }))).toBe(`create v1: error looking up volume plugin nfs: plugin "nfs" not found`);
    expect(await errorOf(() => store.create({ name: "v1", options: { foo: "1" } }))).toBe(`create v1: invalid option: "foo"`);
    expect(await errorOf(() => store.create({ name: "v1", options: { o: "bind" } }))).toMatch(/^create v1: missing required option: "(device|type)"$/);
    expect(await errorOf(() => store.create({ name: "v1", options: { size: "1g" } }))).toBe("create v1: quota size requested but no quota support");
    expect(await errorOf(() => store.create({ name: "v1", options: { size: "lots" } }))).toBe("create v1: invalid size: 'lots'");
    expect(store.create({ name: "v1", options: { size: "0" } }).created).toBe(true);
    expect(store.list().map((v) => v.Name)).toEqual(["v1"]);
    expect(fs.readdirSync(store.dir).filter((e) => e !== ".locks")).toEqual(["v1"]);
  });

  it("never looks outside the volumes directory for a bad name", () => {
    fs.mkdirSync(path.join(store.root.root, "secret", "_data"), { recursive: true });
    fs.writeFileSync(path.join(store.root.root, "secret", "volume.json"), JSON.stringify({ Name: "x", CreatedAt: "", Labels: null, Options: null }));
    expect(store.get("../secret")).toBeUndefined();
    expect(() => store.inspect("../secret")).toThrow("get ../secret: no such volume");
  });

  it("inspects and lists; a missing volume is Docker's not-found", async () => {
    store.create({ name: "b1" });
    store.create({ name: "a1" });
    expect(store.list().map((v) => v.Name).sort()).toEqual(["a1", "b1"]);
    const e = await errorOf(() => store.inspect("zz"));
    expect(e).toBe("get zz: no such volume");
  });

  it("removes an unused volume with its data, refuses one in use, -f ignores a missing one", async () => {
    const v = store.create({ name: "data1" }).volume;
    fs.writeFileSync(path.join(v.Mountpoint, "f"), "x");
    expect(await errorOf(() => store.remove("data1", { refs: refsOf({ data1: ["c".repeat(64), "d".repeat(64)] }) }))).toBe(
      `remove data1: volume is in use - [${"c".repeat(64)}, ${"d".repeat(64)}]`,
    );
    expect(store.get("data1")).toBeDefined();
    expect(await store.remove("data1", { refs: noRefs })).toBe(true);
    expect(store.get("data1")).toBeUndefined();
    expect(fs.readdirSync(store.dir).filter((e) => e !== ".locks")).toEqual([]);
    expect(await errorOf(() => store.remove("data1", { refs: noRefs }))).toBe("get data1: no such volume");
    expect(await store.remove("data1", { refs: noRefs, force: true })).toBe(false);
    expect(await store.remove("../x", { refs: noRefs, force: true })).toBe(false);
  });

  it("sweeps scratch directories of dead creators, keeps live ones", () => {
    fs.mkdirSync(store.dir, { recursive: true });
    const dead = path.join(store.dir, ".new-4194000-1-abcd");
    const live = path.join(store.dir, `.new-${process.pid}-${fs.readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]}-abcd`);
    fs.mkdirSync(path.join(dead, "_data"), { recursive: true });
    fs.mkdirSync(live);
    store.sweep();
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    fs.rmdirSync(live);
  });

  it("gives one volume to concurrent creators of one name (separate processes)", async () => {
    const script = path.join(base, "create-volume.cjs");
    buildSync({
      stdin: {
        contents: `import { VolumeStore } from "./src/engine/volumes/store.ts";
          import { StateRoot } from "./src/common/index.ts";
          const s = new VolumeStore(new StateRoot(process.argv[2]));
          const r = s.create({ name: "shared", labels: { by: String(process.pid) } });
          process.stdout.write(JSON.stringify({ created: r.created, labels: r.volume.Labels, at: r.volume.CreatedAt }));`,
        resolveDir: path.resolve(import.meta.dirname, "..", ".."),
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: script,
      define: { "import.meta.url": "undefined" },
      logLevel: "silent",
    });
    const run = () =>
      new Promise<{ created: boolean; labels: Record<string, string>; at: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [script, store.root.root], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
      });
    const results = await Promise.all(Array.from({ length: 8 }, run));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const winner = results.find((r) => r.created)!;
    for (const r of results) expect(r).toMatchObject({ labels: winner.labels, at: winner.at });
    expect(fs.readdirSync(store.dir).filter((e) => e !== ".locks")).toEqual(["shared"]);
  });
});

describe("filters", () => {
  it("parses -f key=value, lower-casing keys, refusing a missing =", async () => {
    expect([...parseFilterFlags(["Dangling = true", "label=a", "label=a", "label=b=c"])]).toEqual([
      ["dangling", ["true"]],
      ["label", ["a", "b=c"]],
    ]);
    expect(await errorOf(() => parseFilterFlags(["dangling"]))).toBe(
      'invalid argument "dangling" for "-f, --filter" flag: bad format of filter (expected name=value)',
    );
  });

  it("matches ls filters as moby does", async () => {
    store.create({ name: "rosemary", labels: { "is-timelord": "yes" } });
    store.create({ name: "tyler" });
    store.create({ name: "daleks", labels: { "is-timelord": "no", x: "" } });
    const used = new Set(["tyler"]);
    const names = (specs: string[]) =>
      store
        .list()
        .filter(listPredicate(parseFilterFlags(specs), (n) => used.has(n)))
        .map((v) => v.Name)
        .sort();
    expect(names([])).toEqual(["daleks", "rosemary", "tyler"]);
    expect(names(["dangling=true"])).toEqual(["daleks", "rosemary"]);
    expect(names(["dangling=0"])).toEqual(["tyler"]);
    expect(names(["name=ro"])).toEqual(["rosemary"]);
    expect(names(["name=^t", "name=leks$"])).toEqual(["daleks", "tyler"]);
    expect(names(["label=is-timelord"])).toEqual(["daleks", "rosemary"]);
    expect(names(["label=is-timelord=yes"])).toEqual(["rosemary"]);
    expect(names(["label=is-timelord", "label=x"])).toEqual(["daleks"]);
    expect(names(["driver=local", "dangling=false"])).toEqual(["tyler"]);
    expect(names(["driver=nfs"])).toEqual([]);
    expect(await errorOf(() => names(["dangling=maybe"]))).toBe("invalid filter 'dangling=[maybe]'");
    expect(await errorOf(() => names(["dangling=true", "dangling=false"]))).toBe("invalid filter 'dangling=[true false]'");
    expect(await errorOf(() => names(["bogus=1"]))).toBe("invalid filter 'bogus'");
  });
});

describe("prune and disk usage", () => {
  it("prunes unused anonymous volumes only, unless all; counts their bytes once per inode", async () => {
    const anon = store.create({}).volume;
    const anonUsed = store.create({}).volume;
    const named = store.create({ name: "keepme", labels: { tier: "db" } }).volume;
    const withOpts = store.create({ name: "ram", options: { type: "tmpfs", device: "tmpfs" } }).volume;
    fs.writeFileSync(path.join(anon.Mountpoint, "a"), "x".repeat(30));
    fs.writeFileSync(path.join(anon.Mountpoint, "b"), "y".repeat(6));
    fs.linkSync(path.join(anon.Mountpoint, "b"), path.join(anon.Mountpoint, "b2"));
    fs.mkdirSync(path.join(anon.Mountpoint, "d"));
    fs.writeFileSync(path.join(named.Mountpoint, "n"), "z".repeat(100));
    const refs = refsOf({ [anonUsed.Name]: ["c".repeat(64)] });

    expect(directorySize(anon.Mountpoint)).toBe(36);
    expect(directorySize(path.join(base, "nope"))).toBe(-1);
    expect(volumesDiskUsage(store, refs)).toMatchObject({ totalCount: 3, activeCount: 1, totalSize: 136, reclaimable: 136 });

    expect(await pruneVolumes(store, refs)).toEqual({ deleted: [anon.Name], reclaimed: 36 });
    expect(await pruneVolumes(store, refs, { all: true, filters: parseFilterFlags(["label=tier=web"]) })).toEqual({ deleted: [], reclaimed: 0 });
    expect(await pruneVolumes(store, refs, { filters: parseFilterFlags(["all=true", "label!=tier=web"]) })).toEqual({
      deleted: ["keepme"],
      reclaimed: 100,
    });
    expect(store.list().map((v) => v.Name).sort()).toEqual([anonUsed.Name, withOpts.Name].sort());
    expect(await errorOf(() => pruneVolumes(store, refs, { filters: parseFilterFlags(["dangling=true"]) }))).toBe("invalid filter 'dangling'");
    expect(await errorOf(() => pruneVolumes(store, refs, { filters: parseFilterFlags(["all=maybe"]) }))).toBe(
      `invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax`,
    );
  });

  it("leaves a volume alone while a container holds its lock", async () => {
    const v = store.create({}).volume;
    const lock = await store.lock(v.Name);
    try {
      expect((await pruneVolumes(store, noRefs)).deleted).toEqual([]);
    } finally {
      lock.release();
    }
    expect((await pruneVolumes(store, noRefs)).deleted).toEqual([v.Name]);
  });
});

describe("rfc3339Local", () => {
  it("prints seconds and the zone like Go's time.RFC3339", () => {
    const s = rfc3339Local(new Date("2024-05-06T10:11:12.345Z"));
    expect(s).toMatch(/^2024-05-0\dT\d\d:\d\d:12(Z|[+-]\d\d:\d\d)$/);
    if (new Date().getTimezoneOffset() === 0) expect(s).toBe("2024-05-06T10:11:12Z");
  });
});

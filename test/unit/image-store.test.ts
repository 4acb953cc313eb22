import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTsrunError, type TsrunError } from "../../src/common/index.js";
import { formatRemoveRecord, ImageStore } from "../../src/image/index.js";
import { dockerArchive, gzip, listTree, ociArchive, sha256, tarOf, tempRoot, writeTemp } from "./image-fixtures.js";

let t: ReturnType<typeof tempRoot>;
let store: ImageStore;

beforeEach(() => {
  t = tempRoot();
  store = new ImageStore(t.root);
});
afterEach(() => t.remove());

async function layer(name: string, content = name): Promise<Buffer> {
  return tarOf([{ name: "data/", type: "directory" }, { name: `data/${name}`, body: content }]);
}

async function caught(p: Promise<unknown>): Promise<TsrunError> {
  try {
    await p;
  } catch (e) {
    if (isTsrunError(e)) return e;
    throw e;
  }
  throw new Error("expected a TsrunError");
}

function storeFiles(): string[] {
  return listTree(t.dir);
}

describe("load of a docker-archive", () => {
  it("loads plain and gzip'd layers, several images and tags, and reports Docker's lines", async () => {
    const base = await layer("base");
    const top = await layer("top", "x".repeat(1000));
    const { tar, images } = await dockerArchive([
      { layers: [base, top], gzipped: [false, true], tags: ["busybox:latest", "busybox:1"] },
      { layers: [base], tags: ["localhost:5000/a/b:t"], created: "2022-01-01T00:00:00Z" },
    ]);
    const result = await store.load(writeTemp(t.dir, "in.tar", tar));
    expect(result.lines).toEqual(["Loaded image: busybox:latest", "Loaded image: busybox:1", "Loaded image: localhost:5000/a/b:t"]);
    expect(result.images.map((i) => i.id)).toEqual(images.map((i) => i.id));

    const list = store.list();
    expect(list.map((s) => s.repoTags)).toEqual([["localhost:5000/a/b:t"], ["busybox:latest", "busybox:1"]]);
    expect(list[1]!.names).toEqual(["docker.io/library/busybox:latest", "docker.io/library/busybox:1"]);
    expect(list[1]!.size).toBe(4 + 1000);

    const img = store.resolve("busybox");
    expect(img.id).toBe(images[0]!.id);
    expect(img.diffIds).toEqual(images[0]!.diffIds);
    expect(img.config.config?.Cmd).toEqual(["sh"]);
    expect(img.manifest.layers.map((l) => l.mediaType)).toEqual([
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
    ]);
    // The store is an OCI image layout whose entries carry the full names.
    const index = JSON.parse(fs.readFileSync(path.join(t.dir, "images", "index.json"), "utf8"));
    expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["io.containerd.image.name"])).toEqual([
      "docker.io/library/busybox:latest",
      "docker.io/library/busybox:1",
      "localhost:5000/a/b:t",
    ]);
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("latest");
    expect(JSON.parse(fs.readFileSync(path.join(t.dir, "images", "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(fs.readdirSync(path.join(t.dir, "tmp"))).toEqual([]);
  });

  it("reads from a stream and a gzip'd archive, and prints an id for an untagged image", async () => {
    const { tar, images } = await dockerArchive([{ layers: [await layer("a")] }]);
    const result = await store.load(Readable.from([gzip(tar)]));
    expect(result.lines).toEqual([`Loaded image ID: ${images[0]!.id}`]);
    expect(store.list()).toMatchObject([{ id: images[0]!.id, names: [], repoTags: [] }]);
  });

  it("moves a tag to the new image and leaves the old one dangling", async () => {
    const first = await dockerArchive([{ layers: [await layer("v1")], tags: ["app:latest"] }]);
    const second = await dockerArchive([{ layers: [await layer("v2")], tags: ["app:latest"] }]);
    await store.load(writeTemp(t.dir, "1.tar", first.tar));
    const result = await store.load(writeTemp(t.dir, "2.tar", second.tar));
    expect(result.lines).toEqual([
      `The image app:latest already exists, renaming the old one with ID ${first.images[0]!.id} to empty string`,
      "Loaded image: app:latest",
    ]);
    expect(store.resolve("app").id).toBe(second.images[0]!.id);
    expect(store.resolve(first.images[0]!.id).names).toEqual([]);
  });

  it("reads Docker 25's layout (blobs/sha256) and symlinked layer members", async () => {
    const l1 = await layer("one");
    const l2 = await layer("two");
    const { images } = await dockerArchive([{ layers: [l1, l2], tags: ["new:25"] }]);
    const blob = (d: Buffer) => `blobs/sha256/${sha256(d).slice(7)}`;
    const cfg = images[0]!.config;
    const tar = await tarOf([
      { name: "blobs/", type: "directory" },
      { name: "blobs/sha256/", type: "directory" },
      { name: blob(l1), body: l1 },
      { name: blob(l2), body: l2 },
      { name: blob(cfg), body: cfg },
      // Legacy paths as symlinks into blobs/, the way docker save dedupes layers.
      { name: "legacy/", type: "directory" },
      { name: "legacy/layer.tar", type: "symlink", linkname: `../${blob(l2)}` },
      { name: "index.json", body: JSON.stringify({ schemaVersion: 2, manifests: [] }) },
      { name: "manifest.json", body: JSON.stringify([{ Config: blob(cfg), RepoTags: ["new:25"], Layers: [blob(l1), "legacy/layer.tar"] }]) },
    ]);
    const result = await store.load(writeTemp(t.dir, "d25.tar", tar));
    expect(result.lines).toEqual(["Loaded image: new:25"]);
    expect(store.resolve("new:25").diffIds).toEqual(images[0]!.diffIds);
  });

  it("is idempotent", async () => {
    const { tar } = await dockerArchive([{ layers: [await layer("a")], tags: ["a:1"] }]);
    await store.load(writeTemp(t.dir, "a.tar", tar));
    const before = storeFiles();
    await store.load(writeTemp(t.dir, "a.tar", tar));
    expect(store.list()).toHaveLength(1);
    expect(storeFiles()).toEqual(before);
  });
});

describe("load of an oci-archive", () => {
  it("takes the host's manifest from a nested index and names from containerd annotations", async () => {
    const { tar, images, manifests } = await ociArchive(
      [{ layers: [await layer("a"), await layer("b")], gzipped: [true, false], tags: ["docker.io/library/web:1", "docker.io/library/web:2"] }],
      { nested: true },
    );
    const result = await store.load(writeTemp(t.dir, "oci.tar", tar));
    expect(result.lines).toEqual(["Loaded image: web:1", "Loaded image: web:2"]);
    const img = store.resolve("web:2");
    expect(img.id).toBe(images[0]!.id);
    // The archive's manifest is kept as it is.
    expect(img.manifestDigest).toBe(manifests[0]);
  });

  it("reads podman's full references in ref.name and loads untagged entries", async () => {
    const { tar } = await ociArchive([{ layers: [await layer("p")], tags: ["localhost/mine:dev"] }, { layers: [await layer("q")] }], {
      annotate: "podman",
    });
    const result = await store.load(writeTemp(t.dir, "podman.tar", tar));
    expect(result.lines[0]).toBe("Loaded image: localhost/mine:dev");
    expect(result.lines[1]).toMatch(/^Loaded image ID: sha256:[a-f0-9]{64}$/);
  });
});

describe("a bad archive is one clear error and leaves the store as it was", () => {
  let before: string[];

  beforeEach(async () => {
    const { tar } = await dockerArchive([{ layers: [await layer("keep")], tags: ["keep:1"] }]);
    await store.load(writeTemp(t.dir, "keep.tar", tar));
    fs.rmSync(path.join(t.dir, "keep.tar"));
    before = storeFiles();
  });

  async function expectRejected(archive: Buffer | string, pattern: RegExp, kind: TsrunError["kind"] = "corrupt") {
    const file = typeof archive === "string" ? archive : path.join(path.dirname(t.dir), `${path.basename(t.dir)}-in.tar`);
    if (typeof archive !== "string") fs.writeFileSync(file, archive);
    try {
      const e = await caught(store.load(file));
      expect(e.kind).toBe(kind);
      expect(e.message).toMatch(pattern);
      expect(e.message).not.toContain("\n");
    } finally {
      if (typeof archive !== "string") fs.rmSync(file, { force: true });
    }
    expect(storeFiles()).toEqual(before);
  }

  it("a layer whose content does not match its diff id", async () => {
    const { tar } = await dockerArchive([{ layers: [await layer("x")], tags: ["x:1"] }]);
    const evilLayer = await layer("y");
    const members = (await extractMembers(tar)).map((m) => (m.name.endsWith("layer.tar") ? { ...m, body: evilLayer } : m));
    await expectRejected(await tarOf(members), /layer ".*layer.tar" has diff id sha256:[a-f0-9]{64}, the config says sha256:[a-f0-9]{64}$/);
  });

  it("a config whose name is not its digest", async () => {
    const { tar, images } = await dockerArchive([{ layers: [await layer("c")], tags: ["c:1"] }]);
    const evil = Buffer.from(tar.toString("latin1").replace('"Cmd":["sh"]', '"Cmd":["xx"]'), "latin1");
    await expectRejected(evil, new RegExp(`"${images[0]!.id.slice(7)}.json" does not match its digest`));
  });

  it("an oci blob whose content does not match its digest", async () => {
    const { tar } = await ociArchive([{ layers: [await layer("o")], tags: ["docker.io/library/o:1"] }]);
    const evil = Buffer.from(tar.toString("latin1").replace('"Cmd":["sh"]', '"Cmd":["xx"]'), "latin1");
    await expectRejected(evil, /config sha256:[a-f0-9]{64} does not match its digest/);
  });

  it("a missing blob", async () => {
    const base = await layer("m");
    const { tar } = await ociArchive([{ layers: [base], tags: ["docker.io/library/m:1"] }]);
    const layerMember = `blobs/sha256/${sha256(base).slice(7)}`;
    const members = (await extractMembers(tar)).filter((m) => m.name !== layerMember);
    await expectRejected(await tarOf(members), new RegExp(`lacks layer "${layerMember}"`));
  });

  it("a truncated gzip layer", async () => {
    const good = await layer("g", "g".repeat(5000));
    const truncated = gzip(good).subarray(0, 60);
    const { tar } = await dockerArchive([{ layers: [good], tags: ["g:1"] }]);
    // Same archive, but the layer file replaced by a truncated gzip of itself.
    const built = await tarOf([
      { name: `${sha256(good).slice(7)}/layer.tar`, body: truncated },
      ...(await extractMembers(tar)).filter((m) => !m.name.endsWith("layer.tar")),
    ]);
    await expectRejected(built, /layer ".*layer.tar" is not a valid tar archive: unexpected end of file/);
  });

  it("a layer that is not a tar", async () => {
    const { tar } = await dockerArchive([{ layers: [Buffer.from("not a tar at all".repeat(64))], tags: ["n:1"] }]);
    await expectRejected(tar, /is not a valid tar archive/);
  });

  it("a zstd layer", async () => {
    const zstdish = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(600)]);
    const { tar } = await dockerArchive([{ layers: [zstdish], tags: ["z:1"] }]);
    await expectRejected(tar, /zstd-compressed layers are not supported/, "invalid-argument");
  });

  it("a truncated archive", async () => {
    const { tar } = await dockerArchive([{ layers: [await layer("t", "t".repeat(4000))], tags: ["t:1"] }]);
    await expectRejected(tar.subarray(0, 3000), /Cannot read the image archive: Unexpected end of data/);
  });

  it("garbage and empty input", async () => {
    await expectRejected(Buffer.from("hello"), /Cannot read the image archive|archive is empty/);
    await expectRejected(Buffer.alloc(0), /the archive is empty or not a tar archive/);
    await expectRejected(await tarOf([{ name: "x", body: "y" }]), /neither manifest.json \(docker-archive\) nor index.json/);
  });

  it("a missing file", async () => {
    await expectRejected(path.join(t.dir, "nope.tar"), /^open .*nope.tar: no such file or directory$/, "not-found");
  });
});

/** The members of a tar as fixture entries (regular files only). */
async function extractMembers(tar: Buffer): Promise<{ name: string; body: Buffer }[]> {
  const { readTar } = await import("../../src/image/tar.js");
  const out: { name: string; body: Buffer }[] = [];
  for await (const e of readTar(Readable.from([tar]))) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    if (e.header.type === "file") out.push({ name: e.header.name, body: Buffer.concat(chunks) });
  }
  return out;
}

describe("resolve", () => {
  it("finds by name, full id, id prefix and sha256: prefix, and misses in Docker's words", async () => {
    const { tar, images } = await dockerArchive([{ layers: [await layer("r")], tags: ["r:1"] }]);
    await store.load(writeTemp(t.dir, "r.tar", tar));
    const id = images[0]!.id;
    for (const q of ["r:1", "docker.io/library/r:1", id, id.slice(7), id.slice(7, 19), `sha256:${id.slice(7, 12)}`]) {
      expect(store.resolve(q).id).toBe(id);
    }
    expect(() => store.resolve("r")).toThrow("No such image: r:latest");
    expect(() => store.resolve("nosuch", { forRun: true })).toThrow("Unable to find image 'nosuch:latest' locally");
    expect(() => store.resolveForRun("nosuch:2")).toThrow("Unable to find image 'nosuch:2' locally");
    expect(store.resolveForRun("r:1").id).toBe(id);
    expect(() => store.resolve("f".repeat(64))).toThrow(`No such image: ${"f".repeat(64)}`);
    expect(store.find("nosuch")).toBeUndefined();
    expect(isTsrunError(caughtSync(() => store.resolve("Nosuch")), "invalid-argument")).toBe(true);
  });
});

function caughtSync(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("tag and rmi", () => {
  let id: string;
  let shortImage: string;

  beforeEach(async () => {
    const { tar, images } = await dockerArchive([{ layers: [await layer("bb")], tags: ["busybox:latest"] }]);
    await store.load(writeTemp(t.dir, "bb.tar", tar));
    fs.rmSync(path.join(t.dir, "bb.tar"));
    id = images[0]!.id;
    shortImage = id.slice(7, 19);
  });

  const lines = (records: Parameters<typeof formatRemoveRecord>[0][]) => records.map(formatRemoveRecord);

  it("tags, untags and deletes with Docker's report, then collects the blobs", async () => {
    await store.tag("busybox", "mine:v1");
    expect(store.resolve("mine:v1").id).toBe(id);
    expect(lines(await store.remove("mine:v1"))).toEqual(["Untagged: mine:v1"]);
    expect(store.resolve("busybox").names).toEqual(["docker.io/library/busybox:latest"]);
    const removed = lines(await store.remove("busybox"));
    expect(removed[0]).toBe("Untagged: busybox:latest");
    expect(removed[1]).toBe(`Deleted: ${id}`);
    expect(removed.slice(2)).toHaveLength(1);
    expect(store.list()).toEqual([]);
    expect(fs.readdirSync(path.join(t.dir, "images", "blobs", "sha256"))).toEqual([]);
  });

  it("reports released layers by chain id, top-most first", async () => {
    const l0 = await layer("l0");
    const l1 = await layer("l1");
    const { tar, images } = await dockerArchive([{ layers: [l0, l1], tags: ["two:1"] }]);
    await store.load(writeTemp(t.dir, "two.tar", tar));
    const [d0, d1] = images[0]!.diffIds as [string, string];
    expect(lines(await store.remove("two:1"))).toEqual([
      "Untagged: two:1",
      `Deleted: ${images[0]!.id}`,
      `Deleted: ${sha256(`${d0} ${d1}`)}`,
      `Deleted: ${d0}`,
    ]);
  });

  it("refuses a tag of an unknown image and a digest target", async () => {
    expect((await caught(store.tag("nosuch", "x"))).message).toBe("No such image: nosuch:latest");
    expect((await caught(store.tag("busybox", `x@sha256:${"a".repeat(64)}`))).message).toBe("refusing to create a tag with a digest reference");
  });

  it("refuses to untag the last name of an image a container uses, unless forced", async () => {
    const inUse = () => [{ id: "c0ffee".padEnd(64, "0"), running: false }];
    const e = await caught(store.remove("busybox", { inUse }));
    expect(e.kind).toBe("conflict");
    expect(e.message).toBe(
      `conflict: unable to remove repository reference "busybox" (must force) - container c0ffee000000 is using its referenced image ${shortImage}`,
    );
    expect(store.list()).toHaveLength(1);
    // Forced: the name goes and the (stopped) container's image is deleted.
    expect(lines(await store.remove("busybox", { inUse, force: true }))[0]).toBe("Untagged: busybox:latest");
    expect(store.list()).toEqual([]);
  });

  it("refuses to delete by id an image a stopped container uses, unless forced", async () => {
    const inUse = () => [{ id: "abc".padEnd(64, "1"), running: false }];
    const e = await caught(store.remove(shortImage, { inUse }));
    expect(e.message).toBe(`conflict: unable to delete ${shortImage} (must be forced) - image is being used by stopped container abc111111111`);
    expect(lines(await store.remove(shortImage, { inUse, force: true })).slice(0, 2)).toEqual(["Untagged: busybox:latest", `Deleted: ${id}`]);
  });

  it("never deletes an image a running container uses", async () => {
    const inUse = () => [{ id: "def".padEnd(64, "2"), running: true }];
    const e = await caught(store.remove(id, { inUse, force: true }));
    expect(e.message).toBe(`conflict: unable to delete ${shortImage} (cannot be forced) - image is being used by running container def222222222`);
    // By name with force: untagged, and the image stays (dangling) without an error.
    expect(lines(await store.remove("busybox", { inUse, force: true }))).toEqual(["Untagged: busybox:latest"]);
    expect(store.list()).toMatchObject([{ id, names: [] }]);
  });

  it("needs force to delete by id an image with several names", async () => {
    await store.tag("busybox", "other:1");
    const e = await caught(store.remove(shortImage));
    expect(e.message).toBe(`conflict: unable to delete ${shortImage} (must be forced) - image is referenced in multiple repositories`);
    expect(lines(await store.remove(shortImage, { force: true })).slice(0, 3)).toEqual([
      "Untagged: busybox:latest",
      "Untagged: other:1",
      `Deleted: ${id}`,
    ]);
  });

  it("deletes a dangling image by id and keeps blobs another image shares", async () => {
    const shared = await layer("bb");
    const other = await dockerArchive([{ layers: [shared, await layer("more")], tags: ["busybox:latest"] }]);
    await store.load(writeTemp(t.dir, "o.tar", other.tar));
    expect(store.resolve(id).names).toEqual([]);
    const removed = lines(await store.remove(id));
    expect(removed).toEqual([`Deleted: ${id}`]);
    // The shared layer blob is still there for the other image.
    expect(fs.existsSync(path.join(t.dir, "images", "blobs", "sha256", sha256(shared).slice(7)))).toBe(true);
    expect(store.resolve("busybox").diffIds).toHaveLength(2);
  });

  it("reports a missing image in Docker's words", async () => {
    const e = await caught(store.remove("nosuch"));
    expect(e.kind).toBe("not-found");
    expect(e.message).toBe("No such image: nosuch:latest");
  });
});

describe("collectGarbage", () => {
  it("sweeps scratch dirs and blobs of processes that died, never live work", async () => {
    const { makeScratch } = await import("../../src/image/scratch.js");
    const { tar } = await dockerArchive([{ layers: [await layer("live")], tags: ["live:1"] }]);
    await store.load(writeTemp(t.dir, "live.tar", tar));
    const before = storeFiles();

    const old = new Date(Date.now() - 3600_000);
    const dead = makeScratch(t.root, "load");
    fs.writeFileSync(path.join(dead.dir, "0"), "half an archive");
    dead.release(); // as if its process had been killed
    const alive = makeScratch(t.root, "layer", "abc-");
    const young = makeScratch(t.root, "load");
    young.release();
    for (const s of [dead, alive]) fs.utimesSync(s.dir, old, old);
    const orphanBlob = path.join(t.dir, "images", "blobs", "sha256", "e".repeat(64));
    fs.writeFileSync(orphanBlob, "left by a crashed commit");

    await store.collectGarbage();
    expect(fs.existsSync(dead.dir)).toBe(false);
    expect(fs.existsSync(alive.dir)).toBe(true);
    expect(fs.existsSync(young.dir)).toBe(true);
    expect(fs.existsSync(orphanBlob)).toBe(false);
    alive.dispose();
    fs.rmSync(young.dir, { recursive: true });
    expect(storeFiles()).toEqual(before);
    expect(store.resolve("live:1")).toBeDefined();
  });
});

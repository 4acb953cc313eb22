/**
 * The layer unpacker on real files, as root (it chowns, mknods and sets security.* xattrs):
 * what a layer keeps, how whiteouts become overlay's, and that hostile layers never write,
 * link or follow anything outside the layer dir.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTsrunError } from "../../src/common/index.js";
import { LayerStore } from "../../src/image/layers.js";
import { unpackLayerTar, type UnpackResult } from "../../src/image/unpack.js";
import { lgetxattr, llistxattr } from "../../src/linux/index.js";
import { gzip, listTree, sha256, tarOf, tempRoot, type FixtureEntry } from "../unit/image-fixtures.js";

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("image-unpack.test.ts: skipped, unpacking layers needs root");

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x84, 0xff, 0x00, 0xc3, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const T1 = new Date("2019-05-06T07:08:09Z");
const T2 = new Date("2018-01-01T00:00:00Z");

describe.skipIf(!isRoot)("unpackLayerTar", () => {
  let base: string;
  let dest: string;
  let outside: string;
  let sentinel: string;
  let outsideBefore: string[];

  /** Everything under the test's temp dir except the layer: where an escape would land. */
  const outsideLayer = () => listTree(base).filter((p) => !p.startsWith("a/b/c/layer/"));

  beforeEach(() => {
    // Deep enough that "../../.." from the layer still lands inside the test's own dir.
    base = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-unpack-"));
    dest = path.join(base, "a", "b", "c", "layer");
    outside = path.join(base, "a", "b", "c", "outside");
    fs.mkdirSync(dest, { recursive: true, mode: 0o700 });
    fs.mkdirSync(outside);
    sentinel = path.join(outside, "sentinel");
    fs.writeFileSync(sentinel, "precious");
    outsideBefore = outsideLayer();
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const unpack = async (entries: FixtureEntry[]): Promise<UnpackResult> => unpackLayerTar(Readable.from([await tarOf(entries)]), dest);
  const at = (rel: string) => path.join(dest, rel);

  /** Nothing outside the layer changed, and the layer's parent holds only what the test made. */
  function expectContained(): void {
    expect(outsideLayer()).toEqual(outsideBefore);
    expect(fs.readFileSync(sentinel, "utf8")).toBe("precious");
    expect(fs.statSync(sentinel).nlink).toBe(1);
    expect(fs.existsSync("/abs-escape")).toBe(false);
  }

  it("keeps modes, owners, times, links and fifos; sets directory times last", async () => {
    const r = await unpack([
      { name: "dir/", type: "directory", mode: 0o2750, uid: 10, gid: 20, mtime: T1 },
      { name: "dir/suid", mode: 0o4755, uid: 1234, gid: 5678, body: "s", mtime: T2 },
      { name: "dir/sticky/", type: "directory", mode: 0o1777 },
      { name: "dir/link", type: "symlink", linkname: "../nowhere", uid: 7, gid: 8, mtime: T2 },
      { name: "dir/hard", type: "link", linkname: "dir/suid" },
      { name: "dir/pipe", type: "fifo", mode: 0o640, uid: 3, gid: 4 },
    ]);
    expect(r).toMatchObject({ entries: 6, skipped: 0 });
    const dir = fs.lstatSync(at("dir"));
    expect(dir.mode & 0o7777).toBe(0o2750);
    expect([dir.uid, dir.gid]).toEqual([10, 20]);
    expect(dir.mtime.getTime()).toBe(T1.getTime());
    const suid = fs.lstatSync(at("dir/suid"));
    expect(suid.mode & 0o7777).toBe(0o4755);
    expect([suid.uid, suid.gid]).toEqual([1234, 5678]);
    expect(suid.mtime.getTime()).toBe(T2.getTime());
    expect(fs.lstatSync(at("dir/sticky")).mode & 0o7777).toBe(0o1777);
    const link = fs.lstatSync(at("dir/link"));
    expect(link.isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(at("dir/link"))).toBe("../nowhere");
    expect([link.uid, link.gid, link.mtime.getTime()]).toEqual([7, 8, T2.getTime()]);
    expect(fs.lstatSync(at("dir/hard")).ino).toBe(suid.ino);
    const pipe = fs.lstatSync(at("dir/pipe"));
    expect(pipe.isFIFO()).toBe(true);
    expect([pipe.mode & 0o7777, pipe.uid, pipe.gid]).toEqual([0o640, 3, 4]);
  });

  it("keeps security.capability byte for byte and user.* xattrs, refuses the rest", async () => {
    const r = await unpack([
      {
        name: "ping",
        mode: 0o755,
        body: "elf",
        pax: {
          "SCHILY.xattr.security.capability": CAP,
          "SCHILY.xattr.user.comment": "kept",
          "SCHILY.xattr.trusted.overlay.opaque": "y",
          "SCHILY.xattr.security.selinux": "system_u:object_r:bin_t",
          "SCHILY.xattr.user.overlay.redirect": "/etc",
        },
      },
      { name: "b64", body: "x", pax: { "LIBARCHIVE.xattr.user.lib": Buffer.from("libarchive").toString("base64") } },
    ]);
    expect(lgetxattr(at("ping"), "security.capability")).toEqual(CAP);
    expect(lgetxattr(at("ping"), "user.comment")!.toString()).toBe("kept");
    expect(llistxattr(at("ping")).sort()).toEqual(["security.capability", "user.comment"]);
    expect(lgetxattr(at("b64"), "user.lib")!.toString()).toBe("libarchive");
    expect(r.skipped).toBe(3);
  });

  it("turns whiteouts into overlay's form", async () => {
    const r = await unpack([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.gone", body: "" },
      { name: "opaque/", type: "directory" },
      { name: "opaque/.wh..wh..opq", body: "" },
      { name: "opaque/new", body: "n" },
      { name: ".wh..wh.plnk/", type: "directory" },
      { name: "replaced", body: "old" },
      { name: ".wh.replaced", body: "" },
    ]);
    for (const rel of ["etc/gone", "replaced"]) {
      const st = fs.lstatSync(at(rel));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    expect(fs.existsSync(at("etc/.wh.gone"))).toBe(false);
    expect(lgetxattr(at("opaque"), "user.overlay.opaque")!.toString()).toBe("y");
    expect(fs.readdirSync(at("opaque"))).toEqual(["new"]);
    expect(fs.existsSync(at(".wh..wh.plnk"))).toBe(false);
    expect(r.opaque).toEqual(["opaque"]);
  });

  it("keeps .. and absolute member names inside the layer", async () => {
    await unpack([
      { name: "../../../escape", body: "x" },
      { name: "/abs-escape", body: "y" },
      { name: `../outside/sentinel`, body: "overwritten?" },
      { name: "a/../../../b/../c", body: "z" },
    ]);
    expect(fs.readFileSync(at("escape"), "utf8")).toBe("x");
    expect(fs.readFileSync(at("abs-escape"), "utf8")).toBe("y");
    expect(fs.readFileSync(at("outside/sentinel"), "utf8")).toBe("overwritten?");
    expect(fs.readFileSync(at("c"), "utf8")).toBe("z");
    expectContained();
  });

  it("writes a file 'through' a symlink inside the layer, never outside", async () => {
    await unpack([
      { name: "abs", type: "symlink", linkname: outside },
      { name: "abs/pwned", body: "1" },
      { name: "rel", type: "symlink", linkname: "../../../../../../../../../.." + outside },
      { name: "rel/pwned2", body: "2" },
      { name: "up", type: "symlink", linkname: ".." },
      { name: "up/up/up/pwned3", body: "3" },
    ]);
    expect(fs.readFileSync(path.join(dest, outside, "pwned"), "utf8")).toBe("1");
    expect(fs.readFileSync(path.join(dest, outside, "pwned2"), "utf8")).toBe("2");
    expect(fs.readFileSync(at("pwned3"), "utf8")).toBe("3");
    expectContained();
  });

  it("replaces a symlinked directory with a real one instead of following it", async () => {
    await unpack([
      { name: "etc", type: "symlink", linkname: outside },
      { name: "etc/", type: "directory" },
      { name: "etc/sentinel", body: "mine" },
    ]);
    expect(fs.lstatSync(at("etc")).isDirectory()).toBe(true);
    expect(fs.readFileSync(at("etc/sentinel"), "utf8")).toBe("mine");
    expectContained();
  });

  it("never links to a file outside the layer", async () => {
    const r = await unpack([
      { name: "h1", type: "link", linkname: sentinel },
      { name: "h2", type: "link", linkname: "../outside/sentinel" },
      { name: "d", type: "symlink", linkname: outside },
      { name: "h3", type: "link", linkname: "d/sentinel" },
      // A hardlink to a symlink that leads out is just another such symlink.
      { name: "s", type: "symlink", linkname: sentinel },
      { name: "h4", type: "link", linkname: "s" },
      { name: "h5", type: "link", linkname: "d" },
    ]);
    for (const h of ["h1", "h2", "h3"]) expect(fs.existsSync(at(h))).toBe(false);
    expect(fs.lstatSync(at("h4")).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(at("h4")).ino).toBe(fs.lstatSync(at("s")).ino);
    expect(fs.lstatSync(at("h5")).isSymbolicLink()).toBe(true);
    expect(r.skipped).toBe(3);
    expectContained();
  });

  it("replaces duplicates as tar does and never writes through an existing symlink", async () => {
    await unpack([
      { name: "dup", body: "first" },
      { name: "dup", type: "symlink", linkname: sentinel },
      { name: "dup", body: "second" },
      { name: "hl", type: "symlink", linkname: sentinel },
      { name: "target", body: "t" },
      { name: "hl", type: "link", linkname: "target" },
      { name: "wasdir/", type: "directory" },
      { name: "wasdir/inner", body: "i" },
      { name: "wasdir", body: "now a file" },
    ]);
    expect(fs.lstatSync(at("dup")).isFile()).toBe(true);
    expect(fs.readFileSync(at("dup"), "utf8")).toBe("second");
    expect(fs.lstatSync(at("hl")).ino).toBe(fs.lstatSync(at("target")).ino);
    expect(fs.readFileSync(at("wasdir"), "utf8")).toBe("now a file");
    expectContained();
  });

  it("never creates device nodes, and skips what it cannot resolve", async () => {
    const r = await unpack([
      { name: "dev/", type: "directory" },
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3 },
      { name: "dev/sda", type: "block-device", devmajor: 8, devminor: 0 },
      { name: "loop1", type: "symlink", linkname: "loop2" },
      { name: "loop2", type: "symlink", linkname: "loop1" },
      { name: "loop1/x", body: "x" },
      { name: "file", body: "f" },
      { name: "file/x", body: "x" },
    ]);
    expect(fs.readdirSync(at("dev"))).toEqual([]);
    expect(fs.existsSync(at("file/x"))).toBe(false);
    expect(r.skipped).toBe(4);
    expectContained();
  });

  it("fails cleanly on a path too long for the host", async () => {
    const deep = Array.from({ length: 600 }, () => "abcdefgh").join("/");
    const err = await unpack([{ name: "x", body: "x", pax: { path: deep + "/file" } }]).catch((e: unknown) => e);
    expect(isTsrunError(err, "corrupt")).toBe(true);
    expect((err as Error).message).toMatch(/^Cannot unpack ".*…": path too long$/);
    const err2 = await unpack([{ name: "y".repeat(300), body: "y" }]).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/path too long/);
    expectContained();
  });
});

describe.skipIf(!isRoot)("LayerStore", () => {
  let t: ReturnType<typeof tempRoot>;
  beforeEach(() => {
    t = tempRoot();
  });
  afterEach(() => t.remove());

  it("unpacks a gzip'd layer once for concurrent callers, into <root>/layers/<hex>/diff with an opaque sidecar", async () => {
    const tar = await tarOf([
      { name: "d/", type: "directory" },
      { name: "d/.wh..wh..opq", body: "" },
      { name: "d/f", body: "content" },
    ]);
    const blob = path.join(t.dir, "blob");
    fs.writeFileSync(blob, gzip(tar));
    const diffId = sha256(tar);
    const layers = new LayerStore(t.root);
    const [a, b] = await Promise.all([layers.ensure(diffId, blob), layers.ensure(diffId, blob)]);
    expect(a).toBe(path.join(t.dir, "layers", diffId.slice(7), "diff"));
    expect(b).toBe(a);
    expect(fs.readFileSync(path.join(a, "d/f"), "utf8")).toBe("content");
    expect(fs.statSync(a).mode & 0o7777).toBe(0o755);
    expect(fs.readFileSync(path.join(a, "..", "opaque"), "utf8")).toBe("d\n");
    expect(fs.readdirSync(t.root.tmp)).toEqual([]);
    // A second store (another process) finds it done.
    expect(await new LayerStore(t.root).ensure(diffId, "/nonexistent")).toBe(a);
  });

  it("refuses a blob that does not match the diff id and leaves nothing", async () => {
    const tar = await tarOf([{ name: "f", body: "x" }]);
    const blob = path.join(t.dir, "blob");
    fs.writeFileSync(blob, tar);
    const wrong = sha256("something else");
    const err = await new LayerStore(t.root).ensure(wrong, blob).catch((e: unknown) => e);
    expect(isTsrunError(err, "corrupt")).toBe(true);
    expect((err as Error).message).toBe(`Layer ${wrong} is corrupt: its content has digest ${sha256(tar)}`);
    expect(fs.readdirSync(t.root.tmp)).toEqual([]);
    expect(fs.existsSync(t.root.layer(wrong.slice(7)))).toBe(false);
    const missing = await new LayerStore(t.root).ensure(wrong, path.join(t.dir, "nope")).catch((e: unknown) => e);
    expect((missing as Error).message).toBe(`Cannot unpack layer ${wrong}: its blob is missing`);
  });
});

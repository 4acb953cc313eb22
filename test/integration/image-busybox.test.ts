/**
 * The bundled busybox image, built by rootfs/build-busybox.mjs from the host's static
 * busybox and loaded through the normal docker-archive path into a private root; then
 * unpacked (as root) and removed again with its layers collected.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatRemoveRecord, ImageStore } from "../../src/image/index.js";
import { assertStaticElf, buildBusyboxArchive } from "../../rootfs/build-busybox.mjs";
import { tempRoot } from "../unit/image-fixtures.js";

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn("image-busybox.test.ts: skipped, unpacking layers needs root");

describe.skipIf(!isRoot)("the busybox image", () => {
  let t: ReturnType<typeof tempRoot>;
  let built: Awaited<ReturnType<typeof buildBusyboxArchive>>;
  let store: ImageStore;

  beforeAll(async () => {
    t = tempRoot();
    built = await buildBusyboxArchive({ out: path.join(t.dir, "busybox.tar") });
    store = new ImageStore(t.root);
  });
  afterAll(() => t?.remove());

  it("is built deterministically from the host's static busybox", async () => {
    const again = await buildBusyboxArchive({ out: path.join(t.dir, "again.tar") });
    expect(again.imageId).toBe(built.imageId);
    expect(fs.readFileSync(again.file).equals(fs.readFileSync(built.file))).toBe(true);
    expect(() => assertStaticElf("/nonexistent/busybox")).toThrow(/install Debian's busybox-static/);
    expect(() => assertStaticElf(process.execPath)).toThrow(/is dynamically linked/);
  });

  it("loads as busybox:latest with Docker's config", async () => {
    const result = await store.load(built.file);
    expect(result.lines).toEqual(["Loaded image: busybox:latest"]);
    const img = store.resolve("busybox");
    expect(img.id).toBe(built.imageId);
    expect(img.config.config).toEqual({
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["sh"],
    });
    expect(img.config.os).toBe("linux");
    expect(img.config.architecture).toBe(process.arch === "x64" ? "amd64" : expect.any(String));
    expect(img.config.history?.length).toBe(2);
    expect(img.size).toBeGreaterThan(fs.statSync("/bin/busybox").size);
    expect(store.list()).toMatchObject([{ id: built.imageId, repoTags: ["busybox:latest"], created: "2024-01-01T00:00:00Z" }]);
  });

  it("unpacks to a root filesystem with applets as hard links", async () => {
    const img = store.resolve("busybox");
    const [dir] = await img.layerDirs();
    expect(dir).toBe(path.join(t.dir, "layers", built.diffId.slice(7), "diff"));
    const bb = fs.statSync(path.join(dir!, "bin/busybox"));
    expect([bb.mode & 0o7777, bb.uid, bb.gid]).toEqual([0o755, 0, 0]);
    for (const applet of ["bin/sh", "bin/ls", "usr/bin/env", "sbin/ifconfig"]) {
      expect(fs.lstatSync(path.join(dir!, applet)).ino).toBe(bb.ino);
    }
    expect(fs.statSync(path.join(dir!, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(fs.statSync(path.join(dir!, "root")).mode & 0o7777).toBe(0o700);
    const passwd = fs.readFileSync(path.join(dir!, "etc/passwd"), "utf8");
    expect(passwd).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh$/m);
    expect(passwd).toMatch(/^nobody:x:65534:65534:/m);
    expect(fs.readFileSync(path.join(dir!, "etc/group"), "utf8")).toMatch(/^root:x:0:$/m);
    expect(fs.statSync(path.join(dir!, "etc")).mtime.toISOString()).toBe("2024-01-01T00:00:00.000Z");
    // Asking again costs nothing and gives the same dir.
    expect(await store.resolve(built.imageId.slice(7, 19)).layerDirs()).toEqual([dir]);
  });

  it("keeps a layer a container still uses, and collects it once nothing does", async () => {
    const [dir] = await store.resolve("busybox").layerDirs();
    await store.tag("busybox", "copy:1");
    const records = (await store.remove(built.imageId, { force: true, layersInUse: () => [dir!] })).map(formatRemoveRecord);
    // The layer stays for the container, so it is not reported as deleted.
    expect(records).toEqual(["Untagged: busybox:latest", "Untagged: copy:1", `Deleted: ${built.imageId}`]);
    expect(fs.existsSync(dir!)).toBe(true);
    await store.collectGarbage();
    expect(fs.existsSync(path.dirname(dir!))).toBe(false);
    expect(fs.readdirSync(path.join(t.dir, "images", "blobs", "sha256"))).toEqual([]);
    expect(fs.readdirSync(t.root.tmp)).toEqual([]);
  });
});

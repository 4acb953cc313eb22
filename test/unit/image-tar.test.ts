import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanMemberPath, RootResolver, UnresolvablePath } from "../../src/image/in-root.js";
import { paxRecords, readTar } from "../../src/image/tar.js";
import { isAllowedXattr, xattrsFromPax } from "../../src/image/unpack.js";
import { tarOf } from "./image-fixtures.js";

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x84, 0xff, 0x00, 0xc3, 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe("PAX records", () => {
  it("keeps binary values byte for byte (tar-stream alone decodes them as UTF-8)", async () => {
    const tar = await tarOf([
      { name: "bin/ping", body: "x", pax: { "SCHILY.xattr.security.capability": CAP, "SCHILY.xattr.user.note": "héllo" } },
      { name: "plain", body: "y" },
    ]);
    const seen: { name: string; pax: Map<string, Buffer>; body: string }[] = [];
    for await (const e of readTar(Readable.from([tar]))) {
      const chunks: Buffer[] = [];
      for await (const c of e.body) chunks.push(c);
      seen.push({ name: e.header.name, pax: e.pax, body: Buffer.concat(chunks).toString() });
    }
    expect(seen.map((s) => [s.name, s.body])).toEqual([
      ["bin/ping", "x"],
      ["plain", "y"],
    ]);
    expect(seen[0]!.pax.get("SCHILY.xattr.security.capability")).toEqual(CAP);
    expect(seen[0]!.pax.get("SCHILY.xattr.user.note")!.toString()).toBe("héllo");
    expect(seen[1]!.pax.size).toBe(0);
  });

  it("parses records by byte length and stops at a malformed one", () => {
    const rec = (k: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from("\n")]);
      let len = body.length + 1;
      while (String(len).length + body.length !== len) len++;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const buf = Buffer.concat([rec("a", Buffer.from([0xff, 0x0a, 0x3d])), rec("path", Buffer.from("x/y")), Buffer.from("99 broken")]);
    const records = paxRecords(buf);
    expect(records.get("a")).toEqual(Buffer.from([0xff, 0x0a, 0x3d]));
    expect(records.get("path")!.toString()).toBe("x/y");
    expect(records.size).toBe(2);
  });

  it("reads SCHILY and LIBARCHIVE xattrs, SCHILY winning", () => {
    const pax = new Map<string, Buffer>([
      ["LIBARCHIVE.xattr.user.a%3Db", Buffer.from(Buffer.from("one").toString("base64"))],
      ["LIBARCHIVE.xattr.user.c", Buffer.from(Buffer.from("lib").toString("base64"))],
      ["SCHILY.xattr.user.c", Buffer.from("schily")],
      ["mtime", Buffer.from("1.5")],
    ]);
    const x = xattrsFromPax(pax);
    expect(x.get("user.a=b")!.toString()).toBe("one");
    expect(x.get("user.c")!.toString()).toBe("schily");
    expect(x.size).toBe(2);
  });

  it("allows only user.* (not user.overlay.*) and security.capability", () => {
    expect(["user.x", "security.capability"].every(isAllowedXattr)).toBe(true);
    expect(["user.overlay.opaque", "user.overlay.redirect", "trusted.overlay.opaque", "security.selinux", "system.posix_acl_access"].some(isAllowedXattr)).toBe(false);
  });

  it("reports a truncated archive", async () => {
    const tar = await tarOf([{ name: "big", body: "z".repeat(5000) }]);
    const read = async () => {
      for await (const _ of readTar(Readable.from([tar.subarray(0, 2000)]))) {
        // only reading
      }
    };
    await expect(read()).rejects.toThrow("Unexpected end of data");
  });
});

describe("member paths", () => {
  it.each([
    ["a/b", "a/b"],
    ["./a/b/", "a/b"],
    ["/etc/passwd", "etc/passwd"],
    ["../../etc/passwd", "etc/passwd"],
    ["a/../../b", "b"],
    ["a/./b//c", "a/b/c"],
    ["./", ""],
    ["..", ""],
  ])("%s → %s", (name, rel) => {
    expect(cleanMemberPath(name)).toBe(rel);
  });
});

describe("RootResolver resolves inside the root", () => {
  let base: string;
  let root: string;
  let outside: string;

  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-inroot-"));
    root = path.join(base, "root");
    outside = path.join(base, "outside");
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it("follows absolute and relative symlinks as if chrooted", () => {
    fs.mkdirSync(path.join(root, "real"));
    fs.symlinkSync(outside, path.join(root, "abs"));
    fs.symlinkSync("../../../..", path.join(root, "up"));
    fs.symlinkSync("/real", path.join(root, "toreal"));
    const r = new RootResolver(root);
    expect(r.resolveParent("toreal/file", false)).toEqual({ parent: "real", name: "file" });
    expect(r.resolveParent("up/up/real/file", false)).toEqual({ parent: "real", name: "file" });
    // The absolute link names a path inside the root, created there on demand.
    expect(r.resolveParent("abs/file", true)).toEqual({ parent: outside.slice(1), name: "file" });
    expect(fs.existsSync(path.join(root, outside))).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it("refuses loops and paths through files, and missing parents unless asked to create", () => {
    fs.symlinkSync("b", path.join(root, "a"));
    fs.symlinkSync("a", path.join(root, "b"));
    fs.writeFileSync(path.join(root, "f"), "");
    const r = new RootResolver(root);
    expect(() => r.resolveParent("a/x", true)).toThrow(UnresolvablePath);
    expect(() => r.resolveParent("f/x", true)).toThrow(/"f" is not a directory/);
    expect(() => r.resolveParent("missing/x", false)).toThrow(/"missing" does not exist/);
    expect(r.resolveParent("made/deep/x", true)).toEqual({ parent: "made/deep", name: "x" });
  });

  it("never returns the last component resolved", () => {
    fs.symlinkSync(outside, path.join(root, "last"));
    expect(new RootResolver(root).resolveParent("last", false)).toEqual({ parent: "", name: "last" });
  });
});

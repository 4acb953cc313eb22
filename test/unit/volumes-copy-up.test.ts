/**
 * Copy-up from synthetic layers (no root needed: no whiteouts, no chown; the integration
 * test covers those): opaque directories, symlinks resolved inside the union only, a file
 * or missing path copying nothing, modes, times and hard links kept.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyImageContent } from "../../src/engine/volumes/copy-up.js";
import { UnionTree } from "../../src/engine/union-tree.js";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-copyup-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const T = new Date("2021-02-03T04:05:06Z");

/** A layer as the unpacker leaves it: layers/<id>/diff plus the opaque sidecar. */
function layer(id: string, files: Record<string, string | { link: string } | { dir: true; mode?: number }>, opaque: string[] = []): string {
  const diff = path.join(base, "layers", id, "diff");
  fs.mkdirSync(diff, { recursive: true });
  for (const [rel, what] of Object.entries(files)) {
    const p = path.join(diff, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof what === "string") {
      fs.writeFileSync(p, what);
      fs.chmodSync(p, 0o640);
      fs.utimesSync(p, T, T);
    } else if ("link" in what) {
      fs.symlinkSync(what.link, p);
    } else {
      fs.mkdirSync(p, { recursive: true });
      if (what.mode !== undefined) fs.chmodSync(p, what.mode);
      fs.utimesSync(p, T, T);
    }
  }
  if (opaque.length > 0) fs.writeFileSync(path.join(base, "layers", id, "opaque"), opaque.join("\n") + "\n");
  const stamp = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) stamp(path.join(d, e.name));
    fs.utimesSync(d, T, T);
  };
  stamp(diff);
  return diff;
}

const lower = layer("lower", {
  "data/old.txt": "old",
  "data/keep/k.txt": "k",
  "data/sub/s.txt": "s",
  "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
  "srv": { dir: true, mode: 0o750 },
  "srv/www/index.html": "<h1>hi</h1>",
  "escape": { link: "../../../../../etc" },
  "abs": { link: "/srv/www" },
});
const upper = layer(
  "upper",
  {
    "data/new.txt": "new",
    "data/sub/u.txt": "u",
    "data/link": { link: "/etc/passwd" },
    "data/up": { link: "../../../../outside" },
  },
  ["data/sub"],
);
fs.linkSync(path.join(upper, "data/new.txt"), path.join(upper, "data/new-hardlink.txt"));
const layers = [upper, lower];

function volumeDir(name: string): string {
  const d = path.join(base, "volumes", name, "_data");
  fs.mkdirSync(d, { recursive: true });
  return d;
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(path.join(d, e.name))}`);
      else if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(path.join(d, e.name), r);
      } else out.push(`${r}: ${fs.readFileSync(path.join(d, e.name), "utf8")}`);
    }
  };
  walk(dir, "");
  return out;
}

describe("UnionTree", () => {
  const u = new UnionTree(layers);
  it("lists a merged directory, an opaque one from its layer only", () => {
    expect([...u.list(["data"]).keys()].sort()).toEqual(["keep", "link", "new-hardlink.txt", "new.txt", "old.txt", "sub", "up"]);
    expect([...u.list(["data", "sub"]).keys()]).toEqual(["u.txt"]);
  });

  it("resolves symlinks inside the union, never on the host", () => {
    expect(u.resolve("/escape/passwd")?.parts).toEqual(["etc", "passwd"]);
    expect(u.resolve("/abs/index.html")?.parts).toEqual(["srv", "www", "index.html"]);
    expect(u.resolve("/data/up")).toBeUndefined(); // "/outside" does not exist in the image
    expect(u.resolve("/etc/passwd/x")).toBeUndefined();
  });
});

describe("copyImageContent", () => {
  it("copies the union at the path, links as links, modes, times and hard links kept", async () => {
    const dest = volumeDir("v1");
    const r = await copyImageContent(layers, "/data", dest);
    expect(r.copied).toBe(true);
    expect(tree(dest)).toEqual([
      "keep/",
      "keep/k.txt: k",
      "link -> /etc/passwd",
      "new-hardlink.txt: new",
      "new.txt: new",
      "old.txt: old",
      "sub/",
      "sub/u.txt: u",
      "up -> ../../../../outside",
    ]);
    const st = fs.statSync(path.join(dest, "old.txt"));
    expect(st.mode & 0o7777).toBe(0o640);
    expect(st.mtime.toISOString()).toBe(T.toISOString());
    expect(fs.statSync(path.join(dest, "keep")).mtime.toISOString()).toBe(T.toISOString());
    expect(fs.statSync(path.join(dest, "new.txt")).ino).toBe(fs.statSync(path.join(dest, "new-hardlink.txt")).ino);
    // Nothing left beside the data but the volume's own files.
    expect(fs.readdirSync(path.dirname(dest))).toEqual(["_data"]);
  });

  it("gives the volume's directory the image directory's mode and times", async () => {
    const dest = volumeDir("v2");
    await copyImageContent(layers, "/abs/..", dest);
    expect(fs.statSync(dest).mode & 0o7777).toBe(0o750);
    expect(fs.statSync(dest).mtime.toISOString()).toBe(T.toISOString());
    expect(tree(dest)).toEqual(["www/", "www/index.html: <h1>hi</h1>"]);
  });

  it("follows a symlinked mount point inside the image only", async () => {
    const dest = volumeDir("v3");
    expect((await copyImageContent(layers, "/escape", dest)).copied).toBe(true);
    expect(tree(dest)).toEqual(["passwd: root:x:0:0::/root:/bin/sh\n"]);
  });

  it("copies nothing for a file, a missing path, or a volume that is not empty", async () => {
    const dest = volumeDir("v4");
    expect(await copyImageContent(layers, "/etc/passwd", dest)).toEqual({ copied: false, entries: 0 });
    expect(await copyImageContent(layers, "/nope", dest)).toEqual({ copied: false, entries: 0 });
    fs.writeFileSync(path.join(dest, "mine"), "m");
    expect(await copyImageContent(layers, "/data", dest)).toEqual({ copied: false, entries: 0 });
    expect(tree(dest)).toEqual(["mine: m"]);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UnionTree } from "../../src/engine/union-tree.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-layers-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A layer dir `<tmp>/<name>/diff` with the given files ("path": content, "path@": symlink target). */
function layer(name: string, files: Record<string, string>, opaque: string[] = []): string {
  const diff = path.join(tmp, name, "diff");
  fs.mkdirSync(diff, { recursive: true });
  for (const [p, v] of Object.entries(files)) {
    const target = path.join(diff, p.replace(/@$/, ""));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (p.endsWith("@")) fs.symlinkSync(v, target);
    else fs.writeFileSync(target, v);
  }
  if (opaque.length) fs.writeFileSync(path.join(tmp, name, "opaque"), opaque.join("\n") + "\n");
  return diff;
}

describe("UnionTree.readFile", () => {
  it("reads the top-most version of a file", () => {
    const low = layer("a1", { "etc/passwd": "low", "etc/group": "g" });
    const high = layer("a2", { "etc/passwd": "high" });
    const f = new UnionTree([high, low]);
    expect(f.readFile("/etc/passwd")).toBe("high");
    expect(f.readFile("/etc/group")).toBe("g");
    expect(f.readFile("/etc/shadow")).toBeUndefined();
  });

  it("honours opaque directories", () => {
    const low = layer("b1", { "etc/passwd": "low", "etc/group": "g" });
    const high = layer("b2", { "etc/passwd": "high" }, ["etc"]);
    const f = new UnionTree([high, low]);
    expect(f.readFile("/etc/passwd")).toBe("high");
    expect(f.readFile("/etc/group")).toBeUndefined();
  });

  it("follows symlinks inside the union and never onto the host", () => {
    const low = layer("c1", { "real/passwd": "in-image", "etc@": "/real", "up@": "../../../../../../etc" });
    const f = new UnionTree([low]);
    expect(f.readFile("/etc/passwd")).toBe("in-image");
    // ../ beyond the root stays at the root: /up → /etc → /real
    expect(f.readFile("/up/passwd")).toBe("in-image");
    const escape = layer("c2", { "etc/passwd@": "/../../../../etc/hostname" });
    expect(new UnionTree([escape]).readFile("/etc/passwd")).toBeUndefined();
  });

  it("stops at symlink loops", () => {
    const loop = layer("d1", { "a@": "/b", "b@": "/a" });
    expect(new UnionTree([loop]).readFile("/a/x")).toBeUndefined();
  });

  it.skipIf(process.getuid?.() !== 0)("treats whiteouts as deletions", async () => {
    const { mkwhiteout } = await import("../../src/linux/mknod.js");
    const low = layer("e1", { "etc/passwd": "low" });
    const high = layer("e2", {});
    fs.mkdirSync(path.join(high, "etc"));
    mkwhiteout(path.join(high, "etc", "passwd"));
    expect(new UnionTree([high, low]).readFile("/etc/passwd")).toBeUndefined();
  });
});

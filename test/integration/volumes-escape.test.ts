/**
 * The symlink-target escape (CVE-2021-30465's kind): an image whose mount targets are
 * symlinks to an absolute host path or up through `..` must get its mounts inside its own
 * rootfs. The init resolves each target in the new root (openat2 RESOLVE_IN_ROOT), so the
 * links lead to paths under the rootfs, created there; the host paths they name stay as
 * they were, and the host's mount table never changes.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { loadDerivedImage } from "./volumes-fixtures.js";

if (!isRoot) console.warn("volumes-escape.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("mount targets that are symlinks", () => {
  let root: TestRoot;
  let hostDir: string;
  /** Host paths the image's links point at: they must never receive a mount or a write. */
  let absTarget: string;
  let upTarget: string;
  let volTarget: string;

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-vol-escape-"));
    absTarget = path.join(hostDir, "abs");
    volTarget = path.join(hostDir, "image-volume");
    fs.mkdirSync(absTarget);
    fs.mkdirSync(volTarget);
    upTarget = path.join(hostDir, "up"); // left missing: nothing may create it
    await loadDerivedImage(root, {
      tag: "escape",
      files: [
        { name: "to-abs", type: "symlink", linkname: absTarget },
        { name: "to-up", type: "symlink", linkname: `../../../../../../../..${upTarget}` },
        { name: "to-root-up", type: "symlink", linkname: `/../../..${upTarget}-tmpfs` },
        { name: "to-vol", type: "symlink", linkname: volTarget },
      ],
      volumes: ["/to-vol"],
    });
  });
  afterAll(() => {
    root?.destroy();
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("mounts volumes, binds and tmpfs at the link's target inside the rootfs, never on the host", async () => {
    const bindSource = path.join(hostDir, "bind-source");
    fs.mkdirSync(bindSource);
    const mountinfoBefore = fs.readFileSync("/proc/self/mountinfo", "utf8");
    const r = await root.run([
      "run", "--rm", "-v", "escape-vol:/to-abs", "-v", `${bindSource}:/to-up`, "--tmpfs", "/to-root-up", "escape", "sh", "-c",
      // Write through each link, then show where the mounts are in the container.
      `for l in /to-abs /to-up /to-root-up /to-vol; do echo "$l" > $l/marker || exit 1; done; ` +
        `for p in ${absTarget} ${upTarget} ${upTarget}-tmpfs ${volTarget}; do grep -c " $p " /proc/mounts; done`,
    ]);
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "1\n1\n1\n1\n" });
    // What was written went into the volume and the bind source, nowhere else.
    expect(fs.readFileSync(path.join(root.dir, "volumes", "escape-vol", "_data", "marker"), "utf8")).toBe("/to-abs\n");
    expect(fs.readFileSync(path.join(bindSource, "marker"), "utf8")).toBe("/to-up\n");
    expect(fs.readdirSync(absTarget)).toEqual([]);
    expect(fs.readdirSync(volTarget)).toEqual([]);
    expect(fs.existsSync(upTarget)).toBe(false);
    expect(fs.existsSync(`${upTarget}-tmpfs`)).toBe(false);
    expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).toBe(mountinfoBefore);
    expect((await root.run(["volume", "rm", "escape-vol"])).code).toBe(0);
  });
});

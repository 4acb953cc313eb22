/** `load`, `images`, `tag`, `rmi` as a user types them. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUSYBOX_TAR, TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("images-cli.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("image commands", () => {
  let root: TestRoot;
  beforeAll(() => {
    root = new TestRoot();
  });
  afterAll(() => root?.destroy());

  it("loads an archive and lists it with Docker's columns", async () => {
    const load = await root.run(["load", "-i", BUSYBOX_TAR]);
    expect(load.code).toBe(0);
    expect(load.stdout).toBe("Loaded image: busybox:latest\n");
    const images = await root.run(["images"]);
    const [header, row] = images.stdout.split("\n");
    expect(header).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(row).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s+.+ ago\s+[0-9.]+[kM]B$/);
    const q = await root.run(["images", "-q"]);
    expect(q.stdout).toMatch(/^[0-9a-f]{12}\n$/);
  });

  it("loads from stdin too", async () => {
    const fs = await import("node:fs");
    const r = await root.run(["load"], { input: fs.readFileSync(BUSYBOX_TAR) });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Loaded image: busybox:latest");
  });

  it("refuses a bad archive with one line and changes nothing", async () => {
    const before = (await root.run(["images", "-q"])).stdout;
    const r = await root.run(["load"], { input: "this is not a tar archive at all".repeat(40) });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect((await root.run(["images", "-q"])).stdout).toBe(before);
  });

  it("tags, untags and refuses to remove an image a container uses", async () => {
    expect((await root.run(["tag", "busybox", "mybox:1"])).code).toBe(0);
    expect((await root.run(["images", "mybox"])).stdout).toMatch(/\nmybox\s+1\s+/);
    expect((await root.run(["run", "--name", "user", "busybox", "true"])).code).toBe(0);
    const untag = await root.run(["rmi", "mybox:1"]);
    expect(untag.stdout).toBe("Untagged: mybox:1\n");
    const refused = await root.run(["rmi", "busybox"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/conflict: unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/);
    const missing = await root.run(["rmi", "nosuch"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("No such image: nosuch:latest");
    expect((await root.run(["rm", "user"])).code).toBe(0);
    const removed = await root.run(["rmi", "busybox"]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^Untagged: busybox:latest\nDeleted: sha256:[0-9a-f]{64}\n/);
    expect((await root.run(["images", "-q"])).stdout).toBe("");
  });
});

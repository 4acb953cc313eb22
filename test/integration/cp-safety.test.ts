/**
 * `tsrun cp` and the boundary between a container and the host: every path is resolved in
 * the container's own root, so its symlinks — to "/", to /etc, up through "../../..", to a
 * host path — lead to the container's files, never the host's, whether the link is the
 * source, a component of the destination, or a member of an archive being extracted. Also:
 * the container's full view (volumes mounted at the path, a read-only rootfs), and the
 * stand-in of a stopped container, which a killed copy leaves for the next one to remove.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { tarOf } from "../unit/image-fixtures.js";
import { eventually, sleep } from "./lifecycle-helpers.js";

if (!isRoot) console.warn("cp-safety.test.ts: skipped, integration tests need root");

function runWithInput(root: TestRoot, args: string[], input: Buffer) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = root.spawn(args);
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout!.resume();
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr: err }));
    child.stdin!.end(input);
  });
}

/** Processes whose command line mentions s. */
function processesWith(s: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(s)) found.push(pid);
    } catch {
      // gone
    }
  }
  return found;
}

describe.skipIf(!isRoot)("tsrun cp and the host boundary", () => {
  let root: TestRoot;
  /** A host directory the container's links name; nothing may be read from it or land in it. */
  let hostDir: string;
  /** Where the tests copy to on the host. */
  let out: string;
  const unique = `tsrun-cp-${process.pid}-${Date.now()}`;
  const cp = (...args: string[]) => root.run(["cp", ...args]);
  // Links in the container's /data to "/", to /etc, up through "..", and to the host dir.
  const LINKS = (dir: string) =>
    [
      "mkdir -p /data/tree/evil",
      "ln -s / /data/root",
      "ln -s /etc /data/etc",
      "ln -s ../../.. /data/up",
      `ln -s ${dir} /data/hostabs`,
      "echo container > /etc/tsrun-marker",
      "echo inside > /data/tree/evil/file",
    ].join(" && ");

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-cp-hostdir-"));
    out = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-cp-out-"));
    fs.writeFileSync(path.join(hostDir, "secret"), "host secret\n");
    // One container running, one stopped, with the same links.
    expect((await root.run(["run", "-d", "--name", "live", "busybox", "sh", "-c", `${LINKS(hostDir)} && echo ready && exec sleep 1000`])).code).toBe(0);
    expect((await root.run(["run", "--name", "dead", "busybox", "sh", "-c", LINKS(hostDir)])).code).toBe(0);
    await eventually("the links", async () => ((await root.run(["logs", "live"])).stdout === "ready\n" ? true : undefined));
  });
  afterAll(() => {
    root?.destroy();
    for (const d of [hostDir, out]) if (d) fs.rmSync(d, { recursive: true, force: true });
    for (const f of [`/etc/${unique}`, `/tmp/${unique}`, `/tmp/${unique}-up`, `/tmp/${unique}-root`, `/tmp/${unique}-lnk`, `/tmp/${unique}-ro`]) fs.rmSync(f, { force: true });
  });

  for (const name of ["live", "dead"]) {
    describe(`a ${name === "live" ? "running" : "stopped"} container's symlinks`, () => {
      it("as the source: what is read is the container's file, never the host's", async () => {
        const dest = fs.mkdtempSync(path.join(out, `${name}-src-`));
        expect((await cp(`${name}:/data/etc/tsrun-marker`, dest)).code).toBe(0);
        expect(fs.readFileSync(path.join(dest, "tsrun-marker"), "utf8")).toBe("container\n");
        expect((await cp(`${name}:/data/up/etc/tsrun-marker`, path.join(dest, "via-up"))).code).toBe(0);
        expect(fs.readFileSync(path.join(dest, "via-up"), "utf8")).toBe("container\n");
        for (const src of [`/data/hostabs/secret`, `/data/up/up/up${hostDir}/secret`, `/data/root${hostDir}/secret`]) {
          expect(await cp(`${name}:${src}`, dest), src).toMatchObject({ code: 1, stderr: `Error response from daemon: Could not find the file ${src} in container ${name}\n` });
        }
        expect((await cp("-L", `${name}:/data/hostabs`, path.join(dest, "x"))).code).toBe(1);
        // -L follows the link inside the container: /etc is the container's.
        expect((await cp("-L", `${name}:/data/etc`, path.join(dest, "etc-copy"))).code).toBe(0);
        expect(fs.readFileSync(path.join(dest, "etc-copy", "tsrun-marker"), "utf8")).toBe("container\n");
        expect(fs.readFileSync(path.join(dest, "etc-copy", "passwd"), "utf8")).not.toBe(fs.readFileSync("/etc/passwd", "utf8"));
        // The link itself is copied as a link (as Docker does); nothing it points to comes along.
        expect((await cp(`${name}:/data/root`, dest)).code).toBe(0);
        expect(fs.readlinkSync(path.join(dest, "root"))).toBe("/");
        // A relative link that climbs out of the destination is refused, as by Docker's Untar.
        expect(await cp(`${name}:/data/up`, dest)).toMatchObject({ code: 1, stderr: `tsrun: invalid symlink "${path.join(dest, "up")}" -> "../../.."\n` });
        expect(fs.existsSync(path.join(dest, "up"))).toBe(false);
        expect(fs.readdirSync(dest).sort()).toEqual(["etc-copy", "root", "tsrun-marker", "via-up"]);
      });

      it("as a component of the destination: the write lands in the container", async () => {
        const file = path.join(out, `${unique}`);
        fs.writeFileSync(file, `written through ${name}\n`);
        expect((await cp(file, `${name}:/data/etc/`)).code).toBe(0);
        expect((await cp(file, `${name}:/data/up/tmp/${unique}-up`)).code).toBe(0);
        expect((await cp(file, `${name}:/data/root/tmp/${unique}-root`)).code).toBe(0);
        // A link to a host path names a path the container lacks: the file takes that name inside.
        expect((await cp(file, `${name}:/data/hostabs`)).code).toBe(0);
        expect(fs.existsSync(`/etc/${unique}`)).toBe(false);
        expect(fs.existsSync(`/tmp/${unique}-up`)).toBe(false);
        expect(fs.existsSync(`/tmp/${unique}-root`)).toBe(false);
        for (const p of [`/etc/${unique}`, `/tmp/${unique}-up`, `/tmp/${unique}-root`]) {
          expect((await cp(`${name}:${p}`, "-")).code, p).toBe(0);
        }
        expect((await cp(`${name}:${hostDir}`, "-")).code).toBe(0);
      });

      it("as members of an extracted archive: entries go through them into the container only", async () => {
        const tar = await tarOf([
          { name: `etc/${unique}`, body: "through etc\n" },
          { name: `up/tmp/${unique}`, body: "through up\n" },
          { name: `root/tmp/${unique}-root`, body: "through root\n" },
          { name: "lnk", type: "symlink", linkname: "/" },
          { name: `lnk/tmp/${unique}-lnk`, body: "through a link from the archive\n" },
        ]);
        expect(await runWithInput(root, ["cp", "-", `${name}:/data`], tar)).toMatchObject({ code: 0, stderr: "" });
        for (const p of [`/etc/${unique}`, `/tmp/${unique}`, `/tmp/${unique}-root`, `/tmp/${unique}-lnk`]) {
          expect(fs.existsSync(p), p).toBe(false);
          expect((await cp(`${name}:${p}`, "-")).code, p).toBe(0);
        }
        const climbing = await tarOf([{ name: `../../../../tmp/${unique}`, body: "x" }]);
        expect(await runWithInput(root, ["cp", "-", `${name}:/data`], climbing)).toMatchObject({
          code: 1,
          stderr: `Error response from daemon: "../../../../tmp/${unique}" is outside of "/data"\n`,
        });
        const throughHost = await tarOf([{ name: "hostabs/planted", body: "x" }]);
        expect((await runWithInput(root, ["cp", "-", `${name}:/data`], throughHost)).code).toBe(1);
        expect(fs.existsSync(path.join(hostDir, "planted"))).toBe(false);
      });
    });
  }

  it("never follows a host symlink out of the destination when extracting", async () => {
    const dest = fs.mkdtempSync(path.join(out, "host-links-"));
    fs.symlinkSync(hostDir, path.join(dest, "evil"));
    expect(await cp("live:/data/tree/.", dest)).toMatchObject({
      code: 1,
      stderr: `tsrun: cannot overwrite non-directory "${path.join(dest, "evil")}" with directory "${dest}"\n`,
    });
    expect(fs.readdirSync(hostDir)).toEqual(["secret"]);
  });

  describe("the container's full view", () => {
    it("writes into and reads from a volume mounted at the path, running or stopped", async () => {
      const file = path.join(out, "to-volume");
      fs.writeFileSync(file, "in the volume\n");
      expect((await root.run(["run", "-d", "--name", "vol-live", "-v", "cpvol:/vol", "busybox", "sleep", "1000"])).code).toBe(0);
      await eventually("the volume", async () => ((await cp("vol-live:/vol", "-")).code === 0 ? true : undefined));
      expect((await cp(file, "vol-live:/vol/live")).code).toBe(0);
      expect((await root.run(["create", "--name", "vol-dead", "-v", "cpvol:/mnt/v", "busybox", "true"])).code).toBe(0);
      expect((await cp(file, "vol-dead:/mnt/v/dead")).code).toBe(0);
      const r = await root.run(["run", "--rm", "-v", "cpvol:/check", "busybox", "sh", "-c", "cat /check/live /check/dead; ls -ln /check | tail -n +2 | awk '{print $3\":\"$4\" \"$9}'"]);
      expect(r.stdout).toBe("in the volume\nin the volume\n0:0 dead\n0:0 live\n");
      // The data is in the volume, not in either container's own layer.
      expect(fs.readdirSync(path.join(root.dir, "volumes", "cpvol", "_data")).sort()).toEqual(["dead", "live"]);
      expect((await cp("vol-dead:/mnt/v/live", path.join(out, "from-volume"))).code).toBe(0);
      expect(fs.readFileSync(path.join(out, "from-volume"), "utf8")).toBe("in the volume\n");
    });

    it("refuses to write on a read-only rootfs or volume, and writes into a writable volume of it", async () => {
      const file = path.join(out, `${unique}-ro`); // a name nothing else has, should it ever land on the host
      fs.writeFileSync(file, "x\n");
      expect((await root.run(["create", "--name", "ro", "--read-only", "-v", "rw-vol:/rw", "-v", "ro-vol:/ro:ro", "busybox", "true"])).code).toBe(0);
      expect(await cp(file, "ro:/tmp/")).toMatchObject({ code: 1, stderr: "Error response from daemon: container rootfs is marked read-only\n" });
      expect(await cp(file, "ro:/ro/")).toMatchObject({ code: 1, stderr: "Error response from daemon: mounted volume is marked read-only\n" });
      expect((await cp(file, "ro:/rw/")).code).toBe(0);
      expect(fs.readdirSync(path.join(root.dir, "volumes", "rw-vol", "_data"))).toEqual([`${unique}-ro`]);
    });
  });

  it("removes the stand-in of a stopped container that a killed copy left behind", async () => {
    const id = (await root.run(["create", "--name", "victim", "busybox", "true"])).stdout.trim();
    // A copy from stdin that waits for its input forever, through the stand-in.
    const copy = root.spawn(["cp", "-", "victim:/tmp"]);
    const standIn = await eventually("the stand-in", () => fs.readdirSync(path.join(root.dir, "runtime")).find((n) => n.startsWith(`${id}-cp-`)));
    await eventually("its monitor", () => (processesWith(standIn).length > 0 ? true : undefined));
    copy.kill("SIGKILL");
    await new Promise((resolve) => copy.on("close", resolve));
    await sleep(200);
    expect(processesWith(standIn).length).toBeGreaterThan(0); // left behind: its monitor and init wait for START
    // The next copy on this root removes it, and works.
    expect((await cp("victim:/etc/hostname", "-")).code).toBe(0);
    expect(processesWith(standIn)).toEqual([]);
    expect(fs.existsSync(path.join(root.dir, "runtime", standIn))).toBe(false);
    expect(fs.readdirSync(path.join(root.dir, "tmp")).filter((n) => n.startsWith("cp-"))).toEqual([]);
    for (const hierarchy of fs.readdirSync("/sys/fs/cgroup")) {
      expect(fs.existsSync(path.join("/sys/fs/cgroup", hierarchy, "tsrun", standIn)), hierarchy).toBe(false);
    }
  });

  it("left the host directory the links name as it was", () => {
    expect(fs.readdirSync(hostDir)).toEqual(["secret"]);
    expect(fs.readFileSync(path.join(hostDir, "secret"), "utf8")).toBe("host secret\n");
  });
});

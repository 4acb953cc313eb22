/**
 * Ownership across user namespaces: every container has its own host id range, and volumes
 * and binds are idmapped into it, so root's files are root's in every container and 0:0 on
 * the host, and nothing on the host is ever chowned. Filesystems that cannot be idmapped
 * (proc, sysfs…) under a recursive bind are bound unmapped instead of failing the start.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("volumes-userns.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("volume ownership under the user namespace", () => {
  let root: TestRoot;
  let hostDir: string;
  const tsrun = (...args: string[]) => root.run(args);
  /** The host uid the container's root is (first line of its uid_map). */
  const hostRootOf = (uidMap: string) => Number(uidMap.trim().split(/\s+/)[1]);

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-vol-userns-"));
  });
  afterAll(() => {
    root?.destroy();
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("what root writes in one container is root's in the next, and 0:0 on disk", async () => {
    // A runs on while B starts, so the two cannot share an id range.
    const a = await tsrun("run", "-d", "-v", "owned:/v", "busybox", "sh", "-c",
      "mkdir /v/dir && echo a > /v/dir/file && chmod 600 /v/dir/file && cat /proc/self/uid_map > /v/a-map && sleep 60");
    expect(a.code).toBe(0);
    const data = path.join(root.dir, "volumes", "owned", "_data");
    for (let i = 0; i < 100 && !fs.existsSync(path.join(data, "a-map")); i++) await new Promise((r) => setTimeout(r, 50));
    const b = await tsrun("run", "--rm", "-v", "owned:/v", "busybox", "sh", "-c",
      "stat -c '%u:%g %a %n' /v/dir /v/dir/file; cat /v/dir/file; echo b >> /v/dir/file && echo appended; cat /proc/self/uid_map");
    expect(b.code).toBe(0);
    const lines = b.stdout.trim().split("\n");
    expect(lines.slice(0, 4)).toEqual(["0:0 755 /v/dir", "0:0 600 /v/dir/file", "a", "appended"]);
    const aRoot = hostRootOf(fs.readFileSync(path.join(data, "a-map"), "utf8"));
    const bRoot = hostRootOf(lines[4]!);
    expect(aRoot).toBeGreaterThan(0);
    expect(bRoot).toBeGreaterThan(0);
    expect(bRoot).not.toBe(aRoot);
    for (const p of ["dir", "dir/file", "a-map"]) {
      const st = fs.statSync(path.join(data, p));
      expect([p, st.uid, st.gid]).toEqual([p, 0, 0]);
    }
    expect((await tsrun("rm", "-f", a.stdout.trim())).code).toBe(0);
    expect((await tsrun("volume", "rm", "owned")).code).toBe(0);
  });

  it("a host bind looks as the host's root sees it and is the container root's to write, never chowned", async () => {
    const dir = path.join(hostDir, "bind");
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "root-file"), "host\n", { mode: 0o644 });
    fs.writeFileSync(path.join(dir, "user-file"), "user\n");
    fs.chownSync(path.join(dir, "user-file"), 1234, 1234);
    const before = (p: string) => {
      const st = fs.statSync(path.join(dir, p));
      return [st.uid, st.gid, st.mode, st.ctimeMs];
    };
    const untouched = before("user-file");
    const r = await tsrun("run", "--rm", "-v", `${dir}:/b`, "busybox", "sh", "-c",
      "stat -c '%u:%g %n' /b /b/root-file /b/user-file; echo more >> /b/root-file && mkdir /b/made && echo done");
    expect(r).toMatchObject({ code: 0, stdout: "0:0 /b\n0:0 /b/root-file\n1234:1234 /b/user-file\ndone\n" });
    expect(fs.readFileSync(path.join(dir, "root-file"), "utf8")).toBe("host\nmore\n");
    const made = fs.statSync(path.join(dir, "made"));
    expect([made.uid, made.gid]).toEqual([0, 0]);
    // Not chowned: not even to the same owner (that would move ctime).
    expect(before("user-file")).toEqual(untouched);
    const top = fs.statSync(dir);
    expect([top.uid, top.gid, top.mode & 0o7777]).toEqual([0, 0, 0o755]);
  });

  it("binds proc and sysfs under a recursive bind unmapped, and everything else idmapped", () => {
    // Our own mounts in a private mount namespace: the host's table never sees them.
    const src = path.join(hostDir, "tree");
    fs.mkdirSync(src);
    const script = [
      `mount -t tmpfs top ${src}`,
      `mkdir ${src}/proc ${src}/sys ${src}/data`,
      `mount -t proc proc ${src}/proc`,
      `mount -t sysfs sysfs ${src}/sys`,
      `mount -t tmpfs data ${src}/data`,
      `echo x > ${src}/data/f`,
      root.commandLine(["run", "--rm", "-v", `${src}:/h`, "busybox", "sh", "-c",
        "stat -c '%u %n' /h /h/data/f /h/proc/1 /h/sys/kernel; echo y >> /h/data/f && cat /h/data/f; " +
        "(echo t > /h/proc/sys/kernel/hostname) 2>/dev/null || echo proc-refused"]),
    ].join(" && ");
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("0 /h\n0 /h/data/f\n65534 /h/proc/1\n65534 /h/sys/kernel\nx\ny\nproc-refused\n");
    // Unmounted with the namespace: the source is an empty directory again.
    expect(fs.readdirSync(src)).toEqual([]);
  });
});

/**
 * `tsrun cp` with Docker's semantics, from real containers on a private root: files and
 * directories both ways, `SRC/.`, a trailing `/`, a destination made or not, the tar stream
 * `-` both ways, -a and -L, running and stopped containers, Docker's errors and messages,
 * and the summary line on a terminal. What lands inside a container is checked from inside
 * it (a container that runs a script once it is told to, or `start -a` of a stopped one).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { tarOf } from "../unit/image-fixtures.js";
import { eventually } from "./lifecycle-helpers.js";

if (!isRoot) console.warn("cp-copy.test.ts: skipped, integration tests need root");

/** Runs tsrun and keeps stdout as bytes (a tar). */
function runRaw(root: TestRoot, args: string[], input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = root.spawn(args);
    const out: Buffer[] = [];
    let err = "";
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin!.end(input);
  });
}

/** `tar tv` of a tar, one "mode owner size name" line per member (GNU tar's numeric listing). */
function listTar(tar: Buffer): string[] {
  const r = spawnSync("tar", ["--numeric-owner", "-tvf", "-"], { input: tar, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/))
    .map((f) => `${f[0]} ${f[1]} ${f.slice(5).join(" ")}`);
}

describe.skipIf(!isRoot)("tsrun cp", () => {
  let root: TestRoot;
  let host: string;
  const cp = (...args: string[]) => root.run(["cp", ...args]);
  /** Where tests write on the host. */
  const h = (...p: string[]) => path.join(host, ...p);
  // Copies into containers go to paths the host lacks (or to this unique name, removed at
  // the end), so that even a broken cp could not leave anything on the host.
  const neverFile = `tsrun-cp-test-${process.pid}`;

  // A running container with a tree to copy out: /src/a (0640, fixed mtime), /src/link -> a,
  // /src/sub/b, /src/owned (1234:5678), /etc/tsrun-marker.
  const SETUP = [
    "mkdir -p /src/sub",
    "echo one > /src/a",
    "chmod 640 /src/a",
    "touch -d '2020-01-02 03:04:05' /src/a",
    "echo two > /src/sub/b",
    "ln -s a /src/link",
    "echo mine > /src/owned && chown 1234:5678 /src/owned",
    "dd if=/dev/zero of=/big bs=1048576 count=8 2>/dev/null",
    "mkdir -p /scratch/a",
    "echo ready",
  ].join(" && ");

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    host = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-cp-host-"));
    expect((await root.run(["run", "-d", "--name", "box", "busybox", "sh", "-c", `${SETUP} && exec sleep 1000`])).code).toBe(0);
    await eventually("the container's files", async () => ((await root.run(["logs", "box"])).stdout === "ready\n" ? true : undefined));
  });
  afterAll(() => {
    root?.destroy();
    if (host) fs.rmSync(host, { recursive: true, force: true });
    fs.rmSync(`/${neverFile}`, { force: true });
  });

  describe("out of a running container", () => {
    it("copies a file into a directory, or to a new name, keeping its mode and mtime", async () => {
      fs.mkdirSync(h("out1"));
      expect(await cp("box:/src/a", h("out1"))).toMatchObject({ code: 0, stdout: "", stderr: "" });
      const st = fs.statSync(h("out1", "a"));
      expect(fs.readFileSync(h("out1", "a"), "utf8")).toBe("one\n");
      expect((st.mode & 0o7777).toString(8)).toBe("640");
      expect(st.mtime.toISOString()).toBe("2020-01-02T03:04:05.000Z");
      expect((await cp("box:/src/a", h("out1", "renamed"))).code).toBe(0);
      expect(fs.readFileSync(h("out1", "renamed"), "utf8")).toBe("one\n");
      // Onto an existing file: it is replaced.
      fs.writeFileSync(h("out1", "existing"), "old content");
      expect((await cp("box:/src/sub/b", h("out1", "existing"))).code).toBe(0);
      expect(fs.readFileSync(h("out1", "existing"), "utf8")).toBe("two\n");
    });

    it("copies a directory: as DEST when it does not exist, into DEST when it does, its content with SRC/.", async () => {
      expect((await cp("box:/src", h("made"))).code).toBe(0);
      expect(fs.readdirSync(h("made")).sort()).toEqual(["a", "link", "owned", "sub"]);
      expect(fs.readlinkSync(h("made", "link"))).toBe("a");
      expect(fs.readFileSync(h("made", "sub", "b"), "utf8")).toBe("two\n");
      fs.mkdirSync(h("into"));
      expect((await cp("box:/src", h("into"))).code).toBe(0);
      expect(fs.readdirSync(h("into"))).toEqual(["src"]);
      fs.mkdirSync(h("content"));
      expect((await cp("box:/src/.", h("content"))).code).toBe(0);
      expect(fs.readdirSync(h("content")).sort()).toEqual(["a", "link", "owned", "sub"]);
      // A trailing "/" on SRC changes nothing for a directory.
      expect((await cp("box:/src/", h("slashed"))).code).toBe(0);
      expect(fs.readdirSync(h("slashed")).sort()).toEqual(["a", "link", "owned", "sub"]);
    });

    it("refuses a directory onto a file, a file into a missing directory, and a file onto a directory", async () => {
      fs.writeFileSync(h("plain"), "keep");
      expect(await cp("box:/src", h("plain"))).toMatchObject({ code: 1, stderr: "tsrun: cannot copy directory\n" });
      expect(fs.readFileSync(h("plain"), "utf8")).toBe("keep");
      expect(await cp("box:/src/a", h("nodir") + "/")).toMatchObject({ code: 1, stderr: "tsrun: no such directory\n" });
      expect(fs.existsSync(h("nodir"))).toBe(false);
      expect(await cp("box:/src/a", h("missing", "x"))).toMatchObject({
        code: 1,
        stderr: `tsrun: invalid output path: directory "${h("missing")}" does not exist\n`,
      });
      fs.mkdirSync(h("clash", "a"), { recursive: true });
      expect(await cp("box:/src/a", h("clash"))).toMatchObject({
        code: 1,
        stderr: `tsrun: cannot overwrite directory "${h("clash", "a")}" with non-directory "${h("clash")}"\n`,
      });
    });

    it("says what is missing: the file, or the container", async () => {
      expect(await cp("box:/nope", host)).toMatchObject({ code: 1, stderr: "Error response from daemon: Could not find the file /nope in container box\n" });
      expect(await cp("ghost:/etc/passwd", host)).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: ghost\n" });
    });

    it("copies a symlink as a symlink, and what it points to with -L (under the link's name)", async () => {
      fs.mkdirSync(h("links"));
      expect((await cp("box:/src/link", h("links"))).code).toBe(0);
      expect(fs.readlinkSync(h("links", "link"))).toBe("a");
      fs.mkdirSync(h("followed"));
      expect((await cp("-L", "box:/src/link", h("followed"))).code).toBe(0);
      expect(fs.lstatSync(h("followed", "link")).isFile()).toBe(true);
      expect(fs.readFileSync(h("followed", "link"), "utf8")).toBe("one\n");
    });

    it("gives the copy to the invoking user, or keeps the container's uid and gid with -a", async () => {
      fs.mkdirSync(h("owners"));
      expect((await cp("box:/src/owned", h("owners", "plain"))).code).toBe(0);
      expect((await cp("-a", "box:/src/owned", h("owners", "archived"))).code).toBe(0);
      const plain = fs.statSync(h("owners", "plain"));
      const archived = fs.statSync(h("owners", "archived"));
      expect([plain.uid, plain.gid]).toEqual([0, 0]);
      expect([archived.uid, archived.gid]).toEqual([1234, 5678]);
    });

    it("writes a tar of SRC to stdout with -, as the container sees it", async () => {
      const r = await runRaw(root, ["cp", "box:/src", "-"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(listTar(r.stdout)).toEqual([
        "drwxr-xr-x 0/0 src/",
        "-rw-r----- 0/0 src/a",
        "lrwxrwxrwx 0/0 src/link -> a",
        "-rw-r--r-- 1234/5678 src/owned",
        "drwxr-xr-x 0/0 src/sub/",
        "-rw-r--r-- 0/0 src/sub/b",
      ]);
      const dot = await runRaw(root, ["cp", "box:/src/.", "-"]);
      expect(listTar(dot.stdout)[0]).toBe("drwxr-xr-x 0/0 ./");
      expect(listTar(dot.stdout)).toContain("-rw-r----- 0/0 ./a");
    });

    it("stops quietly when the reader of - goes away, as docker does on SIGPIPE", async () => {
      const child = root.spawn(["cp", "box:/big", "-"]);
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdout!.once("data", () => child.stdout!.destroy());
      const code = await new Promise((resolve) => child.on("close", resolve));
      expect({ code, stderr }).toEqual({ code: 141, stderr: "" });
    });
  });

  describe("into a running container", () => {
    it("copies files and directories with Docker's naming, owned by the container's root unless -a", async () => {
      const script = "cd /dst && find . | sort && ls -ln one archived tree/f plain-dir/f && cat renamed tree/f";
      expect((await root.run(["run", "-d", "--name", "sink", "busybox", "sh", "-c", `mkdir -p /dst/existing; while [ ! -e /go ]; do sleep 0.05; done; ${script}`])).code).toBe(0);
      fs.mkdirSync(h("in", "tree"), { recursive: true });
      fs.writeFileSync(h("in", "one"), "1\n");
      fs.writeFileSync(h("in", "tree", "f"), "tree file\n");
      fs.chownSync(h("in", "one"), 1234, 5678);
      fs.chownSync(h("in", "tree", "f"), 1234, 5678);
      await eventually("the sink's /dst", async () => ((await cp("sink:/dst/existing", "-")).code === 0 ? true : undefined));
      expect(await cp(h("in", "one"), "sink:/dst/")).toMatchObject({ code: 0, stdout: "", stderr: "" });
      expect((await cp("-a", h("in", "one"), "sink:/dst/archived")).code).toBe(0);
      expect((await cp(h("in", "one"), "sink:/dst/renamed")).code).toBe(0);
      expect((await cp(h("in", "tree"), "sink:/dst/")).code).toBe(0); // into /dst: /dst/tree
      expect((await cp(h("in", "tree"), "sink:/dst/plain-dir")).code).toBe(0); // made: /dst/plain-dir
      expect((await cp(h("in", "tree") + "/.", "sink:/dst/existing")).code).toBe(0); // content: /dst/existing/f
      fs.writeFileSync(h("in", "go"), "");
      expect((await cp(h("in", "go"), "sink:/go")).code).toBe(0);
      expect((await root.run(["wait", "sink"])).stdout).toBe("0\n");
      const out = (await root.run(["logs", "sink"])).stdout.split("\n");
      expect(out.slice(0, 10)).toEqual([".", "./archived", "./existing", "./existing/f", "./one", "./plain-dir", "./plain-dir/f", "./renamed", "./tree", "./tree/f"]);
      const owners = out.filter((l) => l.startsWith("-")).map((l) => l.split(/\s+/).slice(2, 4).join(":") + " " + l.split(/\s+/).pop());
      expect(owners).toEqual(["1234:5678 archived", "0:0 one", "0:0 plain-dir/f", "0:0 tree/f"]);
      expect(out.slice(-3)).toEqual(["1", "tree file", ""]);
    });

    it("refuses with Docker's messages and leaves the container as it was", async () => {
      expect((await root.run(["run", "-d", "--name", "strict", "busybox", "sh", "-c", "mkdir -p /d/sub && exec sleep 1000"])).code).toBe(0);
      await eventually("the container's /d", async () => ((await cp("strict:/d/sub", "-")).code === 0 ? true : undefined));
      fs.mkdirSync(h("strict"));
      fs.writeFileSync(h("strict", "sub"), "x");
      fs.mkdirSync(h("strict", "dir"));
      expect(await cp(h("strict", "dir"), "strict:/etc/passwd")).toMatchObject({ code: 1, stderr: "tsrun: cannot copy directory\n" });
      expect(await cp(h("strict", "sub"), "strict:/nodir/")).toMatchObject({ code: 1, stderr: "tsrun: no such directory\n" });
      expect(await cp(h("strict", "sub"), "strict:/missing/x")).toMatchObject({ code: 1, stderr: "Error response from daemon: Could not find the file /missing in container strict\n" });
      expect(await cp(h("strict", "sub"), "strict:/d")).toMatchObject({
        code: 1,
        stderr: 'Error response from daemon: cannot overwrite directory "/d/sub" with non-directory "/d"\n',
      });
      expect(await cp(h("strict", "sub"), "strict:/dev/null")).toMatchObject({
        code: 1,
        stderr: 'tsrun: destination "strict:/dev/null" must be a directory or a regular file: got a device\n',
      });
      expect(await cp(h("strict", "nope"), "strict:/d")).toMatchObject({ code: 1, stderr: `tsrun: lstat ${h("strict", "nope")}: no such file or directory\n` });
      const listing = await runRaw(root, ["cp", "strict:/d", "-"]);
      expect(listTar(listing.stdout)).toEqual(["drwxr-xr-x 0/0 d/", "drwxr-xr-x 0/0 d/sub/"]);
    });

    it("copies a local symlink as a symlink, and what it points to with -L", async () => {
      fs.mkdirSync(h("local-links"));
      fs.writeFileSync(h("local-links", "target"), "pointed at\n");
      fs.symlinkSync("target", h("local-links", "ln"));
      expect((await cp(h("local-links", "ln"), "box:/scratch/")).code).toBe(0);
      expect((await cp("-L", h("local-links", "ln"), "box:/scratch/followed")).code).toBe(0);
      expect(listTar((await runRaw(root, ["cp", "box:/scratch/ln", "-"])).stdout)).toEqual(["lrwxrwxrwx 0/0 ln -> target"]);
      const followed = await runRaw(root, ["cp", "box:/scratch/followed", "-"]);
      expect(listTar(followed.stdout)).toEqual(["-rw-r--r-- 0/0 followed"]);
    });

    it("extracts a tar stream from stdin with - into a directory (gzip too), and only into one", async () => {
      const tar = await tarOf([
        { name: "t/", type: "directory", mode: 0o750 },
        { name: "t/f", body: "from a tar\n", uid: 42, gid: 43 },
        { name: "t/l", type: "symlink", linkname: "f" },
      ]);
      expect((await runRaw(root, ["cp", "-", "box:/scratch"], tar)).code).toBe(0);
      const back = await runRaw(root, ["cp", "box:/scratch/t", "-"]);
      expect(listTar(back.stdout)).toEqual(["drwxr-x--- 0/0 t/", "-rw-r--r-- 0/0 t/f", "lrwxrwxrwx 0/0 t/l -> f"]);
      const gz = execFileSync("gzip", ["-c"], { input: tar });
      expect((await runRaw(root, ["cp", "-a", "-", "box:/scratch/a"], gz)).code).toBe(0);
      expect(listTar((await runRaw(root, ["cp", "box:/scratch/a/t/f", "-"])).stdout)).toEqual(["-rw-r--r-- 42/43 f"]);
      expect(await runRaw(root, ["cp", "-", "box:/etc/passwd"], tar)).toMatchObject({ code: 1, stderr: 'tsrun: destination "box:/etc/passwd" must be a directory\n' });
      expect(await runRaw(root, ["cp", "-", "box:/no/such"], tar)).toMatchObject({ code: 1, stderr: 'tsrun: destination "box:/no/such" must be a directory\n' });
      const bad = await runRaw(root, ["cp", "-", "box:/scratch"], Buffer.alloc(2048, 0x41));
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^Error response from daemon: Invalid tar header/);
    });
  });

  describe("with a stopped container", () => {
    it("copies in and out of a created container whose command does not even exist", async () => {
      const id = (await root.run(["create", "--name", "never", "busybox", "no-such-command"])).stdout.trim();
      fs.writeFileSync(h("never-in"), "into a created container\n");
      expect((await cp(h("never-in"), `never:/${neverFile}`)).code).toBe(0);
      expect((await cp(`never:/${neverFile}`, h("never-out"))).code).toBe(0);
      expect(fs.readFileSync(h("never-out"), "utf8")).toBe("into a created container\n");
      const ps = await root.run(["ps", "-a", "--filter", "name=never", "--format", "{{.Status}}"]);
      expect(ps.stdout).toMatch(/^Created/);
      // The stand-in the copy went through is gone, and so is everything of it.
      expect(fs.readdirSync(path.join(root.dir, "runtime")).filter((n) => n.startsWith(id))).toEqual([]);
      expect(fs.readdirSync(path.join(root.dir, "tmp")).filter((n) => n.startsWith("cp-"))).toEqual([]);
      for (const hierarchy of fs.readdirSync("/sys/fs/cgroup")) {
        const dir = path.join("/sys/fs/cgroup", hierarchy, "tsrun");
        const left = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith(`${id}-cp-`)) : [];
        expect(left, hierarchy).toEqual([]);
      }
    });

    it("copies into an exited container, which then sees the files when started", async () => {
      const script = "mkdir -p /in; cat /in/in.txt 2>/dev/null; ls -ln /in/in.txt 2>/dev/null | awk '{print $3\":\"$4}'; true";
      expect((await root.run(["run", "--name", "done", "busybox", "sh", "-c", script])).stdout).toBe("");
      fs.writeFileSync(h("in.txt"), "after exit\n");
      fs.chownSync(h("in.txt"), 1000, 1000);
      expect((await cp(h("in.txt"), "done:/in/")).code).toBe(0);
      expect((await root.run(["start", "-a", "done"])).stdout).toBe("after exit\n0:0\n");
      expect((await cp("-a", h("in.txt"), "done:/in/")).code).toBe(0);
      expect((await root.run(["start", "-a", "done"])).stdout).toBe("after exit\n1000:1000\n");
    });
  });

  describe("on a terminal", () => {
    const onTerminal = (args: string[]) =>
      execFileSync("script", ["-qec", root.commandLine(["cp", ...args]), "/dev/null"], { encoding: "utf8", input: "" }).replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "");

    it("says what was copied and what the transfer amounted to, as docker/cli does", async () => {
      const out = onTerminal(["box:/src/a", h("tty-a")]);
      expect(out).toContain(`Successfully copied 4B (transferred 2.05kB) to ${h("tty-a")}\r\n`);
      // A directory: the size is the tar's (six entries, two with a block of data, the end).
      expect(onTerminal(["box:/src", h("tty-dir")])).toContain(`Successfully copied 5.63kB to ${h("tty-dir")}\r\n`);
      fs.writeFileSync(h("tty-in"), "12345");
      expect(onTerminal([h("tty-in"), "box:/scratch/"])).toContain("Successfully copied 5B (transferred 2.05kB) to box:/scratch/\r\n");
      expect(onTerminal(["-q", "box:/src/a", h("tty-quiet")])).not.toContain("Successfully");
      expect(fs.readFileSync(h("tty-quiet"), "utf8")).toBe("one\n");
    });
  });

  it("takes exactly two arguments, one of them in a container", async () => {
    expect(await cp("box:/src")).toMatchObject({ code: 125, stderr: expect.stringContaining('"tsrun cp" requires exactly 2 arguments.') });
    expect(await cp(host, h("x"))).toMatchObject({ code: 1, stderr: "tsrun: must specify at least one container source\n" });
    expect(await cp("box:/a", "box:/b")).toMatchObject({ code: 1, stderr: "tsrun: copying between containers is not supported\n" });
    expect(await cp("", "box:/b")).toMatchObject({ code: 1, stderr: "tsrun: source can not be empty\n" });
  });
});

/**
 * `tsrun volume …` end to end through the built CLI on a private root: Docker's output,
 * messages and exit statuses; "in use" from a container record's Mounts (a fake record
 * here, which is fast; volumes-run.test.ts has real containers).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("volumes-cli.test.ts: skipped, integration tests need root");

const FAKE_ID = "f".repeat(63) + "0";

describe.skipIf(!isRoot)("tsrun volume", () => {
  let root: TestRoot;
  const tsrun = (...args: string[]) => root.run(args);

  /** A container record that uses `names` (the shape run/create will write). */
  function fakeContainerUsing(...names: string[]): void {
    const dir = path.join(root.dir, "containers", FAKE_ID);
    fs.mkdirSync(dir, { recursive: true });
    const Mounts = names.map((n) => ({
      Type: "volume",
      Name: n,
      Source: path.join(root.dir, "volumes", n, "_data"),
      Destination: `/mnt/${n}`,
      Driver: "local",
      Mode: "z",
      RW: true,
      Propagation: "",
    }));
    fs.writeFileSync(path.join(dir, "container.json"), JSON.stringify({ Id: FAKE_ID, Mounts }));
  }

  beforeAll(() => {
    root = new TestRoot();
  });
  afterEach(() => fs.rmSync(path.join(root.dir, "containers", FAKE_ID), { recursive: true, force: true }));
  afterAll(() => root?.destroy());

  it("creates named and anonymous volumes, 0:0 and 0755 on disk", async () => {
    const named = await tsrun("volume", "create", "--label", "tier=db", "--label", "empty", "-o", "type=tmpfs", "-o", "device=tmpfs", "db-data");
    expect(named).toMatchObject({ code: 0, stdout: "db-data\n", stderr: "" });
    const anon = await tsrun("volume", "create");
    expect(anon.code).toBe(0);
    expect(anon.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    const data = path.join(root.dir, "volumes", anon.stdout.trim(), "_data");
    const st = fs.statSync(data);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o755]);
    // Creating an existing volume gives it back.
    expect(await tsrun("volume", "create", "db-data")).toMatchObject({ code: 0, stdout: "db-data\n" });
    expect(await tsrun("volume", "create", "--name", "via-flag")).toMatchObject({ code: 0, stdout: "via-flag\n" });
    await tsrun("volume", "rm", anon.stdout.trim(), "via-flag");
  });

  it("refuses what Docker refuses", async () => {
    const bad = await tsrun("volume", "create", "a/b");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `Error response from daemon: create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path\n`,
    );
    expect(await tsrun("volume", "create", "-d", "nfs", "v9")).toMatchObject({
      code: 1,
      stderr: `Error response from daemon: create v9: error looking up volume plugin nfs: plugin "nfs" not found\n`,
    });
    expect(await tsrun("volume", "create", "-o", "colour=red", "v9")).toMatchObject({ code: 1, stderr: `Error response from daemon: create v9: invalid option: "colour"\n` });
    const two = await tsrun("volume", "create", "v8", "v9");
    expect(two.code).toBe(125);
    expect(two.stderr).toContain(`"tsrun volume create" requires at most 1 argument.`);
    expect(fs.existsSync(path.join(root.dir, "volumes", "v9"))).toBe(false);
  });

  it("inspects as a JSON array (4-space indent, Docker's fields and order)", async () => {
    const r = await tsrun("volume", "inspect", "db-data");
    expect(r.code).toBe(0);
    const [v] = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(Object.keys(v!)).toEqual(["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    expect(v).toMatchObject({
      Driver: "local",
      Labels: { empty: "", tier: "db" },
      Mountpoint: path.join(root.dir, "volumes", "db-data", "_data"),
      Name: "db-data",
      Options: { device: "tmpfs", type: "tmpfs" },
      Scope: "local",
    });
    expect(r.stdout).toMatch(/^\[\n {4}\{\n {8}"CreatedAt": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)",\n/);
    expect((await tsrun("volume", "inspect", "-f", "{{.Name}} {{.Labels.tier}} {{json .Options}}", "db-data")).stdout).toBe(
      'db-data db {"device":"tmpfs","type":"tmpfs"}\n',
    );
    const missing = await tsrun("volume", "inspect", "nope");
    expect(missing).toMatchObject({ code: 1, stdout: "[]\n", stderr: "Error response from daemon: get nope: no such volume\n" });
  });

  it("lists with Docker's table, -q, filters and formats", async () => {
    for (const n of ["vol10", "vol9", "other"]) await tsrun("volume", "create", n);
    fakeContainerUsing("vol9");
    expect((await tsrun("volume", "ls")).stdout).toBe(
      "DRIVER    VOLUME NAME\nlocal     db-data\nlocal     other\nlocal     vol9\nlocal     vol10\n",
    );
    expect((await tsrun("volume", "ls", "-q", "-f", "dangling=true", "-f", "name=vol")).stdout).toBe("vol10\n");
    expect((await tsrun("volume", "ls", "-q", "--filter", "dangling=false")).stdout).toBe("vol9\n");
    expect((await tsrun("volume", "ls", "-q", "-f", "label=tier=db")).stdout).toBe("db-data\n");
    expect((await tsrun("volume", "ls", "--format", "{{.Name}}:{{.Driver}}", "-f", "name=^o")).stdout).toBe("other:local\n");
    expect((await tsrun("volume", "ls", "--format", "table {{.Name}}\\t{{.Scope}}", "-f", "name=other")).stdout).toBe(
      "VOLUME NAME   SCOPE\nother         local\n",
    );
    const json = (await tsrun("volume", "ls", "--format", "json", "-f", "name=db-data")).stdout;
    expect(JSON.parse(json)).toMatchObject({ Name: "db-data", Driver: "local", Labels: "empty=,tier=db", Scope: "local" });
    const bad = await tsrun("volume", "ls", "-f", "dangling");
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('invalid argument "dangling" for "-f, --filter" flag: bad format of filter (expected name=value)');
    expect(await tsrun("volume", "ls", "-f", "colour=red")).toMatchObject({ code: 1, stderr: "Error response from daemon: invalid filter 'colour'\n" });
  });

  it("removes unused volumes, refuses one a container uses, names the missing", async () => {
    fakeContainerUsing("vol9");
    const inUse = await tsrun("volume", "rm", "vol9");
    expect(inUse).toMatchObject({ code: 1, stdout: "", stderr: `Error response from daemon: remove vol9: volume is in use - [${FAKE_ID}]\n` });
    const forced = await tsrun("volume", "rm", "-f", "vol9");
    expect(forced.code).toBe(1); // -f does not override "in use", as in Docker
    expect(fs.existsSync(path.join(root.dir, "volumes", "vol9", "_data"))).toBe(true);
    const mixed = await tsrun("volume", "rm", "vol10", "nope", "other");
    expect(mixed).toMatchObject({ code: 1, stdout: "vol10\nother\n", stderr: "Error response from daemon: get nope: no such volume\n" });
    expect(await tsrun("volume", "rm", "-f", "nope")).toMatchObject({ code: 0, stdout: "nope\n" });
    expect(fs.existsSync(path.join(root.dir, "volumes", "vol10"))).toBe(false);
  });

  it("prunes unused anonymous volumes after asking, all unused ones with -a", async () => {
    const a1 = (await tsrun("volume", "create")).stdout.trim();
    const a2 = (await tsrun("volume", "create")).stdout.trim();
    fs.writeFileSync(path.join(root.dir, "volumes", a1, "_data", "f"), "x".repeat(36));
    fakeContainerUsing(a2, "vol9");

    const no = await root.run(["volume", "prune"], { input: "n\n" });
    expect(no).toMatchObject({
      code: 0,
      stdout: "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ",
    });
    expect(fs.existsSync(path.join(root.dir, "volumes", a1))).toBe(true);

    const yes = await root.run(["volume", "prune"], { input: "y\n" });
    expect(yes.code).toBe(0);
    expect(yes.stdout).toBe(
      "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] " +
        `Deleted Volumes:\n${a1}\n\nTotal reclaimed space: 36B\n`,
    );
    expect(fs.existsSync(path.join(root.dir, "volumes", a2))).toBe(true);

    expect((await tsrun("volume", "prune", "-f")).stdout).toBe("Total reclaimed space: 0B\n");
    expect((await tsrun("volume", "prune", "-f", "-a", "--filter", "label=tier=web")).stdout).toBe("Total reclaimed space: 0B\n");
    await tsrun("volume", "create", "named-unused");
    const all = await root.run(["volume", "prune", "-a"], { input: "y\n" });
    expect(all.stdout).toBe(
      "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] " +
        "Deleted Volumes:\nnamed-unused\n\nTotal reclaimed space: 0B\n",
    );
    // db-data has mount options: Docker's prune leaves those (they hold no data of their own).
    expect((await tsrun("volume", "ls", "-q")).stdout.trim().split("\n").sort()).toEqual([a2, "db-data", "vol9"].sort());
    expect(await tsrun("volume", "prune", "-f", "-a", "--filter", "all=1")).toMatchObject({
      code: 1,
      stderr: "conflicting options: cannot specify both --all and --filter all=1\n",
    });
  });
});

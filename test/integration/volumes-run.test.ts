/**
 * Volumes, binds and tmpfs in real containers through the CLI: data shared and kept, what
 * rm -v, --rm and the prunes take, --read-only, tmpfs options, copy-up from the image,
 * --volumes-from, inspect and system df.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { loadDerivedImage } from "./volumes-fixtures.js";

if (!isRoot) console.warn("volumes-run.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("containers with volumes", () => {
  let root: TestRoot;
  let hostDir: string;
  const tsrun = (...args: string[]) => root.run(args);
  const volumes = async () => (await tsrun("volume", "ls", "-q")).stdout.split("\n").filter(Boolean).sort();
  const ok = (r: { code: number | null; stderr: string }) => {
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  };

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-vol-host-"));
    await loadDerivedImage(root, {
      tag: "seeded",
      files: [
        { name: "data/", type: "directory", mode: 0o750 },
        { name: "data/seed", body: "from the image\n" },
        { name: "etc/app/", type: "directory" },
        { name: "etc/app/app.conf", body: "conf=1\n" },
      ],
      volumes: ["/data"],
    });
  });
  afterAll(() => {
    root?.destroy();
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("shares a named volume between containers, concurrently, and keeps it after both are gone", async () => {
    const waiter = await tsrun("run", "-d", "--name", "waiter", "-v", "shared:/s", "busybox", "sh", "-c",
      "while [ ! -f /s/ping ]; do sleep 0.05; done; echo pong > /s/pong");
    ok(waiter);
    const pinger = await tsrun("run", "--rm", "-v", "shared:/s", "busybox", "sh", "-c",
      "echo ping > /s/ping; i=0; while [ ! -f /s/pong ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; cat /s/pong");
    expect(pinger).toMatchObject({ code: 0, stdout: "pong\n" });
    expect((await tsrun("wait", "waiter")).stdout).toBe("0\n");
    ok(await tsrun("rm", "-v", "waiter"));
    // Named volumes outlive their containers, rm -v included.
    expect(await volumes()).toContain("shared");
    expect(await tsrun("run", "--rm", "-v", "shared:/s:ro", "busybox", "cat", "/s/ping", "/s/pong")).toMatchObject({
      code: 0,
      stdout: "ping\npong\n",
    });
    ok(await tsrun("volume", "rm", "shared"));
  });

  it("removes anonymous volumes with --rm and rm -v, keeps them with rm, never takes named ones", async () => {
    const before = await volumes();
    // Foreground --rm: -v /anon, --mount without source, the image's VOLUME; the named one stays.
    ok(await tsrun("run", "--rm", "-v", "/anon", "--mount", "type=volume,dst=/anon2", "-v", "keep:/keep", "seeded", "true"));
    expect(await volumes()).toEqual([...before, "keep"].sort());
    // Detached --rm: removed by whoever notices the exit.
    const d = await tsrun("run", "-d", "--rm", "-v", "/anon", "seeded", "true");
    ok(d);
    await tsrun("wait", d.stdout.trim());
    for (let i = 0; i < 100 && (await volumes()).length > before.length + 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await volumes()).toEqual([...before, "keep"].sort());

    // rm without -v keeps them; rm -v removes them, but not one another container still uses.
    const kept = (await tsrun("create", "-v", "/a", "-v", "keep:/keep", "busybox", "true")).stdout.trim();
    ok(await tsrun("rm", kept));
    const orphans = (await volumes()).filter((v) => !before.includes(v) && v !== "keep");
    expect(orphans).toHaveLength(1);
    ok(await tsrun("volume", "rm", orphans[0]!));
    const first = (await tsrun("create", "--name", "first", "-v", "/a", "busybox", "true")).stdout.trim();
    const anon = (await volumes()).find((v) => !before.includes(v) && v !== "keep")!;
    const second = (await tsrun("create", "--volumes-from", "first", "busybox", "true")).stdout.trim();
    expect((await tsrun("rm", "-v", first)).code).toBe(0);
    expect(await volumes()).toContain(anon);
    ok(await tsrun("rm", "-v", second));
    expect(await volumes()).toEqual([...before, "keep"].sort());
    ok(await tsrun("volume", "rm", "keep"));
  });

  it("prunes unused anonymous volumes only, all unused ones with -a; system prune --volumes as Docker", async () => {
    ok(await tsrun("volume", "create", "named-unused"));
    ok(await tsrun("volume", "create", "named-used"));
    const user = (await tsrun("create", "-v", "named-used:/u", "-v", "/anon-used", "busybox", "true")).stdout.trim();
    const gone = (await tsrun("create", "-v", "/anon-unused", "busybox", "true")).stdout.trim();
    ok(await tsrun("rm", gone));
    const anonUsed = (await tsrun("inspect", "-f", "{{range .Mounts}}{{if eq .Destination \"/anon-used\"}}{{.Name}}{{end}}{{end}}", user)).stdout.trim();
    const anonUnused = (await volumes()).filter((v) => /^[0-9a-f]{64}$/.test(v) && v !== anonUsed);
    expect(anonUnused).toHaveLength(1);

    const pruned = await tsrun("volume", "prune", "-f");
    expect(pruned).toMatchObject({ code: 0, stdout: `Deleted Volumes:\n${anonUnused[0]}\n\nTotal reclaimed space: 0B\n` });
    expect(await volumes()).toEqual([anonUsed, "named-unused", "named-used"].sort());

    // system prune --volumes: the stopped container first, then its anonymous volume; named ones stay.
    const sys = await tsrun("system", "prune", "-f", "--volumes");
    expect(sys.code).toBe(0);
    expect(sys.stdout).toBe(`Deleted Containers:\n${user}\n\nDeleted Volumes:\n${anonUsed}\n\nTotal reclaimed space: 0B\n`);
    expect(await volumes()).toEqual(["named-unused", "named-used"]);
    // Without --volumes, system prune leaves volumes alone and does not mention them.
    const warn = await root.run(["system", "prune"], { input: "n\n" });
    expect(warn.stdout).not.toContain("volumes");
    const warnVolumes = await root.run(["system", "prune", "--volumes"], { input: "n\n" });
    expect(warnVolumes.stdout).toContain("  - all anonymous volumes not used by at least one container\n");

    const all = await tsrun("volume", "prune", "-af");
    expect(all.stdout).toBe("Deleted Volumes:\nnamed-unused\nnamed-used\n\nTotal reclaimed space: 0B\n");
    expect(await volumes()).toEqual([]);
  });

  it("--read-only: the rootfs refuses writes; volumes, binds and tmpfs take them", async () => {
    const r = await tsrun("run", "--rm", "--read-only", "-v", "rw-vol:/vol", "-v", `${hostDir}:/bind`, "--tmpfs", "/scratch",
      "--mount", "type=tmpfs,dst=/mnt/t", "busybox", "sh", "-c",
      "touch /x 2>/dev/null && echo rootfs-writable; for d in /vol /bind /scratch /mnt/t; do echo hi > $d/f && echo $d ok; done");
    expect(r).toMatchObject({ code: 0, stdout: "/vol ok\n/bind ok\n/scratch ok\n/mnt/t ok\n" });
    expect(fs.readFileSync(path.join(hostDir, "f"), "utf8")).toBe("hi\n");
    const id = (await tsrun("create", "--read-only", "busybox", "true")).stdout.trim();
    expect((await tsrun("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", id)).stdout).toBe("true\n");
    ok(await tsrun("rm", id));
    ok(await tsrun("volume", "rm", "rw-vol"));
  });

  it("mounts tmpfs with its size, mode and Docker's default options", async () => {
    const r = await tsrun("run", "--rm", "--tmpfs", "/t1:size=1m,mode=1777", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=2m,tmpfs-mode=0700",
      "--tmpfs", "/t3:exec", "busybox", "sh", "-c",
      "for t in /t1 /t2 /t3; do echo $t $(stat -c %a $t) $(df -k $t | tail -1 | awk '{print $2}') $(grep \" $t \" /proc/mounts | cut -d' ' -f4); done");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => l.split(" "));
    expect(lines.map(([t, mode, kb]) => [t, mode, kb])).toEqual([
      ["/t1", "1777", "1024"],
      ["/t2", "700", "2048"],
      ["/t3", "1777", lines[2]![2]],
    ]);
    for (const [, , , opts] of lines.slice(0, 2)) expect(opts!.split(",")).toEqual(expect.arrayContaining(["nosuid", "nodev", "noexec"]));
    expect(lines[2]![3]!.split(",")).not.toContain("noexec");
  });

  it("fills empty volumes from the image (named and the image's VOLUME), never with nocopy or when not empty", async () => {
    const r = await tsrun("run", "--rm", "-v", "appconf:/etc/app", "-v", "nocopy:/etc/app2:nocopy", "seeded", "sh", "-c",
      "cat /data/seed /etc/app/app.conf; stat -c %a /data; ls -A /etc/app2 | wc -l");
    expect(r).toMatchObject({ code: 0, stdout: "from the image\nconf=1\n750\n0\n" });
    const copied = path.join(root.dir, "volumes", "appconf", "_data");
    expect(fs.readFileSync(path.join(copied, "app.conf"), "utf8")).toBe("conf=1\n");
    // --mount volume-nocopy, and a volume that already holds data, are not filled.
    const n = await tsrun("run", "--rm", "--mount", "type=volume,src=nc2,dst=/etc/app,volume-nocopy", "seeded", "ls", "-A", "/etc/app");
    expect(n).toMatchObject({ code: 0, stdout: "" });
    fs.rmSync(path.join(copied, "app.conf"));
    fs.writeFileSync(path.join(copied, "mine"), "x");
    const again = await tsrun("run", "--rm", "-v", "appconf:/etc/app", "seeded", "ls", "/etc/app");
    expect(again).toMatchObject({ code: 0, stdout: "mine\n" });
    ok(await tsrun("volume", "rm", "appconf", "nocopy", "nc2"));
  });

  it("creates a missing -v bind source; --mount refuses it", async () => {
    const missing = path.join(hostDir, "made", "by-v");
    ok(await tsrun("run", "--rm", "-v", `${missing}:/m`, "busybox", "true"));
    const st = fs.statSync(missing);
    expect([st.isDirectory(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, 0, 0, 0o755]);
    const other = path.join(hostDir, "not-made");
    const r = await tsrun("run", "--rm", "--mount", `type=bind,src=${other},dst=/m`, "busybox", "true");
    expect(r).toMatchObject({ code: 125, stderr: `tsrun: invalid mount config for type "bind": bind source path does not exist: ${other}\n` });
    expect(fs.existsSync(other)).toBe(false);
  });

  it("takes another container's mounts with --volumes-from, read-only when asked", async () => {
    ok(await tsrun("create", "--name", "donor", "-v", "from-vol:/v", "-v", `${hostDir}:/h`, "--mount", "type=tmpfs,dst=/t", "busybox", "true"));
    const rw = await tsrun("run", "--rm", "--volumes-from", "donor", "busybox", "sh", "-c", "echo w > /v/f && grep -c \" /t tmpfs\" /proc/mounts && ls /h >/dev/null && echo ok");
    expect(rw).toMatchObject({ code: 0, stdout: "1\nok\n" });
    const ro = await tsrun("run", "--rm", "--volumes-from", "donor:ro", "busybox", "sh", "-c", "cat /v/f; touch /v/g 2>/dev/null || echo read-only");
    expect(ro).toMatchObject({ code: 0, stdout: "w\nread-only\n" });
    // An explicit mount wins over the donor's on the same destination.
    const over = await tsrun("run", "--rm", "--volumes-from", "donor", "-v", "other-vol:/v", "busybox", "ls", "/v");
    expect(over).toMatchObject({ code: 0, stdout: "" });
    ok(await tsrun("rm", "donor"));
    ok(await tsrun("volume", "rm", "from-vol", "other-vol"));
  });

  it("shows Docker's Mounts and HostConfig in inspect, and volumes in system df", async () => {
    const id = (
      await tsrun("create", "-v", "insp:/data:ro", "-v", `${hostDir}:/h`, "-v", "/anon", "--tmpfs", "/run:size=1m",
        "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576", "--read-only", "busybox", "true")
    ).stdout.trim();
    const doc = JSON.parse((await tsrun("inspect", id)).stdout)[0];
    const mounts = [...doc.Mounts].sort((a: { Destination: string }, b: { Destination: string }) => a.Destination.localeCompare(b.Destination));
    const anon = mounts[0].Name as string;
    expect(anon).toMatch(/^[0-9a-f]{64}$/);
    expect(mounts).toEqual([
      { Type: "volume", Name: anon, Source: path.join(root.dir, "volumes", anon, "_data"), Destination: "/anon", Driver: "local", Mode: "", RW: true, Propagation: "" },
      { Type: "volume", Name: "insp", Source: path.join(root.dir, "volumes", "insp", "_data"), Destination: "/data", Driver: "local", Mode: "ro", RW: false, Propagation: "" },
      { Type: "bind", Source: hostDir, Destination: "/h", Mode: "", RW: true, Propagation: "rprivate" },
      { Type: "tmpfs", Source: "", Destination: "/t", Mode: "", RW: true, Propagation: "" },
    ]);
    expect(doc.HostConfig.Binds).toEqual(["insp:/data:ro", `${hostDir}:/h`]);
    expect(doc.HostConfig.Tmpfs).toEqual({ "/run": "size=1m" });
    expect(doc.HostConfig.Mounts).toEqual([{ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 1048576 } }]);
    expect(doc.HostConfig.ReadonlyRootfs).toBe(true);
    expect(doc.Config.Volumes).toEqual({ "/anon": {} });
    const keys = Object.keys(doc.HostConfig);
    expect(keys.indexOf("Tmpfs")).toBe(keys.indexOf("SecurityOpt") + 1);
    expect(keys.indexOf("Mounts")).toBe(keys.indexOf("MaskedPaths") - 1);

    fs.writeFileSync(path.join(root.dir, "volumes", "insp", "_data", "f"), "12345");
    const df = await tsrun("system", "df");
    expect(df.code).toBe(0);
    expect(df.stdout.split("\n")[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(df.stdout).toMatch(/\nLocal Volumes\s+2\s+2\s+5B\s+0B \(0%\)\n/);
    const verbose = await tsrun("system", "df", "-v", "--format", "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}};{{end}}");
    expect(verbose.stdout.trim().split(";").filter(Boolean).sort()).toEqual([`${anon} 1 0B`, "insp 1 5B"].sort());
    ok(await tsrun("rm", "-v", id));
    expect((await tsrun("system", "df")).stdout).toMatch(/\nLocal Volumes\s+1\s+0\s+5B\s+5B \(100%\)\n/);
    ok(await tsrun("volume", "rm", "insp"));
  });

  it("refuses to remove a volume in use, running or not", async () => {
    const id = (await tsrun("run", "-d", "-v", "busy:/b", "busybox", "sleep", "60")).stdout.trim();
    for (const args of [["volume", "rm", "busy"], ["volume", "rm", "-f", "busy"]]) {
      expect(await tsrun(...args)).toMatchObject({ code: 1, stderr: `Error response from daemon: remove busy: volume is in use - [${id}]\n` });
    }
    ok(await tsrun("kill", id));
    await tsrun("wait", id);
    expect((await tsrun("volume", "rm", "busy")).stderr).toContain("volume is in use");
    expect((await tsrun("volume", "prune", "-af")).stdout).not.toContain("busy");
    ok(await tsrun("rm", id));
    expect(await tsrun("volume", "rm", "busy")).toMatchObject({ code: 0, stdout: "busy\n" });
  });
});

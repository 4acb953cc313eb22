/**
 * The native monitor and init end to end, as root: Plans driven directly through
 * launchMonitor + MonitorConnection on a busybox rootfs made from the host's static busybox.
 * Every container lives under one private temp dir, removed at the end even on failure.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { fn } from "../../src/linux/ffi.js";
import { InitError, launchMonitor, MonitorConnection, readExitRecord, readStartedAt } from "../../src/runtime/monitor-client.js";
import {
  HOST_BASE, MONITOR, alive, isRoot, killIfAlive, makeBusyboxLayer, makeContainerDirs, makePlan, makeTemp, runPlan, waitGone,
  type PlanOptions,
} from "./native-fixture.js";

if (!isRoot) console.warn("native-monitor.test.ts: skipped, integration tests need root");

const mountinfo = () => fs.readFileSync("/proc/self/mountinfo", "utf8");

describe.skipIf(!isRoot)("native monitor and init", () => {
  let tmp: string;
  let base: string; // busybox layer
  let top: string; // a layer above it: a whiteout and an opaque dir
  let n = 0;
  const pids: number[] = [];
  const track = (pid: number) => pids.push(pid);
  const hostFiles: string[] = [];

  const plan = (o: Partial<PlanOptions> & { args: string[] }) => {
    const dirs = makeContainerDirs(tmp, `c${++n}`);
    return makePlan({ lowers: [top, base], ...dirs, ...o });
  };
  const run = async (o: Partial<PlanOptions> & { args: string[] }, input?: string) => {
    return runPlan(plan(o), input, track);
  };

  beforeAll(() => {
    tmp = makeTemp();
    base = path.join(tmp, "layers", "base");
    top = path.join(tmp, "layers", "top");
    makeBusyboxLayer(base);
    fs.mkdirSync(path.join(base, "gone-dir"));
    fs.writeFileSync(path.join(base, "gone-dir", "old"), "old");
    fs.writeFileSync(path.join(base, "deleted"), "x");
    fs.mkdirSync(path.join(top, "gone-dir"), { recursive: true });
    fs.writeFileSync(path.join(top, "gone-dir", "new"), "new");
    // overlay's layer format: a whiteout is a 0/0 character device, an opaque dir has
    // user.overlay.opaque=y (read with userxattr).
    execFileSync("mknod", [path.join(top, "deleted"), "c", "0", "0"]);
    const setxattr = fn("int setxattr(const char *path, const char *name, const char *value, size_t size, int flags)");
    expect(setxattr(path.join(top, "gone-dir"), "user.overlay.opaque", "y", 1, 0)).toBe(0);
  });

  afterEach(() => killIfAlive(...pids.splice(0)));

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    for (const f of hostFiles) fs.rmSync(f, { force: true });
  });

  it("runs the command as PID 1 with its hostname, only lo, and the uid map", async () => {
    const r = await run({
      args: ["sh", "-c", "echo $$; hostname; ls /sys/class/net; cat /proc/self/uid_map; probe uid; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags"],
    });
    expect(r.stderr).toBe("");
    expect(r.status.exitCode).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("1");
    expect(lines[1]).toBe("tsrun-test");
    expect(lines[2]).toBe("lo");
    expect(lines[3]!.trim().split(/\s+/)).toEqual(["0", String(HOST_BASE), "65536"]);
    expect(lines[4]).toBe("uid=0 gid=0 groups=");
    expect(lines[5]).toBe("unknown"); // lo has no carrier state…
    expect(Number(lines[6]) & 1).toBe(1); // …but is IFF_UP
  });

  it("shows root-owned layer files as root and stores writes in upper/ as 0:0", async () => {
    const p = plan({ args: ["sh", "-c", "probe stat /bin/busybox; echo hi > /made; probe stat /made"] });
    const r = await runPlan(p, undefined, track);
    expect(r.stdout.trim().split("\n")).toEqual(["0 0 755", "0 0 644"]);
    const upper = (p.rootfs as { upperParent: string }).upperParent;
    const st = fs.statSync(path.join(upper, "upper", "made"));
    expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(fs.readFileSync(path.join(upper, "upper", "made"), "utf8")).toBe("hi\n");
  });

  it("honours whiteouts and opaque directories of the lower layers", async () => {
    const r = await run({ args: ["sh", "-c", "ls /deleted 2>&1; ls /gone-dir"] });
    expect(r.stdout).toContain("No such file or directory");
    expect(r.stdout.trim().split("\n").pop()).toBe("new");
  });

  it("leaves the host's mount table alone during and after the run", async () => {
    const before = mountinfo();
    const p = plan({ args: ["probe", "sleep-forever"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { cleanupOwner: true });
    await conn.start();
    expect(mountinfo()).toBe(before);
    conn.signal(9);
    const status = await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    expect(status.exitCode).toBe(137);
    expect(status.signal).toBe(9);
    expect(mountinfo()).toBe(before);
  });

  it("reports exit codes 0 and 3", async () => {
    expect((await run({ args: ["true"] })).status.exitCode).toBe(0);
    expect((await run({ args: ["sh", "-c", "exit 3"] })).status.exitCode).toBe(3);
  });

  it("fails a missing executable with exec-lookup ENOENT and a directory with EACCES", async () => {
    for (const [arg, errno] of [["nope", "ENOENT"], ["/etc", "EACCES"]] as const) {
      const p = plan({ args: [arg] });
      const err = await launchMonitor({ plan: p, monitorPath: MONITOR }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InitError);
      expect((err as InitError).step).toBe("exec-lookup");
      expect((err as InitError).errnoName).toBe(errno);
      expect((err as InitError).path).toBe(arg);
      expect(fs.existsSync(path.join(p.monitor.stateDir, "monitor.sock"))).toBe(false);
    }
  });

  it("keeps stdout and stderr apart and writes the json-file log", async () => {
    const logPath = path.join(tmp, "c-log.json");
    const r = await run({ args: ["sh", "-c", "echo out; echo err >&2; printf 'a\\nb'"], logPath });
    expect(r.stdout).toBe("out\na\nb");
    expect(r.stderr).toBe("err\n");
    const lines = fs.readFileSync(logPath, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
    const byStream = (s: string) => lines.filter((l) => l.stream === s).map((l) => l.log);
    expect(byStream("stdout")).toEqual(["out\n", "a\n", "b"]);
    expect(byStream("stderr")).toEqual(["err\n"]);
    for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  });

  it("forwards stdin and closes it on EOF (-i)", async () => {
    const r = await run({ args: ["probe", "cat"], stdin: true }, "hello\nworld\n");
    expect(r.stdout).toBe("hello\nworld\n");
    expect(r.stderr).toBe("EOF\n");
  });

  it("gives a terminal of the container's own devpts with the size and resizes (-t)", async () => {
    const p = plan({ args: ["sh", "-c", "probe isatty 0; probe winsize; read x; probe winsize"], terminal: { rows: 30, cols: 100 }, stdin: true });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { stdin: true, stdout: true, stderr: true, cleanupOwner: true });
    let out = "";
    let resized = false;
    conn.on("stdout", (b) => {
      out += b.toString();
      if (!resized && out.includes("30 100")) {
        resized = true;
        conn.resize(40, 120);
        conn.writeStdin(Buffer.from("go\n"));
      }
    });
    await conn.start();
    const status = await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    expect(status.exitCode).toBe(0);
    expect(out.replace(/\r/g, "").split("\n").filter((l) => /^(true|\d+ \d+)$/.test(l))).toEqual(["true", "30 100", "40 120"]);
  });

  it("records exit.json and the start time", async () => {
    const p = plan({ args: ["sh", "-c", "exit 5"] });
    const r = await runPlan(p, undefined, track);
    const rec = readExitRecord(p.monitor.stateDir);
    expect(rec).toMatchObject({ exitCode: 5, oomKilled: false });
    expect(r.status).toEqual(rec);
    expect(rec?.signal).toBeUndefined();
    const started = readStartedAt(p.monitor.stateDir);
    expect(started).toBeDefined();
    expect(rec?.startedAt).toBe(started);
    expect(Date.parse(rec!.finishedAt)).toBeGreaterThanOrEqual(Date.parse(started!));
    // What a crash of the machine before the record's fsync can leave: no record.
    fs.writeFileSync(path.join(p.monitor.stateDir, "exit.json"), "");
    expect(readExitRecord(p.monitor.stateDir)).toBeUndefined();
    fs.writeFileSync(path.join(p.monitor.stateDir, "exit.json"), "{");
    expect(() => readExitRecord(p.monitor.stateDir)).toThrow(/^Cannot parse ".*exit\.json"/);
  });

  it("reports oomKilled from an increase of the oom_kill counter", async () => {
    // A stand-in for memory.oom_control, bound in writable so the container can bump it.
    const events = path.join(tmp, `oom-events-${n}`);
    fs.writeFileSync(events, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    fs.chmodSync(events, 0o666);
    const p = plan({
      args: ["sh", "-c", "printf 'oom_kill_disable 0\\nunder_oom 0\\noom_kill 3\\n' > /oom; exit 137"],
      mounts: [{ kind: "bind", source: events, target: "/oom", fstype: "", flags: 4096, propagation: 0, data: "", idmap: false }],
    });
    p.monitor.oomEventsFile = events;
    const r = await runPlan(p, undefined, track);
    expect(r.status).toMatchObject({ exitCode: 137, oomKilled: true });
    expect(readExitRecord(p.monitor.stateDir)?.oomKilled).toBe(true);
  });

  it("runs the exit command when no cleanup owner is attached", async () => {
    const marker = path.join(tmp, "exit-command-ran");
    const p = plan({ args: ["true"], exitCommand: ["/bin/sh", "-c", `echo ran > ${marker}`] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, {});
    await conn.start();
    await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    const deadline = Date.now() + 5000;
    while (!fs.existsSync(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readFileSync(marker, "utf8")).toBe("ran\n");
  });

  it("skips the exit command when the cleanup owner removed the container", async () => {
    const marker = path.join(tmp, "exit-command-skipped");
    const p = plan({ args: ["true"], exitCommand: ["/bin/sh", "-c", `echo ran > ${marker}`] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { cleanupOwner: true });
    await conn.start();
    await conn.waitExit();
    fs.rmSync(p.monitor.stateDir, { recursive: true });
    conn.close();
    await waitGone(launched.monitorPid);
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.existsSync(marker)).toBe(false);
  });

  it("exits when a created container is deleted (SIGKILL to PID 1)", async () => {
    const p = plan({ args: ["true"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    process.kill(launched.pid, "SIGKILL");
    // The monitor records the exit and goes; only then is its state dir the deleter's to remove.
    await waitGone(launched.monitorPid);
    fs.rmSync(p.monitor.stateDir, { recursive: true });
    expect(alive(launched.pid)).toBe(false);
  });

  it("leaks no monitor fd into the container's PID 1", async () => {
    const r = await run({ args: ["probe", "fds"] });
    const fds = r.stdout.trim().split("\n").map((l) => l.split(" ")[0]);
    expect(fds.sort()).toEqual(["0", "1", "2"]);
    expect(r.stdout).toMatch(/^1 pipe:/m);
  });

  it("gives Docker's default capabilities, bounding set included", async () => {
    const r = await run({ args: ["probe", "caps"] });
    const caps = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split(/:\s+/) as [string, string]));
    expect(caps.CapEff).toBe("00000000a80425fb");
    expect(caps.CapBnd).toBe("00000000a80425fb");
    expect(caps.CapInh).toBe("0000000000000000");
  });

  it("forwards a SIGNAL to PID 1", async () => {
    const p = plan({ args: ["probe", "signal-report"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, { stdout: true, cleanupOwner: true });
    let out = "";
    conn.on("stdout", (b) => {
      out += b.toString();
      if (out === "ready\n") conn.signal(15);
    });
    await conn.start();
    const status = await conn.waitExit();
    conn.close();
    await waitGone(launched.monitorPid);
    expect(out).toBe("ready\nsignal 15\n");
    expect(status.exitCode).toBe(0);
  });

  it("runs without a user namespace (--userns=host)", async () => {
    const r = await run({ userns: false, args: ["sh", "-c", "cat /proc/self/uid_map; probe stat /bin/busybox"] });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "))).toEqual(["0 0 4294967295", "0 0 755"]);
  });

  it("joins a namespace of another container (--ipc container:X)", async () => {
    const a = plan({ args: ["probe", "sleep-forever"] });
    const la = await launchMonitor({ plan: a, monitorPath: MONITOR });
    track(la.pid);
    track(la.monitorPid);
    const ca = await MonitorConnection.connect(a.monitor.stateDir, { cleanupOwner: true });
    try {
      await ca.start();
      const b = plan({ args: ["readlink", "/proc/self/ns/ipc"] });
      b.newNamespaces = b.newNamespaces.filter((k) => k !== "ipc");
      b.joinNamespaces = [{ kind: "ipc", path: `/proc/${la.pid}/ns/ipc` }];
      // mqueue can only be mounted by the user namespace owning the IPC namespace (A's).
      b.mounts = b.mounts.filter((m) => m.fstype !== "mqueue");
      const r = await runPlan(b, undefined, track);
      expect(r.status.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe(fs.readlinkSync(`/proc/${la.pid}/ns/ipc`));
      expect(r.stdout.trim()).not.toBe(fs.readlinkSync("/proc/self/ns/ipc"));
    } finally {
      ca.signal(9);
      await ca.waitExit();
      ca.close();
      await waitGone(la.monitorPid);
    }
  });

  it("joins another container's user and network namespaces with a PID namespace of its own", async () => {
    const a = plan({ args: ["probe", "sleep-forever"] });
    const la = await launchMonitor({ plan: a, monitorPath: MONITOR });
    track(la.pid);
    track(la.monitorPid);
    const ca = await MonitorConnection.connect(a.monitor.stateDir, { cleanupOwner: true });
    try {
      await ca.start();
      const b = plan({ args: ["sh", "-c", "echo $$; for n in user net pid; do readlink /proc/self/ns/$n; done; probe stat /bin/busybox"] });
      b.newNamespaces = ["mnt", "pid", "uts", "ipc", "cgroup"];
      b.joinNamespaces = [
        { kind: "user", path: `/proc/${la.pid}/ns/user` },
        { kind: "net", path: `/proc/${la.pid}/ns/net` },
      ];
      b.uidMap = [];
      b.gidMap = [];
      const r = await runPlan(b, undefined, track);
      expect(r.stderr).toBe("");
      expect(r.status.exitCode).toBe(0);
      const [pid1, user, net, pidns, owner] = r.stdout.trim().split("\n");
      expect(pid1).toBe("1");
      expect(user).toBe(fs.readlinkSync(`/proc/${la.pid}/ns/user`));
      expect(net).toBe(fs.readlinkSync(`/proc/${la.pid}/ns/net`));
      expect(pidns).not.toBe(fs.readlinkSync(`/proc/${la.pid}/ns/pid`));
      expect(owner).toBe("0 0 755");
    } finally {
      ca.signal(9);
      await ca.waitExit();
      ca.close();
      await waitGone(la.monitorPid);
    }
  });

  it("serves several clients at once and loses no output to a slow one", async () => {
    const p = plan({ args: ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const fast = await MonitorConnection.connect(p.monitor.stateDir, { stdout: true, cleanupOwner: true });
    const slow = await MonitorConnection.connect(p.monitor.stateDir, { stdout: true });
    let a = "", b = "";
    fast.on("stdout", (d) => (a += d.toString()));
    slow.on("stdout", (d) => (b += d.toString()));
    slow.pause(); // the monitor must hold the container's output back, not drop it
    await fast.start();
    await new Promise((r) => setTimeout(r, 300));
    slow.resume();
    const [sa, sb] = await Promise.all([fast.waitExit(), slow.waitExit()]);
    fast.close();
    slow.close();
    await waitGone(launched.monitorPid);
    expect(sa.exitCode).toBe(0);
    expect(sb.exitCode).toBe(0);
    const lines = a.split("\n").filter(Boolean);
    expect(lines.length).toBe(2000);
    expect(lines[1999]).toMatch(/^line-1999-/);
    expect(b).toBe(a);
  });

  it("answers a wrong protocol version and a message before HELLO with an error", async () => {
    const p = plan({ args: ["true"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const raw = async (frames: Buffer[]) => {
      const dirfd = fs.openSync(p.monitor.stateDir, "r");
      const sock = net.createConnection(`/proc/self/fd/${dirfd}/monitor.sock`);
      await new Promise((r) => sock.once("connect", r));
      fs.closeSync(dirfd);
      for (const f of frames) sock.write(f);
      const chunks: Buffer[] = [];
      sock.on("data", (c: Buffer) => chunks.push(c));
      await new Promise((r) => sock.once("close", r));
      const all = Buffer.concat(chunks);
      return { type: all[4], text: all.subarray(5, all.length - 1).toString() };
    };
    const frame = (type: number, payload: Buffer) => {
      const h = Buffer.alloc(5);
      h.writeUInt32LE(payload.length + 1, 0);
      h[4] = type;
      return Buffer.concat([h, payload]);
    };
    const hello = Buffer.alloc(8);
    hello.writeUInt32LE(999, 0);
    const e1 = await raw([frame(1, hello)]);
    expect(e1).toEqual({ type: 12, text: "Protocol version 999 is not supported; this monitor speaks 1 to 2" });
    const e2 = await raw([frame(2, Buffer.alloc(0))]);
    expect(e2).toEqual({ type: 12, text: "Expected HELLO, got message type 2" });
    // Nobody started it: the test kills the created container, as a delete would.
    process.kill(launched.pid, "SIGKILL");
    await waitGone(launched.monitorPid);
  });

  it("never lets a bind target's symlink lead the mount onto the host", async () => {
    // Host paths the links name; /tmp exists inside too, so a mount would land in either.
    const escapeRel = `/tmp/tsrun-escape-rel-${path.basename(tmp)}`;
    const escapeAbs = `/tmp/tsrun-escape-abs-${path.basename(tmp)}`;
    hostFiles.push(escapeRel, escapeAbs);
    fs.writeFileSync(escapeAbs, "host file\n");
    const evil = path.join(tmp, "layers", `evil${n}`);
    fs.mkdirSync(path.join(evil, "etc"), { recursive: true });
    // Relative escape through "..", and an absolute link to a real host file.
    fs.symlinkSync(`../../../../../../..${escapeRel}`, path.join(evil, "etc", "hostname"));
    fs.symlinkSync(escapeAbs, path.join(evil, "etc", "hosts"));
    const src = path.join(tmp, "bind-src");
    fs.writeFileSync(src, "from the bind\n");
    const bind = (target: string) => ({
      kind: "bind" as const, source: src, target, fstype: "", flags: 4096 | 16384, propagation: 0, data: "", idmap: false,
    });
    const before = mountinfo();
    const r = await run({
      lowers: [evil, top, base],
      args: ["sh", "-c", "cat /etc/hostname /etc/hosts"],
      mounts: [bind("/etc/hostname"), bind("/etc/hosts")],
    });
    expect(r.status.exitCode).toBe(0);
    expect(r.stdout).toBe("from the bind\nfrom the bind\n");
    expect(fs.existsSync(escapeRel)).toBe(false);
    expect(fs.readFileSync(escapeAbs, "utf8")).toBe("host file\n");
    expect(mountinfo()).toBe(before);
  });

  it("takes the container down when its monitor dies (PR_SET_PDEATHSIG)", async () => {
    const p = plan({ args: ["probe", "sleep-forever"] });
    const launched = await launchMonitor({ plan: p, monitorPath: MONITOR });
    track(launched.pid);
    track(launched.monitorPid);
    const conn = await MonitorConnection.connect(p.monitor.stateDir, {});
    await conn.start();
    conn.close();
    expect(alive(launched.pid)).toBe(true);
    process.kill(launched.monitorPid, "SIGKILL");
    await waitGone(launched.monitorPid);
    await waitGone(launched.pid);
  });

  it("says clearly when the monitor cannot start or dies without a report", async () => {
    const p = plan({ args: ["true"] });
    await expect(launchMonitor({ plan: p, monitorPath: path.join(tmp, "no-such-monitor") })).rejects.toThrow(
      /^Cannot start the monitor ".*no-such-monitor": spawn .* ENOENT$/,
    );
    await expect(launchMonitor({ plan: p, monitorPath: "/bin/false" })).rejects.toThrow(
      /^Monitor "\/bin\/false" exited with status 1 without a report/,
    );
  });

  it("leaves no monitor or init process behind", () => {
    // Every test above waited for its monitor; the pids recorded must all be gone now.
    const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
    expect(out).not.toContain(tmp);
  });
});

/**
 * `tsrun run` end to end, as a user runs it: real containers on a private root, checked
 * from inside with busybox applets.
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, hostTraces, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("run.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("tsrun run", () => {
  let root: TestRoot;
  const sh = (script: string, extra: string[] = []) => root.run(["run", "--rm", ...extra, "busybox", "sh", "-c", script]);

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  it("runs the command as PID 1 with the image's PATH and the default hostname", async () => {
    const r = await root.run(["run", "--name", "pid1", "busybox", "sh", "-c", 'echo $$; hostname; echo "$PATH"; echo "$HOME"']);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [pid, hostname, pathEnv, home] = r.stdout.trim().split("\n");
    expect(pid).toBe("1");
    const id = (await root.run(["ps", "-aq", "--no-trunc", "-f", "name=pid1"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(hostname).toBe(id.slice(0, 12));
    expect(pathEnv).toBe("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(home).toBe("/root");
    expect((await root.run(["rm", "pid1"])).code).toBe(0);
  });

  it("passes everything after IMAGE to the command", async () => {
    const r = await root.run(["run", "--rm", "busybox", "ls", "-l", "-d", "/"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^d.* \/\n$/);
  });

  it("has only lo, up, in its network namespace with --network none", async () => {
    const r = await sh("ls /sys/class/net; ip -o link show lo; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo ping-ok", ["--network", "none"]);
    const [ifaces, link, ping] = r.stdout.trim().split("\n");
    expect(ifaces).toBe("lo");
    expect(link).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
    expect(ping).toBe("ping-ok");
  });

  it("maps root to an unprivileged range, a different one per container", async () => {
    const a = root.spawn(["run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map; sleep 5"]);
    const b = await sh("cat /proc/self/uid_map /proc/self/gid_map");
    const lines = b.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
    expect(lines).toHaveLength(2);
    for (const [inside, outside, count] of lines) {
      expect(inside).toBe(0);
      expect(outside).toBeGreaterThanOrEqual(100000);
      expect(count).toBe(65536);
    }
    let aOut = "";
    a.stdout!.on("data", (d: Buffer) => (aOut += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    a.kill("SIGTERM");
    await new Promise((r) => a.on("close", r));
    const aMap = aOut.trim().split(/\s+/).map(Number);
    if (aMap.length === 3) expect(aMap[1]).not.toBe(lines[0]![1]);
  });

  it("shows the image's root-owned files as owned by root", async () => {
    const r = await sh("stat -c '%u:%g %n' /bin/busybox /etc/passwd /tmp; touch /newfile && stat -c '%u:%g %n' /newfile");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("0:0 /bin/busybox\n0:0 /etc/passwd\n0:0 /tmp\n0:0 /newfile\n");
  });

  it("hides the host's mounts and processes", async () => {
    const r = await sh("cat /proc/self/mountinfo; echo ---; ps -o pid,comm");
    const [mounts, procs] = r.stdout.split("---\n");
    // Only the container's own mount points: its root, the API filesystems and the /etc files.
    const points = mounts!.trim().split("\n").map((l) => l.split(" ")[4]!);
    const allowed = /^\/($|proc(\/|$)|dev(\/|$)|sys(\/|$)|etc\/(hostname|hosts|resolv\.conf)$)/;
    expect(points.filter((p) => !allowed.test(p))).toEqual([]);
    const hostPoints = fs.readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n").map((l) => l.split(" ")[4]!);
    expect(points.filter((p) => hostPoints.includes(p) && !allowed.test(p))).toEqual([]);
    const pids = procs!.trim().split("\n").slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(Math.max(...pids)).toBeLessThan(10);
  });

  it("keeps /proc/sys read-only and masks host information", async () => {
    const r = await sh("echo 1 > /proc/sys/kernel/domainname 2>&1 || echo refused; cat /proc/keys | wc -c; ls /sys/firmware | wc -l");
    expect(r.stdout.split("\n")[0]).toMatch(/refused|Read-only/);
    expect(r.stdout).toMatch(/refused/);
    expect(r.stdout.trim().split("\n").slice(-2)).toEqual(["0", "0"]);
  });

  it("has Docker's default capabilities and no more", async () => {
    const r = await sh("grep -E '^Cap(Eff|Bnd|Prm|Inh|Amb)' /proc/self/status");
    const caps = Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split(/:\s+/)));
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(caps.CapEff).toBe("00000000a80425fb");
    expect(caps.CapBnd).toBe("00000000a80425fb");
    expect(caps.CapPrm).toBe("00000000a80425fb");
    expect(caps.CapInh).toBe("0000000000000000");
    expect(caps.CapAmb).toBe("0000000000000000");
  });

  it("leaks no file descriptor into the container", async () => {
    const r = await sh("ls /proc/self/fd");
    expect(r.stdout.trim().split(/\s+/).sort()).toEqual(["0", "1", "2", "3"]);
  });

  it("gives Docker's exit statuses", async () => {
    expect((await sh("exit 0")).code).toBe(0);
    expect((await sh("exit 3")).code).toBe(3);
    // PID 1 cannot be killed from inside its namespace; SIGKILL from the host gives 128+9.
    const marker = `${process.pid}.${Date.now() % 1000}`;
    const victim = root.run(["run", "--rm", "busybox", "sleep", marker]);
    const pid = await waitForProcess(["sleep", marker]);
    process.kill(pid, "SIGKILL");
    expect((await victim).code).toBe(137);
    const notFound = await root.run(["run", "--rm", "busybox", "nope"]);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toContain('exec: "nope": executable file not found in $PATH');
    const dir = await root.run(["run", "--rm", "busybox", "/etc"]);
    expect(dir.code).toBe(126);
    expect(dir.stderr).toContain("permission denied");
    const badFlag = await root.run(["run", "--nope", "busybox"]);
    expect(badFlag.code).toBe(125);
    expect(badFlag.stderr).toContain("unknown flag: --nope");
    const noImage = await root.run(["run", "--rm", "nosuchimage"]);
    expect(noImage.code).toBe(125);
    expect(noImage.stderr).toContain("Unable to find image 'nosuchimage:latest' locally");
  });

  it("keeps a container whose command was not found as Created (without --rm)", async () => {
    const r = await root.run(["run", "--name", "notfound", "busybox", "nope"]);
    expect(r.code).toBe(127);
    const ps = await root.run(["ps", "-a", "-f", "name=notfound", "--format", "json"]);
    expect(JSON.parse(ps.stdout).Status).toBe("Created");
    expect((await root.run(["rm", "notfound"])).code).toBe(0);
  });

  it("gives a terminal with -t and forwards stdin with -i", async () => {
    const piped = await root.run(["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"], { input: "hello\n" });
    expect(piped.stdout).toBe("hello\ndone\n");
    const notty = await root.run(["run", "--rm", "busybox", "sh", "-c", "[ -t 1 ] && echo tty || echo notty"]);
    expect(notty.stdout).toBe("notty\n");
    // script(1) gives tsrun a real terminal on the host side.
    const cmd = root.commandLine(["run", "--rm", "-it", "busybox", "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo TTY-OK; echo $TERM; stty size"]);
    const out = execFileSync("script", ["-qec", `stty rows 33 cols 101; ${cmd}`, "/dev/null"], { encoding: "utf8", input: "" });
    expect(out).toContain("TTY-OK");
    expect(out).toContain("xterm");
    expect(out).toContain("33 101");
  });

  it("carries Ctrl-C as a byte to the container's terminal and restores the user's terminal", async () => {
    const inner = root.commandLine([
      "run", "--rm", "-it", "busybox", "sh", "-c", "trap 'echo got-int' INT; echo ready; sleep 5; echo after",
    ]);
    // script(1) is the user's terminal: raw mode must be off again once tsrun exits.
    const child = spawn("script", ["-qec", `stty -a | grep -o -- '-\\?icanon'; ${inner}; stty -a | grep -o -- '-\\?icanon'`, "/dev/null"]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready") && !out.includes("^C-sent")) {
        out += "^C-sent";
        child.stdin.write("\x03");
      }
    });
    const code = await new Promise((r) => child.on("close", r));
    expect(code).toBe(0);
    expect(out).toContain("got-int");
    expect(out).toContain("after");
    const modes = out.match(/-?icanon/g);
    expect(modes?.[0]).toBe("icanon");
    expect(modes?.[modes.length - 1]).toBe("icanon");
  });

  it("refuses -it when stdin is not a terminal", async () => {
    const r = await root.run(["run", "--rm", "-it", "busybox", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the input device is not a TTY");
  });

  it("keeps stdout and stderr apart", async () => {
    const r = await sh("echo out; echo err >&2");
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
  });

  it("forwards signals to PID 1 without -t", async () => {
    const child = root.spawn(["run", "--rm", "busybox", "sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done"]);
    let out = "";
    await new Promise<void>((resolve) =>
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) resolve();
      }),
    );
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.on("close", r));
    expect(out).toContain("got-term");
    expect(code).toBe(42);
  });

  it("applies -e, --env-file, -w, -u, --hostname, --add-host, --entrypoint, --label", async () => {
    const envFile = path.join(root.dir, "env.list");
    fs.writeFileSync(envFile, "# comment\nFROMFILE=yes\nOVERRIDDEN=file\nHOSTVAR\n");
    const r = await root.run(
      [
        "run", "--rm", "-e", "A=1", "-e", "OVERRIDDEN=flag", "--env-file", envFile, "-w", "/made/here", "-u", "nobody",
        "--hostname", "box", "--add-host", "db:10.1.2.3", "busybox", "sh", "-c",
        'echo $A $FROMFILE $OVERRIDDEN $HOSTVAR; pwd; id -u; id -g; hostname; cat /etc/hostname; grep db /etc/hosts',
      ],
      { env: { HOSTVAR: "fromhost" } },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")).toEqual(["1 yes flag fromhost", "/made/here", "65534", "65534", "box", "box", "10.1.2.3\tdb", ""]);
    const ep = await root.run(["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]);
    expect(ep.stdout).toBe("a b\n");
    const badUser = await root.run(["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    expect(badUser.code).toBe(125);
    expect(badUser.stderr).toContain("unable to find user nosuchuser: no matching entries in passwd file");
    const badWorkdir = await root.run(["run", "--rm", "-w", "relative", "busybox", "true"]);
    expect(badWorkdir.code).toBe(125);
    const badEnvFile = await root.run(["run", "--rm", "--env-file", "/nonexistent.env", "busybox", "true"]);
    expect(badEnvFile.code).toBe(125);
    expect(badEnvFile.stderr).toContain("open /nonexistent.env: no such file or directory");
  });

  it("sizes /dev/shm with --shm-size and runs without a user namespace with --userns=host", async () => {
    const shm = await sh("df -k /dev/shm | tail -1", ["--shm-size", "8m"]);
    expect(shm.stdout.trim().split(/\s+/)[1]).toBe("8192");
    const hostns = await sh("cat /proc/self/uid_map", ["--userns=host"]);
    expect(hostns.stdout.trim().split(/\s+/)).toEqual(["0", "0", "4294967295"]);
  });

  it("refuses a second container with the same name", async () => {
    expect((await root.run(["run", "--name", "twice", "busybox", "true"])).code).toBe(0);
    const r = await root.run(["run", "--name", "twice", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/Conflict\. The container name "\/twice" is already in use by container "[0-9a-f]{64}"/);
    expect((await root.run(["rm", "twice"])).code).toBe(0);
  });

  it("leaves nothing behind with --rm", async () => {
    const before = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").length;
    const r = await root.run(["run", "--rm", "--name", "gone", "busybox", "sh", "-c", "hostname"]);
    const short = r.stdout.trim();
    expect(short).toMatch(/^[0-9a-f]{12}$/);
    expect(fs.readdirSync(path.join(root.dir, "containers")).filter((d) => d.startsWith(short))).toEqual([]);
    expect(fs.existsSync(path.join(root.dir, "runtime")) ? fs.readdirSync(path.join(root.dir, "runtime")).filter((d) => d.startsWith(short)) : []).toEqual([]);
    expect(hostTraces(short)).toEqual([]);
    expect(fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").length).toBe(before);
    expect((await root.run(["ps", "-a", "-q"])).stdout.split("\n")).not.toContain(short);
  });

  it("removes an --rm container even when the CLI is killed", async () => {
    const marker = `1.${process.pid}${Date.now() % 1000}`; // a second and a bit; unique on this machine
    const cli = root.spawn(["run", "--rm", "--name", "orphan", "busybox", "sleep", marker]);
    await waitForProcess(["sleep", marker]);
    cli.kill("SIGKILL");
    // The container runs on (its monitor lives); when it exits the monitor's exit command removes it.
    const deadline = Date.now() + 15_000;
    let listed = true;
    while (listed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      listed = (await root.run(["ps", "-a", "--format", "json"])).stdout.includes('"Names":"orphan"');
    }
    expect(listed).toBe(false);
  });

  it("lists exited containers with ps -a and removes them with rm", async () => {
    await root.run(["run", "--name", "listed", "busybox", "sh", "-c", "exit 5"]);
    const ps = await root.run(["ps", "-a"]);
    expect(ps.stdout.split("\n")[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const line = ps.stdout.split("\n").find((l) => l.endsWith("listed"))!;
    expect(line).toMatch(/^[0-9a-f]{12}\s+busybox\s+"sh -c 'exit 5'"\s+.* ago\s+Exited \(5\) .* ago\s+listed$/);
    expect((await root.run(["ps", "-q"])).stdout).not.toContain(line.slice(0, 12));
    const rm = await root.run(["rm", line.slice(0, 6)]);
    expect(rm.code).toBe(0);
    expect((await root.run(["rm", "listed"])).stderr).toContain("No such container: listed");
  });
});

/** The host pid of the process whose argv is exactly `argv` (polls until it appears). */
async function waitForProcess(argv: string[], timeoutMs = 10_000): Promise<number> {
  const want = argv.join("\0") + "\0";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
      try {
        if (fs.readFileSync(`/proc/${p}/cmdline`, "utf8") === want) return Number(p);
      } catch {
        // exited meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no process ${argv.join(" ")} appeared`);
}

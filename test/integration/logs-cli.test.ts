/**
 * `tsrun logs` end to end: real containers writing to their json-file log, read back with
 * Docker's flags.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("logs-cli.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("tsrun logs", () => {
  let root: TestRoot;
  const RFC3339_NANO_FIXED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z $/;

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
  });
  afterAll(() => root?.destroy());

  /** Runs a container to completion (detached, then waits) and returns its id. */
  async function finished(script: string, extra: string[] = []): Promise<string> {
    const r = await root.run(["run", ...extra, "busybox", "sh", "-c", script]);
    expect(r.code).not.toBe(125);
    const id = (await root.run(["ps", "-alq", "--no-trunc"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    return id;
  }

  it("prints stdout to stdout and stderr to stderr, after the container exited", async () => {
    const id = await finished("echo out1; echo err1 >&2; echo out2; printf partial");
    const r = await root.run(["logs", id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("out1\nout2\npartial");
    expect(r.stderr).toBe("err1\n");
  });

  it("--tail takes lines from the end; all and nonsense mean everything", async () => {
    const id = await finished("for i in 1 2 3 4 5; do echo line$i; done");
    expect((await root.run(["logs", "--tail", "2", id])).stdout).toBe("line4\nline5\n");
    expect((await root.run(["logs", "-n", "0", id])).stdout).toBe("");
    expect((await root.run(["logs", "--tail", "all", id])).stdout).toBe("line1\nline2\nline3\nline4\nline5\n");
    expect((await root.run(["logs", "--tail", "-3", id])).stdout.split("\n")).toHaveLength(6);
  });

  it("streams a large log and tails it without reading it all", async () => {
    // ~6 MB of output: 100k lines of 60 bytes.
    const id = await finished("i=0; while [ $i -lt 100000 ]; do echo \"line $i padding-padding-padding-padding-padding-pad\"; i=$((i+1)); done");
    const tail = await root.run(["logs", "--tail", "3", id]);
    expect(tail.stdout.split("\n").slice(0, 3).map((l) => l.split(" ")[1])).toEqual(["99997", "99998", "99999"]);
    const all = await root.run(["logs", id], { timeoutMs: 60_000 });
    expect(all.stdout.split("\n")).toHaveLength(100_001);
    // A reader slower than tsrun still gets everything (the pipe takes what is left after exit)…
    const slow = spawnSync("bash", ["-c", `${root.commandLine(["logs", id])} | (sleep 1; wc -l)`], { encoding: "utf8" });
    expect(slow.stdout.trim()).toBe("100000");
    // …and one that goes away ends it quietly, as SIGPIPE ends docker's CLI.
    const head = spawnSync("bash", ["-c", `${root.commandLine(["logs", id])} | head -1; echo "status \${PIPESTATUS[0]}"`], { encoding: "utf8" });
    expect(head.stdout).toBe(`line 0 padding-padding-padding-padding-padding-pad\nstatus 141\n`);
    expect(head.stderr).toBe("");
  });

  it("-t prefixes each line with its RFC 3339 time, nine fraction digits", async () => {
    const id = await finished("echo a; echo b >&2");
    const r = await root.run(["logs", "-t", id]);
    expect(r.stdout.slice(0, 31)).toMatch(RFC3339_NANO_FIXED);
    expect(r.stdout.slice(31)).toBe("a\n");
    expect(r.stderr.slice(31)).toBe("b\n");
  });

  it("--since and --until take durations, RFC 3339 times and Unix timestamps", async () => {
    const id = await finished("echo early; sleep 1.2; echo late");
    const stamped = (await root.run(["logs", "-t", id])).stdout.trim().split("\n");
    const lateTime = stamped[1]!.split(" ")[0]!;
    expect((await root.run(["logs", "--since", lateTime, id])).stdout).toBe("late\n");
    expect((await root.run(["logs", "--until", lateTime, id])).stdout).toBe("early\nlate\n");
    const earlyTime = stamped[0]!.split(" ")[0]!;
    expect((await root.run(["logs", "--until", earlyTime, id])).stdout).toBe("early\n");
    expect((await root.run(["logs", "--since", "10m", id])).stdout).toBe("early\nlate\n");
    expect((await root.run(["logs", "--since", "1h30m", "--until", "1h", id])).stdout).toBe("");
    const unix = String(Math.floor(Date.parse(lateTime) / 1000) + 1);
    expect((await root.run(["logs", "--since", unix, id])).stdout).toBe("");
    const bad = await root.run(["logs", "--since", "yesterday", id]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`invalid value for "since": failed to parse value as time or duration: "yesterday"`);
  });

  it("-f follows a running container until it exits", async () => {
    const id = (await root.run(["run", "-d", "busybox", "sh", "-c", "echo one; sleep 1; echo two >&2; sleep 1; echo three"])).stdout.trim();
    const child = root.spawn(["logs", "-f", id]);
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(out).toBe("one\nthree\n");
    expect(err).toBe("two\n");
  });

  it("-f on a stopped container prints what there is and returns", async () => {
    const id = await finished("echo done");
    const r = await root.run(["logs", "-f", "--tail", "1", id], { timeoutMs: 5_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("done\n");
  });

  it("prints nothing for a container that never started", async () => {
    const created = await root.run(["create", "busybox", "echo", "hi"]);
    if (created.code !== 0) return; // `create` comes with the lifecycle commands
    const r = await root.run(["logs", created.stdout.trim()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
  });

  it("-f follows across restarts until the container stops for good", async () => {
    const r = await root.run(["run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3"]);
    if (r.code !== 0 && /restart/.test(r.stderr)) return; // restart policies come with the lifecycle commands
    expect(r.code).toBe(0);
    const logs = await root.run(["logs", "-f", r.stdout.trim()], { timeoutMs: 20_000 });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe("run\nrun\nrun\n");
  });

  it("says so for an unknown container, a log driver that cannot be read", async () => {
    const r = await root.run(["logs", "nosuch"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error response from daemon: No such container: nosuch\n");
    const id = await finished("true");
    const recordFile = path.join(root.dir, "containers", id, "container.json");
    const rec = JSON.parse(fs.readFileSync(recordFile, "utf8"));
    rec.HostConfig.LogConfig.Type = "none";
    fs.writeFileSync(recordFile, JSON.stringify(rec));
    const none = await root.run(["logs", id]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("Error response from daemon: configured logging driver does not support reading\n");
  });
});

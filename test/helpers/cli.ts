/**
 * Test helpers that drive tsrun the way a user does: the built CLI as a child process, on a
 * private state root that is removed, with everything in it, when the test file ends.
 */
import { spawn, spawnSync, type SpawnOptions } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dirname, "..", "..");
export const CLI = path.join(REPO, "dist", "bin", "tsrun.cjs");
export const BUSYBOX_TAR = path.join(REPO, "rootfs", "out", "busybox.tar");

export const isRoot = process.getuid?.() === 0;

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class TestRoot {
  readonly dir: string;

  constructor(prefix = "tsrun-test-") {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    // The root's own resolver for its containers (Docker's daemon.json "dns"): nothing listens
    // on a container's 127.0.0.1:53, so no test ever sends a name query off this machine.
    fs.writeFileSync(path.join(this.dir, "daemon.json"), JSON.stringify({ dns: ["127.0.0.1"], "dns-opts": ["timeout:1", "attempts:1"] }) + "\n");
  }

  /** Runs `tsrun --root <dir> ...args`, which must succeed; its stdout, trimmed. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`tsrun ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Runs `tsrun --root <dir> ...args` to completion. */
  run(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--", CLI, "--root", this.dir, ...args], {
        env: { ...process.env, ...opts.env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
      child.on("error", reject);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  }

  /** Starts `tsrun --root <dir> ...args` and returns the child (for signals, stdin, ptys). */
  spawn(args: string[], opts: SpawnOptions = {}) {
    return spawn(process.execPath, ["--", CLI, "--root", this.dir, ...args], { stdio: "pipe", ...opts });
  }

  /** The command line that runs tsrun on this root (for script(1) and shells). */
  commandLine(args: string[]): string {
    return [process.execPath, "--", CLI, "--root", this.dir, ...args].map(shellQuote).join(" ");
  }

  loadBusybox(): void {
    const r = spawnSync(process.execPath, ["--", CLI, "--root", this.dir, "load", "-i", BUSYBOX_TAR], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`loading busybox failed: ${r.stderr}`);
  }

  /** Removes every container (force) and then the whole root. */
  destroy(): void {
    const ids = spawnSync(process.execPath, ["--", CLI, "--root", this.dir, "ps", "-aq", "--no-trunc"], { encoding: "utf8" });
    const list = ids.stdout.split("\n").filter(Boolean);
    if (list.length > 0) spawnSync(process.execPath, ["--", CLI, "--root", this.dir, "rm", "-f", ...list], { encoding: "utf8" });
    // The root's networks: bridges, nft tables and machine-wide leases outlive its directory.
    const lib = path.join(REPO, "dist", "network", "index.js");
    const script = `import { Networks } from ${JSON.stringify(lib)}; await new Networks(${JSON.stringify(this.dir)}).destroyAll();`;
    spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Everything of the host that a container must not leave behind, for before/after checks. */
export function hostTraces(id: string): string[] {
  const traces: string[] = [];
  const mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8");
  if (mountinfo.includes(id)) traces.push("mount");
  for (const h of fs.readdirSync("/sys/fs/cgroup")) {
    if (fs.existsSync(path.join("/sys/fs/cgroup", h, "tsrun", id))) traces.push(`cgroup ${h}`);
  }
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes(id)) traces.push(`process ${pid}: ${cmd.replace(/\0/g, " ")}`);
    } catch {
      // gone
    }
  }
  return traces;
}

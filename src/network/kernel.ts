/**
 * The kernel side of networking, behind one small interface so that the attachment logic can
 * be tested against a recording fake. The real implementation drives iproute2 and nftables:
 * each operation is one batched process (`ip -batch -`, `nft -f -`), because a spawn costs
 * ~2.5 ms here and the kernel work itself ~1 ms, so batching is what counts. Reads come from
 * sysfs and procfs, which cost no process at all.
 *
 * Why not netlink from Node: Node has no AF_NETLINK sockets, so it would take koffi (~10-20 ms
 * to load, more than the two spawns it would save) or a C helper (saves ~5 ms of ~10 ms per
 * attach; a candidate if `run` ever needs it).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { systemError } from "../common/errors.js";
import { logger } from "../common/log.js";

const log = logger("network");

export interface NetKernel {
  /** Runs `ip` commands (one per line, batch syntax) in the host's network namespace. */
  ip(lines: string[], opts?: { force?: boolean }): Promise<void>;
  /**
   * Runs `ip` commands inside the network namespace of process `pid`. The lines may come
   * later (a promise): the process starts at once and waits for them, so its start overlaps
   * the caller's other work; a rejected promise ends it with nothing run, and rejects.
   */
  ipIn(pid: number, lines: string[] | Promise<string[]>): Promise<void>;
  /**
   * Starts the processes of the next `ip` and `ipIn` before they are needed (the caller is
   * about to wire a container whose namespace does not exist yet), so their start overlaps
   * the caller's wait. `cool` ends those not used. Optional: a fake needs neither.
   */
  warm?(): void;
  cool?(): void;
  /** Applies an nft script atomically (`nft -f -`). */
  nft(script: string): Promise<void>;
  /** Names of the host's nft tables of family inet. */
  inetTables(): Promise<string[]>;
  /** Names of the host's network interfaces. */
  links(): string[];
  linkExists(name: string): boolean;
  /** True when the interface exists and is administratively up. */
  linkIsUp(name: string): boolean;
  /** net.ipv4.ip_forward, read and set (machine-wide; set to 1 when a NATed network is wired). */
  ipForwarding(): boolean;
  enableIpForwarding(): void;
}

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";
const IFF_UP = 0x1;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A command reading its input from a pipe, started before its input is known. */
class Command {
  readonly done: Promise<Ran>;
  private readonly child: ChildProcess;

  constructor(cmd: string, args: string[]) {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => err.push(d));
    child.stdin!.on("error", () => {}); // a command that fails early closes its stdin
    this.done = new Promise((resolve, reject) => {
      child.on("error", (e) => reject(systemError(`Cannot run "${cmd}": ${e.message}`, e)));
      child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    });
    this.done.catch(() => undefined); // awaited by whoever ends it
  }

  write(text: string): void {
    this.child.stdin!.write(text);
  }

  /** Ends the input with `input` (a promise: once it comes; rejected: with nothing more). */
  end(input: string | Promise<string> = ""): Promise<Ran> {
    const stdin = this.child.stdin!;
    if (typeof input === "string") stdin.end(input);
    else input.then((text) => stdin.end(text), () => stdin.end());
    return this.done;
  }
}

function run(cmd: string, args: string[], input: string | Promise<string>): Promise<Ran> {
  return new Command(cmd, args).end(input);
}

/** The first meaningful line of a command's complaint ("RTNETLINK answers: File exists"). */
function firstComplaint(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter((l) => l && !/^Command failed/.test(l));
  return lines[0] ?? "failed";
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`${command}: ${firstComplaint(stderr)}`);
  }
  /** The errno-like complaint of the kernel, for callers that tolerate some ("File exists"). */
  get complaint(): string {
    return firstComplaint(this.stderr);
  }
}

// `ip -n` only takes names under /run/netns; nsenter joins the namespace by path and execs ip
// (no fork), as root of the host, which owns every user namespace below it. Warmed up before
// the namespace exists, a shell reads its pid first: `read` takes exactly one line from a pipe
// (it reads byte by byte), the rest is ip's.
const IP_IN_NETNS_OF_PID = 'read pid && exec nsenter "--net=/proc/$pid/ns/net" ip -batch -';

export class IprouteKernel implements NetKernel {
  private warmHost?: Command;
  private warmInside?: Command;

  warm(): void {
    this.warmHost ??= new Command("ip", ["-batch", "-"]);
    this.warmInside ??= new Command("sh", ["-c", IP_IN_NETNS_OF_PID]);
  }

  cool(): void {
    void this.warmHost?.end();
    void this.warmInside?.end();
    this.warmHost = this.warmInside = undefined;
  }

  async ip(lines: string[], opts: { force?: boolean } = {}): Promise<void> {
    if (lines.length === 0) return;
    log(`ip ${lines.join(" ; ")}`);
    const text = lines.join("\n") + "\n";
    const warm = opts.force ? undefined : this.warmHost;
    if (warm) this.warmHost = undefined;
    const r = await (warm ? warm.end(text) : run("ip", opts.force ? ["-force", "-batch", "-"] : ["-batch", "-"], text));
    if (r.code !== 0) throw new CommandError("ip", r.stderr);
  }

  async ipIn(pid: number, lines: string[] | Promise<string[]>): Promise<void> {
    if (Array.isArray(lines) && lines.length === 0) return;
    const text = Promise.resolve(lines).then((l) => {
      log(`ip (netns of ${pid}) ${l.join(" ; ")}`);
      return l.length > 0 ? l.join("\n") + "\n" : "";
    });
    const warm = this.warmInside;
    this.warmInside = undefined;
    warm?.write(`${pid}\n`);
    const r = await (warm ? warm.end(text) : run("nsenter", [`--net=/proc/${pid}/ns/net`, "ip", "-batch", "-"], text));
    await text; // rejects when the lines never came
    if (r.code !== 0) throw new CommandError(`ip (in the network namespace of process ${pid})`, r.stderr);
  }

  async nft(script: string): Promise<void> {
    log(`nft -f - <<${script.split("\n").length} lines>>`);
    const r = await run("nft", ["-f", "-"], script);
    if (r.code !== 0) throw new CommandError("nft", r.stderr);
  }

  async inetTables(): Promise<string[]> {
    const r = await run("nft", ["list", "tables", "inet"], "");
    if (r.code !== 0) throw new CommandError("nft list tables", r.stderr);
    return r.stdout
      .split("\n")
      .map((l) => /^table inet (\S+)/.exec(l.trim())?.[1])
      .filter((t): t is string => t !== undefined);
  }

  links(): string[] {
    try {
      return fs.readdirSync("/sys/class/net");
    } catch {
      return [];
    }
  }

  linkExists(name: string): boolean {
    return fs.existsSync(`/sys/class/net/${name}`);
  }

  linkIsUp(name: string): boolean {
    try {
      return (parseInt(fs.readFileSync(`/sys/class/net/${name}/flags`, "utf8"), 16) & IFF_UP) !== 0;
    } catch {
      return false;
    }
  }

  ipForwarding(): boolean {
    try {
      return fs.readFileSync(IP_FORWARD, "utf8").trim() === "1";
    } catch {
      return false;
    }
  }

  enableIpForwarding(): void {
    try {
      fs.writeFileSync(IP_FORWARD, "1\n");
    } catch (e) {
      throw systemError(`Cannot enable IP forwarding in "${IP_FORWARD}": ${(e as Error).message}`, e);
    }
  }
}

/**
 * What a user can ask of `run`/`create`, and the parsing of its string forms (env files,
 * labels, sizes, extra hosts) with Docker's rules and messages. Pure: no I/O except reading
 * env files.
 */
import fs from "node:fs";
import net from "node:net";
import { errnoCode, invalidArgument } from "../common/index.js";
import type { ResourceFlags } from "./limits.js";

export interface RunOptions {
  image: string;
  command: string[];
  name?: string;
  interactive: boolean;
  tty: boolean;
  rm: boolean;
  detach: boolean;
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  /** undefined: the image's; "": none (resets CMD too). */
  entrypoint?: string;
  labels: string[];
  addHosts: string[];
  shmSize?: string;
  userns?: string;
  /** The user's terminal size, for -t. */
  consoleSize?: { rows: number; cols: number };
  /** --pid: "", "host" or "container:X". */
  pid?: string;
  /** --ipc: "private" (default), "shareable", "none", "host" or "container:X". */
  ipc?: string;
  /** --stop-signal (name or number). */
  stopSignal?: string;
  /** --stop-timeout in seconds (negative: no timeout). */
  stopTimeout?: number;
  /** --restart: no|on-failure[:N]|always|unless-stopped. */
  restart?: string;
  /** --init: run tsrun's init as PID 1. */
  init?: boolean;
  /** --memory, --cpus, --pids-limit… as given (see limits.ts). */
  resources?: ResourceFlags;
  /** `--mount` values (volumes/mount-flag.ts). */
  mounts?: string[];
  /** `-v/--volume` values. */
  volumes?: string[];
  /** `--tmpfs` values. */
  tmpfs?: string[];
  /** `--volumes-from` values. */
  volumesFrom?: string[];
  /** --read-only: the rootfs is mounted read-only (volumes, binds and tmpfs stay writable). */
  readOnly?: boolean;
  /** `--network` values (NAME, bridge, host, none, container:X); none: the default bridge (network-config.ts). */
  networks?: string[];
  /** --ip, --mac-address, --network-alias: for the first network. */
  ip?: string;
  macAddress?: string;
  networkAliases?: string[];
  /** --dns, --dns-search, --dns-option. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** -p/--publish values, -P/--publish-all, --expose values. */
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  /** Told Docker's warnings about limits the host cannot enforce. */
  warn?: (message: string) => void;
}

/** `-e K=V` or `-e K` (the host's value; dropped when the host has none). */
export function expandEnvArg(arg: string, hostEnv: NodeJS.ProcessEnv = process.env): string | undefined {
  const eq = arg.indexOf("=");
  const key = eq === -1 ? arg : arg.slice(0, eq);
  if (key === "") throw invalidArgument(`invalid environment variable: ${arg}`);
  if (eq !== -1) return arg;
  const v = hostEnv[key];
  return v === undefined ? undefined : `${key}=${v}`;
}

/**
 * An env file as Docker reads it: `VAR=val` per line, a bare `VAR` takes the host's value,
 * a `#` as the first non-blank character starts a comment, blank lines are skipped.
 */
export function parseEnvFile(file: string, hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = errnoCode(e);
    const why = code === "ENOENT" ? "no such file or directory" : code === "EISDIR" ? "is a directory" : String(code);
    throw invalidArgument(`open ${file}: ${why}`);
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out: string[] = [];
  let lineNo = 0;
  for (let start = 0; start <= buf.length; ) {
    let end = buf.indexOf(0x0a, start);
    if (end === -1) end = buf.length;
    lineNo++;
    let raw: string;
    try {
      raw = decoder.decode(buf.subarray(start, end));
    } catch {
      throw invalidArgument(`env file ${file} contains invalid utf8 bytes at line ${lineNo}`);
    }
    start = end + 1;
    const line = raw.replace(/\r$/, "").replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq === -1 ? line : line.slice(0, eq);
    if (name === "") throw invalidArgument(`no variable name on line '${line}'`);
    if (/\s/.test(name)) throw invalidArgument(`variable '${name}' contains whitespaces`);
    if (eq !== -1) out.push(line);
    else if (hostEnv[name] !== undefined) out.push(`${name}=${hostEnv[name]}`);
  }
  return out;
}

/** Later entries win; order of first appearance is kept (as Docker's env merge). */
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const eq = kv.indexOf("=");
      map.set(eq === -1 ? kv : kv.slice(0, eq), kv);
    }
  }
  return [...map.values()];
}

export function envValue(env: string[], key: string): string | undefined {
  const kv = env.find((e) => e.startsWith(key + "="));
  return kv?.slice(key.length + 1);
}

export function parseLabels(labels: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf("=");
    const key = eq === -1 ? l : l.slice(0, eq);
    if (key === "") throw invalidArgument(`invalid label '${l}': empty name`);
    out[key] = eq === -1 ? "" : l.slice(eq + 1);
  }
  return out;
}

/** `--add-host`'s stand-in for the host's address as containers reach it (Docker's name). */
export const HOST_GATEWAY = "host-gateway";

/** `--add-host host:ip` (the IP may be IPv6, so split at the first colon), or `host:host-gateway`. */
export function parseAddHost(arg: string): { host: string; ip: string } {
  const sep = arg.search(/[:=]/);
  const host = sep === -1 ? "" : arg.slice(0, sep);
  const ip = sep === -1 ? "" : arg.slice(sep + 1).replace(/^\[(.*)\]$/, "$1");
  if (host === "" || sep === -1) throw invalidArgument(`invalid argument "${arg}" for "--add-host" flag: bad format for add-host: "${arg}"`);
  if (ip !== HOST_GATEWAY && net.isIP(ip) === 0) {
    throw invalidArgument(`invalid argument "${arg}" for "--add-host" flag: invalid IP address in add-host: "${ip}"`);
  }
  return { host, ip };
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAM sizes: "64m", "1g", "512k", "1024" (bytes); binary units. */
export function parseSize(s: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtTpPbB]?)[bB]?$/.exec(s.trim());
  if (!m) throw invalidArgument(`invalid argument "${s}" for "${flag}" flag: invalid size: '${s}'`);
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`invalid argument "${s}" for "${flag}" flag: invalid size: '${s}'`);
  return n;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function validateHostname(h: string): string {
  if (h.length > 64 || !HOSTNAME.test(h)) throw invalidArgument(`invalid hostname format: ${h}`);
  return h;
}

export function validateWorkdir(w: string): string {
  if (!w.startsWith("/")) throw invalidArgument(`the working directory '${w}' is invalid, it needs to be an absolute path`);
  return w;
}

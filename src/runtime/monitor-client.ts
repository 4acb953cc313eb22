/**
 * The TypeScript side of the monitor: launching it, and talking to it over its socket.
 * Protocol and constants: native/protocol.def (the one source, generated into
 * ./protocol.gen.ts), documented in docs/ARCHITECTURE.md#monitor-protocol.
 *
 * No koffi here: this module is on `run`'s path and must stay cheap to load. Everything that
 * needs syscalls Node lacks happens in the monitor.
 *
 * Usage:
 *
 *   const launched = await launchMonitor({ plan });           // CREATED, or throws InitError
 *   const conn = await MonitorConnection.connect(stateDir, { stdout: true, stderr: true, cleanupOwner: true });
 *   conn.on("stdout", (b) => process.stdout.write(b));       // typed events: stdout, stderr, exit, close, error
 *   await conn.start();                                      // STARTED, or rejects with InitError
 *   const status = await conn.waitExit();                    // ExitStatus (Docker's exit code)
 *   conn.close();
 *
 * Stopping on purpose (`tsrun stop`, and `kill` with a fatal signal, as Docker): stop(signo)
 * sends the signal and tells the monitor not to apply the restart policy to this exit, or
 * cancels a restart it is waiting to run (state "restarting", see readRestartAt()).
 *
 * Flow control: when a consumer cannot keep up, call pause() and later resume(); the monitor
 * then stops reading the container's output instead of buffering it.
 */
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import util from "node:util";

import { nativeBinary } from "../common/index.js";
import type { Plan } from "./plan.js";
import { encodePlan } from "./plan-codec.js";
import { HelloFlag, MAX_DATA_CHUNK, MAX_FRAME, MONITOR_PROTOCOL, Msg, StateCode } from "./protocol.gen.js";

/** A failure reported by the monitor or the init: which step, the errno, and the path involved. */
export interface InitFailure {
  /** Step name from native/protocol.def, e.g. "mount", "pivot_root", "exec-lookup", "exec". */
  step: string;
  errno: number;
  path: string;
  detail?: string;
}

export interface Launched {
  /** The container's first process, in the host's pid namespace. */
  pid: number;
  /** Its start time (field 22 of /proc/PID/stat), so a reused pid is never mistaken for it. */
  pidStartTime: number;
  monitorPid: number;
  monitorStartTime: number;
  /** Protocol version the monitor speaks; recorded with the container. */
  protocol: number;
}

export interface ExitStatus {
  /** Docker's exit code: the status, or 128+n for death by signal n. */
  exitCode: number;
  signal?: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt: string;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** This client removes the container after exit; the monitor skips its exit command unless it disconnects first. */
  cleanupOwner?: boolean;
}

/**
 * The monitor's view of the container. "restarting": PID 1 has exited (exit.json is
 * written) and the monitor waits out the restart back-off, after which it runs the plan's
 * restart command and exits; stop() cancels that.
 */
export type MonitorState = "created" | "running" | "exited" | "restarting";

export interface MonitorHello {
  protocol: number;
  pid: number;
  state: MonitorState;
  /** The last exit, when the state is "exited" or "restarting". */
  exit?: ExitStatus;
  /** When the restart command is due (RFC 3339), when the state is "restarting". */
  restartAt?: string;
}

/** The init or monitor failed at `step` with `errno` on `path`. */
export class InitError extends Error implements InitFailure {
  readonly step: string;
  readonly errno: number;
  /** "EPERM", "ENOENT", … */
  readonly errnoName: string;
  readonly path: string;
  readonly detail: string;

  constructor(f: InitFailure) {
    const name = errnoName(f.errno);
    super(`Cannot ${f.step} "${f.path}": ${name}${f.detail ? ` (${f.detail})` : ""}`);
    this.name = "InitError";
    this.step = f.step;
    this.errno = f.errno;
    this.errnoName = name;
    this.path = f.path;
    this.detail = f.detail ?? "";
  }
}

function errnoName(errno: number): string {
  try {
    return errno > 0 ? util.getSystemErrorName(-errno) : `errno ${errno}`;
  } catch {
    return `errno ${errno}`;
  }
}

// ---- wire format -------------------------------------------------------------------------

function frame(type: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(5);
  h.writeUInt32LE(payload.length + 1, 0);
  h.writeUInt8(type, 4);
  return Buffer.concat([h, payload]);
}

interface Frame {
  type: number;
  payload: Buffer;
}

/** Splits a byte stream into frames; throws on an invalid length. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (len === 0 || len > MAX_FRAME) throw new Error(`Monitor sent a frame of invalid length ${len}`);
      if (this.buf.length < 4 + len) break;
      out.push({ type: this.buf[4]!, payload: this.buf.subarray(5, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

/** Reads a payload's fields in order; throws when it is shorter than they need. */
class Reader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.off++);
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.b.readInt32LE(this.off);
    this.off += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const v = Number(this.b.readBigUInt64LE(this.off));
    this.off += 8;
    return v;
  }
  str(): string {
    const end = this.b.indexOf(0, this.off);
    if (end < 0) throw new Error("Malformed message from the monitor: unterminated string");
    const s = this.b.toString("utf8", this.off, end);
    this.off = end + 1;
    return s;
  }
  private need(n: number) {
    if (this.off + n > this.b.length) throw new Error("Malformed message from the monitor: too short");
  }
}

function readFailure(payload: Buffer): InitFailure {
  const r = new Reader(payload);
  const errno = r.i32();
  const step = r.str();
  const p = r.str();
  const detail = r.str();
  return { step, errno, path: p, ...(detail ? { detail } : {}) };
}

function readExit(r: Reader): ExitStatus {
  const exitCode = r.i32();
  const signal = r.i32();
  const oomKilled = r.u8() !== 0;
  const startedAt = r.str();
  const finishedAt = r.str();
  return {
    exitCode,
    ...(signal ? { signal } : {}),
    oomKilled,
    ...(startedAt ? { startedAt } : {}),
    finishedAt,
  };
}

// ---- launching -----------------------------------------------------------------------------

/**
 * Writes `<stateDir>/plan` and starts the container's monitor, which clones the init and
 * waits for START. Resolves once the monitor reports CREATED. On FAILED it throws InitError
 * after the monitor has exited (it kills and reaps the init first: nothing is left running).
 */
export async function launchMonitor(opts: { plan: Plan; monitorPath?: string }): Promise<Launched> {
  const { plan } = opts;
  const stateDir = plan.monitor.stateDir;
  const monitorPath = opts.monitorPath ?? nativeBinary("tsrun-monitor");
  // Not fsync'd (that cost ~4 ms of every run here): the monitor reads it at once, and after
  // a crash of the machine the container it describes is gone anyway.
  fs.writeFileSync(path.join(stateDir, "plan"), encodePlan(plan), { mode: 0o600 });

  const child = spawn(monitorPath, [stateDir], { detached: true, stdio: ["ignore", "ignore", "ignore", "pipe"] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  });
  const sync = child.stdio[3] as net.Socket | null;
  const chunks: Buffer[] = [];
  if (sync) {
    await new Promise<void>((resolve) => {
      sync.on("data", (c: Buffer) => chunks.push(c));
      sync.once("close", () => resolve());
      sync.once("error", () => resolve());
      // A spawn failure (ENOENT, EACCES) never opens the socket.
      void exited.then((x) => x.error && resolve());
    });
    sync.destroy();
  }
  let frames: Frame[] = [];
  try {
    frames = new FrameReader().push(Buffer.concat(chunks));
  } catch {
    frames = [];
  }
  const first = frames[0];
  if (first?.type === Msg.CREATED) {
    const r = new Reader(first.payload);
    const launched: Launched = {
      pid: r.u32(),
      pidStartTime: r.u64(),
      monitorPid: r.u32(),
      monitorStartTime: r.u64(),
      protocol: r.u32(),
    };
    child.unref();
    return launched;
  }
  const end = await exited;
  if (first?.type === Msg.FAILED) throw new InitError(readFailure(first.payload));
  if (end.error) throw new Error(`Cannot start the monitor "${monitorPath}": ${end.error.message}`, { cause: end.error });
  // Status 0: the process started hands over to the monitor proper, born in its cgroup
  // (native/src/cgjoin.h); it is that one which ended without a report.
  const how = end.signal ? `exited with signal ${end.signal}` : end.code ? `exited with status ${end.code}` : "ended";
  throw new Error(`Monitor "${monitorPath}" ${how} without a report (see "${path.join(stateDir, "monitor.log")}")`);
}

// ---- the connection ------------------------------------------------------------------------

export interface MonitorEvents {
  /** Container output (a terminal's output is stdout). */
  stdout: [Buffer];
  stderr: [Buffer];
  /** PID 1 exited. */
  exit: [ExitStatus];
  /** The monitor reported a protocol error or the connection failed. */
  error: [Error];
  /** The connection is closed. */
  close: [];
}

const STATE_NAMES: Record<number, MonitorState> = {
  [StateCode.CREATED]: "created",
  [StateCode.RUNNING]: "running",
  [StateCode.EXITED]: "exited",
  [StateCode.RESTARTING]: "restarting",
};

/**
 * One client connection to a container's monitor (several may be attached at once).
 * Register "stdout"/"stderr" listeners before start() so no output is missed.
 */
export class MonitorConnection extends EventEmitter<MonitorEvents> {
  readonly hello: MonitorHello;
  private exitStatus: ExitStatus | undefined;
  private closed = false;
  private failure: Error | undefined;
  private startWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private stopWaiters: ((state: MonitorState | undefined) => void)[] = [];
  private exitWaiters: { resolve: (s: ExitStatus) => void; reject: (e: Error) => void }[] = [];

  private constructor(
    private readonly sock: net.Socket,
    private readonly reader: FrameReader,
    hello: MonitorHello,
    rest: Frame[],
  ) {
    super();
    this.hello = hello;
    this.exitStatus = hello.exit;
    sock.on("data", (chunk: Buffer) => this.onData(chunk));
    sock.on("error", (e) => this.fail(new Error(`Connection to the monitor failed: ${e.message}`, { cause: e })));
    sock.on("close", () => this.onClose());
    // Frames that arrived with the HELLO are delivered after the caller's continuation (a
    // macrotask), so listeners attached right after `await connect()` get them.
    if (rest.length) setImmediate(() => rest.forEach((f) => this.onFrame(f)));
  }

  /** Connects to `<stateDir>/monitor.sock` and exchanges HELLO. */
  static async connect(stateDir: string, opts: AttachOptions = {}): Promise<MonitorConnection> {
    // Through the directory's fd: sun_path is limited to 108 bytes, state roots can be deeper.
    const dirfd = fs.openSync(stateDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const sockPath = `/proc/self/fd/${dirfd}/monitor.sock`;
    const sock = net.createConnection(sockPath);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
    } catch (e) {
      sock.destroy();
      throw new Error(`Cannot connect to the monitor of "${stateDir}": ${(e as Error).message}`, { cause: e });
    } finally {
      fs.closeSync(dirfd);
    }
    const flags =
      (opts.stdin ? HelloFlag.WANT_STDIN : 0) |
      (opts.stdout ? HelloFlag.WANT_STDOUT : 0) |
      (opts.stderr ? HelloFlag.WANT_STDERR : 0) |
      (opts.cleanupOwner ? HelloFlag.CLEANUP_OWNER : 0);
    const payload = Buffer.alloc(8);
    payload.writeUInt32LE(MONITOR_PROTOCOL, 0);
    payload.writeUInt32LE(flags, 4);
    sock.write(frame(Msg.HELLO, payload));

    const reader = new FrameReader();
    const frames = await new Promise<Frame[]>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        try {
          const got = reader.push(chunk);
          if (got.length) {
            cleanup();
            resolve(got);
          }
        } catch (e) {
          cleanup();
          reject(e as Error);
        }
      };
      const onEnd = () => {
        cleanup();
        reject(new Error(`The monitor of "${stateDir}" closed the connection before HELLO`));
      };
      const onError = (e: Error) => {
        cleanup();
        reject(e);
      };
      const cleanup = () => {
        sock.off("data", onData);
        sock.off("close", onEnd);
        sock.off("error", onError);
      };
      sock.on("data", onData);
      sock.once("close", onEnd);
      sock.once("error", onError);
    }).catch((e: Error) => {
      sock.destroy();
      throw e;
    });
    const [first, ...rest] = frames;
    if (first!.type === Msg.ERROR) {
      sock.destroy();
      throw new Error(`Monitor of "${stateDir}" refused the connection: ${new Reader(first!.payload).str()}`);
    }
    if (first!.type !== Msg.HELLO) {
      sock.destroy();
      throw new Error(`Expected HELLO from the monitor of "${stateDir}", got message type ${first!.type}`);
    }
    const r = new Reader(first!.payload);
    const protocol = r.u32();
    const pid = r.u32();
    const code = r.u8();
    const state = STATE_NAMES[code];
    if (!state) {
      sock.destroy();
      throw new Error(`Monitor of "${stateDir}" reported an unknown state ${code}`);
    }
    const hello: MonitorHello = { protocol, pid, state };
    if (state === "exited" || state === "restarting") hello.exit = readExit(r);
    if (state === "restarting") hello.restartAt = r.str();
    return new MonitorConnection(sock, reader, hello, rest);
  }

  /** Runs the container's process; resolves once execve succeeded. Rejects with InitError. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.startWaiters.push({ resolve, reject });
      this.send(Msg.START);
    });
  }

  /** Bytes for the container's stdin. Returns false when the socket's buffer is full (wait for "drain" on flow()). */
  writeStdin(data: Uint8Array): boolean {
    let ok = true;
    for (let off = 0; off < data.length; off += MAX_DATA_CHUNK)
      ok = this.send(Msg.STDIN, Buffer.from(data.subarray(off, off + MAX_DATA_CHUNK)));
    return ok;
  }

  /** Closes the container's stdin (EOF); ignored with a terminal. */
  closeStdin(): void {
    this.send(Msg.STDIN_CLOSE);
  }

  /** Sets the terminal's size. */
  resize(rows: number, cols: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt16LE(Math.max(0, Math.min(65535, rows)), 0);
    b.writeUInt16LE(Math.max(0, Math.min(65535, cols)), 2);
    this.send(Msg.RESIZE, b);
  }

  /** Sends a signal to the container's PID 1 (its exit then follows the restart policy). */
  signal(signo: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(signo, 0);
    this.send(Msg.SIGNAL, b);
  }

  /**
   * Stops the container on purpose: sends `signo` to PID 1 (0: none) and marks its exit as
   * wanted, so the restart policy does not apply to it; a restart the monitor is waiting to
   * run ("restarting") is cancelled, and the monitor then exits running the exit command.
   * Resolves with the monitor's state once it has taken the STOP into account ("created" or
   * "running": signalled, its exit will not restart; "exited": exited, no restart pending),
   * or with undefined when the connection closed first (the monitor had already committed
   * to its restart or exit command, or was gone). Never rejects. With `killAfterMs`, the
   * monitor sends SIGKILL itself if PID 1 still runs that long after: the stop's timeout
   * holds even if this process dies waiting (0 ms is sent as 1: on the wire 0 means none).
   */
  stop(signo: number, killAfterMs?: number): Promise<MonitorState | undefined> {
    if (!Number.isInteger(signo) || signo < 0 || signo > 64) throw new RangeError(`Invalid signal number ${signo}`);
    return new Promise((resolve) => {
      if (this.closed) return resolve(undefined);
      this.stopWaiters.push(resolve);
      const b = Buffer.alloc(8);
      b.writeUInt32LE(signo, 0);
      b.writeUInt32LE(killAfterMs === undefined ? 0 : Math.min(Math.max(Math.ceil(killAfterMs), 1), 0xffffffff), 4);
      this.send(Msg.STOP, b);
    });
  }

  /** The exit status, once PID 1 has exited. */
  waitExit(): Promise<ExitStatus> {
    if (this.exitStatus) return Promise.resolve(this.exitStatus);
    return new Promise<ExitStatus>((resolve, reject) => {
      if (this.closed) return reject(this.failure ?? new Error("Lost the connection to the monitor before the container exited"));
      this.exitWaiters.push({ resolve, reject });
    });
  }

  /** Stops reading from the monitor (it then stops reading the container's output). */
  pause(): void {
    this.sock.pause();
  }

  resume(): void {
    this.sock.resume();
  }

  /** The socket, for "drain" after writeStdin() returned false. */
  flow(): net.Socket {
    return this.sock;
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private send(type: number, payload?: Buffer): boolean {
    if (this.closed) return false;
    return this.sock.write(frame(type, payload));
  }

  private onData(chunk: Buffer) {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.fail(e as Error);
      this.sock.destroy();
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private onFrame(f: Frame) {
    switch (f.type) {
      case Msg.STDOUT:
        this.emit("stdout", f.payload);
        return;
      case Msg.STDERR:
        this.emit("stderr", f.payload);
        return;
      case Msg.STARTED:
        this.startWaiters.splice(0).forEach((w) => w.resolve());
        return;
      case Msg.START_FAILED: {
        const err = new InitError(readFailure(f.payload));
        this.startWaiters.splice(0).forEach((w) => w.reject(err));
        return;
      }
      case Msg.EXITED: {
        const status = readExit(new Reader(f.payload));
        this.exitStatus = status;
        this.exitWaiters.splice(0).forEach((w) => w.resolve(status));
        this.emit("exit", status);
        return;
      }
      case Msg.STOP_ACK: {
        const state = STATE_NAMES[new Reader(f.payload).u8()];
        this.stopWaiters.shift()?.(state);
        return;
      }
      case Msg.ERROR:
        this.fail(new Error(`Monitor protocol error: ${new Reader(f.payload).str()}`));
        return;
      default:
        this.fail(new Error(`Unexpected message type ${f.type} from the monitor`));
    }
  }

  private fail(e: Error) {
    if (!this.failure) this.failure = e;
    this.startWaiters.splice(0).forEach((w) => w.reject(e));
    if (this.listenerCount("error") > 0) this.emit("error", e);
  }

  private onClose() {
    if (this.closed) return;
    this.closed = true;
    const e = this.failure ?? new Error("Lost the connection to the monitor before the container exited");
    this.startWaiters.splice(0).forEach((w) => w.reject(e));
    this.stopWaiters.splice(0).forEach((w) => w(undefined));
    if (!this.exitStatus) this.exitWaiters.splice(0).forEach((w) => w.reject(e));
    this.emit("close");
  }
}

// ---- records in the state directory -------------------------------------------------------

interface ExitRecordFile {
  exitCode: number;
  signal: number | null;
  oomKilled: boolean;
  startedAt: string | null;
  finishedAt: string;
}

/**
 * exit.json, written atomically by the monitor when PID 1 exits; undefined before. An empty
 * file counts as none: the monitor makes it durable just after telling its clients, and a
 * crash of the machine in between leaves it empty (the exit is then unknown, as when the
 * monitor dies).
 */
export function readExitRecord(stateDir: string): ExitStatus | undefined {
  const text = readRecord(stateDir, "exit.json");
  if (!text) return undefined;
  let r: ExitRecordFile;
  try {
    r = JSON.parse(text) as ExitRecordFile;
  } catch (e) {
    throw new Error(`Cannot parse "${path.join(stateDir, "exit.json")}": ${(e as Error).message}`, { cause: e });
  }
  return {
    exitCode: r.exitCode,
    ...(r.signal ? { signal: r.signal } : {}),
    oomKilled: r.oomKilled,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    finishedAt: r.finishedAt,
  };
}

/** When PID 1 really started (execve succeeded): the monitor's `started` file; undefined before. */
export function readStartedAt(stateDir: string): string | undefined {
  return readRecord(stateDir, "started");
}

/**
 * When the monitor runs the restart command (RFC 3339), from its `restarting` file: written
 * (just before exit.json) when PID 1 exited and the restart policy applies, removed when a
 * STOP cancels the restart. It stays after the monitor has exited into the restart command,
 * so the gap until the container is rebuilt reads as restarting too; the rebuild (which
 * replaces the runtime state) takes it away. Undefined when no restart is pending.
 */
export function readRestartAt(stateDir: string): string | undefined {
  return readRecord(stateDir, "restarting");
}

/** A small record of the monitor's, trimmed; undefined when missing or empty. */
function readRecord(stateDir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(stateDir, name), "utf8").trim() || undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

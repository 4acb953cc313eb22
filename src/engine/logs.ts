/**
 * Docker's `logs` over the json-file log the monitor writes (containers/<id>/<id>-json.log,
 * one {"log","stream","time"} object a line; docs/ARCHITECTURE.md "Output"). The file is
 * streamed in chunks, never read whole: --tail scans backwards from the end for its
 * lines, --since/--until filter on each entry's time, and --follow waits for new lines
 * until the container is neither running nor restarting (the monitor records the exit
 * only once the output is in the log, so what is there then is everything).
 */
import fs from "node:fs";
import { badState, errnoCode, isTsrunError, logger } from "../common/index.js";
import { withContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { parseRfc3339Nano } from "./log-time.js";
import { ContainerFiles, readRecord, type ContainerRecord } from "./record.js";
import { NO_RESTART, shouldRestart } from "./restart-policy.js";

const log = logger("logs");

export interface LogEntry {
  stream: "stdout" | "stderr";
  /** The text, with its newline (a partial entry has none). */
  log: string;
  /** RFC 3339 with nanoseconds, UTC. */
  time: string;
}

export interface LogOptions {
  follow?: boolean;
  /** How many lines from the end; undefined: all of them. */
  tail?: number;
  /** Only entries at or after this time (ns since the epoch). */
  since?: bigint;
  /** Only entries at or before this time (ns since the epoch). */
  until?: bigint;
}

/** Drivers whose logs `logs` can read (Docker: json-file, local, journald). */
const READABLE_DRIVERS = new Set(["json-file", "local"]);
const CHUNK = 64 * 1024;
const FOLLOW_POLL_MS = 250;
/** How long an exit that should restart may look final before follow gives up on it. */
const RESTART_GRACE_MS = 5_000;

/**
 * Streams a container's log entries to `emit`, oldest first. `emit` may return a promise
 * (backpressure). Resolves when the log is read (or, with follow, when the container stops).
 */
export async function streamLogs(
  engine: Engine,
  ref: string,
  opts: LogOptions,
  emit: (e: LogEntry) => void | Promise<void>,
): Promise<void> {
  const rec = engine.resolve(ref);
  const driver = rec.HostConfig.LogConfig?.Type ?? "json-file";
  if (!READABLE_DRIVERS.has(driver)) throw badState("configured logging driver does not support reading");
  const reader = new LogFileReader(new ContainerFiles(engine.root, rec.Id).log, opts, emit);
  try {
    await reader.open();
    await reader.readAvailable();
    if (!opts.follow || reader.pastUntil) return;
    await follow(engine, rec, reader, opts);
  } finally {
    reader.close();
  }
}

/** Reads new lines as they come until the container stops (or --until passes). */
async function follow(engine: Engine, rec: ContainerRecord, reader: LogFileReader, opts: LogOptions): Promise<void> {
  let watcher: fs.FSWatcher | undefined;
  let wake: (() => void) | undefined;
  const changed = () => wake?.();
  let restartWait: number | undefined;
  try {
    for (;;) {
      const state = await liveness(engine, rec.Id);
      restartWait = state === "may-restart" ? (restartWait ?? Date.now()) : undefined;
      if (state === "stopped" || (restartWait !== undefined && Date.now() - restartWait > RESTART_GRACE_MS)) {
        // Stopped: the log holds everything it wrote (the exit is recorded after it).
        await reader.readAvailable(true);
        return;
      }
      if (opts.until !== undefined && BigInt(Date.now()) * 1_000_000n > opts.until) return;
      if (!watcher && fs.existsSync(reader.file)) {
        try {
          watcher = fs.watch(reader.file, { persistent: false }, changed);
        } catch (e) {
          log(`cannot watch "${reader.file}": ${errnoCode(e) ?? e}; polling`);
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (!reader.isOpen) await reader.open();
      await reader.readAvailable();
      if (reader.pastUntil) return;
    }
  } finally {
    watcher?.close();
  }
}

type Liveness = "live" | "may-restart" | "stopped";

/**
 * Running, paused or waiting to restart: more output may come. An exit and the restart
 * its policy makes happen under the container's lock, so a container that does not look
 * live is looked at again holding the lock: a restart half done is not taken for the end.
 */
async function liveness(engine: Engine, id: string): Promise<Liveness> {
  const quick = await observeLiveness(engine, id);
  if (quick === "live") return quick;
  try {
    return await withContainerLock(engine.root, id, id, () => observeLiveness(engine, id));
  } catch (e) {
    if (isTsrunError(e, "not-found")) return "stopped";
    throw e;
  }
}

/**
 * Between an exit that its restart policy restarts and the restart hook's work (the
 * monitor gone, the exit not yet settled) the container looks exited: "may-restart".
 */
async function observeLiveness(engine: Engine, id: string): Promise<Liveness> {
  const rec = readRecord(engine.root, id);
  if (!rec) return "stopped";
  const st = await engine.status(rec);
  if (st.Running || st.Restarting) return "live";
  const restarts =
    st.Status === "exited" &&
    shouldRestart(rec.HostConfig.RestartPolicy ?? NO_RESTART, {
      exitCode: st.ExitCode,
      restartCount: rec.RestartCount,
      cancelled: rec.Tsrun.restartCancelled === true,
      manuallyStopped: rec.Tsrun.manuallyStopped === true,
    });
  return restarts ? "may-restart" : "stopped";
}

/** Reads complete lines of a json-file log from an offset on, applying the filters. */
export class LogFileReader {
  private fd: number | undefined;
  private offset = 0;
  private pending = "";
  /** An entry after --until was seen: nothing more is wanted. */
  pastUntil = false;

  constructor(
    readonly file: string,
    private readonly opts: LogOptions,
    private readonly emit: (e: LogEntry) => void | Promise<void>,
  ) {}

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  /** Opens the log (a container that never ran has none yet) and seeks to --tail's start. */
  async open(): Promise<void> {
    try {
      this.fd = fs.openSync(this.file, "r");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    if (this.opts.tail !== undefined) this.offset = tailOffset(this.fd, this.opts.tail);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  /** Emits every complete line now in the file; with `final`, an unterminated last one too. */
  async readAvailable(final = false): Promise<void> {
    if (this.fd === undefined) return;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(this.fd, buf, 0, CHUNK, this.offset);
      if (n === 0) break;
      this.offset += n;
      const text = this.pending + buf.toString("utf8", 0, n);
      const lines = text.split("\n");
      this.pending = lines.pop()!;
      for (const line of lines) {
        if (this.pastUntil) return;
        await this.line(line);
      }
    }
    if (final && this.pending !== "") {
      await this.line(this.pending);
      this.pending = "";
    }
  }

  private async line(line: string): Promise<void> {
    if (line === "") return;
    let e: LogEntry;
    try {
      e = JSON.parse(line) as LogEntry;
    } catch {
      log(`skipping a malformed line of "${this.file}"`);
      return;
    }
    if (this.opts.since !== undefined || this.opts.until !== undefined) {
      const t = parseRfc3339Nano(e.time);
      if (t !== undefined) {
        if (this.opts.since !== undefined && t < this.opts.since) return;
        if (this.opts.until !== undefined && t > this.opts.until) {
          this.pastUntil = true;
          return;
        }
      }
    }
    await this.emit(e);
  }
}

/**
 * The offset where the last `lines` complete lines begin, found by reading backwards from
 * the end in chunks (an unterminated line being written is not one of them).
 */
export function tailOffset(fd: number, lines: number): number {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = size;
  let found = -1; // newlines seen before the last one
  let terminated = false;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    fs.readSync(fd, buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      if (!terminated) {
        // The last newline ends the complete part; what follows it is still being written.
        terminated = true;
        found = 0;
        if (lines === 0) return pos + i + 1;
        continue;
      }
      if (++found === lines) return pos + i + 1;
    }
  }
  return 0;
}

/**
 * Relays a terminal or stdio to a container's monitor: the user's side of a foreground
 * `run` (and later `attach`, `start -a`, `exec`). Raw mode is restored on every exit path.
 */
import os from "node:os";
import { logger } from "../common/log.js";
import type { ExitStatus, MonitorConnection } from "../runtime/index.js";

const log = logger("attach");

/** Signals a non-tty foreground client passes on to the container (Docker's sig-proxy). */
const PROXIED_SIGNALS: NodeJS.Signals[] = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGTERM",
  "SIGUSR2",
  "SIGALRM",
  "SIGCONT",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGVTALRM",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGPWR",
  "SIGSYS",
  "SIGTRAP",
  "SIGABRT",
  "SIGIO",
];

export interface RelayOptions {
  stdin: boolean;
  tty: boolean;
  /** Forward catchable signals to the container's PID 1 (non-tty only, as Docker). */
  sigProxy: boolean;
}

/**
 * Sends START, relays until the container exits, and returns its exit status. Rejects if
 * the start fails (e.g. the command cannot be executed). The connection stays open: a
 * cleanup owner closes it only after removing the container, so the monitor knows it need
 * not run its exit command.
 */
export async function relay(conn: MonitorConnection, opts: RelayOptions): Promise<ExitStatus> {
  const cleanups: (() => void)[] = [];
  const restore = () => {
    while (cleanups.length) cleanups.pop()!();
  };
  try {
    conn.on("stdout", (chunk: Buffer) => process.stdout.write(chunk));
    conn.on("stderr", (chunk: Buffer) => process.stderr.write(chunk));

    if (opts.tty && process.stdin.isTTY && opts.stdin) {
      const { makeRaw, restoreTerminal } = await import("../linux/termios.js");
      const saved = makeRaw(0);
      const onExit = () => restoreTerminal(saved);
      process.on("exit", onExit);
      cleanups.push(() => {
        restoreTerminal(saved);
        process.off("exit", onExit);
      });
    }
    if (opts.tty && process.stdout.isTTY) {
      const onResize = () => conn.resize(process.stdout.rows, process.stdout.columns);
      process.stdout.on("resize", onResize);
      cleanups.push(() => process.stdout.off("resize", onResize));
    }
    if (opts.sigProxy && !opts.tty) {
      for (const sig of PROXIED_SIGNALS) {
        const handler = () => conn.signal(os.constants.signals[sig]);
        process.on(sig, handler);
        cleanups.push(() => process.off(sig, handler));
      }
    }

    await conn.start();
    log("started");

    if (opts.stdin) {
      const onData = (chunk: Buffer) => conn.writeStdin(chunk);
      const onEnd = () => conn.closeStdin();
      process.stdin.on("data", onData);
      process.stdin.on("end", onEnd);
      process.stdin.resume();
      cleanups.push(() => {
        process.stdin.off("data", onData);
        process.stdin.off("end", onEnd);
        process.stdin.pause();
      });
    }
    const status = await conn.waitExit();
    log(`exited ${status.exitCode}`);
    await Promise.all([flush(process.stdout), flush(process.stderr)]);
    return status;
  } finally {
    restore();
  }
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) return resolve();
    stream.write("", () => resolve());
  });
}

/**
 * Running tsrun-cp (native/src/cp-main.c): in a container's view (`--pid PID:START`) or on
 * the host. stdin and stdout carry record streams; a failure comes back as one stderr line
 * "<kind>\t<path>\t<message>", which becomes a HelperError here.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { logger, nativeBinary, systemError } from "../../common/index.js";

const log = logger("cp");

/** The container's process whose view the helper enters (its start time guards the pid). */
export interface ViewTarget {
  pid: number;
  startTime: number;
}

export type HelperErrorKind = "not-found" | "invalid" | "system" | "usage";

export class HelperError extends Error {
  constructor(
    readonly kind: HelperErrorKind,
    /** The path the helper names (inside the container for a container's helper). */
    readonly path: string,
    message: string,
    /** The helper ran in a container's view (Docker's daemon side), not on the host. */
    readonly inContainer: boolean,
    /** What "Could not find the file …" names: the path as the user gave it. */
    readonly shownPath: string,
  ) {
    super(message);
  }

  /** A failure of the stream itself, which only echoes the other side's failure. */
  get aboutStream(): boolean {
    return this.path === "the output stream" || this.path === "the input stream" || this.message === "the copy stream ended early";
  }
}

export function helperBinary(): string {
  const file = nativeBinary("tsrun-cp");
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw systemError(`The copy helper "${file}" is missing (run "make -C native")`);
  }
  return file;
}

/** One run of the helper; `done` settles when it has exited (and its stderr is read). */
export class Helper {
  readonly child: ChildProcess;
  readonly done: Promise<void>;
  private stderr = "";

  /** shownPath: the path as the user gave it, for "Could not find the file …". */
  constructor(target: ViewTarget | undefined, args: string[], shownPath = "") {
    const argv = [...(target ? ["--pid", `${target.pid}:${target.startTime}`] : []), ...args];
    log(`tsrun-cp ${argv.join(" ")}`);
    this.child = spawn(helperBinary(), argv, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (s: string) => (this.stderr += s));
    // A helper that exits early must not take us down with EPIPE on its stdin.
    this.child.stdin!.on("error", () => undefined);
    // Settled once the helper has exited and its stderr (the error line) is read; not on
    // "close", which also waits for its stdout, and a stdout nobody reads after a failure
    // elsewhere would never end.
    const stderrEnded = new Promise<void>((resolve) => this.child.stderr!.on("close", resolve));
    this.done = new Promise((resolve, reject) => {
      this.child.on("error", (e) => reject(systemError(`Cannot run the copy helper: ${e.message}`, e)));
      this.child.on("exit", (code, signal) => {
        void stderrEnded.then(() => {
          log(`tsrun-cp ${args[0]} ended: ${signal ?? code}`);
          const lines = this.stderr.split("\n").filter(Boolean);
          for (const w of lines.filter((l) => l.startsWith("warning\t"))) log(`left out: ${w.split("\t")[2] ?? w}`);
          if (code === 0) return resolve();
          const failure = lines.filter((l) => !l.startsWith("warning\t")).pop();
          const [kind, path, message] = failure?.split("\t") ?? [];
          if (kind && path !== undefined && message !== undefined) reject(new HelperError(kind as HelperErrorKind, path, message, target !== undefined, shownPath));
          else reject(systemError(`The copy helper ${signal ? `was killed by ${signal}` : `failed with status ${code}`}`));
        });
      });
    });
    this.done.catch(() => undefined); // observed by whoever awaits it; never unhandled
  }

  get stdout(): NodeJS.ReadableStream & AsyncIterable<Buffer> {
    return this.child.stdout! as NodeJS.ReadableStream & AsyncIterable<Buffer>;
  }

  get stdin(): NodeJS.WritableStream {
    return this.child.stdin!;
  }

  /** Ends the helper and lets go of its stdout (nobody may read it any more). */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    this.child.stdout?.destroy();
  }
}

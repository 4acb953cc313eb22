/**
 * `cp` (and `container cp`): docker/cli's command over engine/cp, with its argument rules,
 * its progress line and "Successfully copied …" summary when stdout is a terminal, and its
 * errors ("Error response from daemon: …" for the container's side).
 */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import type { CliContext } from "../context.js";
import { ExitStatus, UsageError } from "../exit.js";
import { humanSizeWithPrecision } from "../units.js";
import { commandGroup } from "./prune.js";

interface CpFlags {
  archive?: boolean;
  followLink?: boolean;
  quiet?: boolean;
}

const CSI = "\x1b[";
const FROM_HEADER = "Copying from container - ";
const TO_HEADER = "Copying to container - ";
const PROGRESS_MS = 75;

export function registerCp(program: Command, ctx: CliContext): void {
  define(program.command("cp"), ctx);
  const sub = commandGroup(program, "container", "Manage containers").command("cp");
  define(sub.helpOption("--help", "Print usage").exitOverride().configureOutput({ outputError: () => {} }), ctx);
}

function define(cmd: Command, ctx: CliContext): void {
  cmd
    .description(
      "Copy files/folders between a container and the local filesystem\n\n" +
        "Use '-' as the source to read a tar archive from stdin\nand extract it to a directory destination in a container.\n" +
        "Use '-' as the destination to stream a tar archive of a\ncontainer source to stdout.",
    )
    .usage("[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       tsrun cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")
    .argument("[paths...]")
    .option("-a, --archive", "Archive mode (copy all uid/gid information)")
    .option("-L, --follow-link", "Always follow symlinks in SRC_PATH")
    .option("-q, --quiet", "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
    .action(async (paths: string[], f: CpFlags) => {
      if (paths.length !== 2) throw new UsageError('"tsrun cp" requires exactly 2 arguments.', "cp");
      const [source, destination] = paths as [string, string];
      if (source === "") throw new ExitStatus(1, "tsrun: source can not be empty");
      if (destination === "") throw new ExitStatus(1, "tsrun: destination can not be empty");
      await copy(ctx, source, destination, { ...f, quiet: f.quiet === true || !process.stdout.isTTY });
    });
}

async function copy(ctx: CliContext, source: string, destination: string, f: CpFlags): Promise<void> {
  const cp = await import("../../engine/cp/index.js");
  const src = cp.splitCpArg(source);
  const dst = cp.splitCpArg(destination);
  if (src.container !== undefined && dst.container !== undefined) throw new ExitStatus(1, "tsrun: copying between containers is not supported");
  if (src.container === undefined && dst.container === undefined) throw new ExitStatus(1, "tsrun: must specify at least one container source");
  const engine = await ctx.engine();
  const aborter = new AbortController();
  const interrupt = () => aborter.abort();
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  // docker/cli writes a tar for `-` as it comes, without progress.
  const tarOut = src.container !== undefined && dst.path === "-";
  const progress = new Progress(f.quiet || tarOut ? undefined : src.container !== undefined ? FROM_HEADER : TO_HEADER);
  const opts = { followLink: f.followLink === true, archive: f.archive === true, signal: aborter.signal, onProgress: (n: number) => progress.set(n) };
  try {
    if (src.container !== undefined) {
      const out = dst.path === "-" ? process.stdout : dst.path;
      const r = await cp.copyFromContainer(engine, src.container, src.path, out, opts);
      progress.stop();
      if (f.quiet || tarOut) return;
      const isDir = (r.stat.mode & 0o170000) === 0o040000;
      process.stderr.write(copySummary(isDir ? r.transferred : r.stat.size, r.transferred, r.destination));
    } else {
      const input = src.path === "-" ? process.stdin : src.path;
      const r = await cp.copyToContainer(engine, dst.container!, input, dst.path, opts);
      progress.stop();
      if (f.quiet) return;
      process.stderr.write(copySummary(r.contentSize ?? r.transferred, r.transferred, `${dst.container}:${r.destination}`));
    }
  } catch (e) {
    progress.stop();
    if (aborter.signal.aborted) throw new ExitStatus(130);
    // The reader of `cp … -` went away (| head): quietly, as a Go program dies of SIGPIPE.
    if ((e as NodeJS.ErrnoException).code === "EPIPE") throw new ExitStatus(128 + 13);
    if (e instanceof cp.ContainerSideError || isTsrunError(e, "not-found") || isTsrunError(e, "conflict") || isTsrunError(e, "state")) {
      throw new ExitStatus(1, `Error response from daemon: ${(e as Error).message}`);
    }
    throw e;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
}

/** docker/cli's copySummary. */
export function copySummary(contentSize: number, transferred: number, dest: string): string {
  if (contentSize !== transferred) {
    return `Successfully copied ${humanSizeWithPrecision(contentSize, 3)} (transferred ${humanSizeWithPrecision(transferred, 3)}) to ${dest}\n`;
  }
  return `Successfully copied ${humanSizeWithPrecision(contentSize, 3)} to ${dest}\n`;
}

/** docker/cli's copyProgress: one line on a terminal's stderr, redrawn every 75 ms. */
class Progress {
  private bytes = 0;
  private shown = -1;
  private timer?: NodeJS.Timeout;

  constructor(private readonly header: string | undefined) {
    if (!header || !process.stderr.isTTY) return;
    process.stderr.write(`${CSI}s` + "Preparing to copy...");
    process.stderr.write(`${CSI}?25l${CSI}u${CSI}2K${header}${humanSizeWithPrecision(0, 3)}`);
    this.shown = 0;
    this.timer = setInterval(() => this.draw(), PROGRESS_MS);
  }

  set(bytes: number): void {
    this.bytes = bytes;
  }

  private draw(): void {
    if (this.bytes === this.shown) return;
    process.stderr.write(`${CSI}${this.header!.length + 1}G${CSI}0K${humanSizeWithPrecision(this.bytes, 3)}`);
    this.shown = this.bytes;
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    process.stderr.write(`${CSI}?25h${CSI}u${CSI}2K`);
  }
}

/**
 * The only place that turns errors into exit statuses and stderr lines.
 *
 * Docker's rules: `run`/`create`/`start` exit 125 for tsrun's own failures, 126 when the
 * command cannot be invoked, 127 when it is not found; other commands exit 1 on failure;
 * any command exits 125 on a usage error (bad flag, missing argument).
 */
import { TsrunError } from "../common/errors.js";

export class ExitStatus extends Error {
  constructor(readonly code: number, message = "") {
    super(message);
  }
}

/** A usage error: printed with a pointer to the command's help, exit 125. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message);
  }
}

export type CommandKind = "run" | "other";

export function exitCodeFor(e: unknown, kind: CommandKind): number {
  if (e instanceof ExitStatus) return e.code;
  if (e instanceof UsageError) return 125;
  if (e instanceof TsrunError) {
    if (e.kind === "exec-not-found") return kind === "run" ? 127 : 1;
    if (e.kind === "exec-permission") return kind === "run" ? 126 : 1;
    return kind === "run" ? 125 : 1;
  }
  return kind === "run" ? 125 : 1;
}

export function report(e: unknown): void {
  if (e instanceof ExitStatus) {
    if (e.message) process.stderr.write(e.message + "\n");
    return;
  }
  if (e instanceof UsageError) {
    process.stderr.write(`tsrun: ${e.message}\nSee 'tsrun ${e.command ? e.command + " " : ""}--help'.\n`);
    return;
  }
  if (e instanceof TsrunError) {
    process.stderr.write(`tsrun: ${e.message}\n`);
    if (process.env.DEBUG && e.cause) process.stderr.write(`caused by: ${describe(e.cause)}\n`);
    return;
  }
  process.stderr.write(`tsrun: ${describe(e)}\n`);
}

function describe(e: unknown): string {
  if (e instanceof Error) return process.env.DEBUG ? (e.stack ?? e.message) : e.message;
  return String(e);
}

/**
 * One error type for everything tsrun reports to a user. A `kind` says what went wrong in
 * terms the CLI can turn into an exit status (only src/cli decides exit codes); the message
 * is the one line the user sees, in Docker's words where Docker has words for it.
 */
export type ErrorKind =
  | "invalid-argument" // bad flag value, malformed reference, bad env file…
  | "not-found" // no such image / container / volume / network
  | "conflict" // name in use, image in use, container running…
  | "state" // operation not valid in the container's current state
  | "exec-not-found" // the command does not exist in the container (Docker: 127)
  | "exec-permission" // the command cannot be invoked (Docker: 126)
  | "corrupt" // bad archive, digest mismatch
  | "system"; // a syscall or I/O failure tsrun did not expect

export class TsrunError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TsrunError";
    this.kind = kind;
  }
}

export const invalidArgument = (message: string, cause?: unknown) =>
  new TsrunError("invalid-argument", message, { cause });
export const notFound = (message: string, cause?: unknown) => new TsrunError("not-found", message, { cause });
export const conflict = (message: string, cause?: unknown) => new TsrunError("conflict", message, { cause });
export const badState = (message: string, cause?: unknown) => new TsrunError("state", message, { cause });
export const corrupt = (message: string, cause?: unknown) => new TsrunError("corrupt", message, { cause });
export const systemError = (message: string, cause?: unknown) => new TsrunError("system", message, { cause });

export function isTsrunError(e: unknown, kind?: ErrorKind): e is TsrunError {
  return e instanceof TsrunError && (kind === undefined || e.kind === kind);
}

/** The errno code of a Node system error ("ENOENT"), or undefined. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined;
}

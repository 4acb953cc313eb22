/**
 * The one place koffi is loaded. Loading it costs several milliseconds, so nothing on the
 * `run` path may call libc() unless it pays for itself; every wrapper loads it on first use.
 *
 * Rules for declarations (src/linux/*.ts):
 * - declare each libc function once, lazily, through `fn()` below;
 * - wrappers are synchronous and short: never declare a call that can block for long
 *   (waiting happens over sockets, not in FFI; libuv has only 4 threads);
 * - a failing call throws a Node-style error via `errnoError()`, naming the operation and the path.
 */
import { createRequire } from "node:module";
import util from "node:util";

type Koffi = typeof import("koffi");
type KoffiLib = ReturnType<Koffi["load"]>;
type KoffiFn = ReturnType<KoffiLib["func"]>;

let koffiModule: Koffi | undefined;
let libcHandle: KoffiLib | undefined;
const cache = new Map<string, KoffiFn>();

export function koffi(): Koffi {
  if (!koffiModule) koffiModule = createRequire(import.meta.url)("koffi") as Koffi;
  return koffiModule;
}

export function libc(): KoffiLib {
  if (!libcHandle) libcHandle = koffi().load("libc.so.6");
  return libcHandle;
}

/** A libc function by its C prototype, declared once. */
export function fn(prototype: string): KoffiFn {
  let f = cache.get(prototype);
  if (!f) {
    f = libc().func(prototype);
    cache.set(prototype, f);
  }
  return f;
}

/** errno of the last failed libc call on this thread. */
export function errno(): number {
  return koffi().errno();
}

/** An Error shaped like Node's system errors: code "EPERM", errno, syscall, path. */
export function errnoError(syscall: string, err: number, path?: string): NodeJS.ErrnoException {
  const code = util.getSystemErrorName(-err);
  const where = path !== undefined ? ` "${path}"` : "";
  const e = new Error(`${syscall}${where}: ${code}`) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = -err;
  e.syscall = syscall;
  if (path !== undefined) e.path = path;
  return e;
}

/** Throws errnoError when a libc call returned -1. */
export function check(ret: number, syscall: string, path?: string): number {
  if (ret === -1) throw errnoError(syscall, errno(), path);
  return ret;
}

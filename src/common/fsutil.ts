import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "./random.js";

export interface AtomicWriteOptions {
  mode?: number;
  /**
   * fsync before the rename (default), so the new content also survives a power loss.
   * The rename alone already makes the replacement atomic for every reader and against a
   * kill -9; state that dies with the machine anyway (the runtime's, like runc's in /run)
   * can skip the fsync, which costs milliseconds on every `run`.
   */
  durable?: boolean;
}

/** writeFileAtomic's temp files: `.<name>.<writer pid>-<random>.tmp`. */
const ATOMIC_TEMP = /^\..+\.(\d+)-[0-9a-f]+\.tmp$/;

/**
 * Crash-safe replacement of a file: write a temp file beside it, fsync, rename over.
 * A reader sees the old content or the new, never a torn file. The temp file names its
 * writer, so that one a kill left behind can be told from one being written
 * (removeDeadWritersTemps).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: number | AtomicWriteOptions = {}): void {
  const { mode = 0o644, durable = true } = typeof opts === "number" ? { mode: opts } : opts;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
  const fd = fs.openSync(tmp, "wx", mode);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function writeJsonAtomic(file: string, value: unknown, opts: number | AtomicWriteOptions = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n", opts);
}

/** Whether a process with this pid exists (a reused pid only keeps a stale temp file longer). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Removes the temp files in dir that writeFileAtomic writers killed mid-write left. */
export function removeDeadWritersTemps(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = ATOMIC_TEMP.exec(name);
    if (!m || pidExists(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
}

/** JSON of a file, or undefined when the file does not exist. */
export function readJsonIfExists<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

/**
 * rm -rf without following symlinks. Plainer than fs.rmSync's recursive mode (which retries
 * and stats every entry): tsrun's own trees are small and nobody else writes into them.
 */
export function removeTreeSync(p: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(p, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") return fs.unlinkSync(p);
    throw e;
  }
  for (const e of entries) {
    const child = path.join(p, e.name);
    if (e.isDirectory()) removeTreeSync(child);
    else fs.unlinkSync(child);
  }
  fs.rmdirSync(p);
}

/**
 * `docker cp` in both directions, with Docker's semantics: its client's decisions
 * (copy-info.ts) and its daemon's work, which here is tsrun-cp's, in the container's view
 * (view.ts) on one side and on the host on the other. Between the two helpers flow records
 * (records.ts), renamed on the way as Docker renames its archive's entries; the tar stream
 * Docker would send is what `-` reads or writes and what the progress counts (tar.ts).
 */
import { once } from "node:events";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TsrunError, invalidArgument, systemError, type ErrorKind } from "../../common/index.js";
import type { Engine } from "../engine.js";
import {
  copyInfoDestinationPath,
  copyInfoSourcePath,
  localContentSize,
  prepareArchiveCopy,
  resolveLocalPath,
  unwritableKind,
  validateOutputPath,
  type CopyInfo,
} from "./copy-info.js";
import { Helper, HelperError } from "./helper.js";
import { archiveName, containerPath, getRebaseName, join, splitPathDirEntry } from "./paths.js";
import { RecordType, decodeRecords, encodeRecords, isDir, isSymlink, type CpRecord, type RecordWithData } from "./records.js";
import { recordsToTar, tarSize, tarToRecords } from "./tar.js";
import { withContainerView, type ContainerView } from "./view.js";

export interface CopyOptions {
  /** -L: a symlink given as the source is followed. */
  followLink?: boolean;
  /** -a: the copy keeps the source's uid and gid (else it belongs to the container's root, or to the invoking user). */
  archive?: boolean;
  /** Called with the size so far of the tar stream Docker would transfer. */
  onProgress?: (bytes: number) => void;
  /** Aborting kills the copy; what was written stays (as with Docker). */
  signal?: AbortSignal;
}

/** Docker's ContainerPathStat. */
export interface PathStat {
  name: string;
  size: number;
  /** st_mode: type and permission bits. */
  mode: number;
  mtime: number;
  /** For a symlink: the path it leads to, resolved inside the container. */
  linkTarget: string;
}

export interface CopyFromResult {
  stat: PathStat;
  /** The local destination as Docker prints it (absolute; "" for a stream). */
  destination: string;
  /** Bytes of the tar stream. */
  transferred: number;
}

export interface CopyToResult {
  /** Bytes of regular files copied from a local path (undefined for a tar stream). */
  contentSize?: number;
  transferred: number;
  /** The destination inside the container, a symlink at it followed (Docker prints it). */
  destination: string;
}

/** A failure on the container's side (Docker's daemon): shown as "Error response from daemon: …". */
export class ContainerSideError extends TsrunError {
  constructor(kind: ErrorKind, message: string) {
    super(kind, message);
  }
}

/** `cp CONTAINER:SRC DEST`, DEST a local path or a stream that gets the tar (`-`). */
export async function copyFromContainer(
  engine: Engine,
  ref: string,
  srcPath: string,
  dest: string | NodeJS.WritableStream,
  opts: CopyOptions = {},
): Promise<CopyFromResult> {
  const dstPath = typeof dest === "string" ? resolveLocalPath(dest) : undefined;
  validateOutputPath(dstPath ?? "-");
  return withContainerView(engine, ref, async (view) => {
    let src = srcPath;
    let rebaseName: string | undefined;
    if (opts.followLink) {
      const st = await statIn(view, src).catch(() => undefined);
      if (st && isSymlink(st)) {
        const target = st.linkTarget.startsWith("/") ? st.linkTarget : join(splitPathDirEntry(src).dir, st.linkTarget);
        ({ resolved: src, rebaseName } = getRebaseName(src, target));
      }
    }
    const top = archiveName(containerPath(src));
    const archive = new Helper(view.target, ["archive", containerPath(src), top], src);
    const records = decodeRecords(archive.stdout);
    try {
      const stat = pathStat(await firstRecord(archive, records), containerPath(src));
      let transferred = 0;
      const count = (n: number) => opts.onProgress?.((transferred += n));
      if (dstPath === undefined) {
        // The daemon's archive as it is: no renaming for a stream (docker/cli writes it as received).
        await runAll([archive], writeAll(dest as NodeJS.WritableStream, countBytes(recordsToTar(records), count)), opts.signal);
        return { stat, transferred, destination: "" };
      }
      const srcInfo: CopyInfo = { path: src, exists: true, isDir: isDir(stat), ...(rebaseName ? { rebaseName } : {}) };
      const prepared = prepareArchiveCopy(srcInfo, copyInfoDestinationPath(dstPath));
      const extract = new Helper(undefined, ["extract", prepared.dstDir, ...(opts.archive ? ["--keep-owner"] : [])]);
      const renamed = rename(records, top, prepared.renameTo ?? rebaseName ?? top);
      await runAll([archive, extract], pipeline(Readable.from(encodeRecords(countTar(renamed, count))), extract.stdin), opts.signal);
      return { stat, transferred, destination: dstPath };
    } catch (e) {
      archive.kill();
      throw userError(e, ref);
    }
  });
}

/** `cp SRC CONTAINER:DEST`, SRC a local path or a tar stream (`-`, into a directory). */
export async function copyToContainer(
  engine: Engine,
  ref: string,
  source: string | NodeJS.ReadableStream,
  dstPath: string,
  opts: CopyOptions = {},
): Promise<CopyToResult> {
  const srcPath = typeof source === "string" ? resolveLocalPath(source) : undefined;
  return withContainerView(engine, ref, async (view) => {
    const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false };
    let st = await statIn(view, dstPath).catch(() => undefined);
    if (st && isSymlink(st)) {
      dstInfo.path = st.linkTarget.startsWith("/") ? st.linkTarget : join(splitPathDirEntry(dstPath).dir, st.linkTarget);
      st = await statIn(view, dstInfo.path).catch(() => undefined);
    }
    if (st) {
      const why = unwritableKind(st.mode);
      if (why) throw invalidArgument(`destination "${ref}:${dstPath}" must be a directory or a regular file: ${why}`);
      dstInfo.exists = true;
      dstInfo.isDir = isDir(st);
    }
    const keepOwner = opts.archive ? ["--keep-owner"] : [];
    if (srcPath === undefined) {
      if (!dstInfo.isDir) throw invalidArgument(`destination "${ref}:${dstPath}" must be a directory`);
      const extract = new Helper(view.target, ["extract", containerPath(dstInfo.path), ...keepOwner], dstInfo.path);
      const records = tarToRecords(source as Readable);
      try {
        await runAll([extract], pipeline(Readable.from(encodeRecords(records)), extract.stdin), opts.signal);
      } catch (e) {
        if (e instanceof HelperError || opts.signal?.aborted) throw userError(e, ref);
        // Reading the archive is the daemon's part in Docker: a bad archive is its error.
        throw new ContainerSideError("invalid-argument", (e as Error).message);
      }
      // docker/cli counts nothing it reads from stdin.
      return { transferred: 0, destination: dstInfo.path };
    }
    const srcInfo = copyInfoSourcePath(srcPath, opts.followLink === true);
    const contentSize = localContentSize(srcInfo.path);
    const prepared = prepareArchiveCopy(srcInfo, dstInfo);
    const top = archiveName(srcInfo.path);
    const archive = new Helper(undefined, ["archive", srcInfo.path, top], srcInfo.path);
    const extract = new Helper(view.target, ["extract", containerPath(prepared.dstDir), ...keepOwner], prepared.dstDir);
    let transferred = 0;
    const count = (n: number) => opts.onProgress?.((transferred += n));
    const renamed = rename(withoutStat(decodeRecords(archive.stdout)), top, prepared.renameTo ?? srcInfo.rebaseName ?? top);
    try {
      await runAll([archive, extract], pipeline(Readable.from(encodeRecords(countTar(renamed, count))), extract.stdin), opts.signal);
    } catch (e) {
      throw userError(e, ref);
    }
    return { ...(contentSize !== undefined ? { contentSize } : {}), transferred, destination: dstInfo.path };
  });
}

// ---------------------------------------------------------------------------------------

/** Docker's ContainerStatPath: what path is in the container (a final symlink not followed). */
async function statIn(view: ContainerView, p: string): Promise<PathStat> {
  const helper = new Helper(view.target, ["stat", containerPath(p)], p);
  const read = (async () => {
    for await (const { record } of decodeRecords(helper.stdout)) {
      if (record.type === RecordType.Stat) return record;
    }
    throw new Error("the copy helper sent no STAT record");
  })();
  const [record, done] = await Promise.allSettled([read, helper.done]);
  if (done.status === "rejected") throw done.reason;
  if (record.status === "rejected") throw record.reason;
  return pathStat(record.value, containerPath(p));
}

function pathStat(r: CpRecord, absPath: string): PathStat {
  return { name: splitPathDirEntry(absPath).base, size: r.size, mode: r.mode, mtime: r.mtime, linkTarget: r.link.toString() };
}

/** The STAT an archive starts with; if there is none, the helper's own failure. */
async function firstRecord(helper: Helper, records: AsyncGenerator<RecordWithData>): Promise<CpRecord> {
  try {
    const first = await records.next();
    if (first.done || first.value.record.type !== RecordType.Stat) throw new Error("the copy stream does not start with STAT");
    return first.value.record;
  } catch (e) {
    throw (await helper.done.then(
      () => undefined,
      (failure: unknown) => failure,
    )) ?? e;
  }
}

async function* withoutStat(records: AsyncIterable<RecordWithData>): AsyncGenerator<RecordWithData> {
  for await (const r of records) if (r.record.type !== RecordType.Stat) yield r;
}

/** Docker's RebaseArchiveEntries: the top entry `from` (and what is under it) renamed `to`. */
async function* rename(records: AsyncIterable<RecordWithData>, from: string, to: string): AsyncGenerator<RecordWithData> {
  const old = Buffer.from(from);
  const renamed = (name: Buffer) => {
    if (name.equals(old)) return Buffer.from(to);
    if (name.length > old.length && name[old.length] === 0x2f && name.subarray(0, old.length).equals(old)) {
      return Buffer.concat([Buffer.from(to), name.subarray(old.length)]);
    }
    return name;
  };
  for await (const r of records) {
    if (from !== to && (r.record.type === RecordType.Entry || r.record.type === RecordType.Hardlink)) {
      r.record.name = renamed(r.record.name);
      if (r.record.type === RecordType.Hardlink) r.record.link = renamed(r.record.link);
    }
    yield r;
  }
}

/** Passes records through, counting the tar bytes each amounts to. */
async function* countTar(records: AsyncIterable<RecordWithData>, count: (n: number) => void): AsyncGenerator<RecordWithData> {
  for await (const r of records) {
    count(tarSize(r.record));
    yield r;
  }
}

async function* countBytes(chunks: AsyncIterable<Buffer>, count: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    count(c.length);
    yield c;
  }
}

/** Writes chunks to a stream we do not own (stdout): waits for drain, never ends it. */
async function writeAll(sink: NodeJS.WritableStream, chunks: AsyncIterable<Buffer>): Promise<void> {
  let failure: unknown;
  const onError = (e: unknown) => (failure ??= e);
  sink.on("error", onError);
  try {
    for await (const c of chunks) {
      if (failure) throw failure;
      if (!sink.write(c)) await once(sink as unknown as NodeJS.EventEmitter, "drain");
    }
    if (failure) throw failure;
  } finally {
    sink.off("error", onError);
  }
}

/**
 * Runs a copy's parts to their end. When one fails the helpers are killed (so nothing waits
 * on a pipe forever) and the error reported is the first real one: an interruption, else a
 * helper's own failure, else the first other one, rather than a "stream ended early" that
 * only echoes it.
 */
async function runAll(helpers: Helper[], feed: Promise<void>, signal?: AbortSignal): Promise<void> {
  const failures: unknown[] = [];
  const killAll = () => helpers.forEach((h) => h.kill());
  const watch = (p: Promise<void>) =>
    p.catch((e: unknown) => {
      failures.push(e);
      killAll();
    });
  const onAbort = () => {
    failures.unshift(systemError("The copy was interrupted"));
    killAll();
  };
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.all([watch(feed), ...helpers.map((h) => watch(h.done))]);
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (failures.length === 0) return;
  if (signal?.aborted) throw failures[0];
  // A truncated stream only echoes the failure of whoever stopped writing it.
  const echo = (e: unknown) => (e instanceof HelperError && e.aboutStream) || (e instanceof Error && e.message === "the copy stream ended early");
  const own = failures.find((e): e is HelperError => e instanceof HelperError && !e.aboutStream);
  throw own ?? failures.find((e) => !echo(e)) ?? failures[0];
}

/** A helper's failure in the user's terms: Docker's daemon messages for the container's side. */
function userError(e: unknown, ref: string): unknown {
  if (!(e instanceof HelperError)) return e;
  if (e.inContainer) {
    if (e.kind === "not-found") return new ContainerSideError("not-found", `Could not find the file ${e.shownPath} in container ${ref}`);
    return new ContainerSideError(e.kind === "invalid" ? "invalid-argument" : "system", e.message);
  }
  if (e.kind === "not-found") return systemError(`lstat ${e.path}: no such file or directory`);
  return e.kind === "invalid" ? invalidArgument(e.message) : systemError(e.message);
}

/**
 * Reading tar streams with tar-stream, plus the one thing it gets wrong for images: PAX
 * record values are binary in practice (Go's archive/tar writes `SCHILY.xattr.*` values as
 * raw bytes, e.g. security.capability), but tar-stream decodes them as UTF-8, which mangles
 * any byte ≥ 0x80. So we also keep the raw bytes of each entry's PAX header and decode them
 * ourselves (paxRecords below). The hook is tar-stream's `_decodeLongHeader(buf)`, the one
 * place the raw header reaches; if a later tar-stream renames it, readTar() throws at once
 * (and the xattr tests fail) rather than silently losing capabilities.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, type Header } from "tar-stream";
import { drain } from "./digest.js";

export interface TarHeader extends Omit<Header, "pax"> {
  /** PAX records as tar-stream decoded them (UTF-8); use TarEntry.pax for binary-safe values. */
  pax?: Record<string, string> | null;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's content; whatever the consumer leaves unread is skipped. */
  body: AsyncIterable<Buffer>;
  /** The entry's own PAX records (not the global ones), values as raw bytes. */
  pax: Map<string, Buffer>;
}

type HookableExtract = ReturnType<typeof tarExtract> & {
  _decodeLongHeader?: (this: { _header: { type: string } }, buf: Buffer) => void;
};

/**
 * Decodes a PAX extended header: records "<len> <key>=<value>\n" where <len> counts bytes.
 * Keys are UTF-8, values are kept as bytes.
 */
export function paxRecords(buf: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let rest = buf;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    if (space <= 0) break;
    const len = Number.parseInt(rest.subarray(0, space).toString("latin1"), 10);
    if (!Number.isSafeInteger(len) || len <= space + 1 || len > rest.length) break;
    const record = rest.subarray(space + 1, len - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq > 0) records.set(record.subarray(0, eq).toString("utf8"), Buffer.from(record.subarray(eq + 1)));
    rest = rest.subarray(len);
  }
  return records;
}

/** An entry body whose read errors are replaced by the extractor's own error. */
async function* guard(body: AsyncIterable<Buffer>, realError: (e: unknown) => Promise<unknown>): AsyncGenerator<Buffer> {
  try {
    yield* body;
  } catch (e) {
    throw await realError(e);
  }
}

/**
 * The entries of a tar stream, in order. A truncated or malformed archive makes the
 * iteration throw. Breaking out of the loop stops reading the source.
 */
export async function* readTar(source: Readable): AsyncGenerator<TarEntry> {
  const extract = tarExtract() as HookableExtract;
  const decodeLongHeader = extract._decodeLongHeader;
  if (typeof decodeLongHeader !== "function") {
    throw new Error("Cannot read PAX headers: tar-stream no longer has _decodeLongHeader");
  }
  let rawPax: Buffer | undefined;
  extract._decodeLongHeader = function (buf: Buffer) {
    if (this._header.type === "pax-header") rawPax = Buffer.from(buf);
    return decodeLongHeader.call(this, buf);
  };

  // The first error of the extractor is the real one (a truncated archive, bad gzip data);
  // entry streams torn down by it only say "Stream was destroyed".
  let failure: unknown;
  extract.on("error", (e: unknown) => (failure ??= e));
  const feeding = pipeline(source, extract);
  feeding.catch((e: unknown) => (failure ??= e));
  const realError = async (e: unknown): Promise<unknown> => {
    await new Promise((resolve) => setImmediate(resolve));
    return failure ?? e;
  };
  try {
    for await (const body of extract as AsyncIterable<AsyncIterable<Buffer> & { header: TarHeader }>) {
      const pax = body.header.pax && rawPax ? paxRecords(rawPax) : new Map<string, Buffer>();
      rawPax = undefined;
      yield { header: body.header, body: guard(body, realError), pax };
      await drain(body);
    }
    await feeding;
  } catch (e) {
    throw await realError(e);
  } finally {
    if (!extract.destroyed) extract.destroy();
    source.destroy();
  }
}

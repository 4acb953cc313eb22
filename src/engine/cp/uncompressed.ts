/**
 * The tar inside an archive given to `cp -`: Docker's Untar takes it plain or compressed,
 * detected by content. gzip is read here (zlib, loaded only with this module); other
 * compressions are refused with a clear message.
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { invalidArgument } from "../../common/index.js";
import { detectCompression } from "../../image/compression.js";

export async function uncompressed(source: Readable): Promise<Readable> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < 6 && !ended) {
    const next = await it.next();
    if (next.done) ended = true;
    else {
      head.push(next.value);
      length += next.value.length;
    }
  }
  const first = Buffer.concat(head);
  const whole = Readable.from(
    (async function* () {
      yield first;
      if (ended) return;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    })(),
  );
  const compression = detectCompression(first);
  if (compression === "none") return whole;
  if (compression !== "gzip") throw invalidArgument(`Cannot extract the archive: ${compression}-compressed archives are not supported`);
  const gunzip = zlib.createGunzip();
  pipeline(whole, gunzip).catch(() => undefined); // gunzip's reader sees the error
  return gunzip;
}

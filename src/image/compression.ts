/**
 * Layer compression, detected by content (magic bytes), never by name or media type:
 * docker-archive layers carry no media type, and a mislabelled layer must still unpack.
 * Node has gzip built in; zstd is refused with a clear message (Node 20 has no zstd).
 */
import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { invalidArgument } from "../common/index.js";

export type Compression = "none" | "gzip" | "zstd" | "bzip2" | "xz";

const MAGIC: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

export function detectCompression(head: Uint8Array): Compression {
  for (const [kind, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return kind;
  }
  return "none";
}

export function sniffFile(file: string): Compression {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(6);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return detectCompression(head.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/** `source` through gunzip; an error or early close on either side tears down both. */
function gunzipped(source: Readable): Readable {
  const gunzip = zlib.createGunzip();
  // The consumer of gunzip sees any error; this only keeps the rejection handled.
  pipeline(source, gunzip).catch(() => undefined);
  return gunzip;
}

/** The uncompressed tar stream of a layer file. `what` names the layer in errors. */
export function openLayerFile(file: string, what: string): { compression: Compression; stream: Readable } {
  const compression = sniffFile(file);
  if (compression !== "none" && compression !== "gzip") {
    throw invalidArgument(`Cannot read layer ${what}: ${compression}-compressed layers are not supported`);
  }
  const raw = fs.createReadStream(file);
  return { compression, stream: compression === "gzip" ? gunzipped(raw) : raw };
}

/**
 * The tar inside an archive stream that may be gzip-compressed (`docker load` accepts
 * both), detected from its first bytes without buffering more than a chunk.
 */
export async function decompressArchive(input: Readable): Promise<Readable> {
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < 6) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const head = Buffer.concat(chunks);
  const whole = Readable.from(
    (async function* () {
      yield head;
      if (ended) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
    { objectMode: false },
  );
  const compression = detectCompression(head);
  if (compression === "none") return whole;
  if (compression === "gzip") {
    return gunzipped(whole);
  }
  whole.destroy();
  throw invalidArgument(`Cannot load archive: ${compression}-compressed archives are not supported`);
}

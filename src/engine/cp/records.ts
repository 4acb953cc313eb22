/**
 * The record stream of tsrun-cp (native/src/cp-records.h is the other half; change both
 * together): how a tree of files crosses between the helper and tsrun. The helper reads and
 * writes files; tar is this side's business (tar.ts).
 *
 * Stream: {u32 magic "TSCP", u32 version}, then records, the last one END. A record is a
 * 56-byte little-endian header {u8 type, 3 × 0, u32 mode, uid, gid, devmajor, devminor,
 * u64 size, i64 mtime (s), u32 name_len, link_len, xattr_len, 0}, then the name, the link,
 * the security.capability value, then `size` bytes of data for an entry of a regular file.
 */

export const STREAM_MAGIC = 0x50435354;
export const STREAM_VERSION = 1;
export const HEADER_SIZE = 56;

export const RecordType = {
  /** A file, directory, symlink (link: its target), fifo or device; data follows for files. */
  Entry: 1,
  /** A hard link to an earlier entry of the stream, named in link. */
  Hardlink: 2,
  /** What a path is (first record of an archive); link: a symlink's target resolved in scope. */
  Stat: 3,
  /** The stream is complete. */
  End: 4,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const MAX_NAME = 65536;
const MAX_XATTR = 4096;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export interface CpRecord {
  type: RecordType;
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  devmajor: number;
  devminor: number;
  /** Data bytes that follow an entry of a regular file; st_size in a STAT. */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes, as the filesystem has them (not necessarily UTF-8). */
  name: Buffer;
  link: Buffer;
  /** security.capability (VFS_CAP_REVISION_2), or empty. */
  xattr: Buffer;
}

/** A record with its data (exactly record.size bytes for a regular file, else nothing). */
export interface RecordWithData {
  record: CpRecord;
  data?: AsyncIterable<Buffer>;
}

export const isDir = (r: Pick<CpRecord, "mode">) => (r.mode & S_IFMT) === S_IFDIR;
export const isSymlink = (r: Pick<CpRecord, "mode">) => (r.mode & S_IFMT) === S_IFLNK;
export const carriesData = (r: CpRecord) => r.type === RecordType.Entry && (r.mode & S_IFMT) === S_IFREG;

export function streamHeader(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(STREAM_MAGIC, 0);
  b.writeUInt32LE(STREAM_VERSION, 4);
  return b;
}

export function encodeRecord(r: CpRecord): Buffer {
  const h = Buffer.alloc(HEADER_SIZE + r.name.length + r.link.length + r.xattr.length);
  h.writeUInt8(r.type, 0);
  h.writeUInt32LE(r.mode >>> 0, 4);
  h.writeUInt32LE(r.uid >>> 0, 8);
  h.writeUInt32LE(r.gid >>> 0, 12);
  h.writeUInt32LE(r.devmajor >>> 0, 16);
  h.writeUInt32LE(r.devminor >>> 0, 20);
  h.writeBigUInt64LE(BigInt(r.size), 24);
  h.writeBigInt64LE(BigInt(Math.trunc(r.mtime)), 32);
  h.writeUInt32LE(r.name.length, 40);
  h.writeUInt32LE(r.link.length, 44);
  h.writeUInt32LE(r.xattr.length, 48);
  r.name.copy(h, HEADER_SIZE);
  r.link.copy(h, HEADER_SIZE + r.name.length);
  r.xattr.copy(h, HEADER_SIZE + r.name.length + r.link.length);
  return h;
}

export const endRecord = (): CpRecord => ({
  type: RecordType.End,
  mode: 0,
  uid: 0,
  gid: 0,
  devmajor: 0,
  devminor: 0,
  size: 0,
  mtime: 0,
  name: Buffer.alloc(0),
  link: Buffer.alloc(0),
  xattr: Buffer.alloc(0),
});

/** The byte stream of records (the caller's END included), data passed through in order. */
export async function* encodeRecords(records: AsyncIterable<RecordWithData>): AsyncGenerator<Buffer> {
  yield streamHeader();
  for await (const { record, data } of records) {
    yield encodeRecord(record);
    if (!carriesData(record)) continue;
    let left = record.size;
    for await (const chunk of data ?? []) {
      left -= chunk.length;
      if (left < 0) throw new Error(`Entry "${record.name}" has more data than its size ${record.size}`);
      yield chunk;
    }
    if (left > 0) throw new Error(`Entry "${record.name}" ended ${left} bytes short of its size ${record.size}`);
  }
}

/** Reads exact byte counts from an async stream of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** n bytes, or undefined at the end of the stream before any of them. */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      const next = await this.it.next();
      if (next.done) {
        if (this.buf.length === 0) return undefined;
        throw new Error("the copy stream ended early");
      }
      this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next bytes of the stream, at most max of them. */
  async some(max: number): Promise<Buffer> {
    if (this.buf.length === 0) {
      const next = await this.it.next();
      if (next.done) throw new Error("the copy stream ended early");
      this.buf = next.value;
    }
    const take = Math.min(max, this.buf.length);
    const out = this.buf.subarray(0, take);
    this.buf = this.buf.subarray(take);
    return out;
  }
}

function decodeHeader(h: Buffer): { record: CpRecord; lengths: [number, number, number] } {
  const type = h.readUInt8(0);
  if (type < RecordType.Entry || type > RecordType.End) throw new Error(`unknown record type ${type}`);
  const size = h.readBigUInt64LE(24);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`a record size of ${size} bytes is too large`);
  const lengths: [number, number, number] = [h.readUInt32LE(40), h.readUInt32LE(44), h.readUInt32LE(48)];
  if (lengths[0] > MAX_NAME || lengths[1] > MAX_NAME || lengths[2] > MAX_XATTR) throw new Error("a record field is too long");
  const empty = Buffer.alloc(0);
  return {
    record: {
      type: type as RecordType,
      mode: h.readUInt32LE(4),
      uid: h.readUInt32LE(8),
      gid: h.readUInt32LE(12),
      devmajor: h.readUInt32LE(16),
      devminor: h.readUInt32LE(20),
      size: Number(size),
      mtime: Number(h.readBigInt64LE(32)),
      name: empty,
      link: empty,
      xattr: empty,
    },
    lengths,
  };
}

/**
 * The records of a stream, up to and including END. Each one's data must be consumed (or
 * abandoned) before the next is asked for. A stream that ends without END throws.
 */
export async function* decodeRecords(source: AsyncIterable<Buffer>): AsyncGenerator<RecordWithData> {
  const r = new ByteReader(source);
  const head = await r.exact(8);
  if (!head) throw new Error("the copy stream is empty");
  if (head.readUInt32LE(0) !== STREAM_MAGIC || head.readUInt32LE(4) !== STREAM_VERSION) {
    throw new Error(`not a tsrun-cp stream of version ${STREAM_VERSION}`);
  }
  for (;;) {
    const h = await r.exact(HEADER_SIZE);
    if (!h) throw new Error("the copy stream ended early");
    const { record, lengths } = decodeHeader(h);
    const [nameLen, linkLen, xattrLen] = lengths;
    const fields = (await r.exact(nameLen + linkLen + xattrLen)) ?? Buffer.alloc(0);
    record.name = Buffer.from(fields.subarray(0, nameLen));
    record.link = Buffer.from(fields.subarray(nameLen, nameLen + linkLen));
    record.xattr = Buffer.from(fields.subarray(nameLen + linkLen));
    if (record.type === RecordType.End) {
      yield { record };
      return;
    }
    if (!carriesData(record)) {
      yield { record };
      continue;
    }
    let left = record.size;
    const data = (async function* () {
      while (left > 0) {
        const chunk = await r.some(left);
        left -= chunk.length;
        yield chunk;
      }
    })();
    yield { record, data };
    // Whatever the consumer left unread is skipped.
    while (left > 0) left -= (await r.some(left)).length;
  }
}

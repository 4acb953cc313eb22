/**
 * Tar on tsrun's side of `cp`: records → tar for `cp CONTAINER:SRC -` (and the size of the
 * tar a copy amounts to, which Docker reports), tar → records for `cp - CONTAINER:DEST`.
 *
 * Writing follows Go's archive/tar as Docker uses it (FormatPAX): a USTAR header when every
 * field fits (long names split into prefix and name), else PAX records for what does not —
 * path, linkpath, uid, gid, size, mtime, SCHILY.xattr.security.capability — written as raw
 * bytes (file names need not be UTF-8, capabilities are binary). No user or group names:
 * they would be looked up in the wrong passwd. Reading goes through tar-stream (the image
 * store's readTar, which keeps PAX values as bytes); names from PAX records are exact, names
 * from plain USTAR fields are read as UTF-8, as tar-stream decodes them.
 */
import type { Readable } from "node:stream";
import { invalidArgument } from "../../common/index.js";
import type { TarEntry } from "../../image/tar.js";
import {
  RecordType,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  carriesData,
  endRecord,
  type CpRecord,
  type RecordWithData,
} from "./records.js";

const BLOCK = 512;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
const MAX_ID = 0o7777777;
const MAX_BIG = 0o77777777777;
const CAP_KEY = "SCHILY.xattr.security.capability";

const padding = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;
const isAscii = (b: Buffer) => b.every((c) => c < 0x80 && c !== 0);

/** Go's splitUSTARPath: a name of up to 256 ASCII bytes split at a "/" into prefix and name. */
function splitUstar(name: Buffer): [Buffer, Buffer] | undefined {
  if (name.length <= NAME_SIZE || !isAscii(name)) return undefined;
  let length = name.length;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === 0x2f) length--;
  const i = name.subarray(0, length).lastIndexOf(0x2f);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return undefined;
  return [name.subarray(0, i), name.subarray(i + 1)];
}

/** Zero-padded octal with a terminating NUL (Go's formatOctal); 0 when it does not fit. */
function putOctal(b: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8);
  b.write(s.length <= len - 1 && value >= 0 ? s.padStart(len - 1, "0") : "0".repeat(len - 1), off, "latin1");
  b[off + len - 1] = 0;
}

function putBytes(b: Buffer, off: number, len: number, value: Buffer): void {
  value.copy(b, off, 0, Math.min(len, value.length));
}

interface HeaderFields {
  name: Buffer;
  prefix?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

function block(f: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  putBytes(b, 0, NAME_SIZE, f.name);
  putOctal(b, 100, 8, f.mode);
  putOctal(b, 108, 8, f.uid);
  putOctal(b, 116, 8, f.gid);
  putOctal(b, 124, 12, f.size);
  putOctal(b, 136, 12, f.mtime);
  b.write(f.typeflag, 156, "latin1");
  putBytes(b, 157, NAME_SIZE, f.linkname);
  b.write("ustar\u000000", 257, "latin1");
  putOctal(b, 329, 8, f.devmajor);
  putOctal(b, 337, 8, f.devminor);
  if (f.prefix) putBytes(b, 345, PREFIX_SIZE, f.prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, "0"), 148, "latin1");
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + String(body.length).length;
  if (String(len).length !== String(body.length).length) len = body.length + String(len).length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const TYPEFLAG: Record<number, string> = { [S_IFREG]: "0", [S_IFLNK]: "2", [S_IFCHR]: "3", [S_IFBLK]: "4", [S_IFDIR]: "5", [S_IFIFO]: "6" };

/** The tar header block(s) of one record: PAX extended header and data first when needed. */
export function tarHeader(r: CpRecord): Buffer {
  const type = r.mode & S_IFMT;
  const dirEntry = r.type === RecordType.Entry && type === S_IFDIR;
  const name = dirEntry && !r.name.toString("latin1").endsWith("/") ? Buffer.concat([r.name, Buffer.from("/")]) : r.name;
  const typeflag = r.type === RecordType.Hardlink ? "1" : TYPEFLAG[type];
  if (typeflag === undefined) throw new Error(`Cannot archive "${r.name}": unknown file type ${type.toString(8)}`);
  const size = carriesData(r) ? r.size : 0;
  const device = type === S_IFCHR || type === S_IFBLK;
  const f: HeaderFields = {
    name,
    mode: r.mode & 0o7777,
    uid: r.uid,
    gid: r.gid,
    size,
    mtime: r.mtime,
    typeflag,
    linkname: r.link,
    devmajor: device ? r.devmajor : 0,
    devminor: device ? r.devminor : 0,
  };
  const pax: [string, Buffer][] = [];
  const split = splitUstar(name);
  if (!(isAscii(name) && (name.length <= NAME_SIZE || split))) pax.push(["path", name]);
  if (!(isAscii(r.link) && r.link.length <= NAME_SIZE)) pax.push(["linkpath", r.link]);
  if (r.uid > MAX_ID) pax.push(["uid", Buffer.from(String(r.uid))]);
  if (r.gid > MAX_ID) pax.push(["gid", Buffer.from(String(r.gid))]);
  if (size > MAX_BIG) pax.push(["size", Buffer.from(String(size))]);
  if (r.mtime < 0 || r.mtime > MAX_BIG) pax.push(["mtime", Buffer.from(String(r.mtime))]);
  if (r.xattr.length > 0) pax.push([CAP_KEY, r.xattr]);
  if (pax.length === 0) {
    if (split && name.length > NAME_SIZE) [f.prefix, f.name] = split;
    return block(f);
  }
  // Go's PAX writer: the main header keeps an ASCII best effort of the name, no prefix.
  f.name = Buffer.from(name.toString("latin1").replace(/[^\x01-\x7f]/g, ""), "latin1");
  const data = Buffer.concat(pax.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => paxRecord(k, v)));
  const full = name.toString("latin1");
  const slash = full.replace(/\/$/, "").lastIndexOf("/");
  const paxName = `${full.slice(0, slash + 1)}PaxHeaders.0/${full.slice(slash + 1)}`.replace(/[^\x01-\x7f]/g, "").slice(0, NAME_SIZE).replace(/\/+$/, "");
  const paxBlock = block({ name: Buffer.from(paxName, "latin1"), mode: 0, uid: 0, gid: 0, size: data.length, mtime: 0, typeflag: "x", linkname: Buffer.alloc(0), devmajor: 0, devminor: 0 });
  return Buffer.concat([paxBlock, data, Buffer.alloc(padding(data.length)), block(f)]);
}

/** The bytes a record takes in a tar: its header(s) and its data padded to a block. */
export function tarSize(r: CpRecord): number {
  if (r.type !== RecordType.Entry && r.type !== RecordType.Hardlink) return r.type === RecordType.End ? 2 * BLOCK : 0;
  const size = carriesData(r) ? r.size : 0;
  return tarHeader(r).length + size + padding(size);
}

/** A tar stream of the records (up to END; STAT records are not entries). */
export async function* recordsToTar(records: AsyncIterable<RecordWithData>): AsyncGenerator<Buffer> {
  for await (const { record, data } of records) {
    if (record.type === RecordType.Stat) continue;
    if (record.type === RecordType.End) break;
    yield tarHeader(record);
    if (!carriesData(record)) continue;
    for await (const chunk of data ?? []) yield chunk;
    const pad = padding(record.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}

const MODE_OF_TYPE: Record<string, number> = {
  file: S_IFREG,
  "contiguous-file": S_IFREG,
  directory: S_IFDIR,
  symlink: S_IFLNK,
  "character-device": S_IFCHR,
  "block-device": S_IFBLK,
  fifo: S_IFIFO,
};

function paxNumber(pax: Map<string, Buffer>, key: string): number | undefined {
  const v = pax.get(key);
  if (!v) return undefined;
  const n = Math.floor(Number(v.toString("latin1")));
  return Number.isSafeInteger(n) ? n : undefined;
}

function recordOf(entry: TarEntry): CpRecord {
  const h = entry.header;
  const hardlink = h.type === "link";
  const fileType = MODE_OF_TYPE[h.type ?? ""];
  if (!hardlink && fileType === undefined) throw invalidArgument(`unhandled tar header type ${h.type ?? "unknown"} of "${h.name}"`);
  const name = entry.pax.get("path") ?? Buffer.from(h.name, "utf8");
  const link = entry.pax.get("linkpath") ?? Buffer.from(h.linkname ?? "", "utf8");
  if (name.includes(0) || link.includes(0)) throw invalidArgument(`tar entry "${h.name}" has a NUL byte in its name`);
  const mtime = paxNumber(entry.pax, "mtime") ?? Math.floor((h.mtime?.getTime() ?? 0) / 1000);
  const isFile = !hardlink && fileType === S_IFREG;
  return {
    type: hardlink ? RecordType.Hardlink : RecordType.Entry,
    mode: ((fileType ?? S_IFREG) | ((h.mode ?? 0) & 0o7777)) >>> 0,
    uid: paxNumber(entry.pax, "uid") ?? h.uid ?? 0,
    gid: paxNumber(entry.pax, "gid") ?? h.gid ?? 0,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    size: isFile ? (h.size ?? 0) : 0,
    mtime,
    name,
    link,
    xattr: entry.pax.get(CAP_KEY) ?? Buffer.alloc(0),
  };
}

/** The records of a tar stream (gzip-compressed or not), then END. */
export async function* tarToRecords(source: Readable): AsyncGenerator<RecordWithData> {
  const { readTar } = await import("../../image/tar.js");
  const { uncompressed } = await import("./uncompressed.js");
  for await (const entry of readTar(await uncompressed(source))) {
    const record = recordOf(entry);
    yield carriesData(record) ? { record, data: entry.body } : { record };
  }
  yield { record: endRecord() };
}

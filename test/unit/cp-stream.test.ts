/**
 * The record stream between tsrun and tsrun-cp, and the tar `cp` reads and writes: records
 * round-trip byte for byte, tar written from records reads back (GNU tar and tar-stream) with
 * exact names and binary capabilities, and a tar read as records keeps what Docker's does.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { RecordType, S_IFDIR, S_IFLNK, S_IFREG, decodeRecords, encodeRecords, endRecord, type CpRecord, type RecordWithData } from "../../src/engine/cp/records.js";
import { recordsToTar, tarSize, tarToRecords } from "../../src/engine/cp/tar.js";
import { tarOf } from "./image-fixtures.js";

function rec(over: Partial<CpRecord> & { name: string }): CpRecord {
  return { ...endRecord(), type: RecordType.Entry, mode: S_IFREG | 0o644, mtime: 1_700_000_000, ...over, name: Buffer.from(over.name, "latin1") } as CpRecord;
}

async function* items(list: RecordWithData[]): AsyncGenerator<RecordWithData> {
  yield* list;
}

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

async function readAll(records: AsyncIterable<RecordWithData>): Promise<{ record: CpRecord; body: Buffer }[]> {
  const out: { record: CpRecord; body: Buffer }[] = [];
  for await (const { record, data } of records) out.push({ record, body: data ? await collect(data) : Buffer.alloc(0) });
  return out;
}

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

describe("the record stream", () => {
  it("round-trips records and their data, in chunks of any size", async () => {
    const list: RecordWithData[] = [
      { record: rec({ name: "d", mode: S_IFDIR | 0o755 }) },
      { record: rec({ name: "d/f\xff", size: 5, uid: 1000, gid: 1001, xattr: CAP }), data: items([]) as never },
      { record: rec({ name: "d/l", mode: S_IFLNK | 0o777, link: Buffer.from("../f") }) },
      { record: endRecord() },
    ];
    list[1]!.data = (async function* () {
      yield Buffer.from("he");
      yield Buffer.from("llo");
    })();
    const bytes = await collect(encodeRecords(items(list)));
    const oneByteAtATime = Readable.from((function* () {
      for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
    })());
    const back = await readAll(decodeRecords(oneByteAtATime));
    expect(back.map((b) => b.record.name.toString("latin1"))).toEqual(["d", "d/f\xff", "d/l", ""]);
    expect(back[1]!.record).toMatchObject({ size: 5, uid: 1000, gid: 1001, mtime: 1_700_000_000 });
    expect(back[1]!.record.xattr.equals(CAP)).toBe(true);
    expect(back[1]!.body.toString()).toBe("hello");
    expect(back[2]!.record.link.toString()).toBe("../f");
    expect(back[3]!.record.type).toBe(RecordType.End);
  });

  it("refuses a truncated stream and a foreign one", async () => {
    const bytes = await collect(encodeRecords(items([{ record: rec({ name: "a" }) }, { record: endRecord() }])));
    await expect(readAll(decodeRecords(Readable.from([bytes.subarray(0, bytes.length - 10)])))).rejects.toThrow("the copy stream ended early");
    await expect(readAll(decodeRecords(Readable.from([Buffer.from("not a stream at all")])))).rejects.toThrow(/not a tsrun-cp stream/);
  });
});

describe("tar from records", () => {
  const longName = `${"dir-".repeat(30)}/${"x".repeat(90)}`;
  const list = (): RecordWithData[] => [
    { record: rec({ name: "top", mode: S_IFDIR | 0o750 }) },
    { record: rec({ name: "top/file", size: 3, mode: S_IFREG | 0o4755 }), data: Readable.from([Buffer.from("abc")]) },
    { record: rec({ name: "top/caps", size: 0, xattr: CAP }) },
    { record: rec({ name: `top/${longName}`, size: 1 }), data: Readable.from([Buffer.from("z")]) },
    { record: rec({ name: "top/n\xe9\xff", size: 0 }) },
    { record: rec({ name: "top/link", mode: S_IFLNK | 0o777, link: Buffer.from("/".repeat(1) + "t".repeat(150)) }) },
    { record: { ...rec({ name: "top/hard" }), type: RecordType.Hardlink, link: Buffer.from("top/file") } },
    { record: rec({ name: "top/big-uid", uid: 3_000_000, gid: 5, size: 0 }) },
    { record: endRecord() },
  ];

  it("is read back by GNU tar with names, modes, links and ids", async () => {
    const tar = await collect(recordsToTar(items(list())));
    expect(tar.length % 512).toBe(0);
    expect(tar.length).toBe(list().reduce((n, r) => n + tarSize(r.record), 0));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-cp-tar-"));
    try {
      fs.writeFileSync(path.join(dir, "a.tar"), tar);
      const listing = spawnSync("tar", ["--numeric-owner", "-tvf", path.join(dir, "a.tar")], { encoding: "latin1" });
      expect(listing.status).toBe(0);
      const lines = listing.stdout.trim().split("\n");
      expect(lines[0]).toMatch(/^drwxr-x--- 0\/0 +0 .* top\/$/);
      expect(lines[1]).toMatch(/^-rwsr-xr-x 0\/0 +3 .* top\/file$/);
      expect(lines[3]).toContain(`top/${longName}`);
      expect(lines[4]).toMatch(/top\/n\\351\\377$/); // GNU tar shows the bytes escaped
      expect(lines[5]).toContain(`top/link -> /${"t".repeat(150)}`);
      expect(lines[6]).toMatch(/top\/hard link to top\/file$/);
      expect(lines[7]).toMatch(/^-rw-r--r-- 3000000\/5 /);
      const x = spawnSync("tar", ["-xf", "a.tar", "top/file"], { cwd: dir });
      expect(x.status).toBe(0);
      expect(fs.readFileSync(path.join(dir, "top/file"), "utf8")).toBe("abc");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads back as the same records (names as bytes, capabilities as bytes)", async () => {
    const tar = await collect(recordsToTar(items(list())));
    const back = await readAll(tarToRecords(Readable.from([tar])));
    const names = back.map((b) => b.record.name.toString("latin1"));
    expect(names).toEqual(["top/", "top/file", "top/caps", `top/${longName}`, "top/n\xe9\xff", "top/link", "top/hard", "top/big-uid", ""]);
    expect(back[1]!.body.toString()).toBe("abc");
    expect(back[1]!.record.mode).toBe(S_IFREG | 0o4755);
    expect(back[2]!.record.xattr.equals(CAP)).toBe(true);
    expect(back[6]!.record).toMatchObject({ type: RecordType.Hardlink });
    expect(back[6]!.record.link.toString()).toBe("top/file");
    expect(back[7]!.record).toMatchObject({ uid: 3_000_000, gid: 5 });
  });
});

describe("records from a tar (cp - CONTAINER:DIR)", () => {
  it("takes types, modes, ids and times from the headers and ends with END", async () => {
    const tar = await tarOf([
      { name: "d/", type: "directory", mode: 0o700, uid: 7, gid: 8 },
      { name: "d/f", body: "data", mode: 0o600, mtime: new Date(1_600_000_000_000) },
      { name: "d/l", type: "symlink", linkname: "f" },
      { name: "d/p", type: "fifo" },
    ]);
    const back = await readAll(tarToRecords(Readable.from([tar])));
    expect(back.map((b) => [b.record.name.toString(), b.record.mode.toString(8)])).toEqual([
      ["d/", "40700"],
      ["d/f", "100600"],
      ["d/l", "120644"],
      ["d/p", "10644"],
      ["", "0"],
    ]);
    expect(back[0]!.record).toMatchObject({ uid: 7, gid: 8 });
    expect(back[1]!.record.mtime).toBe(1_600_000_000);
    expect(back[1]!.body.toString()).toBe("data");
  });

  it("refuses what is not a tar", async () => {
    await expect(readAll(tarToRecords(Readable.from([Buffer.alloc(1024, 0x41)])))).rejects.toThrow();
  });
});

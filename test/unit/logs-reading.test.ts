/** Reading json-file logs: tail from the end, time filters, Docker's time arguments. No root needed. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogFileReader, tailOffset, type LogEntry } from "../../src/engine/logs.js";
import { parseGoDuration, parseLogTime, parseRfc3339Nano, rfc3339NanoFixed } from "../../src/engine/log-time.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-logs-unit-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A json-file log of `n` entries one second apart, from 2026-01-01T00:00:00Z. */
function writeLog(name: string, n: number, pad = 0, tail = ""): string {
  const file = path.join(dir, name);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const time = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString().replace(/\.000Z$/, `.${String(i).padStart(9, "0")}Z`);
    lines.push(JSON.stringify({ log: `line ${i}${"x".repeat(pad)}\n`, stream: i % 2 ? "stderr" : "stdout", time }));
  }
  fs.writeFileSync(file, lines.join("\n") + (n > 0 ? "\n" : "") + tail);
  return file;
}

async function read(file: string, opts: ConstructorParameters<typeof LogFileReader>[1], final = false): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  const r = new LogFileReader(file, opts, (e) => void out.push(e));
  await r.open();
  await r.readAvailable(final);
  r.close();
  return out;
}

describe("json-file log reading", () => {
  it("tails the last lines, across read-chunk boundaries", async () => {
    const file = writeLog("big.log", 3000, 100); // ~450 KB: several 64 KiB chunks
    const fd = fs.openSync(file, "r");
    try {
      const all = fs.readFileSync(file, "utf8");
      for (const n of [1, 2, 700, 2999]) {
        const off = tailOffset(fd, n);
        expect(all.slice(off).split("\n").filter(Boolean)).toHaveLength(n);
      }
      expect(tailOffset(fd, 0)).toBe(all.length);
      expect(tailOffset(fd, 5000)).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    const last = await read(file, { tail: 2 });
    expect(last.map((e) => e.log.slice(0, 9))).toEqual(["line 2998", "line 2999"]);
  });

  it("leaves a line still being written for later, unless it is the end", async () => {
    const file = writeLog("partial.log", 3, 0, '{"log":"half');
    expect((await read(file, { tail: 1 })).map((e) => e.log)).toEqual(["line 2\n"]);
    expect(await read(file, {})).toHaveLength(3);
  });

  it("keeps the streams apart and filters by --since and --until", async () => {
    const file = writeLog("times.log", 10);
    const all = await read(file, {});
    expect(all.map((e) => e.stream).slice(0, 3)).toEqual(["stdout", "stderr", "stdout"]);
    const since = parseRfc3339Nano("2026-01-01T00:00:03.000000003Z")!;
    const until = parseRfc3339Nano("2026-01-01T00:00:05.000000005Z")!;
    expect((await read(file, { since, until })).map((e) => e.log)).toEqual(["line 3\n", "line 4\n", "line 5\n"]);
    expect(await read(file, { since: since + 1n, until: since + 2n })).toEqual([]);
  });

  it("reads nothing from a log that does not exist yet", async () => {
    expect(await read(path.join(dir, "missing.log"), {})).toEqual([]);
  });
});

describe("Docker's time arguments", () => {
  const now = Date.UTC(2026, 5, 1, 12, 0, 0);
  const ns = (ms: number) => BigInt(ms) * 1_000_000n;

  it("parses Go durations", () => {
    expect(parseGoDuration("10m")).toBe(600_000_000_000n);
    expect(parseGoDuration("1h30m")).toBe(5_400_000_000_000n);
    expect(parseGoDuration("1.5s")).toBe(1_500_000_000n);
    expect(parseGoDuration("300ms")).toBe(300_000_000n);
    expect(parseGoDuration("-2h")).toBe(-7_200_000_000_000n);
    expect(parseGoDuration("10")).toBeUndefined();
    expect(parseGoDuration("abc")).toBeUndefined();
  });

  it("takes a duration before now, RFC 3339 (and its prefixes), or a Unix timestamp", () => {
    expect(parseLogTime("42m", "since", now)).toBe(ns(now - 42 * 60_000));
    expect(parseLogTime("2026-01-02T13:23:37Z", "since", now)).toBe(ns(Date.UTC(2026, 0, 2, 13, 23, 37)));
    expect(parseLogTime("2026-01-02T13:23:37.5+01:00", "since", now)).toBe(ns(Date.UTC(2026, 0, 2, 12, 23, 37, 500)));
    expect(parseLogTime("1700000000", "since", now)).toBe(1_700_000_000_000_000_000n);
    expect(parseLogTime("1700000000.25", "since", now)).toBe(1_700_000_000_250_000_000n);
    expect(parseLogTime("0", "since", now)).toBe(0n);
    const offset = -new Date(now).getTimezoneOffset() * 60_000;
    expect(parseLogTime("2026-01-02", "since", now)).toBe(ns(Date.UTC(2026, 0, 2) - offset));
    expect(parseLogTime("2026-01-02T13:23", "since", now)).toBe(ns(Date.UTC(2026, 0, 2, 13, 23) - offset));
  });

  it("refuses the rest with docker/cli's messages", () => {
    expect(() => parseLogTime("soon", "since", now)).toThrow(`invalid value for "since": failed to parse value as time or duration: "soon"`);
    expect(() => parseLogTime("2026-13-45", "until", now)).toThrow(/^invalid value for "until": parsing time "2026-13-45"/);
  });

  it("prints -t times with nine fraction digits", () => {
    expect(rfc3339NanoFixed("2026-01-01T00:00:00.5Z")).toBe("2026-01-01T00:00:00.500000000Z");
    expect(rfc3339NanoFixed("2026-01-01T00:00:00Z")).toBe("2026-01-01T00:00:00.000000000Z");
    expect(rfc3339NanoFixed("2026-01-01T00:00:00.123456789Z")).toBe("2026-01-01T00:00:00.123456789Z");
  });
});

/**
 * Docker's time arguments (`logs --since/--until`, later `events`), as docker/cli's
 * timetypes.GetTimestamp reads them: a Go duration before now ("10m", "1h30m"), an RFC
 * 3339 time or a prefix of one (zone-less ones are local time), or a Unix timestamp
 * ("1700000000.5"). Times are nanoseconds since the epoch (bigint), as precise as the
 * json-file log's.
 */
import { invalidArgument } from "../common/index.js";

const NS_PER_UNIT: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds; undefined when `s` is not a duration. */
export function parseGoDuration(s: string): bigint | undefined {
  const m = /^([+-]?)(.*)$/.exec(s)!;
  let rest = m[2]!;
  if (rest === "0") return 0n;
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const part = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!part || part[1] === "" || part[1] === ".") return undefined;
    total += Number(part[1]) * NS_PER_UNIT[part[2]!]!;
    rest = rest.slice(part[0].length);
  }
  return BigInt(Math.round(m[1] === "-" ? -total : total));
}

/** Nanoseconds since the epoch of an RFC 3339 time ("…T…Z", with a fraction of up to 9 digits). */
export function parseRfc3339Nano(s: string): bigint | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? "").padEnd(9, "0") || "0");
}

/**
 * A --since/--until value → nanoseconds since the epoch; `flag` names it in errors
 * (`invalid value for "since": …`, as docker/cli says).
 */
export function parseLogTime(value: string, flag: string, now: number = Date.now()): bigint {
  const fail = (why: string) => invalidArgument(`invalid value for "${flag}": ${why}`);
  if (value !== "0") {
    const d = parseGoDuration(value);
    if (d !== undefined) return BigInt(now) * 1_000_000n - d;
  }
  const t = parseDockerTime(value, now);
  if (typeof t === "bigint") return t;
  if (t !== undefined) throw fail(`parsing time "${value}": ${t}`);
  if (value.includes("-")) throw fail(`parsing time "${value}": cannot parse as RFC 3339`);
  const unix = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!unix) throw fail(`failed to parse value as time or duration: "${value}"`);
  const frac = unix[2] ?? "";
  const nanos = frac === "" ? 0n : BigInt(Math.floor(Number(frac) * 10 ** (9 - frac.length)));
  return BigInt(unix[1]!) * 1_000_000_000n + nanos;
}

/**
 * timetypes.GetTimestamp's layouts: a date, optionally with T and hours[:minutes[:seconds
 * [.fraction]]], optionally with a zone (Z or ±hh:mm); without a zone, local time.
 * Undefined when `value` has none of these shapes; Go's complaint when a field is out of range.
 */
function parseDockerTime(value: string, now: number): bigint | string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone] = m;
  if (+mo! < 1 || +mo! > 12) return "month out of range";
  if (+d! < 1 || +d! > new Date(Date.UTC(+y!, +mo!, 0)).getUTCDate()) return "day out of range";
  if (+h > 23) return "hour out of range";
  if (+mi > 59) return "minute out of range";
  if (+s > 59) return "second out of range";
  const nanos = BigInt(frac.padEnd(9, "0") || "0");
  let ms: number;
  if (zone) {
    ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${zone.toUpperCase()}`);
  } else {
    // Go parses zone-less values in the zone "now" is in (a fixed offset).
    const offsetMin = -new Date(now).getTimezoneOffset();
    ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +s) - offsetMin * 60_000;
  }
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + nanos;
}

/** Docker's `-t` prefix: RFC 3339 with exactly nine fraction digits (jsonmessage.RFC3339NanoFixed). */
export function rfc3339NanoFixed(time: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(time);
  if (!m) return time;
  return `${m[1]}.${(m[2] ?? "").padEnd(9, "0").slice(0, 9)}${m[3]}`;
}

/**
 * IPv4 addresses and CIDR prefixes as unsigned 32-bit numbers: parsing with Go's rules (what
 * Docker accepts), formatting, containment and overlap. Pure.
 */

/** An IPv4 prefix: `addr` is the address as written (host bits may be set), `bits` its length. */
export interface Cidr {
  addr: number;
  bits: number;
}

const OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** The address as a number, or undefined when `s` is not dotted-quad IPv4 (Go's net.ParseIP). */
export function parseIp(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** "a.b.c.d/n", or undefined when malformed (Go's net.ParseCIDR, IPv4 only). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseIp(s.slice(0, slash));
  const len = s.slice(slash + 1);
  if (addr === undefined || !/^(3[0-2]|[12]?[0-9])$/.test(len)) return undefined;
  return { addr, bits: Number(len) };
}

export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** The prefix's first address (host bits cleared). */
export function networkOf(c: Cidr): number {
  return (c.addr & maskOf(c.bits)) >>> 0;
}

export function broadcastOf(c: Cidr): number {
  return (networkOf(c) | ~maskOf(c.bits)) >>> 0;
}

/** The prefix in canonical form: "172.18.0.0/16". */
export function formatCidr(c: Cidr): string {
  return `${formatIp(networkOf(c))}/${c.bits}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.bits)) >>> 0 === networkOf(c);
}

/** True when the two prefixes share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  const m = maskOf(bits);
  return (a.addr & m) >>> 0 === (b.addr & m) >>> 0;
}

/** True when every address of `inner` is in `outer`. */
export function within(inner: Cidr, outer: Cidr): boolean {
  return inner.bits >= outer.bits && contains(outer, networkOf(inner));
}

/** Docker's MAC for an address: 02:42 followed by the four octets of the IPv4 address. */
export function macForIp(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

const MAC = /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/;

/** A unicast MAC address in lowercase colon form, or undefined. */
export function parseMac(s: string): string | undefined {
  if (!MAC.test(s)) return undefined;
  const mac = s.toLowerCase().replace(/-/g, ":");
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0 ? mac : undefined;
}

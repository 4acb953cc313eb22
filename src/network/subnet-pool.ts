/**
 * The machine-wide subnet table: which bridge subnets are taken, by which root's network.
 *
 * Leases live in MACHINE_DIR/net/subnets/<tag> (the tag also names the network's bridge and
 * nft table). Overlap cannot be decided by one file's existence (10.0.0.0/8 and 10.1.0.0/16
 * are different names), so claims are made under the table's lock, which is taken only when
 * a network is created (or a root's default bridge first gets its subnet), never by `run`
 * on its usual path. The lock is an owner-identity lock: no FFI unless a dead holder must be
 * broken.
 *
 * Default subnets come from Docker's default pools (172.17.0.0/16 … 172.31.0.0/16, then
 * 192.168.0.0/16 in /20s), skipping every subnet taken by any root and every one that
 * overlaps a route of the host (its own addresses' prefixes included).
 */
import fs from "node:fs";
import path from "node:path";
import { OwnerLock } from "../linux/owner-lock.js";
import { type Cidr, overlaps } from "./ipv4.js";
import { BRIDGE_PREFIX } from "./kernel-names.js";
import { LeaseDir } from "./leases.js";

export interface SubnetLease {
  subnet: string;
  root: string;
  networkId: string;
  name: string;
  tag: string;
}

/** Docker's default address pools, in the order Docker takes from them. */
export function* defaultPoolSubnets(): Generator<Cidr> {
  for (let b = 17; b <= 31; b++) yield { addr: ((172 << 24) | (b << 16)) >>> 0, bits: 16 };
  for (let c = 0; c < 256; c += 16) yield { addr: ((192 << 24) | (168 << 16) | (c << 8)) >>> 0, bits: 20 };
}

/** The first default-pool subnet that overlaps nothing taken; undefined when the pools are full. */
export function chooseSubnet(taken: Cidr[], hostRoutes: Cidr[]): Cidr | undefined {
  for (const c of defaultPoolSubnets()) {
    if (taken.some((t) => overlaps(t, c)) || hostRoutes.some((r) => overlaps(r, c))) continue;
    return c;
  }
  return undefined;
}

/**
 * Destinations of the host's IPv4 routes (/proc/net/route, main table), without the default
 * route (which overlaps everything) and without routes through tsrun's own bridges (their
 * subnets are leased; leftovers are removed before a subnet is chosen).
 */
export function parseRouteTable(text: string): Cidr[] {
  const out: Cidr[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[0]!.startsWith(BRIDGE_PREFIX)) continue;
    const dest = leHex(f[1]!);
    const mask = leHex(f[7]!);
    if (dest === undefined || mask === undefined || mask === 0) continue;
    out.push({ addr: dest, bits: popcount(mask) });
  }
  return out;
}

function leHex(s: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(s)) return undefined;
  const v = parseInt(s, 16);
  return (((v & 0xff) << 24) | (((v >>> 8) & 0xff) << 16) | (((v >>> 16) & 0xff) << 8) | (v >>> 24)) >>> 0;
}

function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v >>>= 1) c += v & 1;
  return c;
}

export function hostRoutes(): Cidr[] {
  try {
    return parseRouteTable(fs.readFileSync("/proc/net/route", "utf8"));
  } catch {
    return [];
  }
}

export class SubnetTable {
  readonly leases: LeaseDir<SubnetLease>;
  private readonly lockFile: string;

  constructor(netDir: string) {
    this.leases = new LeaseDir(path.join(netDir, "subnets"));
    this.lockFile = path.join(netDir, "subnets.lock");
  }

  locked<R>(fn: () => Promise<R>): Promise<R> {
    return OwnerLock.with(this.lockFile, fn);
  }

  /** Every lease, parsed; unreadable ones come back with owner null (stale by definition). */
  all(): { tag: string; lease: SubnetLease | null }[] {
    return this.leases.entries().map((e) => ({ tag: e.name, lease: e.owner }));
  }
}

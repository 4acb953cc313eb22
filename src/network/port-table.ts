/**
 * The machine-wide table of published host ports, shared by every state root: one lease per
 * (protocol, host address, port) in MACHINE_DIR/net/ports/<proto>-<address>-<port>, naming
 * the root, the container and its PID 1 (pid + start time). A lease held by a live PID 1
 * makes another container's request for the port fail with Docker's "port is already
 * allocated"; a lease whose PID 1 is dead is a leftover, collected by the next claim or by
 * repair. The socket itself is held by the container's port proxy (native/src/proxy-*.c): this
 * table is what tells tsrun's own containers apart from other processes.
 *
 * Claims and removals run under the table's owner-identity lock: whether 0.0.0.0:80 is free
 * depends on every lease for port 80 (127.0.0.1:80, 192.0.2.2:80…), not on one file, and a
 * collector must never remove a lease released and claimed anew after its check. Ports are
 * published only by containers that ask for them, so the lock is off `run`'s usual path.
 *
 * Free ports for `-P` and `-p CONTAINERPORT` come sequentially from the bottom of the
 * kernel's ephemeral range (net.ipv4.ip_local_port_range), as Docker hands them out
 * (moby#34310): the lowest port no lease holds under any protocol (so 80/tcp and 80/udp get
 * different host ports) that the host can bind right now.
 */
import fs from "node:fs";
import path from "node:path";
import { conflict } from "../common/errors.js";
import { OwnerLock } from "../linux/owner-lock.js";
import { isAlive, type ProcessIdentity } from "../linux/process-identity.js";
import { LeaseDir } from "./leases.js";
import type { PortProto } from "./port-spec.js";

export interface PortLease {
  proto: PortProto;
  hostIp: string;
  hostPort: number;
  root: string;
  containerId: string;
  owner: ProcessIdentity;
}

/** What one binding asks for: every address in `hostIps` gets the same host port. */
export interface PortRequest {
  /** "80/tcp". */
  key: string;
  proto: PortProto;
  containerPort: number;
  /** 0.0.0.0 and :: for "all addresses", else the one address given. */
  hostIps: string[];
  /** [p, p] a fixed port, [a, b] a range to pick from, [0, 0] any free port. */
  hostRange: [number, number];
}

/** A port granted to one address. */
export interface PortGrant {
  key: string;
  proto: PortProto;
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

export interface PortHolder {
  root: string;
  containerId: string;
  owner: ProcessIdentity;
}

/** Whether the host can bind the address and port now (another process may hold it). */
export type BindProbe = (proto: PortProto, hostIp: string, hostPort: number) => Promise<boolean>;

const EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range";

/** The kernel's ephemeral port range (Docker's default range for dynamic host ports). */
export function ephemeralRange(file = EPHEMERAL_RANGE): [number, number] {
  try {
    const [lo, hi] = fs.readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // fall through to Linux's default
  }
  return [32768, 60999];
}

export const isIpv6 = (ip: string): boolean => ip.includes(":");
const isUnspecified = (ip: string): boolean => ip === "0.0.0.0" || ip === "::";

/** Two bindings of one protocol and port collide when they share a family and an address (or one is the wildcard). */
function collides(a: { hostIp: string }, b: { hostIp: string }): boolean {
  if (isIpv6(a.hostIp) !== isIpv6(b.hostIp)) return false;
  return a.hostIp === b.hostIp || isUnspecified(a.hostIp) || isUnspecified(b.hostIp);
}

/** Docker's "IP:port" of a message ("0.0.0.0:8080", "[::1]:8080"). */
export function hostPortText(ip: string, port: number | string): string {
  return isIpv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export const leaseName = (proto: string, hostIp: string, hostPort: number): string => `${proto}-${hostIp}-${hostPort}`;

export class PortTable {
  readonly leases: LeaseDir<PortLease>;
  private readonly lockFile: string;

  constructor(
    netDir: string,
    private readonly rangeFile = EPHEMERAL_RANGE,
  ) {
    this.leases = new LeaseDir(path.join(netDir, "ports"));
    this.lockFile = path.join(netDir, "ports.lock");
  }

  private locked<R>(fn: () => Promise<R> | R): Promise<R> {
    return OwnerLock.with(this.lockFile, fn);
  }

  /** Live leases, after removing those of dead owners (caller holds the lock). */
  private liveLeases(): PortLease[] {
    const live: PortLease[] = [];
    for (const { name, owner } of this.leases.entries()) {
      if (owner && isAlive(owner.owner)) live.push(owner);
      else this.leases.remove(name);
    }
    this.leases.removeStaleTemps();
    return live;
  }

  /**
   * Grants every request, in order, or none: Docker's "Bind for IP:PORT failed: port is
   * already allocated" when another container holds a fixed port, "all ports are allocated"
   * when a range has no free port left.
   */
  async claim(requests: PortRequest[], holder: PortHolder, probe: BindProbe): Promise<PortGrant[]> {
    return this.locked(async () => {
      const taken: { proto: PortProto; hostIp: string; hostPort: number }[] = this.liveLeases();
      const grants: PortGrant[] = [];
      const free = (proto: PortProto, ips: string[], port: number, anyProto: boolean) =>
        !taken.some((t) => t.hostPort === port && (anyProto || t.proto === proto) && ips.some((ip) => collides(t, { hostIp: ip })));
      try {
        for (const req of requests) {
          const dynamic = req.hostRange[0] === 0;
          const [lo, hi] = dynamic ? ephemeralRange(this.rangeFile) : req.hostRange;
          let chosen: number | undefined;
          for (let port = lo; port <= hi && chosen === undefined; port++) {
            if (!free(req.proto, req.hostIps, port, dynamic)) continue;
            // A port picked by tsrun must also be one the host can bind; a port the user
            // named is bound as asked, and a failure is reported as the host's.
            if (lo !== hi && !(await allBindable(probe, req, port))) continue;
            chosen = port;
          }
          if (chosen === undefined) {
            if (lo === hi) throw conflict(`Bind for ${hostPortText(req.hostIps[0]!, lo)} failed: port is already allocated`);
            throw conflict("all ports are allocated");
          }
          for (const hostIp of req.hostIps) {
            const lease: PortLease = { proto: req.proto, hostIp, hostPort: chosen, ...holder };
            if (!this.leases.claim(leaseName(req.proto, hostIp, chosen), lease)) {
              throw conflict(`Bind for ${hostPortText(hostIp, chosen)} failed: port is already allocated`);
            }
            grants.push({ key: req.key, proto: req.proto, containerPort: req.containerPort, hostIp, hostPort: chosen });
            taken.push(lease);
          }
        }
      } catch (e) {
        for (const g of grants) this.leases.remove(leaseName(g.proto, g.hostIp, g.hostPort));
        throw e;
      }
      return grants;
    });
  }

  /** Gives back every port a container of a root holds. */
  async release(root: string, containerId: string): Promise<void> {
    await this.locked(() => {
      for (const { name, owner } of this.leases.entries()) {
        if (owner && owner.root === root && owner.containerId === containerId) this.leases.remove(name);
      }
    });
  }

  /** Removes the leases of dead owners (any root); returns them. */
  async collect(): Promise<PortLease[]> {
    return this.locked(() => {
      const dead: PortLease[] = [];
      for (const { name, owner } of this.leases.entries()) {
        if (owner && isAlive(owner.owner)) continue;
        this.leases.remove(name);
        if (owner) dead.push(owner);
      }
      this.leases.removeStaleTemps();
      return dead;
    });
  }

  /** Every readable lease. */
  all(): PortLease[] {
    return this.leases.entries().flatMap((e) => (e.owner ? [e.owner] : []));
  }
}

async function allBindable(probe: BindProbe, req: PortRequest, port: number): Promise<boolean> {
  for (const ip of req.hostIps) if (!(await probe(req.proto, ip, port))) return false;
  return true;
}


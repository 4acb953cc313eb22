/**
 * The machine-wide address table: one lease per IPv4 address in use by a container, in
 * MACHINE_DIR/net/addresses/<a.b.c.d>, naming the root, network, container, endpoint and
 * the container's PID 1 (pid + start time).
 *
 * Claiming takes no lock (link(2) decides, whatever the root), so `run` pays a few file
 * operations. Removing does: an owner's release and a collector's removal of a lease whose
 * PID 1 is dead both run under the table's owner-identity lock, so a collector can never
 * remove a lease that was released and claimed anew between its check and its unlink.
 * Addresses are handed out in order from the start of the range (Docker's IPAM is
 * sequential too); a lease whose container died is collected when the range is full, when
 * the address is asked for explicitly, or by repair.
 */
import path from "node:path";
import { OwnerLock } from "../linux/owner-lock.js";
import { isAlive, type ProcessIdentity } from "../linux/process-identity.js";
import { type Cidr, broadcastOf, formatIp, networkOf } from "./ipv4.js";
import { LeaseDir } from "./leases.js";

export interface AddressLease {
  ip: string;
  root: string;
  networkId: string;
  containerId: string;
  endpointId: string;
  hostIfName: string;
  owner: ProcessIdentity;
}

export class AddressTable {
  readonly leases: LeaseDir<AddressLease>;
  private readonly lockFile: string;

  constructor(netDir: string) {
    this.leases = new LeaseDir(path.join(netDir, "addresses"));
    this.lockFile = path.join(netDir, "addresses.lock");
  }

  private locked<R>(fn: () => R): Promise<R> {
    return OwnerLock.with(this.lockFile, fn);
  }

  /**
   * Claims the first free address of `range` (the network's IP range, else its subnet) that
   * lies inside `subnet`, skipping the subnet's network and broadcast addresses and `reserved`
   * (the gateway). Collects dead owners' leases once if the range is full.
   */
  async allocate(subnet: Cidr, range: Cidr, reserved: number[], lease: Omit<AddressLease, "ip">): Promise<string | undefined> {
    const first = Math.max(networkOf(range), networkOf(subnet) + 1);
    const last = Math.min(broadcastOf(range), broadcastOf(subnet) - 1);
    for (let pass = 0; pass < 2; pass++) {
      // One readdir tells which addresses are surely taken; link(2) settles the races.
      const taken = new Set(this.leases.names());
      for (let n = first; n <= last; n++) {
        if (reserved.includes(n)) continue;
        const ip = formatIp(n);
        if (taken.has(ip)) continue;
        if (this.leases.claim(ip, { ...lease, ip })) return ip;
      }
      if (pass === 0 && (await this.collect()).length === 0) break;
    }
    return undefined;
  }

  /** Claims one given address; false when a live container holds it. */
  async claim(ip: string, lease: Omit<AddressLease, "ip">): Promise<boolean> {
    if (this.leases.claim(ip, { ...lease, ip })) return true;
    const holder = this.leases.read(ip);
    if (holder && isAlive(holder.owner)) return false;
    await this.collect([ip]);
    return this.leases.claim(ip, { ...lease, ip });
  }

  /** Gives an address back, if it is still this endpoint's. */
  async release(ip: string, endpointId: string): Promise<void> {
    await this.locked(() => this.leases.release(ip, (o) => o.endpointId === endpointId));
  }

  /**
   * Removes a container's leases whose PID 1 is gone, endpoint record or not: an attach
   * killed between claiming an address and recording the endpoint leaves a lease that only
   * its container id still names.
   */
  async releaseContainer(root: string, containerId: string): Promise<void> {
    await this.locked(() => {
      for (const { name, owner } of this.leases.entries()) {
        if (owner && owner.root === root && owner.containerId === containerId && !isAlive(owner.owner)) this.leases.remove(name);
      }
    });
  }

  /** Removes leases (all, or the named ones) whose container's PID 1 is gone; returns them. */
  async collect(only?: string[]): Promise<AddressLease[]> {
    return this.locked(() => {
      const removed: AddressLease[] = [];
      for (const name of only ?? this.leases.names()) {
        const o = this.leases.read(name);
        if (o === undefined || (o && isAlive(o.owner))) continue;
        this.leases.remove(name);
        if (o) removed.push(o);
      }
      this.leases.removeStaleTemps();
      return removed;
    });
  }

  /** Every lease (for repair and for orphan detection). */
  all(): AddressLease[] {
    return this.leases.entries().flatMap((e) => (e.owner ? [e.owner] : []));
  }
}

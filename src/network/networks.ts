/**
 * The networks of one state root and the attachments of its containers: the API the engine
 * and the `network` commands use.
 *
 * Locks, always taken in this order (never the reverse):
 *   root   `<root>/locks/networks.lock`   endpoint records, hosts files, network removal
 *   subnet MACHINE_DIR/net/subnets.lock   the machine-wide subnet table (create, first use of `bridge`)
 *   address MACHINE_DIR/net/addresses.lock removals from the address table (claims take none)
 * and the per-network bridge lock, taken alone. All are owner-identity locks: no FFI unless a
 * dead holder has to be broken.
 *
 * Order of an attachment, each step undone by `teardown` and each leftover recognisable
 * after a kill -9: address lease (names the veth) → endpoint record → bridge (if missing) →
 * veth pair with its container end created inside the container's network namespace →
 * address, MAC, route inside → hosts files. Nothing here survives its container by design:
 * the container end of the veth lives in the container's namespace and dies with it, the
 * host end with it; records and leases of a dead PID 1 are treated as gone and collected.
 */
import fs from "node:fs";
import path from "node:path";
import { removeDeadWritersTemps } from "../common/fsutil.js";
import { MACHINE_DIR, StateRoot } from "../common/paths.js";
import { conflict, invalidArgument, isTsrunError, notFound, systemError } from "../common/errors.js";
import { newId, shortId } from "../common/ids.js";
import { logger } from "../common/log.js";
import { OwnerLock } from "../linux/owner-lock.js";
import { isAlive } from "../linux/process-identity.js";
import { AddressTable, type AddressLease } from "./address-pool.js";
import { Bridges, mtuOf } from "./bridge.js";
import { checkCreateRequest, type CreateNetworkRequest } from "./create-request.js";
import { EndpointStore, endpointIsLive } from "./endpoints.js";
import { dnsNames, hostsBlock, rewriteHosts } from "./hosts.js";
import { inspectNetwork, type NetworkInspect } from "./inspect.js";
import {
  type Cidr,
  broadcastOf,
  contains,
  formatCidr,
  formatIp,
  macForIp,
  networkOf,
  overlaps,
  parseCidr,
  parseIp,
  parseMac,
} from "./ipv4.js";
import { IprouteKernel, type NetKernel } from "./kernel.js";
import { bridgeName, containerOfPortTable, isVethName, tagOfKernelName, vethName } from "./kernel-names.js";
import type { AttachRequest, Endpoint, EndpointRecord, NetworkRecord } from "./model.js";
import { OPT_ICC, OPT_MASQUERADE } from "./nftables.js";
import { deletePortTableScript } from "./port-rules.js";
import type { PortMap } from "./port-spec.js";
import { PortTable } from "./port-table.js";
import { PortPublisher, type PublishRequest } from "./ports.js";
import { NetworkStore, networkNotFound, newNetworkRecord } from "./store.js";
import { SubnetTable, chooseSubnet, hostRoutes, type SubnetLease } from "./subnet-pool.js";

const log = logger("network");

export interface NetworksOptions {
  /** Where the machine-wide tables live (default MACHINE_DIR); tests of the pure parts only. */
  machineDir?: string;
  /** The kernel interface (default: iproute2 and nftables). */
  kernel?: NetKernel;
}

export interface ReleaseOptions {
  /**
   * Also delete the host end of the veth when the container's PID 1 is dead. Needed only
   * when something else keeps the network namespace alive (another container joined it with
   * --network container:X); otherwise the kernel removes the pair with the namespace.
   */
  deleteInterfaces?: boolean;
}

export interface RepairReport {
  /** "<network>/<container>" endpoint records of this root whose container was gone. */
  endpoints: string[];
  /** Addresses whose lease named a dead container (any root). */
  addresses: string[];
  /** Subnets whose network was gone (any root). */
  subnets: string[];
  /** Bridges and veths no lease accounts for. */
  interfaces: string[];
  /** nft tables no lease accounts for. */
  tables: string[];
  /** Host ports whose lease named a dead container (any root), as "proto-address-port". */
  ports: string[];
}

/** Docker's options of its default bridge, with tsrun's bridge name. */
function defaultBridgeOptions(bridge: string): Record<string, string> {
  return {
    "com.docker.network.bridge.default_bridge": "true",
    [OPT_ICC]: "true",
    [OPT_MASQUERADE]: "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": bridge,
    "com.docker.network.driver.mtu": "1500",
  };
}

const NO_POOL =
  "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network";

export class Networks {
  readonly root: StateRoot;
  readonly store: NetworkStore;
  readonly endpoints: EndpointStore;
  private readonly subnets: SubnetTable;
  private readonly addresses: AddressTable;
  private readonly kernel: NetKernel;
  private readonly bridges: Bridges;
  private readonly ports: PortPublisher;

  constructor(root: StateRoot | string, opts: NetworksOptions = {}) {
    this.root = typeof root === "string" ? new StateRoot(root) : root;
    const netDir = path.join(opts.machineDir ?? MACHINE_DIR, "net");
    this.store = new NetworkStore(this.root);
    this.endpoints = new EndpointStore(this.store.dir);
    this.subnets = new SubnetTable(netDir);
    this.addresses = new AddressTable(netDir);
    this.kernel = opts.kernel ?? new IprouteKernel();
    this.bridges = new Bridges(this.kernel, this.root.locks);
    this.ports = new PortPublisher(this.root.root, new PortTable(netDir), this.kernel);
  }

  // -------------------------------------------------------------------------------------
  // Lookup

  /** Every network of the root (the built-ins are created on first use). */
  list(): NetworkRecord[] {
    return this.store.list();
  }

  /** A network by name, full id or unique id prefix (Docker's order); "network X not found". */
  resolve(ref: string): NetworkRecord {
    return this.store.resolve(ref);
  }

  /**
   * The host's address as containers reach it, for `--add-host X:host-gateway`: the default
   * bridge's gateway, as Docker's default host-gateway-ip (the bridge takes its subnet now
   * if it has none yet).
   */
  async hostGateway(): Promise<string> {
    const bridge = await this.withSubnet(this.resolve("bridge"));
    const gateway = bridge.IPAM.Config[0]?.Gateway;
    if (!gateway) throw systemError("unable to derive the IP value for host-gateway");
    return gateway;
  }

  /** Endpoints of a network whose container is running. */
  liveEndpoints(networkId: string): EndpointRecord[] {
    return this.endpoints.ofNetwork(networkId).filter(endpointIsLive);
  }

  /** `network inspect` of one network. The default bridge gets its subnet here if it has none yet. */
  async inspect(ref: string): Promise<NetworkInspect> {
    const net = await this.withSubnet(this.resolve(ref));
    return inspectNetwork(net, this.liveEndpoints(net.Id));
  }

  /** A running container's endpoints, as `attach` returned them (for its inspect). */
  endpointsOf(containerId: string): Endpoint[] {
    return this.endpoints
      .ofContainer(containerId)
      .filter(endpointIsLive)
      .map((rec) => {
        const net = this.networkById(rec.NetworkID);
        return toEndpoint(rec, net?.Name ?? rec.NetworkID, !!net && !net.Tsrun.builtin);
      });
  }

  private networkById(id: string): NetworkRecord | undefined {
    return this.store.list().find((n) => n.Id === id);
  }

  // -------------------------------------------------------------------------------------
  // Create, remove, prune

  /** `network create`: records the network and leases its subnet; kernel objects come with the first container. */
  async create(req: CreateNetworkRequest): Promise<NetworkRecord> {
    const checked = checkCreateRequest(req);
    if (this.store.get(req.name)) throw conflict(`network with name ${req.name} already exists`);
    const rec = newNetworkRecord({
      Name: req.name,
      Driver: "bridge",
      Internal: !!req.internal,
      Attachable: !!req.attachable,
      Labels: req.labels ?? {},
      Options: req.options ?? {},
    });
    await this.subnets.locked(async () => {
      const { live } = await this.collectSubnets();
      const taken = live.flatMap((l) => cidrOfLease(l) ?? []);
      let subnet: Cidr | undefined = checked.subnet;
      if (subnet) {
        const s = subnet;
        if (taken.some((t) => overlaps(t, s))) {
          throw conflict("invalid pool request: Pool overlaps with other one on this address space");
        }
      } else {
        subnet = chooseSubnet(taken, hostRoutes());
        if (!subnet) throw systemError(NO_POOL);
      }
      const gateway = checked.gateway ?? networkOf(subnet) + 1;
      rec.IPAM.Config = [
        {
          Subnet: formatCidr(subnet),
          ...(checked.ipRange ? { IPRange: formatCidr(checked.ipRange) } : {}),
          Gateway: formatIp(gateway),
        },
      ];
      rec.Tsrun.tag = await this.uniqueTag(rec.Id);
      if (checked.subnet) rec.Tsrun.userSubnet = true;
      this.claimSubnet(rec);
      if (!this.store.insert(rec)) {
        this.subnets.leases.remove(rec.Tsrun.tag);
        throw conflict(`network with name ${req.name} already exists`);
      }
    });
    log(`created network ${rec.Name} ${rec.IPAM.Config[0]!.Subnet} (bridge ${bridgeName(rec.Tsrun.tag!)})`);
    return rec;
  }

  /** `network rm`: refused for the built-ins and while a running container is attached. */
  async remove(ref: string): Promise<NetworkRecord> {
    const net = this.resolve(ref);
    if (net.Tsrun.builtin) throw conflict(`${net.Name} is a pre-defined network and cannot be removed`);
    await this.rootLocked(async () => {
      if (!this.store.holds(net.Name, net.Id)) throw networkNotFound(ref);
      const eps = this.endpoints.ofNetwork(net.Id);
      if (eps.some(endpointIsLive)) {
        throw conflict(`error while removing network: network ${net.Name} id ${net.Id} has active endpoints`);
      }
      for (const dead of eps) await this.addresses.release(dead.IPAddress, dead.EndpointID);
      if (net.Tsrun.tag) await this.bridges.remove(net.Tsrun.tag);
      this.store.delete(net);
    });
    if (net.Tsrun.tag) await this.releaseSubnet(net);
    log(`removed network ${net.Name}`);
    return net;
  }

  /** `network prune`: every user network with no running container that `keep` does not keep. */
  async prune(keep: (net: NetworkRecord) => boolean = () => false): Promise<NetworkRecord[]> {
    const removed: NetworkRecord[] = [];
    const candidates = this.list()
      .filter((n) => !n.Tsrun.builtin && !keep(n))
      .sort((a, b) => a.Name.localeCompare(b.Name));
    for (const net of candidates) {
      if (this.liveEndpoints(net.Id).length > 0) continue;
      try {
        removed.push(await this.remove(net.Id));
      } catch (e) {
        // A container attached meanwhile: the network is in use, which prune skips.
        if (!isTsrunError(e, "conflict") && !isTsrunError(e, "not-found")) throw e;
      }
    }
    return removed;
  }

  // -------------------------------------------------------------------------------------
  // Attachments

  /**
   * Says an attach is coming (the container is being created): the processes it will run
   * start now, so their start overlaps the container's. `coolDown` ends any left unused.
   */
  warmUp(): void {
    this.kernel.warm?.();
  }

  coolDown(): void {
    this.kernel.cool?.();
  }

  /**
   * Checks what a container asks of a network (--ip, --network-alias, --mac-address) with
   * Docker's rules, before anything is created. `attach` checks again.
   */
  checkEndpointRequest(net: NetworkRecord, req: { ip?: string; aliases?: string[]; mac?: string }): void {
    if (net.Driver === "host") {
      throw invalidArgument("container cannot be disconnected from host network or connected to host network");
    }
    if (net.Driver !== "bridge") {
      throw invalidArgument("container cannot be connected to multiple networks with one of the networks in private (none) mode");
    }
    if (req.aliases && req.aliases.length > 0 && net.Tsrun.builtin) {
      throw invalidArgument("network-scoped alias is supported only for containers in user defined networks");
    }
    if (req.mac !== undefined && parseMac(req.mac) === undefined) throw invalidArgument(`${req.mac} is not a valid mac address`);
    if (req.ip === undefined) return;
    if (net.Tsrun.builtin) throw invalidArgument("user specified IP address is supported on user defined networks only");
    if (!net.Tsrun.userSubnet) {
      throw invalidArgument("user specified IP address is supported only when connecting to networks with user configured subnets");
    }
    const ip = parseIp(req.ip);
    if (ip === undefined) throw invalidArgument(`invalid IPv4 address: ${req.ip}`);
    const cfg = net.IPAM.Config[0];
    const subnet = cfg ? parseCidr(cfg.Subnet) : undefined;
    if (!subnet || !contains(subnet, ip) || ip === networkOf(subnet) || ip === broadcastOf(subnet)) {
      throw invalidArgument(`no configured subnet or ip-range contain the IP address ${req.ip}`);
    }
  }

  /**
   * Wires a container into a bridge network: call between the runtime's create (PID 1 exists,
   * its network namespace too) and START. Returns what to record in the container's
   * NetworkSettings. Everything it did is undone if it fails.
   */
  async attach(req: AttachRequest): Promise<Endpoint> {
    const t0 = performance.now();
    const aliases = [...new Set(req.aliases ?? [])];
    let net = typeof req.network === "string" ? this.resolve(req.network) : req.network;
    this.checkEndpointRequest(net, { ...(req.ip !== undefined ? { ip: req.ip } : {}), aliases, ...(req.mac !== undefined ? { mac: req.mac } : {}) });
    net = await this.withSubnet(net);
    if (!isAlive(req.process)) throw notFound(`Cannot attach container ${req.containerId} to network ${net.Name}: its process ${req.process.pid} is gone`);
    const cfg = net.IPAM.Config[0]!;
    const subnet = parseCidr(cfg.Subnet)!;
    const gateway = parseIp(cfg.Gateway)!;
    const endpointId = newId();
    const hostIf = vethName(endpointId);
    const name = req.containerName.replace(/^\//, "");

    const lease: Omit<AddressLease, "ip"> = {
      root: this.root.root,
      networkId: net.Id,
      containerId: req.containerId,
      endpointId,
      hostIfName: hostIf,
      owner: req.process,
    };
    let ip: string | undefined;
    if (req.ip !== undefined) {
      if (parseIp(req.ip) === gateway || !(await this.addresses.claim(req.ip, lease))) throw conflict("Address already in use");
      ip = req.ip;
    } else {
      const range = cfg.IPRange ? parseCidr(cfg.IPRange)! : subnet;
      ip = await this.addresses.allocate(subnet, range, [gateway], lease);
      if (!ip) throw systemError(`no available IPv4 addresses on this network's address pools: ${net.Name} (${net.Id})`);
    }

    const rec: EndpointRecord = {
      EndpointID: endpointId,
      NetworkID: net.Id,
      ContainerID: req.containerId,
      Name: name,
      Hostname: req.hostname ?? shortId(req.containerId),
      Aliases: aliases,
      IPAddress: ip,
      IPPrefixLen: subnet.bits,
      Gateway: cfg.Gateway,
      MacAddress: req.mac !== undefined ? parseMac(req.mac)! : macForIp(parseIp(ip)!),
      IfName: req.ifname ?? "",
      HostIfName: hostIf,
      DefaultRoute: false,
      Owner: req.process,
      ...(req.hostsFile ? { HostsFile: req.hostsFile } : {}),
    };
    // The usual `run`: the default bridge (which cannot be removed and has no names to share)
    // and no other network yet. Nobody else writes this container's record or hosts file
    // then, so it needs no lock.
    const liveOfContainer = () => this.endpoints.ofContainer(req.containerId).filter(endpointIsLive);
    let mine = liveOfContainer();
    const solo = net.Tsrun.builtin && mine.length === 0;
    const register = () => {
      if (!solo) {
        if (!net.Tsrun.builtin && !this.store.holds(net.Name, net.Id)) throw networkNotFound(net.Name);
        mine = liveOfContainer();
      }
      if (mine.some((e) => e.NetworkID === net.Id)) {
        throw conflict(`endpoint with name ${name} already exists in network ${net.Name}`);
      }
      if (!rec.IfName) rec.IfName = nextIfName(mine);
      rec.DefaultRoute = req.defaultRoute ?? (!net.Internal && !mine.some((e) => e.DefaultRoute));
      this.endpoints.write(rec);
    };
    try {
      if (solo) register();
      else await this.rootLocked(register);
      await this.bridges.ensure(net);
      await this.wire(net, rec);
      if (solo) {
        if (rec.HostsFile) rewriteHosts(rec.HostsFile, hostsBlock(rec.ContainerID, [rec], new Set()));
      } else {
        await this.rootLocked(() => this.refreshHosts(net.Id, [req.containerId]));
      }
    } catch (e) {
      await this.teardown(rec, true).catch((u: unknown) => log(`undoing attach of ${name}: ${String(u)}`));
      throw e;
    }
    log(`attached ${shortId(req.containerId)} to ${net.Name} as ${ip} on ${rec.IfName} in ${(performance.now() - t0).toFixed(1)} ms`);
    return toEndpoint(rec, net.Name, !net.Tsrun.builtin);
  }

  /** The veth pair and the configuration inside: one `ip` in the host, one inside. */
  private async wire(net: NetworkRecord, rec: EndpointRecord): Promise<void> {
    const mtu = mtuOf(net);
    const m = mtu ? ` mtu ${mtu}` : "";
    const pid = rec.Owner.pid;
    try {
      // The container end is created directly in the container's namespace (IFLA_NET_NS_PID):
      // it never appears on the host under its container-side name.
      const pair = this.kernel.ip([
        `link add ${rec.HostIfName}${m} master ${bridgeName(net.Tsrun.tag!)} up type veth peer name ${rec.IfName} address ${rec.MacAddress}${m} netns ${pid}`,
      ]);
      // The process inside starts now and gets its lines once the pair exists: its start
      // (nsenter, ip) overlaps the host's command instead of following it.
      const inside = this.kernel.ipIn(
        pid,
        pair.then(() => [
          `addr add ${rec.IPAddress}/${rec.IPPrefixLen} brd + dev ${rec.IfName}`,
          `link set ${rec.IfName} up`,
          ...(rec.DefaultRoute ? [`route add default via ${rec.Gateway} dev ${rec.IfName}`] : []),
        ]),
      );
      // Both settle before anything is undone: the pair must not appear after its teardown.
      const [made, configured] = await Promise.allSettled([pair, inside]);
      if (made.status === "rejected") throw made.reason;
      if (configured.status === "rejected") throw configured.reason;
    } catch (e) {
      throw systemError(
        `Cannot connect container ${shortId(rec.ContainerID)} to network "${net.Name}" (${rec.HostIfName} → ${rec.IfName}): ${(e as Error).message}`,
        e,
      );
    }
  }

  /** `network disconnect`: takes a running container off a network at once. */
  async detach(networkRef: string, containerId: string): Promise<void> {
    const net = this.resolve(networkRef);
    const rec = this.endpoints.read(net.Id, containerId);
    if (!rec || !endpointIsLive(rec)) {
      if (rec) await this.teardown(rec, false);
      throw notFound(`container ${containerId} is not connected to network ${net.Name}`);
    }
    await this.teardown(rec, true);
  }

  /**
   * Forgets every endpoint of a container: call when it has stopped (before a restart's
   * attach, at exit, at rm). Peers' hosts files lose its names; its addresses are free again.
   */
  async release(containerId: string, opts: ReleaseOptions = {}): Promise<void> {
    for (const rec of this.endpoints.ofContainer(containerId)) await this.teardown(rec, !!opts.deleteInterfaces);
    this.endpoints.removeStaleTemps(containerId); // a record's write cut short by a kill
    await this.addresses.releaseContainer(this.root.root, containerId);
  }

  /** A running container was renamed: its peers now know it by the new name. */
  async rename(containerId: string, newName: string): Promise<void> {
    await this.rootLocked(() => {
      for (const rec of this.endpoints.ofContainer(containerId)) {
        this.endpoints.write({ ...rec, Name: newName.replace(/^\//, "") });
        this.refreshHosts(rec.NetworkID, [containerId]);
      }
    });
  }

  /** Undoes one endpoint, each step idempotent. */
  private async teardown(rec: EndpointRecord, deleteInterface: boolean): Promise<void> {
    if ((deleteInterface || isAlive(rec.Owner)) && this.kernel.linkExists(rec.HostIfName)) {
      try {
        await this.kernel.ip([`link del ${rec.HostIfName}`]);
      } catch (e) {
        if (this.kernel.linkExists(rec.HostIfName)) {
          throw systemError(`Cannot remove interface "${rec.HostIfName}": ${(e as Error).message}`, e);
        }
      }
    }
    if (this.isDefaultBridge(rec.NetworkID) && !isAlive(rec.Owner)) {
      // Nobody learns names on the default bridge and a dead container's file needs no update.
      this.endpoints.remove(rec);
    } else {
      await this.rootLocked(() => {
        this.endpoints.remove(rec);
        this.refreshHosts(rec.NetworkID, [rec.ContainerID]);
      });
    }
    await this.addresses.release(rec.IPAddress, rec.EndpointID);
  }

  private defaultBridgeId?: string;

  private isDefaultBridge(networkId: string): boolean {
    // The built-in's id never changes for a root: read it once per process.
    this.defaultBridgeId ??= this.store.get("bridge")?.Id;
    return this.defaultBridgeId === networkId;
  }

  /**
   * Rewrites the hosts block of the given containers and, when the network is user-defined,
   * of every running container on it. Caller holds the root lock.
   */
  private refreshHosts(networkId: string, containerIds: string[]): void {
    const nets = this.store.list();
    const userNets = new Set(nets.filter((n) => n.Driver === "bridge" && !n.Tsrun.builtin).map((n) => n.Id));
    const records = new Map<string, EndpointRecord>();
    for (const id of userNets) for (const r of this.endpoints.ofNetwork(id)) records.set(r.EndpointID, r);
    const affected = new Set(containerIds);
    if (userNets.has(networkId)) for (const r of records.values()) if (r.NetworkID === networkId) affected.add(r.ContainerID);
    for (const c of affected) for (const r of this.endpoints.ofContainer(c)) records.set(r.EndpointID, r);
    const live = [...records.values()].filter(endpointIsLive);
    for (const c of affected) {
      const own = live.filter((r) => r.ContainerID === c);
      const file = own.find((r) => r.HostsFile)?.HostsFile;
      if (file) rewriteHosts(file, hostsBlock(c, live, userNets));
    }
  }

  // -------------------------------------------------------------------------------------
  // Published ports

  /**
   * Publishes a running container's ports (call after its attach, before START): host ports
   * leased, the port proxy holding them, DNAT to the endpoint. Returns the bindings for
   * NetworkSettings.Ports. Undoes itself if it fails (Docker's messages: "port is already
   * allocated" for another container's port, "address already in use" for another process's).
   */
  publish(req: PublishRequest): Promise<PortMap> {
    return this.ports.publish(req);
  }

  /** Gives a container's published ports back (stopped, removed, or before a new start). Idempotent. */
  unpublish(containerId: string, proxyPidFile: string): Promise<void> {
    return this.ports.unpublish(containerId, proxyPidFile);
  }

  // -------------------------------------------------------------------------------------
  // Repair

  /**
   * Removes what a kill -9 (of tsrun, of a container, of a whole state root) left behind:
   * this root's endpoint records of dead containers (and their peers' hosts lines), any
   * root's address and host-port leases of dead containers, subnet leases of networks that
   * are gone with their bridges and nft tables, and bridges, veths and tables (network and
   * port tables) no lease accounts for. Port proxies of dead containers exit by themselves.
   */
  async repair(): Promise<RepairReport> {
    const report: RepairReport = { endpoints: [], addresses: [], subnets: [], interfaces: [], tables: [], ports: [] };
    for (const rec of this.endpoints.all()) {
      if (endpointIsLive(rec)) continue;
      await this.teardown(rec, false);
      report.endpoints.push(`${rec.NetworkID.slice(0, 12)}/${rec.ContainerID.slice(0, 12)}`);
    }
    this.endpoints.removeStaleTemps();
    removeDeadWritersTemps(this.store.dir);
    for (const lease of await this.addresses.collect()) report.addresses.push(lease.ip);
    await this.subnets.locked(async () => {
      const { live, removed, orphans } = await this.collectSubnets();
      report.subnets.push(...removed);
      report.interfaces.push(...orphans);
      const tags = new Set(live.map((l) => l.tag));
      for (const table of await this.kernel.inetTables()) {
        const tag = tagOfKernelName(table);
        if (!tag || tags.has(tag)) continue;
        await this.bridges.remove(tag);
        report.tables.push(table);
      }
    });
    for (const lease of await this.ports.table.collect()) report.ports.push(`${lease.proto}-${lease.hostIp}-${lease.hostPort}`);
    // A port table lives as long as its container holds a port (its proxy exits by itself).
    // Tables first, leases second: a container claims its ports before it makes its table,
    // so a table seen here has its leases in the read that follows.
    const tables = await this.kernel.inetTables();
    const publishing = this.ports.table.all().map((l) => l.containerId);
    for (const table of tables) {
      const prefix = containerOfPortTable(table);
      if (!prefix || publishing.some((id) => id.startsWith(prefix))) continue;
      await this.kernel.nft(deletePortTableScript(prefix));
      report.tables.push(table);
    }
    // Links first, leases second: an attach leases its address (naming the veth) before it
    // makes the veth, so a veth seen here has its lease in the read that follows.
    const links = this.kernel.links();
    const veths = new Set(this.addresses.all().map((l) => l.hostIfName));
    for (const link of links) {
      if (!isVethName(link) || veths.has(link)) continue;
      await this.kernel.ip([`link del ${link}`]).catch(() => {});
      report.interfaces.push(link);
    }
    return report;
  }

  /**
   * Removes every network of this root, the built-ins' kernel objects included, and releases
   * every endpoint: for a state root that is being deleted (tests, `system reset`).
   */
  async destroyAll(): Promise<void> {
    for (const lease of this.ports.table.all().filter((l) => l.root === this.root.root)) {
      await this.kernel.nft(deletePortTableScript(lease.containerId));
      await this.ports.table.release(lease.root, lease.containerId);
    }
    for (const rec of this.endpoints.all()) await this.teardown(rec, true);
    for (const net of this.list()) {
      if (!net.Tsrun.tag) continue;
      await this.bridges.remove(net.Tsrun.tag);
      await this.releaseSubnet(net);
    }
    fs.rmSync(this.store.dir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------
  // Subnets

  /** The network, with a subnet: the default bridge takes one on first use. */
  private async withSubnet(net: NetworkRecord): Promise<NetworkRecord> {
    if (net.Driver !== "bridge" || net.IPAM.Config.length > 0) return net;
    return this.subnets.locked(async () => {
      const current = this.store.holds(net.Name, net.Id);
      if (!current) throw networkNotFound(net.Name);
      if (current.IPAM.Config.length > 0) return current;
      const { live } = await this.collectSubnets();
      const subnet = chooseSubnet(live.flatMap((l) => cidrOfLease(l) ?? []), hostRoutes());
      if (!subnet) throw systemError(NO_POOL);
      current.Tsrun.tag = await this.uniqueTag(current.Id);
      current.IPAM.Config = [{ Subnet: formatCidr(subnet), Gateway: formatIp(networkOf(subnet) + 1) }];
      current.Options = defaultBridgeOptions(bridgeName(current.Tsrun.tag));
      this.claimSubnet(current);
      this.store.update(current);
      log(`default bridge of ${this.root.root}: ${current.IPAM.Config[0]!.Subnet} (${bridgeName(current.Tsrun.tag)})`);
      return current;
    });
  }

  /** Under the subnet lock: claims the network's lease. */
  private claimSubnet(net: NetworkRecord): void {
    const lease: SubnetLease = {
      subnet: net.IPAM.Config[0]!.Subnet,
      root: this.root.root,
      networkId: net.Id,
      name: net.Name,
      tag: net.Tsrun.tag!,
    };
    if (!this.subnets.leases.claim(lease.tag, lease)) throw systemError(`Subnet lease "${lease.tag}" is taken`);
  }

  private async releaseSubnet(net: NetworkRecord): Promise<void> {
    await this.subnets.locked(async () =>
      this.subnets.leases.release(net.Tsrun.tag!, (l) => l.networkId === net.Id && l.root === this.root.root),
    );
  }

  /** A tag no lease and no interface uses yet (under the subnet lock). */
  private async uniqueTag(networkId: string): Promise<string> {
    const { candidateTag } = await import("./tag-hash.js");
    const used = new Set(this.subnets.leases.names());
    for (let attempt = 0; attempt < 100; attempt++) {
      const tag = candidateTag(this.root.root, networkId, attempt);
      if (!used.has(tag) && !this.kernel.linkExists(bridgeName(tag))) return tag;
    }
    throw systemError("Cannot find a free bridge name");
  }

  /**
   * Under the subnet lock: drops leases whose network is gone (removing its bridge and nft
   * table) and bridges that no lease names. Returns the live leases.
   */
  private async collectSubnets(): Promise<{ live: SubnetLease[]; removed: string[]; orphans: string[] }> {
    const live: SubnetLease[] = [];
    const removed: string[] = [];
    const kept = new Set<string>();
    for (const { tag, lease } of this.subnets.all()) {
      if (lease && subnetLeaseIsLive(lease, tag)) {
        live.push(lease);
        kept.add(tag);
        continue;
      }
      try {
        await this.bridges.remove(tag);
        this.subnets.leases.remove(tag);
        removed.push(lease ? `${lease.subnet} (${lease.name} of ${lease.root})` : tag);
      } catch (e) {
        kept.add(tag); // try again next time rather than hand out a subnet still on a bridge
        log(`cannot collect subnet lease ${tag}: ${String(e)}`);
      }
    }
    const orphans: string[] = [];
    for (const link of this.kernel.links()) {
      const tag = tagOfKernelName(link);
      if (!tag || kept.has(tag)) continue;
      await this.bridges.remove(tag);
      orphans.push(link);
    }
    this.subnets.leases.removeStaleTemps();
    return { live, removed, orphans };
  }

  private rootLocked<R>(fn: () => R | Promise<R>): Promise<R> {
    return OwnerLock.with(path.join(this.root.locks, "networks.lock"), fn);
  }
}

function cidrOfLease(l: SubnetLease): Cidr | undefined {
  return parseCidr(l.subnet);
}

/** A subnet lease is live while its root still has that network with that subnet and tag. */
function subnetLeaseIsLive(lease: SubnetLease, tag: string): boolean {
  const net = new NetworkStore(new StateRoot(lease.root)).holds(lease.name, lease.networkId);
  return !!net && net.Tsrun.tag === tag && net.IPAM.Config[0]?.Subnet === lease.subnet;
}

/** The lowest ethN a container does not use yet. */
function nextIfName(mine: EndpointRecord[]): string {
  const used = new Set(mine.map((e) => e.IfName));
  for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
}

function toEndpoint(rec: EndpointRecord, networkName: string, userNetwork: boolean): Endpoint {
  return {
    networkId: rec.NetworkID,
    networkName,
    endpointId: rec.EndpointID,
    ifname: rec.IfName,
    hostIfname: rec.HostIfName,
    ip: rec.IPAddress,
    prefixLen: rec.IPPrefixLen,
    gateway: rec.Gateway,
    mac: rec.MacAddress,
    aliases: rec.Aliases,
    dnsNames: userNetwork ? dnsNames(rec) : [],
  };
}

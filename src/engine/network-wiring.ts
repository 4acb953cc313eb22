/**
 * A container's networking while it runs: wired between the runtime's create (PID 1 and its
 * network namespace exist, the command waits for START) and START, released when PID 1 is
 * gone (exit, stop, kill, rm, before a restart's new wiring). Also `network connect` and
 * `disconnect`, which change a running container's wiring and every container's record.
 *
 * What lives where:
 * - endpoints (address, veth, names): the network library's records, owned by PID 1;
 * - published ports: machine-wide leases owned by PID 1, the port proxy (its identity in
 *   `containers/<id>/port-proxy.json`, written by the proxy itself) and a DNAT table;
 *   `containers/<id>/ports.json` says that the container publishes (written before the
 *   first lease, so a crash leaves a trace that the next release follows) and what it got;
 * - the record keeps only what was asked (HostConfig, Tsrun.net), so a start never has to
 *   write it and a crash never leaves it claiming an address the container does not hold.
 * Release is idempotent and costs a directory read when there is nothing to release.
 */
import fs from "node:fs";
import path from "node:path";
import { conflict, invalidArgument, isIdPrefix, logger, notFound } from "../common/index.js";
import { processStartTime, type ProcessIdentity } from "../linux/process-identity.js";
import type { Endpoint, Networks, PortMap } from "../network/index.js";
import type { Spec } from "../runtime/spec.js";
import { withContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { joinedContainer } from "./namespace-modes.js";
import { netModeKind, type NetAttachment } from "./network-config.js";
import { ContainerFiles, listIds, readRecord, writeRecord, type ContainerRecord } from "./record.js";

const log = logger("engine");

const cache = new WeakMap<Engine, Networks>();

/** The root's networks (the library loads on first use). */
export async function networksOf(engine: Engine): Promise<Networks> {
  let nets = cache.get(engine);
  if (!nets) {
    const { Networks } = await import("../network/index.js");
    nets = new Networks(engine.root);
    cache.set(engine, nets);
  }
  return nets;
}

/** What `ports.json` holds: the PID 1 the ports were published for, and what it got (null while publishing). */
export interface PublishedPortsRecord {
  owner: ProcessIdentity;
  ports: PortMap | null;
}

export const portsFile = (engine: Engine, id: string) => path.join(engine.root.container(id), "ports.json");
const proxyPidFile = (engine: Engine, id: string) => path.join(engine.root.container(id), "port-proxy.json");

function writePorts(file: string, rec: PublishedPortsRecord): void {
  // No fsync: after a machine crash the container, its PID 1 and its ports are gone anyway.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(rec) + "\n", { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readPorts(file: string): PublishedPortsRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as PublishedPortsRecord;
  } catch {
    return undefined;
  }
}

/** What -p and -P ask to publish: the port bindings, plus a free host port for every exposed port with -P. */
export function portsToPublish(rec: ContainerRecord): PortMap | undefined {
  const out: PortMap = {};
  for (const [key, bindings] of Object.entries(rec.HostConfig.PortBindings ?? {})) if (bindings.length > 0) out[key] = bindings;
  if (rec.HostConfig.PublishAllPorts) {
    for (const key of Object.keys(rec.Config.ExposedPorts ?? {})) out[key] ??= [{ HostIp: "", HostPort: "" }];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The process identity of a running container's PID 1. */
function identityOf(pid: number): ProcessIdentity {
  return { pid, startTime: processStartTime(pid) ?? 0 };
}

/**
 * Before the runtime's create of a container that will be wired: the processes of its
 * wiring start now (Networks.warmUp). Returns what ends them if the create fails.
 */
export async function prepareNetworks(engine: Engine, rec: ContainerRecord): Promise<() => void> {
  if (netModeKind(rec.HostConfig.NetworkMode) !== "bridge" || (rec.Tsrun.net?.attachments ?? []).length === 0) return () => {};
  const nets = await networksOf(engine);
  nets.warmUp();
  return () => nets.coolDown();
}

/**
 * Wires a created container (PID 1 waiting for START) into its networks and publishes its
 * ports. Whatever was left of an earlier wiring is released first. On failure everything
 * done is undone and the error (Docker's words) is thrown.
 */
export async function connectNetworks(engine: Engine, rec: ContainerRecord, init: ProcessIdentity): Promise<void> {
  if (netModeKind(rec.HostConfig.NetworkMode) !== "bridge") return;
  const nets = await networksOf(engine);
  await releaseNetworks(engine, rec);
  // Disconnected from every network: only lo, as Docker leaves it.
  const attachments = rec.Tsrun.net?.attachments ?? [];
  if (attachments.length === 0) return;
  const cf = new ContainerFiles(engine.root, rec.Id);
  try {
    const endpoints: Endpoint[] = [];
    for (const a of attachments) endpoints.push(await nets.attach(attachRequest(rec, a, init, path.join(cf.etc, "hosts"))));
    const bindings = portsToPublish(rec);
    const gateway = endpoints[0]!;
    // Docker publishes nothing for a container whose gateway network is internal.
    if (bindings && !nets.resolve(gateway.networkId).Internal) {
      const file = portsFile(engine, rec.Id);
      writePorts(file, { owner: init, ports: null });
      const ports = await nets.publish({
        containerId: rec.Id,
        containerName: rec.Name,
        owner: init,
        endpoint: { ip: gateway.ip, endpointId: gateway.endpointId },
        bindings,
        proxyPidFile: proxyPidFile(engine, rec.Id),
      });
      writePorts(file, { owner: init, ports });
    }
  } catch (e) {
    await releaseNetworks(engine, rec).catch((u: unknown) => log.withId(rec.Id)(`undoing the network wiring: ${String(u)}`));
    throw e;
  } finally {
    nets.coolDown();
  }
}

function attachRequest(rec: ContainerRecord, a: NetAttachment, init: ProcessIdentity, hostsFile: string) {
  return {
    // The default bridge by name (one read); user networks by id, so a network removed and
    // made anew under the same name is not taken for the old one.
    network: a.name === "bridge" ? "bridge" : a.id,
    containerId: rec.Id,
    containerName: rec.Name,
    hostname: rec.Config.Hostname,
    process: init,
    hostsFile,
    ...(a.ip !== undefined ? { ip: a.ip } : {}),
    ...(a.mac !== undefined ? { mac: a.mac } : {}),
    ...(a.aliases ? { aliases: a.aliases } : {}),
  };
}

/**
 * Releases what the container's last start wired: published ports (proxy stopped, so the
 * host ports are free when this returns), endpoints (addresses, peers' hosts files). Call
 * once PID 1 is gone, or before wiring anew. Idempotent.
 */
export async function releaseNetworks(engine: Engine, rec: ContainerRecord): Promise<void> {
  if (netModeKind(rec.HostConfig.NetworkMode) !== "bridge") return;
  const t0 = performance.now();
  const nets = await networksOf(engine);
  const file = portsFile(engine, rec.Id);
  const published = fs.existsSync(file);
  if (published) {
    await nets.unpublish(rec.Id, proxyPidFile(engine, rec.Id));
    fs.rmSync(file, { force: true });
  }
  const endpoints = nets.endpoints.ofContainer(rec.Id);
  // Even with no endpoint recorded, release: an attach killed before it recorded one may
  // have left an address lease that names this container.
  // A container that joined this one's network namespace keeps it (and the veth) alive.
  const joined = endpoints.length > 0 && (await namespaceJoined(engine, rec));
  await nets.release(rec.Id, { deleteInterfaces: joined });
  log.withId(rec.Id)(`released ${endpoints.length} endpoints${published ? " and published ports" : ""} in ${(performance.now() - t0).toFixed(1)} ms`);
}

/** Whether a running container shares `rec`'s network namespace (--network container:rec). */
async function namespaceJoined(engine: Engine, rec: ContainerRecord): Promise<boolean> {
  const name = rec.Name.replace(/^\//, "");
  for (const id of listIds(engine.root)) {
    if (id === rec.Id) continue;
    const other = readRecord(engine.root, id);
    const ref = joinedContainer(other?.HostConfig.NetworkMode);
    if (!other || !ref || !(ref === rec.Id || ref === name || (isIdPrefix(ref) && rec.Id.startsWith(ref)))) continue;
    if ((await engine.status(other)).Running) return true;
  }
  return false;
}

/** A renamed container is known by its new name on its networks (peers' hosts files). */
export async function renameEndpoints(engine: Engine, id: string, name: string): Promise<void> {
  const nets = await networksOf(engine);
  if (nets.endpoints.ofContainer(id).length > 0) await nets.rename(id, name);
}

/**
 * `--network container:X` at start: X must run (Docker's messages), its PID 1 is where the
 * namespaces are found.
 */
export async function networkDonor(engine: Engine, rec: ContainerRecord, ref: string): Promise<{ rec: ContainerRecord; pid: number }> {
  const donor = engine.resolve(ref);
  if (donor.Id === rec.Id) throw invalidArgument("cannot join own network");
  const { status } = await engine.observe(donor);
  if (status.Status === "restarting") throw conflict(`Container ${ref} is restarting, wait until the container is running`);
  if (!status.Running) throw conflict(`cannot join network of a non running container: ${ref}`);
  return { rec: donor, pid: status.Pid };
}

/**
 * What `--network container:X` takes from X besides its namespace, as Docker: X's hostname
 * and its /etc/hosts, /etc/resolv.conf and /etc/hostname (the joiner shares X's user
 * namespace, so X's idmapped files look the same to it).
 */
export function shareDonorFiles(engine: Engine, spec: Spec, donor: ContainerRecord): void {
  const etc = new ContainerFiles(engine.root, donor.Id).etc;
  for (const m of spec.mounts ?? []) {
    if (m.destination === "/etc/hosts" || m.destination === "/etc/resolv.conf" || m.destination === "/etc/hostname") {
      m.source = path.join(etc, path.basename(m.destination));
    }
  }
  spec.hostname = donor.Config.Hostname;
}

// ---------------------------------------------------------------------------------------
// network connect / disconnect

export interface ConnectOptions {
  aliases?: string[];
  ip?: string;
}

/**
 * `network connect`: the network is added to the container's list (attached at each start)
 * and, while it runs, attached at once (its next eth).
 */
export async function connectContainer(engine: Engine, netRef: string, ref: string, opts: ConnectOptions = {}): Promise<void> {
  const nets = await networksOf(engine);
  const id = engine.resolve(ref).Id;
  await withContainerLock(engine.root, id, ref, async () => {
    const rec = engine.reread(id, ref);
    const net = nets.resolve(netRef);
    const kind = netModeKind(rec.HostConfig.NetworkMode);
    if (kind === "host" || net.Driver === "host") throw invalidArgument("container cannot be disconnected from host network or connected to host network");
    if (kind === "container") throw invalidArgument("container sharing network namespace with another container or host cannot be connected to any other network");
    if (kind === "none" || net.Driver === "null") {
      throw invalidArgument("container cannot be connected to multiple networks with one of the networks in private (none) mode");
    }
    const attachments = rec.Tsrun.net?.attachments ?? [];
    if (attachments.some((a) => a.id === net.Id)) {
      throw conflict(`endpoint with name ${rec.Name.replace(/^\//, "")} already exists in network ${net.Name}`);
    }
    const aliases = [...new Set(opts.aliases ?? [])];
    nets.checkEndpointRequest(net, { ...(opts.ip !== undefined ? { ip: opts.ip } : {}), aliases });
    const a: NetAttachment = { name: net.Name, id: net.Id, ...(opts.ip !== undefined ? { ip: opts.ip } : {}), ...(aliases.length > 0 ? { aliases } : {}) };
    const { status } = await engine.observe(rec);
    if (status.Running) {
      const hosts = path.join(new ContainerFiles(engine.root, id).etc, "hosts");
      await nets.attach(attachRequest(rec, a, identityOf(status.Pid), hosts));
    }
    rec.Tsrun.net = { attachments: [...attachments, a] };
    writeRecord(engine.root, rec);
  });
}

/** `network disconnect`: off the list, and off the network at once while it runs. */
export async function disconnectContainer(engine: Engine, netRef: string, ref: string, opts: { force?: boolean } = {}): Promise<void> {
  const nets = await networksOf(engine);
  const id = engine.resolve(ref).Id;
  await withContainerLock(engine.root, id, ref, async () => {
    const rec = engine.reread(id, ref);
    let net: { Id: string; Name: string; Driver: string } | undefined;
    try {
      net = nets.resolve(netRef);
    } catch (e) {
      // -f: a network that is gone is still taken off the container's list.
      if (!opts.force) throw e;
    }
    const attachments = rec.Tsrun.net?.attachments ?? [];
    const kind = netModeKind(rec.HostConfig.NetworkMode);
    if (kind === "host" || net?.Driver === "host") throw invalidArgument("container cannot be disconnected from host network or connected to host network");
    const a = attachments.find((x) => (net ? x.id === net.Id : x.name === netRef || x.id.startsWith(netRef)));
    if (!a) throw notFound(`container ${id} is not connected to network ${net?.Name ?? netRef}`);
    const { status } = await engine.observe(rec);
    if (status.Running && nets.endpoints.read(a.id, id)) {
      const released = portsFile(engine, id);
      // Published ports lead to the first network's address: they go with it.
      if (attachments[0] === a && fs.existsSync(released)) {
        await nets.unpublish(id, proxyPidFile(engine, id));
        fs.rmSync(released, { force: true });
      }
      await nets.detach(a.id, id);
    }
    rec.Tsrun.net = { attachments: attachments.filter((x) => x !== a) };
    writeRecord(engine.root, rec);
  });
}

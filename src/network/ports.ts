/**
 * Publishing a container's ports (`-p`, `-P`) and giving them back. Order, each step undone
 * if a later one fails, each leftover recognisable after a kill -9:
 *   1. host ports leased in the machine-wide table (port-table.ts), owned by the container's
 *      PID 1: another container's port is "already allocated";
 *   2. the port proxy started (native/build/tsrun-proxy, port-proxy-client.ts): it writes its
 *      pid file first, then binds every port; a port another process holds is "address
 *      already in use";
 *   3. the container's DNAT table (port-rules.ts).
 * Everything dies with the PID 1 that owns it: leases of a dead PID 1 are collected, the
 * proxy exits by itself, and repair deletes DNAT tables no live lease accounts for.
 */
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import { TsrunError, conflict, systemError } from "../common/errors.js";
import { logger } from "../common/log.js";
import type { ProcessIdentity } from "../linux/process-identity.js";
import type { NetKernel } from "./kernel.js";
import { ProxyBindError, startPortProxy, stopPortProxy } from "./port-proxy-client.js";
import { deletePortTableScript, needsDnat, portTableScript } from "./port-rules.js";
import { comparePortKeys, hostPortRange, splitPortKey, type PortMap, type PortProto } from "./port-spec.js";
import { PortTable, hostPortText, isIpv6, type BindProbe, type PortGrant, type PortRequest } from "./port-table.js";

const log = logger("network");

export interface PublishRequest {
  containerId: string;
  /** The container's name, for Docker's messages ("… on endpoint NAME (ENDPOINT ID)"). */
  containerName: string;
  /** The container's PID 1: it owns the leases, the proxy lives as long as it. */
  owner: ProcessIdentity;
  /** Where published traffic goes: the container's address on its gateway network. */
  endpoint: { ip: string; endpointId: string };
  /** What to publish: HostConfig.PortBindings, plus each exposed port for -P. */
  bindings: PortMap;
  /** Where the proxy writes its identity (kept with the container). */
  proxyPidFile: string;
}

const ERRNO_TEXT: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "cannot assign requested address",
  EACCES: "permission denied",
  ESRCH: "the container has exited",
};

/** The host has IPv6 (Docker then publishes "all addresses" on [::] too). */
export function hostHasIpv6(): boolean {
  return fs.existsSync("/proc/net/if_inet6");
}

/** The requests of a port map, in allocation order (by port, then protocol; bindings as given). */
export function portRequests(bindings: PortMap, ipv6 = hostHasIpv6()): PortRequest[] {
  const out: PortRequest[] = [];
  for (const key of Object.keys(bindings).sort(comparePortKeys)) {
    const { port, proto } = splitPortKey(key);
    for (const b of bindings[key]!) {
      out.push({
        key,
        proto,
        containerPort: port,
        hostIps: b.HostIp !== "" ? [b.HostIp] : ipv6 ? ["0.0.0.0", "::"] : ["0.0.0.0"],
        hostRange: hostPortRange(b.HostPort),
      });
    }
  }
  return out;
}

/** Whether this process could bind the address and port now. */
export const canBind: BindProbe = (proto: PortProto, hostIp: string, hostPort: number) =>
  new Promise((resolve) => {
    if (proto === "sctp") return resolve(true);
    const v6 = isIpv6(hostIp);
    if (proto === "udp") {
      const s = dgram.createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6 });
      s.once("error", () => resolve(false));
      s.bind({ address: hostIp, port: hostPort, exclusive: true }, () => s.close(() => resolve(true)));
      return;
    }
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ host: hostIp, port: hostPort, exclusive: true, ipv6Only: v6 }, () => s.close(() => resolve(true)));
  });

export class PortPublisher {
  constructor(
    private readonly root: string,
    readonly table: PortTable,
    private readonly kernel: NetKernel,
    private readonly probe: BindProbe = canBind,
  ) {}

  /** Publishes the ports; returns NetworkSettings.Ports' bindings ("80/tcp" → [{HostIp, HostPort}]). */
  async publish(req: PublishRequest): Promise<PortMap> {
    const t0 = performance.now();
    const failure = (e: unknown) =>
      new TsrunError(
        e instanceof TsrunError ? e.kind : "system",
        `driver failed programming external connectivity on endpoint ${req.containerName.replace(/^\//, "")} (${req.endpoint.endpointId}): ${(e as Error).message}`,
        { cause: e },
      );
    let grants: PortGrant[];
    try {
      grants = await this.table.claim(portRequests(req.bindings), { root: this.root, containerId: req.containerId, owner: req.owner }, this.probe);
    } catch (e) {
      throw failure(e);
    }
    const proxied = grants.filter((g) => g.proto !== "sctp");
    const dnat = grants.filter((g) => needsDnat(g.hostIp));
    try {
      if (proxied.length > 0) {
        await startPortProxy({
          containerId: req.containerId,
          owner: req.owner,
          pidFile: req.proxyPidFile,
          bindings: proxied.map((g) => ({
            proto: g.proto as "tcp" | "udp",
            hostIp: g.hostIp,
            hostPort: g.hostPort,
            targetIp: req.endpoint.ip,
            targetPort: g.containerPort,
          })),
        });
      }
      if (dnat.length > 0) {
        await this.kernel.nft(
          portTableScript(
            req.containerId,
            dnat.map((g) => ({ proto: g.proto, hostIp: g.hostIp, hostPort: g.hostPort, targetIp: req.endpoint.ip, targetPort: g.containerPort })),
          ),
        );
      }
    } catch (e) {
      await this.unpublish(req.containerId, req.proxyPidFile, dnat.length > 0).catch((u: unknown) => log(`undoing publish: ${String(u)}`));
      if (e instanceof ProxyBindError) {
        const g = proxied[e.index];
        const why = ERRNO_TEXT[e.code] ?? e.code.toLowerCase();
        const listen = g ? `listen ${g.proto}${isIpv6(g.hostIp) ? 6 : 4} ${hostPortText(g.hostIp, g.hostPort)}: bind: ` : "";
        throw failure(conflict(`Error starting userland proxy: ${listen}${why}`));
      }
      throw failure(systemError((e as Error).message, e));
    }
    const ports: PortMap = {};
    for (const g of grants) (ports[g.key] ??= []).push({ HostIp: g.hostIp, HostPort: String(g.hostPort) });
    log(`published ${grants.map((g) => `${hostPortText(g.hostIp, g.hostPort)}->${g.key}`).join(", ")} in ${(performance.now() - t0).toFixed(1)} ms`);
    return ports;
  }

  /**
   * Gives a container's ports back: proxy stopped (its sockets closed before this returns),
   * DNAT table deleted (when `dnat` may have made one), leases released. Idempotent.
   */
  async unpublish(containerId: string, proxyPidFile: string, dnat = true): Promise<void> {
    await stopPortProxy(proxyPidFile);
    if (dnat) await this.kernel.nft(deletePortTableScript(containerId));
    await this.table.release(this.root, containerId);
  }
}

/**
 * A container's networking as `create` decides it, from `--network`, `--ip`, `--network-alias`,
 * `--mac-address`, `--dns*`, `-p`, `-P` and `--expose`, with Docker's rules and messages
 * (docker/cli's parse, moby's validateNetContainerMode), before anything exists:
 *
 * - the mode: bridge networks (the default bridge, or user networks, attached at each start),
 *   `host` (the host's network namespace and, as Docker refuses host networking with user
 *   namespaces, the host's user namespace too), `none` (only lo), or `container:X` (X's
 *   network namespace and X's user namespace, found when the container starts);
 * - what the record keeps: HostConfig (NetworkMode, PortBindings, PublishAllPorts, Dns…),
 *   Config.ExposedPorts, and tsrun's list of attachments with what was asked of each;
 * - the /etc files: resolv.conf (the host's without loopback resolvers, or --dns…, or the
 *   root's daemon.json defaults), and for `host` the host's /etc/hosts;
 * - the spec: no network namespace of its own for `host`, no network sysctls when the
 *   namespace is another's.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { invalidArgument } from "../common/index.js";
import type { NetworkRecord, Networks, PortMap, PortSet } from "../network/index.js";
import type { Spec } from "../runtime/spec.js";
import { DEFAULT_NET_SYSCTLS } from "./defaults.js";
import { HOST_GATEWAY, type RunOptions } from "./run-options.js";

/** One network a container is connected to, with what was asked of the endpoint. */
export interface NetAttachment {
  /** The network's name (Docker keys NetworkSettings.Networks by it). */
  name: string;
  id: string;
  /** --ip / connect --ip. */
  ip?: string;
  /** --mac-address. */
  mac?: string;
  /** --network-alias / connect --alias. */
  aliases?: string[];
}

/** tsrun's part of a container's networking (record.Tsrun.net). */
export interface ContainerNetConfig {
  /** Bridge networks, the first one's gateway the default route; empty for host, none and container:X. */
  attachments: NetAttachment[];
}

export type NetModeKind = "bridge" | "host" | "none" | "container";

/** What HostConfig.NetworkMode means. */
export function netModeKind(mode: string | undefined): NetModeKind {
  if (mode === "host") return "host";
  if (mode === "none") return "none";
  if (mode?.startsWith("container:")) return "container";
  return "bridge";
}

/** The networking flags of run/create (a subset of RunOptions). */
export type NetworkFlags = Pick<
  RunOptions,
  "networks" | "ip" | "macAddress" | "networkAliases" | "dns" | "dnsSearch" | "dnsOptions" | "publish" | "publishAll" | "expose" | "hostname" | "addHosts"
>;

/** The root's daemon-wide defaults (`<root>/daemon.json`, Docker's keys): a test root sets its own DNS there. */
interface DaemonDefaults {
  dns?: string[];
  "dns-search"?: string[];
  "dns-opts"?: string[];
  "host-gateway-ip"?: string;
}

const DNS_SEARCH = /^(:?(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))$/;
/** Docker's fallback when the host has no resolver a container can reach. */
const DEFAULT_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];
const HOST_RESOLV_CONF = "/etc/resolv.conf";
const HOST_HOSTS = "/etc/hosts";

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** One `--network` value: a name, or Docker's long form `name=N,alias=A,ip=IP,mac-address=M`. */
function parseNetworkFlag(value: string): { target: string; aliases: string[]; ip?: string; mac?: string } {
  if (!value.includes("=")) return { target: value, aliases: [] };
  const out: { target: string; aliases: string[]; ip?: string; mac?: string } = { target: "", aliases: [] };
  for (const field of value.split(",")) {
    const eq = field.indexOf("=");
    const key = eq < 0 ? field : field.slice(0, eq);
    const v = eq < 0 ? "" : field.slice(eq + 1);
    if (key === "name") out.target = v;
    else if (key === "alias") out.aliases.push(v);
    else if (key === "ip") out.ip = v;
    else if (key === "mac-address") out.mac = v;
    else throw invalidArgument(`invalid field key ${key}`);
  }
  if (out.target === "") throw invalidArgument("network name is required (use name=<network>)");
  return out;
}

const isUserDefined = (target: string) => !["default", "bridge", "host", "none"].includes(target) && !target.startsWith("container:");

/** A create's networking, checked; `apply*` methods put it into the container. */
export class NetworkConfig {
  private constructor(
    /** HostConfig.NetworkMode. */
    readonly mode: string,
    readonly kind: NetModeKind,
    readonly attachments: NetAttachment[],
    /** The container whose namespaces `container:X` joins (resolved now, found again at start). */
    readonly joinRef: string | undefined,
    private readonly portBindings: PortMap,
    private readonly exposed: PortSet,
    private readonly flags: NetworkFlags,
    readonly warnings: string[],
  ) {}

  /**
   * Everything that can be wrong with the flags, with Docker's messages; `nets` loads the
   * network library (user networks are resolved now: "network X not found").
   */
  static async parse(flags: NetworkFlags, nets: () => Promise<Networks>, lookupContainer: (ref: string) => unknown): Promise<NetworkConfig> {
    const specs = (flags.networks ?? []).map(parseNetworkFlag);
    if (specs.length === 0) specs.push({ target: "default", aliases: [] });
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.target)) throw invalidArgument(`network ${JSON.stringify(s.target)} is specified multiple times`);
      seen.add(s.target);
    }
    if (specs.some((s) => isUserDefined(s.target)) && specs.some((s) => !isUserDefined(s.target))) {
      throw invalidArgument("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
    }
    // The legacy flags belong to the first network (docker/cli's applyContainerOptions).
    const first = specs[0]!;
    const aliases = flags.networkAliases ?? [];
    if (aliases.length > 0 && first.aliases.length > 0) throw invalidArgument("conflicting options: cannot specify both --network-alias and per-network alias");
    if (flags.ip !== undefined && first.ip !== undefined) throw invalidArgument("conflicting options: cannot specify both --ip and per-network IPv4 address");
    if (flags.macAddress && first.mac !== undefined) throw invalidArgument("conflicting options: cannot specify both --mac-address and per-network MAC address");
    if (aliases.length > 0) first.aliases = [...aliases];
    if (flags.ip !== undefined) first.ip = flags.ip;
    if (flags.macAddress) first.mac = flags.macAddress;
    for (const s of specs) {
      if (!isUserDefined(s.target) && s.aliases.length > 0) throw invalidArgument("network-scoped aliases are only supported for user-defined networks");
      if (s.ip !== undefined && net.isIPv4(s.ip) === false) throw invalidArgument(`invalid argument "${s.ip}" for "--ip" flag: invalid string being converted to IP address: ${s.ip}`);
      if (s.mac !== undefined && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s.mac.trim())) throw invalidArgument(`${s.mac} is not a valid mac address`);
    }
    for (const d of flags.dns ?? []) {
      if (net.isIP(d) === 0) throw invalidArgument(`invalid argument "${d}" for "--dns" flag: IP address is not correctly formatted: ${d}`);
    }
    for (const d of flags.dnsSearch ?? []) {
      if (d !== "." && (d.length > 255 || !DNS_SEARCH.test(d.replace(/\.$/, "")))) {
        throw invalidArgument(`invalid argument "${d}" for "--dns-search" flag: ${d} is not a valid domain`);
      }
    }
    const { parsePublishList, parseExpose } = await import("../network/port-spec.js");
    const { exposed, bindings } = parsePublishList(flags.publish ?? []);
    for (const e of flags.expose ?? []) for (const key of parseExpose(e)) exposed[key] = {};

    const mode = first.target === "default" ? "bridge" : first.target;
    const kind = netModeKind(mode);
    const warnings: string[] = [];
    let joinRef: string | undefined;
    if (kind === "container") {
      joinRef = mode.slice("container:".length);
      if (joinRef === "") throw invalidArgument("Invalid network mode: invalid container format container:<name|id>");
      // moby's validateNetContainerMode, in its order.
      if (flags.hostname !== undefined) throw invalidArgument("conflicting options: hostname and the network mode");
      if ((flags.dns ?? []).length > 0) throw invalidArgument("conflicting options: dns and the network mode");
      if ((flags.addHosts ?? []).length > 0) throw invalidArgument("conflicting options: custom host-to-IP mapping and the network mode");
    }
    if ((kind === "container" || kind === "host") && first.mac !== undefined) throw invalidArgument("conflicting options: mac-address and the network mode");
    if (kind === "container") {
      if (Object.keys(bindings).length > 0 || flags.publishAll) throw invalidArgument("conflicting options: port publishing and the container type network mode");
      if (Object.keys(exposed).length > 0) throw invalidArgument("conflicting options: port exposing and the container type network mode");
      lookupContainer(joinRef!);
    }
    if (kind !== "bridge" && first.ip !== undefined) throw invalidArgument("user specified IP address is supported on user defined networks only");
    if (kind === "host" && (Object.keys(bindings).length > 0 || flags.publishAll)) warnings.push("Published ports are discarded when using host network mode");

    const attachments: NetAttachment[] = [];
    if (kind === "bridge") {
      const lib = await nets();
      for (const s of specs) {
        const target = s.target === "default" ? "bridge" : s.target;
        const rec: NetworkRecord = lib.resolve(target);
        if (rec.Driver === "host" || rec.Driver === "null") {
          // `--network NAME` naming a built-in by id: one mode at a time, as Docker.
          throw invalidArgument(`container cannot be connected to multiple networks with one of the networks in private (none) mode`);
        }
        lib.checkEndpointRequest(rec, {
          ...(s.ip !== undefined ? { ip: s.ip } : {}),
          aliases: s.aliases,
          ...(s.mac !== undefined ? { mac: s.mac } : {}),
        });
        attachments.push({
          name: rec.Name,
          id: rec.Id,
          ...(s.ip !== undefined ? { ip: s.ip } : {}),
          ...(s.mac !== undefined ? { mac: s.mac.trim().toLowerCase().replace(/-/g, ":") } : {}),
          ...(s.aliases.length > 0 ? { aliases: s.aliases } : {}),
        });
      }
    } else if (specs.length > 1) {
      throw invalidArgument(
        kind === "none"
          ? "container cannot be connected to multiple networks with one of the networks in private (none) mode"
          : kind === "host"
            ? "container cannot be disconnected from host network or connected to host network"
            : "container sharing network namespace with another container or host cannot be connected to any other network",
      );
    }
    return new NetworkConfig(mode, kind, attachments, joinRef, kind === "container" ? {} : bindings, exposed, flags, warnings);
  }

  /** The network namespace is not the container's own: it shares the host's or another container's. */
  get sharesNamespace(): boolean {
    return this.kind === "host" || this.kind === "container";
  }

  /** The default hostname: the host's for `host` (as Docker), else the short id. */
  hostname(id: string): string {
    return this.flags.hostname ?? (this.kind === "host" ? os.hostname() : id.slice(0, 12));
  }

  /** The container's resolv.conf. */
  resolvConf(root: string): string {
    const hostText = readIfExists(HOST_RESOLV_CONF) ?? "";
    const defaults = readDaemonDefaults(root);
    const dns = nonEmpty(this.flags.dns) ?? defaults.dns;
    const search = nonEmpty(this.flags.dnsSearch) ?? defaults["dns-search"];
    const options = nonEmpty(this.flags.dnsOptions) ?? defaults["dns-opts"];
    // On the host's network the host's resolvers, loopback ones included, are reachable.
    const base = this.kind === "host" ? hostText : withoutLoopbackResolvers(hostText);
    if (!dns && !search && !options) return ensureNameserver(base);
    const lines = base.split("\n");
    const pick = (word: string) => lines.flatMap((l) => (new RegExp(`^\\s*${word}\\s+`).test(l) ? l.trim().split(/\s+/).slice(1) : []));
    const servers = dns ?? pick("nameserver");
    const domains = search ? search.filter((d) => d !== ".") : pick("search");
    const opts = options ?? pick("options");
    const out = [
      ...(domains.length > 0 ? [`search ${domains.join(" ")}`] : []),
      ...(servers.length > 0 ? servers : DEFAULT_NAMESERVERS).map((s) => `nameserver ${s}`),
      ...(opts.length > 0 ? [`options ${opts.join(" ")}`] : []),
    ];
    return out.join("\n") + "\n";
  }

  /** `host` mode's /etc/hosts is the host's, with the --add-host lines after it (Docker copies the host's file). */
  writeHostsFile(file: string, extraHosts: { host: string; ip: string }[]): void {
    if (this.kind !== "host") return;
    let text = readIfExists(HOST_HOSTS) ?? "";
    if (text !== "" && !text.endsWith("\n")) text += "\n";
    fs.writeFileSync(file, text + extraHosts.map((h) => `${h.ip}\t${h.host}\n`).join(""), { mode: 0o644 });
  }

  /** The spec: no network namespace of its own for `host`; no network sysctls in a namespace that is another's. */
  applyTo(spec: Spec): void {
    if (!this.sharesNamespace) return;
    const linux = spec.linux ?? {};
    if (this.kind === "host" && linux.namespaces) linux.namespaces = linux.namespaces.filter((n) => n.type !== "network");
    if (linux.sysctl) {
      for (const key of Object.keys(DEFAULT_NET_SYSCTLS)) delete linux.sysctl[key];
    }
  }

  /** Config.ExposedPorts: the image's, --expose's and -p's. */
  exposedPorts(image: Record<string, object> | undefined): Record<string, object> | undefined {
    const all: Record<string, object> = { ...(image ?? {}), ...this.exposed };
    return Object.keys(all).length > 0 ? all : undefined;
  }

  /** HostConfig's networking fields (Docker's names). */
  hostConfig(): { NetworkMode: string; PortBindings: PortMap; PublishAllPorts: boolean; Dns: string[]; DnsOptions: string[]; DnsSearch: string[] } {
    return {
      NetworkMode: this.mode,
      PortBindings: this.portBindings,
      PublishAllPorts: this.kind !== "container" && !!this.flags.publishAll,
      Dns: this.flags.dns ?? [],
      DnsOptions: this.flags.dnsOptions ?? [],
      DnsSearch: this.flags.dnsSearch ?? [],
    };
  }

  /** record.Tsrun.net. */
  record(): ContainerNetConfig {
    return { attachments: this.attachments };
  }
}

/**
 * --add-host's `host-gateway` made an address: daemon.json's host-gateway-ip, else the
 * default bridge's gateway (asked of the networks only when some entry needs it).
 */
export async function resolveHostGateway(
  hosts: { host: string; ip: string }[],
  root: string,
  gateway: () => Promise<string>,
): Promise<{ host: string; ip: string }[]> {
  if (!hosts.some((h) => h.ip === HOST_GATEWAY)) return hosts;
  const configured = readDaemonDefaults(root)["host-gateway-ip"];
  if (configured !== undefined && net.isIP(configured) === 0) {
    throw invalidArgument(`Cannot read "${path.join(root, "daemon.json")}": invalid host-gateway-ip: "${configured}"`);
  }
  const ip = configured ?? (await gateway());
  return hosts.map((h) => (h.ip === HOST_GATEWAY ? { host: h.host, ip } : h));
}

const nonEmpty = (l: string[] | undefined) => (l && l.length > 0 ? l : undefined);

function readDaemonDefaults(root: string): DaemonDefaults {
  const text = readIfExists(path.join(root, "daemon.json"));
  if (text === undefined) return {};
  try {
    return JSON.parse(text) as DaemonDefaults;
  } catch (e) {
    throw invalidArgument(`Cannot read "${path.join(root, "daemon.json")}": ${(e as Error).message}`);
  }
}

/** The host's resolv.conf without loopback resolvers, which a container cannot reach (as Docker). */
export function withoutLoopbackResolvers(text: string): string {
  const lines = text.split("\n").filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]!.startsWith("127.") || m[1] === "::1");
  });
  const out = lines.join("\n").trim();
  return out ? out + "\n" : "";
}

/** Docker adds its default resolvers when none is left. */
function ensureNameserver(text: string): string {
  if (/^\s*nameserver\s/m.test(text)) return text;
  return text + DEFAULT_NAMESERVERS.map((s) => `nameserver ${s}\n`).join("");
}


/**
 * What tsrun keeps about networks and their endpoints, in Docker's field names where Docker
 * shows them.
 *
 *   <root>/networks/<name>.json          one NetworkRecord per network (built-ins included)
 *   <root>/networks/<network id>/<container id>.json   one EndpointRecord per attachment
 */
import type { ProcessIdentity } from "../linux/process-identity.js";

export type NetworkDriver = "bridge" | "host" | "null";

export interface IpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway: string;
}

/** One network, as `network inspect` shows it (minus Containers), plus tsrun's own part. */
export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: NetworkDriver;
  EnableIPv6: boolean;
  IPAM: { Driver: "default"; Options: Record<string, string> | null; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  Tsrun: {
    /** One of the three networks every root has (bridge, host, none). */
    builtin: boolean;
    /**
     * 8 hex digits naming this network's kernel objects (bridge and nft table `tsr-<tag>`),
     * from a hash of the state root and the network id, so two roots never collide.
     */
    tag?: string;
    /** The subnet was given with --subnet (only then may containers ask for a static --ip). */
    userSubnet?: boolean;
  };
}

/** One container's attachment to one bridge network, while the container runs. */
export interface EndpointRecord {
  EndpointID: string;
  NetworkID: string;
  ContainerID: string;
  /** The container's name without the leading "/". */
  Name: string;
  Hostname: string;
  Aliases: string[];
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
  /** The interface name inside the container (eth0…). */
  IfName: string;
  /** The host end of the veth pair, `tsv<12 hex>`. */
  HostIfName: string;
  /** True when this endpoint installed the container's default route. */
  DefaultRoute: boolean;
  /** The container's PID 1 (whose network namespace this is); the endpoint lives as long as it. */
  Owner: ProcessIdentity;
  /** The container's hosts file on the host (kept in sync with the network's members), if any. */
  HostsFile?: string;
}

/** What `attach` hands back: what the engine records in NetworkSettings.Networks[name]. */
export interface Endpoint {
  networkId: string;
  networkName: string;
  endpointId: string;
  ifname: string;
  hostIfname: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  aliases: string[];
  /** Names peers can use for this container on this network (none on the default bridge). */
  dnsNames: string[];
}

export interface AttachRequest {
  /** Network name, id or id prefix, or the record itself. */
  network: string | NetworkRecord;
  containerId: string;
  /** The container's name (with or without the leading "/"). */
  containerName: string;
  /** The container's hostname: its own line in /etc/hosts. Default: the short id. */
  hostname?: string;
  /** The container's PID 1 after the runtime's create: its network namespace is /proc/<pid>/ns/net. */
  process: ProcessIdentity;
  /** Interface name inside; default: the first free ethN of this container. */
  ifname?: string;
  /** A static address (--ip); only on networks with a configured subnet. */
  ip?: string;
  /** A static MAC (--mac-address); default 02:42 + the address. */
  mac?: string;
  /** Network-scoped aliases (--network-alias / connect --alias); user networks only. */
  aliases?: string[];
  /** Install the default route through this network's gateway; default: when it is the first endpoint. */
  defaultRoute?: boolean;
  /** The container's /etc/hosts on the host, rewritten in place as peers come and go. */
  hostsFile?: string;
}

/** The built-in networks of every state root. */
export const BUILTIN_NAMES = ["bridge", "host", "none"] as const;

export const isBuiltinName = (name: string): boolean => (BUILTIN_NAMES as readonly string[]).includes(name);

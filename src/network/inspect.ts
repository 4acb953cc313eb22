/**
 * Docker's JSON for networks (`network inspect`) and for a container's attachment to one
 * (`inspect` → NetworkSettings.Networks[name]), built from tsrun's records. Pure.
 */
import type { Endpoint, EndpointRecord, NetworkRecord } from "./model.js";

export interface NetworkContainerView {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: { Subnet: string; IPRange?: string; Gateway?: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainerView>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** `network inspect` of one network; `endpoints` are its live ones. */
export function inspectNetwork(net: NetworkRecord, endpoints: EndpointRecord[]): NetworkInspect {
  const containers: Record<string, NetworkContainerView> = {};
  for (const e of [...endpoints].sort((a, b) => a.ContainerID.localeCompare(b.ContainerID))) {
    containers[e.ContainerID] = {
      Name: e.Name,
      EndpointID: e.EndpointID,
      MacAddress: e.MacAddress,
      IPv4Address: `${e.IPAddress}/${e.IPPrefixLen}`,
      IPv6Address: "",
    };
  }
  return {
    Name: net.Name,
    Id: net.Id,
    Created: net.Created,
    Scope: net.Scope,
    Driver: net.Driver,
    EnableIPv6: net.EnableIPv6,
    IPAM: {
      Driver: net.IPAM.Driver,
      Options: net.IPAM.Options,
      Config: net.IPAM.Config.map((c) => ({
        Subnet: c.Subnet,
        ...(c.IPRange ? { IPRange: c.IPRange } : {}),
        ...(c.Gateway ? { Gateway: c.Gateway } : {}),
      })),
    },
    Internal: net.Internal,
    Attachable: net.Attachable,
    Ingress: net.Ingress,
    ConfigFrom: net.ConfigFrom,
    ConfigOnly: net.ConfigOnly,
    Containers: containers,
    Options: net.Options,
    Labels: net.Labels,
  };
}

/** Docker's EndpointSettings: what a container's inspect shows under NetworkSettings.Networks[name]. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address: string } | null;
  Links: null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: null;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

/**
 * The settings of an attached endpoint; `staticIp` is the --ip the user asked for. For a
 * container that is not running, pass no endpoint: the addresses are empty, as Docker shows.
 */
export function endpointSettings(
  networkId: string,
  ep: Endpoint | undefined,
  config: { staticIp?: string; aliases?: string[] } = {},
): EndpointSettings {
  return {
    IPAMConfig: config.staticIp ? { IPv4Address: config.staticIp } : null,
    Links: null,
    Aliases: config.aliases && config.aliases.length > 0 ? config.aliases : null,
    MacAddress: ep?.mac ?? "",
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: ep?.endpointId ?? "",
    Gateway: ep?.gateway ?? "",
    IPAddress: ep?.ip ?? "",
    IPPrefixLen: ep?.prefixLen ?? 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DNSNames: ep && ep.dnsNames.length > 0 ? ep.dnsNames : null,
  };
}

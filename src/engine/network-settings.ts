/**
 * What Docker shows of a container's networking: inspect's NetworkSettings (Networks with
 * one EndpointSettings per network, Ports, SandboxKey, and for the default bridge the old
 * top-level IPAddress/Gateway/MacAddress/EndpointID fields), and the port map that `port`
 * and ps's PORTS column read. Built when asked from what the container asked for (its
 * record) and what it holds now (live endpoint records, ports.json), never stored, so a
 * stopped container simply shows empty addresses, as Docker's does.
 */
import type { Endpoint, PortMap } from "../network/index.js";
import type { Engine } from "./engine.js";
import { netModeKind } from "./network-config.js";
import { networksOf, portsFile, readPorts } from "./network-wiring.js";
import type { ContainerRecord } from "./record.js";
import type { ContainerStatus } from "./status.js";

/** NetworkSettings.Ports: every exposed port (null when not published) while the container runs. */
export type PortView = Record<string, { HostIp: string; HostPort: string }[] | null>;

/** The published ports of a running container, with its exposed ones ({} when it does not run). */
export function livePorts(engine: Engine, rec: ContainerRecord, st: Pick<ContainerStatus, "Running" | "Pid">): PortView {
  if (!st.Running || netModeKind(rec.HostConfig.NetworkMode) !== "bridge") return {};
  const out: PortView = {};
  for (const key of Object.keys(rec.Config.ExposedPorts ?? {})) out[key] = null;
  const published = readPorts(portsFile(engine, rec.Id));
  // Ports published for an earlier PID 1 are not this run's.
  if (published?.ports && published.owner.pid === st.Pid) {
    for (const [key, bindings] of Object.entries(published.ports as PortMap)) out[key] = bindings;
  }
  return sortKeys(out);
}

const EMPTY_ENDPOINT = {
  IPAMConfig: null,
  Links: null,
  Aliases: null,
  MacAddress: "",
  DriverOpts: null,
  NetworkID: "",
  EndpointID: "",
  Gateway: "",
  IPAddress: "",
  IPPrefixLen: 0,
  IPv6Gateway: "",
  GlobalIPv6Address: "",
  GlobalIPv6PrefixLen: 0,
  DNSNames: null,
};

/** inspect's NetworkSettings, in Docker's field order. */
export async function networkSettings(engine: Engine, rec: ContainerRecord, st: ContainerStatus): Promise<Record<string, unknown>> {
  const running = st.Running && st.Pid > 0;
  const mode = rec.HostConfig.NetworkMode || "none";
  const kind = netModeKind(mode);
  const nets = await networksOf(engine);
  const { endpointSettings } = await import("../network/index.js");
  const networks: Record<string, unknown> = {};
  let bridge: Endpoint | undefined;
  if (kind === "bridge") {
    const live = nets.endpointsOf(rec.Id);
    for (const a of rec.Tsrun.net?.attachments ?? []) {
      const ep = live.find((e) => e.networkId === a.id);
      if (a.name === "bridge") bridge = ep;
      const s = endpointSettings(a.id, ep, { ...(a.ip ? { staticIp: a.ip } : {}), ...(a.aliases ? { aliases: a.aliases } : {}) });
      networks[a.name] = a.mac && !ep ? { ...s, MacAddress: a.mac } : s;
    }
  } else if (kind !== "container") {
    let id = "";
    try {
      id = nets.resolve(mode).Id;
    } catch {
      // the built-in's record is made on first use; an unreadable one shows no id
    }
    networks[mode] = { ...EMPTY_ENDPOINT, NetworkID: id };
  }
  return {
    Bridge: "",
    SandboxID: "",
    SandboxKey: running ? `/proc/${st.Pid}/ns/net` : "",
    Ports: livePorts(engine, rec, st),
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.endpointId ?? "",
    Gateway: bridge?.gateway ?? "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.ip ?? "",
    IPPrefixLen: bridge?.prefixLen ?? 0,
    IPv6Gateway: "",
    MacAddress: bridge?.mac ?? "",
    Networks: sortKeys(networks),
  };
}

/** Go encodes maps with sorted keys. */
function sortKeys<T extends Record<string, unknown>>(m: T): T {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T;
}

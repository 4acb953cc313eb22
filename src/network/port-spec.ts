/**
 * Docker's port flags as data: `-p/--publish` (`[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, ranges,
 * `[v6]` host addresses, and the long `published=…,target=…` form), `--expose`, and the maps
 * they become in a container's Config.ExposedPorts and HostConfig.PortBindings. Parsing
 * follows docker/cli and go-connections/nat, with their messages. Pure.
 */
import net from "node:net";
import { invalidArgument } from "../common/errors.js";

export type PortProto = "tcp" | "udp" | "sctp";

/** Docker's PortBinding: HostIp "" means every address (0.0.0.0 and ::); HostPort "" a free one. */
export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** "80/tcp" → its bindings (Docker's nat.PortMap). */
export type PortMap = Record<string, PortBinding[]>;

/** "80/tcp" → {} (Docker's nat.PortSet, Config.ExposedPorts). */
export type PortSet = Record<string, Record<string, never>>;

const PROTOS = new Set(["tcp", "udp", "sctp"]);

/** A port key's number and protocol ("80/tcp" → 80, "tcp"). */
export function splitPortKey(key: string): { port: number; proto: PortProto } {
  const [port, proto] = key.split("/") as [string, string | undefined];
  return { port: Number(port), proto: (proto || "tcp") as PortProto };
}

/** go-connections' parsePortRange: "80" or "8000-8010", each 0…65535 and start ≤ end. */
function portRange(s: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] !== undefined ? Number(m[2]) : start;
  if (start > 65535 || end > 65535 || end < start) return undefined;
  return [start, end];
}

/** docker/cli's convertToStandardNotation: `published=8080,target=80,protocol=udp` → "8080:80/udp". */
function standardNotation(spec: string): string {
  if (!spec.includes("=")) return spec;
  const params: Record<string, string> = { protocol: "tcp" };
  for (const param of spec.split(",")) {
    const eq = param.indexOf("=");
    if (eq <= 0) throw invalidArgument(`invalid publish opts format (should be name=value but got '${param}')`);
    params[param.slice(0, eq)] = param.slice(eq + 1);
  }
  return `${params.published ?? ""}:${params.target ?? ""}/${params.protocol}`;
}

/** go-connections' splitParts: everything before the last two colons is the host address. */
function splitParts(raw: string): [string, string, string] {
  const parts = raw.split(":");
  if (parts.length === 1) return ["", "", parts[0]!];
  if (parts.length === 2) return ["", parts[0]!, parts[1]!];
  const n = parts.length;
  return [parts.slice(0, n - 2).join(":"), parts[n - 2]!, parts[n - 1]!];
}

/** One `-p` value → its (port, binding) pairs (a range gives one per port). */
export function parsePublish(spec: string): { port: string; binding: PortBinding }[] {
  const raw = standardNotation(spec);
  let [ip, hostPort, containerPart] = splitParts(raw);
  const slash = containerPart.indexOf("/");
  let containerPort = slash >= 0 ? containerPart.slice(0, slash) : containerPart;
  let proto = slash >= 0 ? containerPart.slice(slash + 1) : "tcp";
  if (containerPort === "") throw invalidArgument(`no port specified: ${raw}<empty>`);
  if (proto === "") proto = "tcp";
  proto = proto.toLowerCase();
  if (!PROTOS.has(proto)) throw invalidArgument(`invalid proto: ${proto}`);
  if (ip.startsWith("[")) {
    const close = ip.indexOf("]");
    if (close !== ip.length - 1) throw invalidArgument(`invalid IP address ${ip}: address ${ip}:: missing port in address`);
    ip = ip.slice(1, -1);
  }
  if (ip !== "" && net.isIP(ip) === 0) throw invalidArgument(`invalid IP address: ${ip}`);
  const cRange = portRange(containerPort);
  if (!cRange) throw invalidArgument(`invalid containerPort: ${containerPort}`);
  let hRange: [number, number] | undefined;
  if (hostPort !== "") {
    hRange = portRange(hostPort);
    if (!hRange) throw invalidArgument(`invalid hostPort: ${hostPort}`);
    // A host range with one container port is the range to pick a free host port from.
    if (cRange[1] - cRange[0] !== hRange[1] - hRange[0] && cRange[0] !== cRange[1]) {
      throw invalidArgument(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  const count = cRange[1] - cRange[0] + 1;
  const out: { port: string; binding: PortBinding }[] = [];
  for (let i = 0; i < count; i++) {
    let hp = "";
    if (hRange) {
      hp = String(hRange[0] + i);
      if (count === 1 && hRange[0] !== hRange[1]) hp += `-${hRange[1]}`;
    }
    out.push({ port: `${cRange[0] + i}/${proto}`, binding: { HostIp: ip, HostPort: hp } });
  }
  return out;
}

/** Every `-p`: the ports they expose and their bindings, in the order given. */
export function parsePublishList(specs: string[]): { exposed: PortSet; bindings: PortMap } {
  const exposed: PortSet = {};
  const bindings: PortMap = {};
  for (const spec of specs) {
    for (const { port, binding } of parsePublish(spec)) {
      exposed[port] = {};
      (bindings[port] ??= []).push(binding);
    }
  }
  return { exposed, bindings };
}

/** One `--expose` value ("80", "80/udp", "8000-8010/tcp") → its port keys. */
export function parseExpose(spec: string): string[] {
  if (spec.includes(":")) throw invalidArgument(`invalid port format for --expose: ${spec}`);
  const slash = spec.indexOf("/");
  const port = slash >= 0 ? spec.slice(0, slash) : spec;
  const proto = (slash >= 0 ? spec.slice(slash + 1) : "") || "tcp";
  const range = portRange(port);
  if (!range || !PROTOS.has(proto.toLowerCase())) {
    throw invalidArgument(`invalid range format for --expose: ${spec}, error: invalid port range ${JSON.stringify(port)}`);
  }
  const out: string[] = [];
  for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto.toLowerCase()}`);
  return out;
}

/** Port keys in Docker's order of allocation here: by number, then protocol. */
export function comparePortKeys(a: string, b: string): number {
  const pa = splitPortKey(a);
  const pb = splitPortKey(b);
  return pa.port - pb.port || (pa.proto < pb.proto ? -1 : pa.proto > pb.proto ? 1 : 0);
}

/** A host-port value of a binding: a fixed port, a range to pick from, or any (0, 0). */
export function hostPortRange(hostPort: string): [number, number] {
  if (hostPort === "") return [0, 0];
  const r = portRange(hostPort);
  if (!r) throw invalidArgument(`invalid hostPort: ${hostPort}`);
  return r;
}

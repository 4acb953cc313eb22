/**
 * `network create` requests checked with Docker's rules and words, before anything exists.
 * Pure: the subnet table decides overlaps later.
 */
import { conflict, invalidArgument } from "../common/errors.js";
import { type Cidr, contains, formatCidr, formatIp, networkOf, parseCidr, parseIp, within } from "./ipv4.js";
import { isBuiltinName } from "./model.js";

export interface CreateNetworkRequest {
  name: string;
  /** Default "bridge", the only driver that can be created. */
  driver?: string;
  /** At most one IPv4 subnet (--subnet). */
  subnets?: string[];
  gateways?: string[];
  ipRanges?: string[];
  internal?: boolean;
  attachable?: boolean;
  ipv6?: boolean;
  labels?: Record<string, string>;
  /** Driver options (-o), e.g. com.docker.network.driver.mtu. */
  options?: Record<string, string>;
}

/** What the request asks for, checked; `subnet` undefined means "pick one from the pools". */
export interface CheckedRequest {
  name: string;
  subnet?: Cidr;
  gateway?: number;
  ipRange?: Cidr;
}

const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const OPT_MTU = "com.docker.network.driver.mtu";

export function validateNetworkName(name: string): void {
  if (!VALID_NAME.test(name)) {
    throw invalidArgument(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
}

function cidrArg(s: string, what: string): Cidr {
  const c = parseCidr(s);
  if (!c) throw invalidArgument(s.includes(":") ? `${what} ${s}: IPv6 is not supported by tsrun` : `invalid CIDR address: ${s}`);
  return c;
}

export function checkCreateRequest(req: CreateNetworkRequest): CheckedRequest {
  validateNetworkName(req.name);
  if (isBuiltinName(req.name)) throw conflict(`network with name ${req.name} already exists`);
  const driver = req.driver ?? "bridge";
  if (driver === "host" || driver === "null") throw invalidArgument(`only one instance of "${driver}" network is allowed`);
  if (driver !== "bridge") throw invalidArgument(`plugin "${driver}" not found`);
  if (req.ipv6) throw invalidArgument("IPv6 networks are not supported by tsrun");

  const subnets = req.subnets ?? [];
  const gateways = req.gateways ?? [];
  const ranges = req.ipRanges ?? [];
  if (subnets.length < ranges.length || subnets.length < gateways.length) {
    throw invalidArgument("every ip-range or gateway must have a corresponding subnet");
  }
  if (subnets.length > 1) throw invalidArgument("tsrun supports one subnet per network");
  const out: CheckedRequest = { name: req.name };
  if (subnets.length === 1) {
    const subnet = cidrArg(subnets[0]!, "subnet");
    if (networkOf(subnet) !== subnet.addr) {
      throw invalidArgument(`invalid subnet ${subnets[0]}: it should be ${formatCidr(subnet)}`);
    }
    if (subnet.bits > 30) throw invalidArgument(`subnet ${subnets[0]} is too small: it has no room for containers`);
    out.subnet = subnet;
  }
  for (const r of ranges) {
    const range = cidrArg(r, "ip-range");
    if (!out.subnet || !within(range, out.subnet)) throw invalidArgument(`no matching subnet for range ${r}`);
    if (out.ipRange) throw invalidArgument(`cannot configure multiple ranges (${r}, ${formatCidr(out.ipRange)}) on the same subnet (${subnets[0]})`);
    out.ipRange = range;
  }
  for (const g of gateways) {
    const gw = parseIp(g);
    if (gw === undefined) throw invalidArgument(`invalid gateway address: ${g}`);
    if (!out.subnet || !contains(out.subnet, gw)) throw invalidArgument(`no matching subnet for gateway ${g}`);
    if (out.gateway !== undefined) {
      throw invalidArgument(`cannot configure multiple gateways (${g}, ${formatIp(out.gateway)}) for the same subnet (${subnets[0]})`);
    }
    out.gateway = gw;
  }
  const mtu = req.options?.[OPT_MTU];
  if (mtu !== undefined && !(/^[0-9]+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535)) {
    throw invalidArgument(`invalid MTU "${mtu}": it must be a number between 68 and 65535`);
  }
  return out;
}

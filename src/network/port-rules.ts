/**
 * DNAT for a container's published ports: one nft table per container, `inet tsp<12 hex of
 * the container id>`, defined in one atomic transaction when its ports are published and
 * deleted when they are given back, so the rules of two containers (or two roots) never
 * touch. The network's own table (nftables.ts) already lets DNAT'ed traffic into the bridge
 * (`ct status dnat accept`).
 *
 * What is rewritten, as Docker's DOCKER chain does:
 * - prerouting: traffic for a published port of one of the host's addresses (or the one
 *   address the binding names), unless it comes from a tsrun bridge;
 * - output: the host's own connections to those addresses, but not to 127.0.0.0/8.
 * Loopback traffic and traffic from containers reach the port proxy instead (its socket
 * holds the port): DNAT from 127.0.0.1 to a bridge would need route_localnet, and a
 * container's connection DNAT'ed back into its own bridge would be answered around the host.
 * IPv6 bindings have no rules: containers have IPv4 addresses only, the proxy relays.
 */
import { BRIDGE_PREFIX, NFT_FAMILY, portTableName } from "./kernel-names.js";
import { isIpv6 } from "./port-table.js";

export interface DnatRule {
  proto: "tcp" | "udp" | "sctp";
  /** "0.0.0.0" (every local address) or one IPv4 address of the host. */
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** Whether a binding gets a DNAT rule at all (IPv4, not loopback). */
export function needsDnat(hostIp: string): boolean {
  return !isIpv6(hostIp) && !hostIp.startsWith("127.");
}

export function portTableScript(containerId: string, rules: DnatRule[]): string {
  const table = `${NFT_FAMILY} ${portTableName(containerId)}`;
  const bridges = JSON.stringify(`${BRIDGE_PREFIX}*`);
  const match = (r: DnatRule, output: boolean) => {
    const daddr = r.hostIp === "0.0.0.0" ? `${output ? "ip daddr != 127.0.0.0/8 " : ""}fib daddr type local` : `ip daddr ${r.hostIp}`;
    return `meta nfproto ipv4 ${daddr} ${r.proto} dport ${r.hostPort} dnat ip to ${r.targetIp}:${r.targetPort}`;
  };
  return [
    `add table ${table}`,
    `delete table ${table}`,
    `table ${table} {`,
    "\tchain prerouting {",
    "\t\ttype nat hook prerouting priority dstnat; policy accept;",
    ...rules.map((r) => `\t\tiifname != ${bridges} ${match(r, false)}`),
    "\t}",
    "\tchain output {",
    // nft 1.0 knows "dstnat" for prerouting only; -100 is the same priority.
    "\t\ttype nat hook output priority -100; policy accept;",
    ...rules.map((r) => `\t\t${match(r, true)}`),
    "\t}",
    "}",
    "",
  ].join("\n");
}

/** Deletes a container's port table whether or not it exists. */
export function deletePortTableScript(containerId: string): string {
  const table = `${NFT_FAMILY} ${portTableName(containerId)}`;
  return `add table ${table}\ndelete table ${table}\n`;
}

/**
 * Each bridge network has its own nft table, `inet tsr-<tag>`, replaced as a whole in one
 * atomic `nft -f` transaction (add + delete + define, so it works whether or not it exists).
 * One table per network rather than rules in a shared one: a network's rules appear and
 * vanish with it, two roots never edit the same object, and repair can delete any table
 * that no lease names.
 *
 * The rules are Docker's, in nft:
 * - forward: traffic within the bridge passes (inter-container communication, unless
 *   `com.docker.network.bridge.enable_icc=false`, which needs br_netfilter to bite); traffic
 *   between this bridge and any other tsrun bridge is dropped (networks are isolated);
 *   containers may go out; replies and DNAT'ed (published) traffic may come in; nothing
 *   else is routed into the bridge. Internal networks: nothing in or out of the bridge.
 * - postrouting: masquerade what leaves the subnet by another interface (not for internal
 *   networks, nor with `com.docker.network.bridge.enable_ip_masquerade=false`).
 *
 * Base chains of other tables on the same hooks still apply: an accept here does not
 * override a drop elsewhere (e.g. an iptables FORWARD policy of DROP).
 */
import { BRIDGE_PREFIX, NFT_FAMILY, bridgeName, tableName } from "./kernel-names.js";
import type { NetworkRecord } from "./model.js";

export const OPT_ICC = "com.docker.network.bridge.enable_icc";
export const OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade";

const q = (s: string) => JSON.stringify(s);

/** Extra chains another part (published ports) adds to a network's table, as nft text. */
export type ExtraChains = string[];

export function networkRuleset(net: NetworkRecord, extra: ExtraChains = []): string {
  const tag = net.Tsrun.tag!;
  const br = q(bridgeName(tag));
  const others = q(`${BRIDGE_PREFIX}*`);
  const icc = net.Options[OPT_ICC] !== "false";
  const masquerade = !net.Internal && net.Options[OPT_MASQUERADE] !== "false";
  const subnets = net.IPAM.Config.map((c) => c.Subnet);

  const forward = [
    `iifname ${br} oifname ${br} ${icc ? "accept" : "drop"}`,
    `iifname ${br} oifname ${others} drop`,
    `oifname ${br} iifname ${others} drop`,
    ...(net.Internal
      ? [`iifname ${br} drop`, `oifname ${br} drop`]
      : [
          `iifname ${br} accept`,
          `oifname ${br} ct state established,related accept`,
          `oifname ${br} ct status dnat accept`,
          `oifname ${br} drop`,
        ]),
  ];
  const chains = [
    chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    ...(masquerade
      ? [
          chain(
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            subnets.map((s) => `ip saddr ${s} oifname != ${br} masquerade`),
          ),
        ]
      : []),
    ...extra,
  ];
  const table = `${NFT_FAMILY} ${tableName(tag)}`;
  return [`add table ${table}`, `delete table ${table}`, `table ${table} {`, ...chains, `}`, ""].join("\n");
}

function chain(name: string, hook: string, rules: string[]): string {
  return [`\tchain ${name} {`, `\t\t${hook}`, ...rules.map((r) => `\t\t${r}`), `\t}`].join("\n");
}

/** Deletes a network's table whether or not it exists. */
export function deleteTableScript(tag: string): string {
  const table = `${NFT_FAMILY} ${tableName(tag)}`;
  return `add table ${table}\ndelete table ${table}\n`;
}

/**
 * A bridge network's host side: the Linux bridge `tsr-<tag>` with the gateway address, and
 * the network's nft table. Created on the first attachment (not by `network create`, so a
 * network nobody uses costs no kernel objects), kept while the network exists.
 *
 * `ensure` is what every attachment calls: its usual path is one sysfs read (is the bridge
 * up?) and one procfs read (is forwarding on?). The bridge is brought up last, after its
 * address and the nft table, so "up" means "complete"; anything less (first use, a crash
 * half-way, someone deleted it) takes the slow path, which redoes every step idempotently
 * under a per-network lock.
 */
import path from "node:path";
import { logger } from "../common/log.js";
import { systemError } from "../common/errors.js";
import { OwnerLock } from "../linux/owner-lock.js";
import { OPT_MTU } from "./create-request.js";
import { macForIp, parseIp } from "./ipv4.js";
import { bridgeName } from "./kernel-names.js";
import type { NetKernel } from "./kernel.js";
import type { NetworkRecord } from "./model.js";
import { deleteTableScript, networkRuleset } from "./nftables.js";

const log = logger("network");

export function mtuOf(net: NetworkRecord): number | undefined {
  const v = net.Options[OPT_MTU];
  return v !== undefined ? Number(v) : undefined;
}

export class Bridges {
  constructor(
    private readonly kernel: NetKernel,
    private readonly locksDir: string,
  ) {}

  async ensure(net: NetworkRecord): Promise<void> {
    const br = bridgeName(net.Tsrun.tag!);
    if (this.kernel.linkIsUp(br)) {
      if (!net.Internal && !this.kernel.ipForwarding()) this.kernel.enableIpForwarding();
      return;
    }
    await OwnerLock.with(path.join(this.locksDir, `network-${net.Tsrun.tag}.lock`), async () => {
      if (!this.kernel.linkIsUp(br)) await this.build(net, br);
      if (!net.Internal && !this.kernel.ipForwarding()) this.kernel.enableIpForwarding();
    });
  }

  private async build(net: NetworkRecord, br: string): Promise<void> {
    const cfg = net.IPAM.Config[0];
    if (!cfg) throw systemError(`Network "${net.Name}" has no subnet to give its bridge`);
    const prefix = cfg.Subnet.split("/")[1];
    const mtu = mtuOf(net);
    log(`setting up bridge ${br} for network ${net.Name} (${cfg.Subnet})`);
    try {
      await this.kernel.nft(networkRuleset(net));
      const lines: string[] = [];
      if (!this.kernel.linkExists(br)) {
        // A fixed MAC: a bridge otherwise takes its lowest port's, and the gateway's MAC
        // would change under the containers' ARP caches as they come and go.
        lines.push(`link add ${br}${mtu ? ` mtu ${mtu}` : ""} address ${macForIp(parseIp(cfg.Gateway)!)} type bridge`);
      }
      lines.push(`addr replace ${cfg.Gateway}/${prefix} brd + dev ${br}`, `link set ${br} up`);
      await this.kernel.ip(lines);
    } catch (e) {
      throw systemError(`Cannot set up bridge "${br}" for network "${net.Name}": ${(e as Error).message}`, e);
    }
  }

  /** Removes a network's bridge and nft table, whichever of them exist. */
  async remove(tag: string): Promise<void> {
    const br = bridgeName(tag);
    if (this.kernel.linkExists(br)) {
      try {
        await this.kernel.ip([`link del ${br}`]);
      } catch (e) {
        if (this.kernel.linkExists(br)) throw systemError(`Cannot remove bridge "${br}": ${(e as Error).message}`, e);
      }
    }
    try {
      await this.kernel.nft(deleteTableScript(tag));
    } catch (e) {
      throw systemError(`Cannot remove the nft table of bridge "${br}": ${(e as Error).message}`, e);
    }
  }
}

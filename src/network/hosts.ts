/**
 * Names on networks, by hosts files: each running container's /etc/hosts (the host file
 * containers/<id>/etc/hosts that the engine binds in) ends with a block tsrun keeps up to
 * date: the container's own address with its hostname (as Docker writes it), then, on
 * user-defined networks only, every other container on the same networks with its name, its
 * network aliases and its short id. The block is rewritten whenever a container joins or
 * leaves one of those networks, so containers started later are found and removed ones are
 * not. The default bridge gets the own line only: there, as in Docker, peers are reached by
 * address.
 *
 * Why hosts files and not a DNS responder on 127.0.0.11: no process per container or per
 * network (a Node responder costs ~40 MB; a C one is a second daemon to supervise), nothing
 * on `run`'s path for the default bridge, no query can ever leave the machine, and every
 * libc (glibc, musl, busybox) reads /etc/hosts. The price: tools that query DNS directly
 * (nslookup, dig) do not see the names, and resolv.conf stays the host's (or --dns).
 *
 * The file is bound into the container, which pins its inode: it is rewritten in place
 * (one write from offset 0, then truncate), never renamed over. A reader racing the rewrite
 * can see a mix for an instant; writers are serialised by the root's network lock.
 */
import fs from "node:fs";
import { shortId } from "../common/ids.js";
import type { EndpointRecord } from "./model.js";

/** The line that starts tsrun's block; everything after it is tsrun's. */
export const HOSTS_MARKER = "# tsrun: this container and the containers on its networks";

const byIfName = (a: EndpointRecord, b: EndpointRecord) => a.IfName.localeCompare(b.IfName, "en", { numeric: true });

/** Names a peer answers to on a network: its name, its aliases there, its short id. */
export function dnsNames(e: Pick<EndpointRecord, "Name" | "Aliases" | "ContainerID">): string[] {
  return [...new Set([e.Name, ...e.Aliases, shortId(e.ContainerID)].filter((n) => n !== ""))];
}

/**
 * The block for `containerId`, given every live endpoint of the root and which networks are
 * user-defined (where names resolve).
 */
export function hostsBlock(containerId: string, endpoints: EndpointRecord[], userNetworks: Set<string>): string[] {
  const mine = endpoints.filter((e) => e.ContainerID === containerId).sort(byIfName);
  if (mine.length === 0) return [];
  const lines = [`${mine[0]!.IPAddress}\t${mine[0]!.Hostname}`];
  const seen = new Set(lines);
  for (const own of mine) {
    if (!userNetworks.has(own.NetworkID)) continue;
    const peers = endpoints
      .filter((e) => e.NetworkID === own.NetworkID && e.ContainerID !== containerId)
      .sort((a, b) => ipOrder(a.IPAddress) - ipOrder(b.IPAddress));
    for (const p of peers) {
      const line = `${p.IPAddress}\t${dnsNames(p).join(" ")}`;
      if (!seen.has(line)) lines.push(line), seen.add(line);
    }
  }
  return lines;
}

function ipOrder(ip: string): number {
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** `text` with tsrun's block replaced by `block` (removed when empty). */
export function withBlock(text: string, block: string[]): string {
  const lines = text.split("\n");
  const at = lines.indexOf(HOSTS_MARKER);
  let base = (at >= 0 ? lines.slice(0, at) : lines).join("\n");
  if (base !== "" && !base.endsWith("\n")) base += "\n";
  return block.length === 0 ? base : `${base}${HOSTS_MARKER}\n${block.join("\n")}\n`;
}

/** Rewrites a hosts file in place (its inode is bound into a container). Missing file: nothing to do. */
export function rewriteHosts(file: string, block: string[]): void {
  let fd: number;
  try {
    fd = fs.openSync(file, "r+");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  try {
    const text = fs.readFileSync(fd, "utf8");
    const next = withBlock(text, block);
    if (next === text) return;
    const buf = Buffer.from(next);
    fs.writeSync(fd, buf, 0, buf.length, 0);
    fs.ftruncateSync(fd, buf.length);
  } finally {
    fs.closeSync(fd);
  }
}

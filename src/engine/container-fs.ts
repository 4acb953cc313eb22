/**
 * The files tsrun keeps for one container on the host: its writable layer (fs/upper,
 * fs/work) and the /etc files it binds in (hostname, hosts, resolv.conf). All are tsrun's
 * own and 0:0 on disk; inside a user namespace they are mounted idmapped so they look
 * root-owned, never chowned.
 */
import fs from "node:fs";
import path from "node:path";
import { HOSTS_PREAMBLE } from "./defaults.js";
import type { ContainerFiles } from "./record.js";

export interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export function createWritableLayer(files: ContainerFiles): string {
  fs.mkdirSync(path.join(files.fs, "upper"), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(files.fs, "work"), { mode: 0o755 });
  return files.fs;
}

/** The host's resolv.conf without loopback resolvers (unreachable from a container), as Docker. */
export function containerResolvConf(hostText: string | undefined): string {
  const lines = (hostText ?? "").split("\n").filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(m[1]!.startsWith("127.") || m[1] === "::1");
  });
  const text = lines.join("\n").trim();
  return text ? text + "\n" : "";
}

export function writeEtcFiles(
  files: ContainerFiles,
  hostname: string,
  extraHosts: { host: string; ip: string }[],
  resolvConf: string,
): EtcFiles {
  fs.mkdirSync(files.etc, { recursive: true, mode: 0o755 });
  const out: EtcFiles = {
    hostname: path.join(files.etc, "hostname"),
    hosts: path.join(files.etc, "hosts"),
    resolvConf: path.join(files.etc, "resolv.conf"),
  };
  fs.writeFileSync(out.hostname, hostname + "\n", { mode: 0o644 });
  const hosts = [...HOSTS_PREAMBLE, ...extraHosts.map((h) => `${h.ip}\t${h.host}`)];
  fs.writeFileSync(out.hosts, hosts.join("\n") + "\n", { mode: 0o644 });
  fs.writeFileSync(out.resolvConf, resolvConf, { mode: 0o644 });
  return out;
}

/**
 * `port CONTAINER [PRIVATE_PORT[/PROTO]]` and the PORTS column of `ps`, printed as docker/cli
 * prints them (cli/command/container/port.go, cli/command/formatter/container.go).
 */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import type { PortView } from "../../engine/network-settings.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";

/** "host:port" as Go's net.JoinHostPort writes it ("[::]:8080"). */
const joinHostPort = (host: string, port: string | number) => (host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);

/** fvbommel/sortorder's NaturalLess: digit runs compare as numbers, digits sort before other characters. */
export function naturalLess(a: string, b: string): boolean {
  const digit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const d1 = digit(a[i]);
    const d2 = digit(b[j]);
    if (d1 !== d2) return d1;
    if (!d1) {
      if (a[i] !== b[j]) return a[i]! < b[j]!;
      i++;
      j++;
      continue;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    const nz1 = i;
    const nz2 = j;
    while (digit(a[i])) i++;
    while (digit(b[j])) j++;
    if (i - nz1 !== j - nz2) return i - nz1 < j - nz2;
    const n1 = a.slice(nz1, i);
    const n2 = b.slice(nz2, j);
    if (n1 !== n2) return n1 < n2;
    if (nz1 !== nz2) return nz1 < nz2;
  }
  return a.length < b.length;
}

export const naturalCompare = (a: string, b: string): number => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0);

/** The lines of `port`: every binding ("80/tcp -> 0.0.0.0:32768"), or one port's host addresses. */
export function portLines(ports: PortView, containerRef: string, which?: string): string[] {
  let out: string[];
  if (which !== undefined) {
    const [port, proto = "tcp"] = which.split("/") as [string, string | undefined];
    if (!/^\d+$/.test(port) || Number(port) > 65535) {
      throw new ExitStatus(1, `Error: invalid port (${port}): strconv.ParseUint: parsing ${JSON.stringify(port)}: ${/^\d+$/.test(port) ? "value out of range" : "invalid syntax"}`);
    }
    const frontends = ports[`${port}/${proto || "tcp"}`];
    if (!frontends || frontends.length === 0) throw new ExitStatus(1, `Error: No public port '${which}' published for ${containerRef}`);
    out = frontends.map((f) => joinHostPort(f.HostIp, f.HostPort));
  } else {
    out = Object.entries(ports).flatMap(([from, frontends]) => (frontends ?? []).map((f) => `${from} -> ${joinHostPort(f.HostIp, f.HostPort)}`));
  }
  return out.sort(naturalCompare);
}

interface PortSummary {
  ip?: string;
  privatePort: number;
  publicPort?: number;
  type: string;
}

/** netip.Addr.Less: IPv4 before IPv6, then by value; no address first. */
function ipOrder(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const v6a = a.includes(":");
  const v6b = b.includes(":");
  if (v6a !== v6b) return v6a ? 1 : -1;
  const bytes = (ip: string): number[] => {
    if (!ip.includes(":")) return ip.split(".").map(Number);
    const [head, tail = ""] = ip.split("::") as [string, string | undefined];
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
    return groups.map((g) => parseInt(g, 16));
  };
  const x = bytes(a);
  const y = bytes(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** docker/cli's DisplayablePorts: "0.0.0.0:32768->80/tcp, [::]:32768->80/tcp, 9000-9001/tcp". */
export function displayablePorts(view: PortView): string {
  const ports: PortSummary[] = [];
  for (const [key, bindings] of Object.entries(view)) {
    const [port, type = "tcp"] = key.split("/") as [string, string | undefined];
    if (!bindings || bindings.length === 0) ports.push({ privatePort: Number(port), type });
    else for (const b of bindings) ports.push({ ip: b.HostIp, privatePort: Number(port), publicPort: Number(b.HostPort), type });
  }
  ports.sort(
    (i, j) =>
      i.privatePort - j.privatePort || ipOrder(i.ip, j.ip) || (i.publicPort ?? 0) - (j.publicPort ?? 0) || (i.type < j.type ? -1 : i.type > j.type ? 1 : 0),
  );
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const formGroup = (key: string, first: number, last: number) => {
    const [ipOrType, type] = key.split("/") as [string, string | undefined];
    const ip = type !== undefined ? ipOrType : "";
    let group = first === last ? String(first) : `${first}-${last}`;
    if (ip !== "") group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type ?? ipOrType}`;
  };
  for (const p of ports) {
    let key = p.type;
    if (p.ip !== undefined) {
      if (p.publicPort !== p.privatePort) {
        hostMappings.push(`${joinHostPort(p.ip, p.publicPort!)}->${p.privatePort}/${p.type}`);
        continue;
      }
      key = `${p.ip}/${p.type}`;
    }
    const g = groups.get(key);
    if (!g) {
      groups.set(key, { first: p.privatePort, last: p.privatePort });
      continue;
    }
    if (p.privatePort === g.last + 1) {
      g.last = p.privatePort;
      continue;
    }
    result.push(formGroup(key, g.first, g.last));
    groups.set(key, { first: p.privatePort, last: p.privatePort });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(", ");
}

export function registerPort(program: Command, ctx: CliContext): void {
  program
    .command("port")
    .description("List port mappings or a specific mapping for the container")
    .usage("CONTAINER [PRIVATE_PORT[/PROTO]]")
    .argument("<container>")
    .argument("[port]")
    .action(async (ref: string, which: string | undefined) => {
      const engine = await ctx.engine();
      const { livePorts } = await import("../../engine/network-settings.js");
      let ports: PortView;
      try {
        const rec = engine.resolve(ref);
        ports = livePorts(engine, rec, await engine.status(rec));
      } catch (e) {
        if (isTsrunError(e) && e.kind !== "system") throw new ExitStatus(1, `Error response from daemon: ${e.message}`);
        throw e;
      }
      const lines = portLines(ports, ref, which);
      if (lines.length > 0) process.stdout.write(lines.join("\n") + "\n");
    });
}

/**
 * `network create|ls|inspect|rm|prune|connect|disconnect`, with Docker's flags, output and
 * messages. The network library loads only when one of them runs; connect and disconnect go
 * through the engine (src/engine/network-wiring.ts), which owns the container records.
 */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import type { NetworkRecord, Networks } from "../../network/index.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";
import { confirm } from "./prune.js";

const collect = (value: string, previous: string[]) => [...previous, value];

async function networksOf(ctx: CliContext): Promise<Networks> {
  const engine = await ctx.engine();
  const { Networks } = await import("../../network/index.js");
  return new Networks(engine.root);
}

/** Docker's error line for what the daemon refused. */
const daemonError = (e: unknown) => `Error response from daemon: ${(e as Error).message}`;

/** K=V list flags (--label, -o) as a map; a bare K means an empty value, as Docker. */
function keyValues(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf("=");
    if (eq === 0) throw new ExitStatus(125, `tsrun: invalid argument "${kv}": invalid key-value pair`);
    if (eq < 0) out[kv] = "";
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function exactArgs(command: string, args: string[], n: number, usage: string): void {
  if (args.length !== n) {
    throw new ExitStatus(
      1,
      `"tsrun ${command}" requires exactly ${n} argument${n === 1 ? "" : "s"}.\nSee 'tsrun ${command} --help'.\n\nUsage:  tsrun ${command} ${usage}`,
    );
  }
}

function minArgs(command: string, args: string[], usage: string): void {
  if (args.length === 0) {
    throw new ExitStatus(1, `"tsrun ${command}" requires at least 1 argument.\nSee 'tsrun ${command} --help'.\n\nUsage:  tsrun ${command} ${usage}`);
  }
}

/** Go's time.Time.String() of an ISO time: "2024-05-01 10:00:00.123 +0000 UTC". */
function goTimeString(iso: string): string {
  const d = new Date(iso);
  const frac = iso.match(/\.(\d+)/)?.[1]?.replace(/0+$/, "");
  return `${d.toISOString().slice(0, 19).replace("T", " ")}${frac ? "." + frac : ""} +0000 UTC`;
}

/** One row of `network ls`, with docker/cli's field names (and its JSON's sorted keys). */
function listRow(n: NetworkRecord, trunc: boolean) {
  const labels = n.Labels;
  const row = {
    CreatedAt: goTimeString(n.Created),
    Driver: n.Driver,
    ID: trunc ? n.Id.slice(0, 12) : n.Id,
    IPv4: "true",
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    Name: n.Name,
    Scope: n.Scope,
  };
  // A method, as docker/cli's networkContext has: {{.Label "key"}}. Not part of the JSON.
  Object.defineProperty(row, "Label", { value: (k: unknown) => labels[String(k)] ?? "", enumerable: false });
  return row;
}

const LIST_HEADERS = {
  ID: "NETWORK ID",
  Name: "NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  IPv4: "IPV4",
  IPv6: "IPV6",
  Internal: "INTERNAL",
  Labels: "LABELS",
  CreatedAt: "CREATED AT",
};

/** A regexp filter value (Docker matches name= and id= as regular expressions). */
function matches(value: string, s: string): boolean {
  try {
    return new RegExp(value).test(s);
  } catch {
    return s.includes(value);
  }
}

function labelMatches(labels: Record<string, string>, spec: string): boolean {
  const eq = spec.indexOf("=");
  if (eq < 0) return spec in labels;
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

function parseFilters(specs: string[]): [string, string][] {
  return specs.map((spec) => {
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new ExitStatus(125, `tsrun: invalid argument "${spec}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    return [spec.slice(0, eq).toLowerCase(), spec.slice(eq + 1)];
  });
}

/** `network ls` filters: values of one key are alternatives, different keys must all match. */
function listFilter(specs: string[], networks: Networks): (n: NetworkRecord) => boolean {
  const filters = parseFilters(specs);
  const check = (n: NetworkRecord, key: string, value: string): boolean => {
    switch (key) {
      case "name":
        return matches(value, n.Name);
      case "id":
        return matches(value, n.Id);
      case "driver":
        return n.Driver === value;
      case "label":
        return labelMatches(n.Labels, value);
      case "scope":
        return value === "local";
      case "type":
        if (value !== "custom" && value !== "builtin") throw new ExitStatus(1, daemonError(new Error(`invalid filter: 'type'='${value}'`)));
        return (value === "builtin") === n.Tsrun.builtin;
      case "dangling": {
        if (!["true", "false", "1", "0"].includes(value)) {
          throw new ExitStatus(1, daemonError(new Error(`invalid filter 'dangling=${value}'`)));
        }
        const dangling = !n.Tsrun.builtin && networks.liveEndpoints(n.Id).length === 0;
        return dangling === (value === "true" || value === "1");
      }
      default:
        throw new ExitStatus(1, daemonError(new Error(`invalid filter '${key}'`)));
    }
  };
  const keys = [...new Set(filters.map(([k]) => k))];
  return (n) => keys.every((k) => filters.some(([fk, fv]) => fk === k && check(n, k, fv)));
}

/** Docker's prune `until`: a Go duration before now ("24h", "90m") or a timestamp. */
function untilTime(value: string): number {
  const dur = /^(\d+(?:\.\d+)?)(h|m|s|ms)$/.exec(value);
  if (dur) {
    const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[dur[2] as "h" | "m" | "s" | "ms"];
    return Date.now() - Number(dur[1]) * unit;
  }
  const t = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (Number.isNaN(t)) throw new ExitStatus(1, daemonError(new Error(`failed to parse value as time or duration: "${value}"`)));
  return t;
}

/** Which networks `network prune --filter` keeps (until=, label=, label!=). */
function pruneKeep(specs: string[]): (n: NetworkRecord) => boolean {
  const filters = parseFilters(specs);
  for (const [k] of filters) {
    if (k !== "until" && k !== "label" && k !== "label!") throw new ExitStatus(1, daemonError(new Error(`invalid filter '${k}'`)));
  }
  const until = filters.filter(([k]) => k === "until").map(([, v]) => untilTime(v));
  return (n) => {
    const created = Date.parse(n.Created);
    if (until.some((t) => created >= t)) return true;
    const want = filters.filter(([k]) => k === "label").map(([, v]) => v);
    if (want.length > 0 && !want.every((v) => labelMatches(n.Labels, v))) return true;
    return filters.some(([k, v]) => k === "label!" && labelMatches(n.Labels, v));
  };
}

/** Go types of the parts of `network inspect`'s JSON: maps stay maps, the rest are structs. */
function inspectTypeName(p: string[]): string | undefined {
  if (p.length === 0) return "network.Inspect";
  const last = p.at(-1)!;
  if (p.at(-2) === "Containers") return "network.EndpointResource";
  if (last === "Containers" || last === "Options" || last === "Labels") return undefined;
  return { IPAM: "network.IPAM", Config: "network.IPAMConfig", ConfigFrom: "network.ConfigReference" }[last];
}

async function templateError<T>(fn: () => Promise<T> | T): Promise<T> {
  const { TemplateError } = await import("../go-template/index.js");
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TemplateError) throw new ExitStatus(64, `template parsing error: ${e.message}`);
    throw e;
  }
}

/** A subcommand of `network`, reporting its errors the way top-level commands do. */
function sub(group: Command, name: string): Command {
  return group.command(name).helpOption("--help", "Print usage").exitOverride().configureOutput({ outputError: () => {} });
}

export function registerNetworkCommands(program: Command, ctx: CliContext): void {
  const network = program.command("network").description("Manage networks").usage("COMMAND");

  sub(network, "create")
    .description("Create a network")
    .usage("[OPTIONS] NETWORK")
    .argument("[name...]")
    .option("-d, --driver <string>", "Driver to manage the Network", "bridge")
    .option("--subnet <strings>", "Subnet in CIDR format that represents a network segment", collect, [])
    .option("--gateway <strings>", "IPv4 Gateway for the master subnet", collect, [])
    .option("--ip-range <strings>", "Allocate container ip from a sub-range", collect, [])
    .option("--internal", "Restrict external access to the network")
    .option("--attachable", "Enable manual container attachment")
    .option("--ipv6", "Enable IPv6 networking")
    .option("--label <list>", "Set metadata on a network", collect, [])
    .option("-o, --opt <map>", "Set driver specific options", collect, [])
    .action(
      async (
        args: string[],
        f: { driver: string; subnet: string[]; gateway: string[]; ipRange: string[]; internal?: boolean; attachable?: boolean; ipv6?: boolean; label: string[]; opt: string[] },
      ) => {
        exactArgs("network create", args, 1, "[OPTIONS] NETWORK");
        const { parseCidr, parseIp } = await import("../../network/ipv4.js");
        for (const g of f.gateway) {
          if (parseIp(g) === undefined) {
            throw new ExitStatus(125, `tsrun: invalid argument "${g}" for "--gateway" flag: invalid string being converted to IP address: ${g}\nSee 'tsrun network create --help'.`);
          }
        }
        for (const r of f.ipRange) {
          if (parseCidr(r) === undefined) {
            throw new ExitStatus(125, `tsrun: invalid argument "${r}" for "--ip-range" flag: invalid CIDR address: ${r}\nSee 'tsrun network create --help'.`);
          }
        }
        const networks = await networksOf(ctx);
        try {
          const rec = await networks.create({
            name: args[0]!,
            driver: f.driver,
            subnets: f.subnet.flatMap((s) => s.split(",")),
            gateways: f.gateway,
            ipRanges: f.ipRange,
            internal: !!f.internal,
            attachable: !!f.attachable,
            ipv6: !!f.ipv6,
            labels: keyValues(f.label),
            options: keyValues(f.opt),
          });
          process.stdout.write(rec.Id + "\n");
        } catch (e) {
          throw new ExitStatus(1, daemonError(e));
        }
      },
    );

  sub(network, "ls")
    .alias("list")
    .description("List networks")
    .usage("[OPTIONS]")
    .option("-q, --quiet", "Only display network IDs")
    .option("--no-trunc", "Do not truncate the output")
    .option("--format <string>", "Format output using a custom template")
    .option("-f, --filter <filter>", 'Provide filter values (e.g. "driver=bridge")', collect, [])
    .action(async (f: { quiet?: boolean; trunc: boolean; format?: string; filter: string[] }) => {
      const networks = await networksOf(ctx);
      const keep = listFilter(f.filter, networks);
      const nets = networks
        .list()
        .filter(keep)
        .sort((a, b) => a.Name.localeCompare(b.Name, "en", { numeric: true }));
      if (f.quiet && (f.format === undefined || f.format === "table")) {
        for (const n of nets) process.stdout.write((f.trunc ? n.Id.slice(0, 12) : n.Id) + "\n");
        return;
      }
      const { renderFormat } = await import("../go-template/docker-format.js");
      const { goStruct } = await import("../go-template/index.js");
      const out = await templateError(() =>
        renderFormat({
          format: f.format,
          defaultTable: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
          headers: LIST_HEADERS,
          rows: nets.map((n) => goStruct(listRow(n, f.trunc), "*network.networkContext")),
        }),
      );
      process.stdout.write(out);
    });

  sub(network, "inspect")
    .description("Display detailed information on one or more networks")
    .usage("[OPTIONS] NETWORK [NETWORK...]")
    .argument("[networks...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .option("-v, --verbose", "Verbose output for diagnostics")
    .action(async (refs: string[], f: { format?: string }) => {
      minArgs("network inspect", refs, "[OPTIONS] NETWORK [NETWORK...]");
      const networks = await networksOf(ctx);
      const found: object[] = [];
      const errors: string[] = [];
      for (const ref of refs) {
        try {
          found.push(await networks.inspect(ref));
        } catch (e) {
          errors.push(daemonError(e));
        }
      }
      if (f.format === undefined || f.format === "") {
        process.stdout.write(found.length === 0 ? "[]\n" : JSON.stringify(found, null, 4) + "\n");
      } else if (f.format === "json") {
        process.stdout.write(JSON.stringify(found) + "\n");
      } else {
        const { Template, goStructs } = await import("../go-template/index.js");
        const format = f.format;
        const out = await templateError(() => {
          const tmpl = Template.parse(format);
          return found.map((n) => tmpl.execute(goStructs(n, inspectTypeName)) + "\n").join("");
        });
        process.stdout.write(out === "" ? "\n" : out);
      }
      if (errors.length > 0) throw new ExitStatus(1, errors.join("\n"));
    });

  sub(network, "rm")
    .alias("remove")
    .description("Remove one or more networks")
    .usage("NETWORK [NETWORK...]")
    .argument("[networks...]")
    .option("-f, --force", "Do not error if the network does not exist")
    .action(async (refs: string[], f: { force?: boolean }) => {
      minArgs("network rm", refs, "NETWORK [NETWORK...]");
      const networks = await networksOf(ctx);
      let failed = false;
      for (const ref of refs) {
        try {
          await networks.remove(ref);
          process.stdout.write(ref + "\n");
        } catch (e) {
          if (f.force && isTsrunError(e, "not-found")) continue;
          failed = true;
          process.stderr.write(daemonError(e) + "\n");
        }
      }
      if (failed) throw new ExitStatus(1);
    });

  sub(network, "connect")
    .description("Connect a container to a network")
    .usage("[OPTIONS] NETWORK CONTAINER")
    .argument("[args...]")
    .option("--alias <strings>", "Add network-scoped alias for the container", collect, [])
    .option("--ip <string>", "IPv4 address (e.g., 172.30.100.104)")
    .action(async (args: string[], f: { alias: string[]; ip?: string }) => {
      exactArgs("network connect", args, 2, "[OPTIONS] NETWORK CONTAINER");
      const engine = await ctx.engine();
      const { connectContainer } = await import("../../engine/network-wiring.js");
      try {
        await connectContainer(engine, args[0]!, args[1]!, { aliases: f.alias, ...(f.ip !== undefined ? { ip: f.ip } : {}) });
      } catch (e) {
        if (isTsrunError(e) && e.kind !== "system") throw new ExitStatus(1, daemonError(e));
        throw e;
      }
    });

  sub(network, "disconnect")
    .description("Disconnect a container from a network")
    .usage("[OPTIONS] NETWORK CONTAINER")
    .argument("[args...]")
    .option("-f, --force", "Force the container to disconnect from a network")
    .action(async (args: string[], f: { force?: boolean }) => {
      exactArgs("network disconnect", args, 2, "[OPTIONS] NETWORK CONTAINER");
      const engine = await ctx.engine();
      const { disconnectContainer } = await import("../../engine/network-wiring.js");
      try {
        await disconnectContainer(engine, args[0]!, args[1]!, { force: !!f.force });
      } catch (e) {
        if (isTsrunError(e) && e.kind !== "system") throw new ExitStatus(1, daemonError(e));
        throw e;
      }
    });

  sub(network, "prune")
    .description("Remove all unused networks")
    .usage("[OPTIONS]")
    .option("-f, --force", "Do not prompt for confirmation")
    .option("--filter <filter>", 'Provide filter values (e.g. "until=<timestamp>")', collect, [])
    .action(async (f: { force?: boolean; filter: string[] }) => {
      const keep = pruneKeep(f.filter);
      if (!f.force && !(await confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) {
        return;
      }
      const networks = await networksOf(ctx);
      const removed = await networks.prune(keep);
      if (removed.length > 0) process.stdout.write(`Deleted Networks:\n${removed.map((n) => n.Name).join("\n")}\n\n`);
    });
}

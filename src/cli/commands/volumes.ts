/** `volume create|inspect|ls|rm|prune`: the local volume store, in Docker's words and formats. */
import type { Command } from "commander";
import type { Volume, VolumeStore, VolumeRefs } from "../../engine/volumes/index.js";
import type { CliContext } from "../context.js";
import { ExitStatus, UsageError } from "../exit.js";
import { humanSize } from "../units.js";
import { confirm } from "./prune.js";

const collect = (value: string, previous: string[]) => [...previous, value];

async function volumes(ctx: CliContext): Promise<{ store: VolumeStore; refs: VolumeRefs; lib: typeof import("../../engine/volumes/index.js") }> {
  const engine = await ctx.engine();
  const lib = await import("../../engine/volumes/index.js");
  return { store: new lib.VolumeStore(engine.root), refs: lib.recordVolumeRefs(engine.root), lib };
}

/** Errors of the store, printed as Docker prints the daemon's. */
const daemonError = (e: unknown) => `Error response from daemon: ${(e as Error).message}`;

/** Docker's natural sort of names (sortorder.NaturalLess): digit runs compare as numbers. */
export function naturalLess(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = x.replace(/^0+/, "");
      const ny = y.replace(/^0+/, "");
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** `volume ls`'s row fields (docker/cli's volumeContext). */
function listRow(v: Volume): Record<string, string> {
  return {
    Availability: "N/A",
    Driver: v.Driver,
    Group: "N/A",
    Labels: Object.entries(v.Labels ?? {})
      .map(([k, x]) => `${k}=${x}`)
      .sort()
      .join(","),
    Links: "N/A",
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: "N/A",
    Status: "N/A",
  };
}

const LIST_HEADERS: Record<string, string> = {
  Name: "VOLUME NAME",
  Driver: "DRIVER",
  Scope: "SCOPE",
  Mountpoint: "MOUNTPOINT",
  Labels: "LABELS",
  Links: "LINKS",
  Size: "SIZE",
  Group: "GROUP",
  Availability: "AVAILABILITY",
  Status: "STATUS",
};

async function writeList(vols: Volume[], format: string | undefined, quiet: boolean): Promise<void> {
  const rows = vols.map(listRow);
  if (quiet && (format === undefined || format === "table")) {
    for (const r of rows) process.stdout.write(r.Name + "\n");
    return;
  }
  const { renderFormat } = await import("../go-template/docker-format.js");
  process.stdout.write(renderFormat({ format, defaultTable: "table {{.Driver}}\t{{.Name}}", headers: LIST_HEADERS, rows }));
}

function kvMap(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values) {
    const eq = kv.indexOf("=");
    out[eq === -1 ? kv : kv.slice(0, eq)] = eq === -1 ? "" : kv.slice(eq + 1);
  }
  return out;
}

function labelMap(values: string[], command: string): Record<string, string> {
  for (const l of values) {
    const eq = l.indexOf("=");
    if ((eq === -1 ? l : l.slice(0, eq)).trim() === "") {
      throw new UsageError(`invalid argument "${l}" for "--label" flag: invalid label '${l}': empty name`, command);
    }
  }
  return kvMap(values);
}

function filtersOf(lib: typeof import("../../engine/volumes/index.js"), specs: string[], command: string, flag: string) {
  try {
    return lib.parseFilterFlags(specs, flag);
  } catch (e) {
    throw new UsageError((e as Error).message, command);
  }
}

const UNUSED_WARNING = `WARNING! This will remove anonymous local volumes not used by at least one container.
Are you sure you want to continue?`;
const ALL_WARNING = `WARNING! This will remove all local volumes not used by at least one container.
Are you sure you want to continue?`;

export function registerVolumeCommands(program: Command, ctx: CliContext): void {
  const volume = program.command("volume").description("Manage volumes").usage("COMMAND");

  volume
    .command("create")
    .description("Create a volume")
    .usage("[OPTIONS] [VOLUME]")
    .argument("[name]")
    .allowExcessArguments(true)
    .option("-d, --driver <string>", "Specify volume driver name", "local")
    .option("--name <string>", "Specify volume name")
    .option("-o, --opt <map>", "Set driver specific options", collect, [])
    .option("--label <list>", "Set metadata for a volume", collect, [])
    .action(async (arg: string | undefined, f: { driver: string; name?: string; opt: string[]; label: string[] }, cmd: Command) => {
      if (cmd.args.length > 1) throw new UsageError(`"tsrun volume create" requires at most 1 argument.`, "volume create");
      if (arg !== undefined && f.name !== undefined && f.name !== "") {
        throw new ExitStatus(1, "conflicting options: cannot specify a volume-name through both --name and as a positional arg");
      }
      const labels = labelMap(f.label, "volume create");
      const { store } = await volumes(ctx);
      try {
        const { volume: v } = store.create({
          ...(arg ?? f.name ? { name: arg ?? f.name } : {}),
          driver: f.driver,
          labels,
          options: kvMap(f.opt),
        });
        process.stdout.write(v.Name + "\n");
      } catch (e) {
        throw new ExitStatus(1, daemonError(e));
      }
    });

  volume
    .command("inspect")
    .description("Display detailed information on one or more volumes")
    .usage("[OPTIONS] VOLUME [VOLUME...]")
    .argument("<volumes...>")
    .option("-f, --format <string>", "Format output using a custom template")
    .action(async (names: string[], f: { format?: string }) => {
      const { store } = await volumes(ctx);
      const found: Volume[] = [];
      const errors: string[] = [];
      for (const name of names) {
        try {
          found.push(store.inspect(name));
        } catch (e) {
          errors.push(daemonError(e));
        }
      }
      if (f.format === undefined || f.format === "") {
        process.stdout.write(found.length === 0 ? "[]\n" : JSON.stringify(found, null, 4) + "\n");
      } else {
        const { renderFormat } = await import("../go-template/docker-format.js");
        const out = renderFormat({ format: f.format, defaultTable: "", headers: {}, rows: found });
        process.stdout.write(out === "" ? "\n" : out);
      }
      if (errors.length > 0) throw new ExitStatus(1, errors.join("\n"));
    });

  volume
    .command("ls")
    .alias("list")
    .description("List volumes")
    .usage("[OPTIONS]")
    .allowExcessArguments(true)
    .option("-q, --quiet", "Only display volume names")
    .option("--format <string>", "Format output using a custom template")
    .option("-f, --filter <filter>", 'Provide filter values (e.g. "dangling=true")', collect, [])
    .action(async (f: { quiet?: boolean; format?: string; filter: string[] }, cmd: Command) => {
      if (cmd.args.length > 0) throw new UsageError(`"tsrun volume ls" accepts no arguments.`, "volume ls");
      const { store, refs, lib } = await volumes(ctx);
      const filters = filtersOf(lib, f.filter, "volume ls", "-f, --filter");
      let users: Map<string, string[]> | undefined;
      const inUse = (name: string) => ((users ??= refs()).get(name) ?? []).length > 0;
      let match: (v: Volume) => boolean;
      try {
        match = lib.listPredicate(filters, inUse);
      } catch (e) {
        throw new ExitStatus(1, daemonError(e));
      }
      const list = store
        .list()
        .filter(match)
        .sort((a, b) => naturalLess(a.Name, b.Name));
      await writeList(list, f.format, !!f.quiet);
    });

  volume
    .command("rm")
    .alias("remove")
    .description("Remove one or more volumes")
    .usage("[OPTIONS] VOLUME [VOLUME...]")
    .argument("<volumes...>")
    .option("-f, --force", "Force the removal of one or more volumes")
    .action(async (names: string[], f: { force?: boolean }) => {
      const { store, refs } = await volumes(ctx);
      const errors: string[] = [];
      for (const name of names) {
        try {
          await store.remove(name, { refs, force: !!f.force });
          process.stdout.write(name + "\n");
        } catch (e) {
          errors.push(daemonError(e));
        }
      }
      if (errors.length > 0) throw new ExitStatus(1, errors.join("\n"));
    });

  volume
    .command("prune")
    .description("Remove unused local volumes")
    .usage("[OPTIONS]")
    .allowExcessArguments(true)
    .option("-a, --all", "Remove all unused volumes, not just anonymous ones")
    .option("-f, --force", "Do not prompt for confirmation")
    .option("--filter <filter>", 'Provide filter values (e.g. "label=<label>")', collect, [])
    .action(async (f: { all?: boolean; force?: boolean; filter: string[] }, cmd: Command) => {
      if (cmd.args.length > 0) throw new UsageError(`"tsrun volume prune" accepts no arguments.`, "volume prune");
      const { store, refs, lib } = await volumes(ctx);
      const filters = filtersOf(lib, f.filter, "volume prune", "--filter");
      if (f.all && filters.has("all")) {
        throw new ExitStatus(1, "conflicting options: cannot specify both --all and --filter all=1");
      }
      // Docker asks first: a cancelled prune says nothing more and succeeds.
      if (!f.force && !(await confirm(f.all ? ALL_WARNING : UNUSED_WARNING))) return;
      let report;
      try {
        report = await lib.pruneVolumes(store, refs, { all: !!f.all, filters });
      } catch (e) {
        throw new ExitStatus(1, daemonError(e));
      }
      if (report.deleted.length > 0) process.stdout.write(`Deleted Volumes:\n${report.deleted.map((n) => n + "\n").join("")}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(report.reclaimed)}\n`);
    });

  for (const cmd of volume.commands) {
    cmd.helpOption("--help", "Print usage").exitOverride().configureOutput({ outputError: () => {} });
  }
}

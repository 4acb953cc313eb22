/** `ps`, `rm`, and the monitor's exit hook. */
import type { Command } from "commander";
import { shortId } from "../../common/ids.js";
import { humanDuration, statusText, type ContainerView } from "../../engine/index.js";
import { ExitStatus, UsageError } from "../exit.js";
import type { CliContext } from "../context.js";
import { ellipsis, goQuote } from "../table.js";

const collect = (value: string, previous: string[]) => [...previous, value];

interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  last?: string;
  latest?: boolean;
  trunc: boolean;
  filter: string[];
  format?: string;
}

/** Docker's COMMAND: the path and its arguments, those with a space in single quotes. */
function commandOf(v: ContainerView): string {
  return [v.record.Path, ...v.record.Args.map((a) => (a.includes(" ") ? `'${a}'` : a))].join(" ");
}

function matchesFilter(v: ContainerView, key: string, value: string): boolean {
  switch (key) {
    case "status":
      return v.status.Status === value;
    case "name":
      return v.record.Name.replace(/^\//, "").includes(value.replace(/^\//, ""));
    case "id":
      return v.record.Id.startsWith(value);
    case "label": {
      const [k, val] = value.split("=", 2) as [string, string | undefined];
      const labels = v.record.Config.Labels;
      return k in labels && (val === undefined || labels[k] === val);
    }
    case "exited":
      return v.status.Status === "exited" && String(v.status.ExitCode) === value;
    case "ancestor":
      return v.record.Config.Image === value || v.record.Image.replace(/^sha256:/, "").startsWith(value.replace(/^sha256:/, ""));
    default:
      throw new UsageError(`invalid filter '${key}'`, "ps");
  }
}

export function registerContainerCommands(program: Command, ctx: CliContext): void {
  program
    .command("ps")
    .description("List containers")
    .option("-a, --all", "Show all containers (default shows just running)")
    .option("-q, --quiet", "Only display container IDs")
    .option("-n, --last <int>", "Show n last created containers (includes all states)")
    .option("-l, --latest", "Show the latest created container (includes all states)")
    .option("--no-trunc", "Don't truncate output")
    .option("-f, --filter <filter>", "Filter output based on conditions provided", collect, [])
    .option("--format <format>", "Format output: 'table', 'table TEMPLATE', 'json' or a Go TEMPLATE")
    .action(async (f: PsFlags) => {
      const engine = await ctx.engine();
      let views = await engine.list();
      const filters = f.filter.map((spec) => {
        const eq = spec.indexOf("=");
        if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value)`, "ps");
        return [spec.slice(0, eq), spec.slice(eq + 1)] as const;
      });
      const byStatusFilter = filters.some(([k]) => k === "status" || k === "exited");
      const limit = f.latest ? 1 : f.last !== undefined ? Number(f.last) : -1;
      if (f.last !== undefined && !Number.isInteger(limit)) {
        throw new UsageError(`invalid argument "${f.last}" for "-n, --last" flag: strconv.ParseInt: parsing "${f.last}": invalid syntax`, "ps");
      }
      if (!f.all && limit < 0 && !byStatusFilter) views = views.filter((v) => v.status.Running);
      // Filters of one key are alternatives; different keys must all match (Docker's rule).
      const keys = [...new Set(filters.map(([k]) => k))];
      views = views.filter((v) => keys.every((k) => filters.some(([fk, fv]) => fk === k && matchesFilter(v, k, fv))));
      if (limit >= 0) views = views.slice(0, limit);
      const id = (v: ContainerView) => (f.trunc ? shortId(v.record.Id) : v.record.Id);
      if (f.quiet) {
        for (const v of views) process.stdout.write(id(v) + "\n");
        return;
      }
      const now = Date.now();
      const { livePorts } = await import("../../engine/network-settings.js");
      const { displayablePorts } = await import("./port.js");
      const row = (v: ContainerView) => ({
        ID: id(v),
        Image: v.record.Config.Image,
        Command: goQuote(f.trunc ? ellipsis(commandOf(v), 20) : commandOf(v)),
        CreatedAt: v.record.Created,
        RunningFor: `${humanDuration(now - Date.parse(v.record.Created))} ago`,
        Status: statusText(v.status, now),
        State: v.status.Status,
        Ports: displayablePorts(livePorts(engine, v.record, v.status)),
        Names: v.record.Name.replace(/^\//, ""),
        Labels: Object.entries(v.record.Config.Labels).map(([k, val]) => `${k}=${val}`).join(","),
      });
      const { PS_HEADERS, PS_TABLE, psContext, renderFormat } = await import("../go-template/docker-format.js");
      const rows = views.map((v) => psContext(row(v)));
      process.stdout.write(renderFormat({ format: f.format, defaultTable: PS_TABLE, headers: PS_HEADERS, rows }));
    });

  program
    .command("rm")
    .description("Remove one or more containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .option("-f, --force", "Force the removal of a running container (uses SIGKILL)")
    .option("-v, --volumes", "Remove anonymous volumes associated with the container")
    .action(async (refs: string[], f: { force?: boolean; volumes?: boolean }) => {
      const engine = await ctx.engine();
      let failed = false;
      for (const ref of refs) {
        try {
          await engine.remove(ref, { force: !!f.force, volumes: !!f.volumes });
          process.stdout.write(ref + "\n");
        } catch (e) {
          failed = true;
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
        }
      }
      if (failed) throw new ExitStatus(1);
    });

  program
    .command("_exit-hook", { hidden: true })
    .argument("<id>")
    .action(async (id: string) => {
      const engine = await ctx.engine();
      await engine.exitHook(id);
    });
}

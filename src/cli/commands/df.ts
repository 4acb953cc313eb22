/**
 * `system df [-v] [--format]`: docker/cli's disk usage report — one line each for images,
 * containers, local volumes and the build cache (tsrun has none yet), or with -v a table
 * of each; `--format` as docker/cli's formatter takes it.
 */
import type { Command } from "commander";
import type { DiskUsage, Totals } from "../../engine/disk-usage.js";
import { humanDuration, statusText } from "../../engine/index.js";
import { ellipsis, goQuote } from "../table.js";
import type { CliContext } from "../context.js";
import { ExitStatus } from "../exit.js";
import { humanSize } from "../units.js";
import { commandGroup } from "./prune.js";

const SUMMARY_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
const SUMMARY_HEADERS = { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" };
const IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES_TABLE = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
const VOLUMES_HEADERS = { Name: "VOLUME NAME", Links: "LINKS", Size: "SIZE" };
const BUILD_CACHE_TABLE = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";
const BUILD_CACHE_HEADERS = {
  ID: "CACHE ID",
  CacheType: "CACHE TYPE",
  Size: "SIZE",
  CreatedSince: "CREATED",
  LastUsedSince: "LAST USED",
  UsageCount: "USAGE",
  Shared: "SHARED",
};

/** "1.5kB (50%)": the percentage of the total, rounded down, as docker/cli prints it. */
function reclaimable(t: Totals): string {
  return t.totalSize > 0 ? `${humanSize(t.reclaimable)} (${Math.floor((t.reclaimable * 100) / t.totalSize)}%)` : humanSize(t.reclaimable);
}

export function registerDiskUsage(program: Command, ctx: CliContext): void {
  commandGroup(program, "system", "Manage tsrun")
    .command("df")
    .description("Show tsrun disk usage")
    .usage("[OPTIONS]")
    .helpOption("--help", "Print usage")
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .option("-v, --verbose", "Show detailed information on space usage")
    .option("--format <string>", "Format output: 'table', 'table TEMPLATE', 'json' or a Go TEMPLATE")
    .action(async (f: { verbose?: boolean; format?: string }) => {
      const engine = await ctx.engine();
      const { diskUsage } = await import("../../engine/disk-usage.js");
      const du = await diskUsage(engine);
      const fmt = await import("../go-template/docker-format.js");
      const { goStruct } = await import("../go-template/index.js");
      if (!f.verbose) {
        const row = (type: string, t: Totals, reclaim = reclaimable(t)) =>
          goStruct(
            { Active: String(t.activeCount), Reclaimable: reclaim, Size: humanSize(t.totalSize), TotalCount: String(t.totalCount), Type: type },
            "*formatter.diskUsageContext",
          );
        const none: Totals = { totalCount: 0, activeCount: 0, totalSize: 0, reclaimable: 0 };
        const rows = [
          row("Images", du.images),
          row("Containers", du.containers),
          row("Local Volumes", du.volumes),
          row("Build Cache", none, humanSize(0)),
        ];
        process.stdout.write(fmt.renderFormat({ format: f.format, defaultTable: SUMMARY_TABLE, headers: SUMMARY_HEADERS, rows }));
        return;
      }
      const sections = verboseContexts(du, fmt, goStruct);
      if (f.format !== undefined && f.format !== "" && f.format !== "table") {
        // A template runs once over the whole report, as docker/cli's verbose formatter does.
        const { Template, TemplateError } = await import("../go-template/index.js");
        const text = f.format === "json" ? "{{json .}}" : f.format.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
        try {
          process.stdout.write(Template.parse(text).execute(sections) + "\n");
        } catch (e) {
          if (e instanceof TemplateError) throw new ExitStatus(1, `template parsing error: ${e.message}`);
          throw e;
        }
        return;
      }
      const table = (defaultTable: string, headers: Record<string, string>, rows: object[]) =>
        fmt.renderFormat({ format: undefined, defaultTable, headers, rows });
      process.stdout.write("Images space usage:\n\n" + table(IMAGES_TABLE, fmt.IMAGES_HEADERS, sections.Images));
      process.stdout.write("\nContainers space usage:\n\n" + table(CONTAINERS_TABLE, fmt.PS_HEADERS, sections.Containers));
      process.stdout.write("\nLocal Volumes space usage:\n\n" + table(VOLUMES_TABLE, VOLUMES_HEADERS, sections.Volumes));
      process.stdout.write(`\nBuild cache usage: ${humanSize(0)}\n\n` + table(BUILD_CACHE_TABLE, BUILD_CACHE_HEADERS, []));
    });
}

type Fmt = typeof import("../go-template/docker-format.js");
type GoStruct = typeof import("../go-template/index.js").goStruct;

/** docker/cli's image, container and volume contexts for `df -v` (fields sorted, as their MarshalJSON). */
function verboseContexts(du: DiskUsage, fmt: Fmt, goStruct: GoStruct) {
  const now = Date.now();
  const ago = (iso: string | undefined) => (iso ? `${humanDuration(now - Date.parse(iso))} ago` : "N/A");
  const Images = du.images.items.map((i) => {
    const first = i.repoTags[0];
    const at = first ? first.lastIndexOf(":") : -1;
    return goStruct(
      {
        Containers: String(i.containers),
        CreatedAt: i.created ? fmt.goTimeString(new Date(i.created)) : "",
        CreatedSince: ago(i.created),
        Digest: "<none>",
        ID: i.id.replace(/^sha256:/, "").slice(0, 12),
        Repository: first ? first.slice(0, at) : "<none>",
        SharedSize: humanSize(0),
        Size: humanSize(i.size),
        Tag: first ? first.slice(at + 1) : "<none>",
        UniqueSize: humanSize(i.size),
        VirtualSize: humanSize(i.size),
      },
      "*formatter.imageContext",
    );
  });
  const Containers = du.containers.items.map((c) => {
    const rec = c.view.record;
    const command = [rec.Path, ...rec.Args.map((a) => (a.includes(" ") ? `'${a}'` : a))].join(" ");
    return goStruct(
      {
        Command: goQuote(ellipsis(command, 20)),
        CreatedAt: fmt.goTimeString(new Date(rec.Created)),
        ID: rec.Id.slice(0, 12),
        Image: rec.Config.Image,
        Labels: Object.entries(rec.Config.Labels).map(([k, v]) => `${k}=${v}`).join(","),
        LocalVolumes: String(c.localVolumes),
        Mounts: (rec.Mounts ?? []).map((m) => m.Name ?? m.Source).join(","),
        Names: rec.Name.replace(/^\//, ""),
        RunningFor: ago(rec.Created),
        Size: humanSize(c.size),
        State: c.view.status.Status,
        Status: statusText(c.view.status, now),
      },
      "*formatter.ContainerContext",
    );
  });
  const Volumes = du.volumes.volumes.map((v) =>
    goStruct({ Links: String(v.links), Name: v.name, Size: v.size < 0 ? "N/A" : humanSize(v.size) }, "*formatter.volumeContext"),
  );
  return { Images, Containers, Volumes, BuildCache: [] as object[] };
}

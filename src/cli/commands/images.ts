/** `images`, `load`, `rmi`, `tag`: the local image store. */
import type { Command } from "commander";
import { humanDuration } from "../../engine/index.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";
import { humanSizeWithPrecision } from "../units.js";

export function registerImageCommands(program: Command, ctx: CliContext): void {
  program
    .command("images")
    .description("List images")
    .usage("[OPTIONS] [REPOSITORY[:TAG]]")
    .argument("[reference]")
    .option("-a, --all", "Show all images")
    .option("-q, --quiet", "Only show image IDs")
    .option("--no-trunc", "Don't truncate output")
    .option("--format <string>", "Format output: 'table', 'table TEMPLATE', 'json' or a Go TEMPLATE")
    .action(async (reference: string | undefined, f: { quiet?: boolean; trunc: boolean; format?: string }) => {
      const engine = await ctx.engine();
      const store = await engine.images();
      const { familiarName, parseReference } = await import("../../image/index.js");
      const want = reference !== undefined ? parseReference(reference) : undefined;
      const rows: { repo: string; tag: string; id: string; created?: string; size: number }[] = [];
      for (const img of store.list()) {
        const tags = img.repoTags.length > 0 ? img.repoTags : ["<none>:<none>"];
        for (const rt of tags) {
          const at = rt.lastIndexOf(":");
          const repo = rt.slice(0, at);
          const tag = rt.slice(at + 1);
          if (want) {
            if (repo !== familiarName(want)) continue;
            if (want.tag !== undefined && want.tag !== tag) continue;
          }
          rows.push({ repo, tag, id: img.id, ...(img.created ? { created: img.created } : {}), size: img.size });
        }
      }
      rows.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? "") || a.repo.localeCompare(b.repo));
      const id = (full: string) => (f.trunc ? full.replace(/^sha256:/, "").slice(0, 12) : full);
      if (f.quiet) {
        const seen = new Set<string>();
        for (const r of rows) if (!seen.has(r.id)) seen.add(r.id) && process.stdout.write(id(r.id) + "\n");
        return;
      }
      const now = Date.now();
      const { IMAGES_HEADERS, IMAGES_TABLE, imageContext, renderFormat } = await import("../go-template/docker-format.js");
      const contexts = rows.map((r) =>
        imageContext({
          Repository: r.repo,
          Tag: r.tag,
          ID: id(r.id),
          Digest: "<none>",
          CreatedSince: r.created ? `${humanDuration(now - Date.parse(r.created))} ago` : "N/A",
          CreatedAt: r.created,
          Size: humanSizeWithPrecision(r.size, 3), // docker/cli's image SIZE
        }),
      );
      process.stdout.write(renderFormat({ format: f.format, defaultTable: IMAGES_TABLE, headers: IMAGES_HEADERS, rows: contexts }));
    });

  program
    .command("load")
    .description("Load an image from a tar archive or STDIN")
    .option("-i, --input <file>", "Read from tar archive file, instead of STDIN")
    .option("-q, --quiet", "Suppress the load output")
    .action(async (f: { input?: string; quiet?: boolean }) => {
      if (f.input === undefined && process.stdin.isTTY) {
        throw new ExitStatus(1, "tsrun: requested load from stdin, but stdin is empty");
      }
      const engine = await ctx.engine();
      const store = await engine.images();
      const result = await store.load(f.input ?? process.stdin);
      if (!f.quiet) for (const line of result.lines) process.stdout.write(line + "\n");
    });

  program
    .command("rmi")
    .description("Remove one or more images")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .argument("<images...>")
    .option("-f, --force", "Force removal of the image")
    .action(async (refs: string[], f: { force?: boolean }) => {
      const engine = await ctx.engine();
      const store = await engine.images();
      const { formatRemoveRecord } = await import("../../image/index.js");
      const users = await engine.imageUsers();
      let failed = false;
      for (const ref of refs) {
        try {
          const records = await store.remove(ref, {
            force: !!f.force,
            inUse: (imageId) => users.filter((u) => u.image === imageId),
            layersInUse: () => users.flatMap((u) => u.layers),
          });
          for (const r of records) process.stdout.write(formatRemoveRecord(r) + "\n");
        } catch (e) {
          failed = true;
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
        }
      }
      if (failed) throw new ExitStatus(1);
    });

  program
    .command("tag")
    .description("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .usage("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    .argument("<source>")
    .argument("<target>")
    .action(async (source: string, target: string) => {
      const store = await (await ctx.engine()).images();
      await store.tag(source, target);
    });
}

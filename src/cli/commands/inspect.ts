/**
 * `inspect [-f FORMAT] [--type container|image] NAME...`: Docker's documents as a JSON
 * array (4-space indent), or one line per object through a Go template. As docker/cli
 * does, a template runs on the typed document first and, if that fails, on the raw JSON
 * with missingkey=error, so an unknown field reads "map has no entry for key".
 */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import type { InspectDocument, InspectType } from "../../engine/inspect.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";
import type { Template } from "../go-template/index.js";

/** The template module, loaded with the command that uses it (not on every command's path). */
type Templates = typeof import("../go-template/index.js");

const TYPES = ["container", "image"];

/** Objects in inspect documents that are Go maps (printed `map[…]`); everything else is a struct. */
const MAP_FIELDS = new Set(["Labels", "ExposedPorts", "Volumes", "Data", "Ports", "Networks", "PortBindings", "Options", "Sysctls", "StorageOpt", "Tmpfs", "DriverOpts"]);
const ROOT_TYPES: Record<InspectType, string> = { container: "types.ContainerJSON", image: "types.ImageInspect" };

export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command("inspect")
    .description("Return low-level information on Docker objects")
    .usage("[OPTIONS] NAME|ID [NAME|ID...]")
    .argument("<names...>")
    .option("-f, --format <string>", "Format output using a custom template: 'json': Print in JSON format; 'TEMPLATE': Print output using the given Go template")
    .option("-s, --size", "Display total file sizes if the type is container")
    .option("--type <string>", "Only inspect objects of the given type")
    .action(async (refs: string[], f: { format?: string; type?: string }) => {
      if (f.type !== undefined && f.type !== "" && !TYPES.includes(f.type)) {
        throw new ExitStatus(1, `"${f.type}" is not a valid value for --type`);
      }
      const type = f.type ? (f.type as InspectType) : undefined;
      const format = f.format ?? "";
      const templates = await import("../go-template/index.js");
      let tmpl: Template | undefined;
      if (format !== "" && format !== "json") {
        try {
          tmpl = templates.Template.parse(format);
        } catch (e) {
          if (e instanceof templates.TemplateError) throw new ExitStatus(1, `template parsing error: ${e.message}`);
          throw e;
        }
      }
      const engine = await ctx.engine();
      const { dockerJson, inspectAny } = await import("../../engine/inspect.js");
      const found: InspectDocument[] = [];
      const errors: string[] = [];
      for (const ref of refs) {
        let item: { type: InspectType; doc: InspectDocument };
        try {
          item = await inspectAny(engine, ref, type);
        } catch (e) {
          if (isTsrunError(e, "not-found")) errors.push(type ? `Error: No such ${type}: ${ref}` : `Error: No such object: ${ref}`);
          else if (isTsrunError(e)) errors.push(`Error response from daemon: ${e.message}`);
          else throw e;
          continue;
        }
        if (tmpl) {
          process.stdout.write(renderTemplate(templates, tmpl, item) + "\n");
        } else if (format === "json") {
          process.stdout.write(templates.goJson(item.doc) + "\n");
        } else {
          found.push(item.doc);
        }
      }
      if (!tmpl && format !== "json") process.stdout.write((found.length === 0 ? "[]" : dockerJson(found)) + "\n");
      if (errors.length > 0) throw new ExitStatus(1, errors.join("\n"));
    });
}

/** docker/cli's TemplateInspector: the typed document, else the raw one with missingkey=error. */
function renderTemplate(templates: Templates, tmpl: Template, item: { type: InspectType; doc: InspectDocument }): string {
  const { TemplateError, goStructs } = templates;
  const raw = JSON.parse(JSON.stringify(item.doc)) as unknown;
  const typed = goStructs(JSON.parse(JSON.stringify(item.doc)) as unknown, (p) =>
    p.length === 0 ? ROOT_TYPES[item.type] : MAP_FIELDS.has(p[p.length - 1]!) || (p.at(-2) === "LogConfig" && p.at(-1) === "Config") ? undefined : `*${p.at(-1)}`,
  );
  try {
    return tmpl.execute(typed);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
  }
  try {
    return tmpl.execute(raw, { missingKeyError: true });
  } catch (e) {
    if (e instanceof TemplateError) throw new ExitStatus(1, `template parsing error: ${e.message}`);
    throw e;
  }
}

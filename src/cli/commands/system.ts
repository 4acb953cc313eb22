/**
 * `version` and `info`, laid out as docker/cli lays them out (version through a template
 * and a tabwriter, info line by line), with `--format` (a Go template or "json") as Docker
 * has it: a template that does not parse exits 64.
 */
import type { Command } from "commander";
import type { SystemInfo } from "../../engine/system-info.js";
import { ExitStatus } from "../exit.js";
import { bytesSize } from "../units.js";
import type { CliContext } from "../context.js";
import type { Template } from "../go-template/index.js";

/** docker/cli's defaultVersionTemplate, with tsrun's components. */
const VERSION_TEMPLATE = `{{with .Client -}}
Client:
 Version:\t{{.Version}}
 Node version:\t{{.NodeVersion}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}
{{- with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  Node version:\t{{index .Details "NodeVersion"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Kernel version:\t{{index .Details "KernelVersion"}}
  {{- else }}
  Version:\t{{$component.Version}}
  Monitor protocol:\t{{index .Details "MonitorProtocol"}}
  Plan format:\t{{index .Details "PlanFormat"}}
  {{- end}}
 {{- end}}
{{- end}}`;

// The template module loads with these commands only, not on every command's path.
async function parseFormat(format: string, name: string): Promise<Template> {
  const { DOCKER_FUNCTIONS, Template, TemplateError } = await import("../go-template/index.js");
  try {
    return Template.parse(format === "json" ? "{{json .}}" : format, DOCKER_FUNCTIONS, name);
  } catch (e) {
    if (e instanceof TemplateError) throw new ExitStatus(64, `template parsing error: ${e.message}`);
    throw e;
  }
}

async function execute(tmpl: Template, data: unknown): Promise<string> {
  const { TemplateError } = await import("../go-template/index.js");
  try {
    return tmpl.execute(data);
  } catch (e) {
    if (e instanceof TemplateError) throw new ExitStatus(1, e.message);
    throw e;
  }
}

export function registerSystem(program: Command, ctx: CliContext): void {
  program
    .command("version")
    .description("Show the tsrun version information")
    .option("-f, --format <string>", "Format output using a custom template: 'json': Print in JSON format; 'TEMPLATE': Print output using the given Go template")
    .action(async (f: { format?: string }) => {
      const custom = f.format !== undefined && f.format !== "";
      const tmpl = await parseFormat(custom ? f.format! : VERSION_TEMPLATE, "version");
      const { versionInfo } = await import("../../engine/system-info.js");
      const { goStructs } = await import("../go-template/index.js");
      const { tabwrite } = await import("../go-template/docker-format.js");
      const data = goStructs(versionInfo(), (p) => (p.at(-1) === "Details" ? undefined : p.length === 0 ? "main.versionInfo" : `*${p.at(-1)}`));
      const out = await execute(tmpl, data);
      process.stdout.write(custom ? out + "\n" : tabwrite(out + "\n", { minWidth: 20, padding: 1 }));
    });

  program
    .command("info")
    .description("Display system-wide information")
    .option("-f, --format <string>", "Format output using a custom template: 'json': Print in JSON format; 'TEMPLATE': Print output using the given Go template")
    .action(async (f: { format?: string }) => {
      const tmpl = f.format !== undefined && f.format !== "" ? await parseFormat(f.format, "") : undefined;
      const engine = await ctx.engine();
      const { systemInfo } = await import("../../engine/system-info.js");
      const info = await systemInfo(engine);
      if (tmpl) {
        const { goStructs } = await import("../go-template/index.js");
        const data = goStructs(info, (p) => (p.at(-1) === "Runtimes" ? undefined : p.length === 0 ? "system.Info" : `*${p.at(-1)}`));
        process.stdout.write((await execute(tmpl, data)) + "\n");
        return;
      }
      process.stdout.write(await prettyInfo(info));
      for (const w of info.Warnings ?? []) process.stderr.write(w + "\n");
    });
}

/** docker/cli's prettyPrintInfo: the client part, then the server's. */
async function prettyInfo(info: SystemInfo): Promise<string> {
  const lines = [
    "Client:",
    ` Version:    ${info.ClientInfo.Version}`,
    ` Context:    ${info.ClientInfo.Context}`,
    ` Debug Mode: ${info.ClientInfo.Debug}`,
    "",
    "Server:",
    ` Containers: ${info.Containers}`,
    `  Running: ${info.ContainersRunning}`,
    `  Paused: ${info.ContainersPaused}`,
    `  Stopped: ${info.ContainersStopped}`,
    ` Images: ${info.Images}`,
    ` Server Version: ${info.ServerVersion}`,
    ` Storage Driver: ${info.Driver}`,
    ...info.DriverStatus.map(([k, v]) => `  ${k}: ${v}`),
    ` Logging Driver: ${info.LoggingDriver}`,
    ` Cgroup Driver: ${info.CgroupDriver}`,
    ` Cgroup Version: ${info.CgroupVersion}`,
    ` Runtimes: ${Object.keys(info.Runtimes).join(" ")}`,
    ` Default Runtime: ${info.DefaultRuntime}`,
    ` Init Binary: ${info.InitBinary}`,
    " Security Options:",
    ...info.SecurityOptions.map((o) => `  ${o.replace(/^name=/, "")}`),
    ` Kernel Version: ${info.KernelVersion}`,
    ` Operating System: ${info.OperatingSystem}`,
    ` OSType: ${info.OSType}`,
    ` Architecture: ${info.Architecture}`,
    ` CPUs: ${info.NCPU}`,
    ` Total Memory: ${bytesSize(info.MemTotal)}`,
    ` Name: ${info.Name}`,
    ` ID: ${info.ID}`,
    ` Docker Root Dir: ${info.DockerRootDir}`,
    ` Debug Mode: ${info.Debug}`,
    ` Experimental: ${info.ExperimentalBuild}`,
    ` Live Restore Enabled: false`,
  ];
  return lines.join("\n") + "\n\n";
}

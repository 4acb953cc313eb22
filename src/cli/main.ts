#!/usr/bin/env -S node --
/**
 * The tsrun command line: a thin commander front-end over the engine. Commands live in
 * ./commands; each loads what it needs when it runs, so `tsrun run` never pays for `load`.
 */
import { Command, CommanderError } from "commander";
import type { Engine } from "../engine/index.js";
import { logger } from "../common/log.js";
import { ExitStatus, UsageError, exitCodeFor, report } from "./exit.js";
import type { CliContext } from "./context.js";
import { registerCreate, registerRun } from "./commands/run.js";
import { registerLifecycleCommands } from "./commands/lifecycle.js";
import { registerPruneCommands } from "./commands/prune.js";
import { registerContainerCommands } from "./commands/containers.js";
import { registerImageCommands } from "./commands/images.js";
import { registerLogs } from "./commands/logs.js";
import { registerInspect } from "./commands/inspect.js";
import { registerTop } from "./commands/top.js";
import { registerSystem } from "./commands/system.js";
import { registerVolumeCommands } from "./commands/volumes.js";
import { registerDiskUsage } from "./commands/df.js";
import { registerNetworkCommands } from "./commands/network.js";
import { registerPort } from "./commands/port.js";
import { registerCp } from "./commands/cp.js";
import { VERSION } from "./version.js";

function buildProgram(ctx: CliContext, rootFlag: { value?: string }): Command {
  const program = new Command("tsrun")
    .description("A Docker-compatible container runtime")
    .usage("[OPTIONS] COMMAND")
    .option("--root <dir>", "Root directory for tsrun state (default: $TSRUN_ROOT or /var/lib/tsrun)")
    .version(VERSION, "-v, --version", "Print version information and quit")
    .helpOption("--help", "Print usage")
    .enablePositionalOptions()
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .hook("preAction", (_this, action) => {
      rootFlag.value = program.opts().root as string | undefined;
      // Every subcommand reports usage errors the Docker way, naming itself.
      void action;
    });
  registerRun(program, ctx);
  registerCreate(program, ctx);
  registerLifecycleCommands(program, ctx);
  registerPruneCommands(program, ctx);
  registerContainerCommands(program, ctx);
  registerImageCommands(program, ctx);
  registerLogs(program, ctx);
  registerInspect(program, ctx);
  registerTop(program, ctx);
  registerSystem(program, ctx);
  registerVolumeCommands(program, ctx);
  registerDiskUsage(program, ctx);
  registerNetworkCommands(program, ctx);
  registerPort(program, ctx);
  registerCp(program, ctx);
  for (const cmd of program.commands) {
    cmd.helpOption("--help", "Print usage").exitOverride().configureOutput({ outputError: () => {} });
  }
  return program;
}

/** commander's messages in Docker's words. */
function usageError(e: CommanderError, command: string): UsageError {
  const m = e.message.replace(/^error: /, "");
  let text = m;
  let r: RegExpExecArray | null;
  if ((r = /unknown option '([^']+)'/.exec(m))) text = `unknown flag: ${r[1]}`;
  else if ((r = /option '([^']+)' argument missing/.exec(m))) text = `flag needs an argument: ${r[1]!.split(/[ ,]+/).pop()}`;
  else if ((r = /missing required argument '([^']+)'/.exec(m))) text = `"tsrun ${command}" requires at least 1 argument.`;
  else if (/unknown command/.test(m)) text = m.replace(/unknown command '([^']+)'/, "unknown command: $1");
  return new UsageError(text, command);
}

async function main(argv: string[]): Promise<number> {
  logger("cli")("main");
  const rootFlag: { value?: string } = {};
  let engine: Engine | undefined;
  const ctx: CliContext = {
    kind: "other",
    async engine() {
      if (!engine) {
        const { Engine } = await import("../engine/index.js");
        engine = new Engine({ ...(rootFlag.value !== undefined ? { root: rootFlag.value } : {}) });
      }
      return engine;
    },
  };
  const program = buildProgram(ctx, rootFlag);
  // The subcommand, for usage errors: the first word that is not a global flag or its value.
  const args = argv.slice(2);
  const sub = args.find((a, i) => !a.startsWith("-") && args[i - 1] !== "--root") ?? "";
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      report(usageError(e, sub));
      return 125;
    }
    report(e);
    return exitCodeFor(e, ctx.kind);
  }
}

// process.exit is safe here: on Linux, writes to stdout/stderr pipes, files and terminals
// are synchronous, so nothing written is lost; and a forgotten handle cannot keep us alive.
main(process.argv).then(
  (code) => process.exit(code),
  (e: unknown) => {
    report(e);
    process.exit(125);
  },
);

export { ExitStatus };

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

type Registrar = (program: Command, ctx: CliContext) => void;

/**
 * Which top-level words each module registers. Building every command's options costs
 * several milliseconds, so a run of one command registers only the modules it needs.
 */
const REGISTRARS: [string[], Registrar][] = [
  [["run"], registerRun],
  [["create"], registerCreate],
  [["start", "stop", "kill", "restart", "pause", "unpause", "wait", "rename", "_restart-hook"], registerLifecycleCommands],
  [["container", "system"], registerPruneCommands],
  [["ps", "rm", "_exit-hook"], registerContainerCommands],
  [["images", "load", "rmi", "tag"], registerImageCommands],
  [["logs"], registerLogs],
  [["inspect"], registerInspect],
  [["top"], registerTop],
  [["version", "info"], registerSystem],
  [["volume"], registerVolumeCommands],
  [["system"], registerDiskUsage],
  [["network"], registerNetworkCommands],
  [["port"], registerPort],
  [["cp", "container"], registerCp],
];

/** The subcommand word of argv (after the global options), if any. */
function subcommandOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--root") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

function buildProgram(ctx: CliContext, rootFlag: { value?: string }, subcommand: string | undefined): Command {
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
  const wanted = REGISTRARS.filter(([names]) => subcommand === undefined || names.includes(subcommand));
  // An unknown word (or none) gets every command: for help, and for commander's errors.
  for (const [, register] of wanted.length > 0 ? wanted : REGISTRARS) register(program, ctx);
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
  else if ((r = /unknown command '([^']+)'/.exec(m))) return new UsageError(`'${r[1]}' is not a tsrun command.`, "");
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
  // The subcommand: the first word that is not a global flag or its value.
  const subcommand = subcommandOf(argv.slice(2));
  const program = buildProgram(ctx, rootFlag, subcommand);
  const sub = subcommand ?? "";
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

// A reader that went away (`tsrun logs web | head -1`) ends tsrun as SIGPIPE ends docker's
// CLI: quietly, with 128+13, not with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(128 + 13); // SIGPIPE
  });
}

/**
 * Exits once stdout and stderr have handed everything to the kernel: a pipe whose reader is
 * slower than us takes writes asynchronously (only what fits is written at once), and
 * process.exit would drop the rest. A forgotten handle cannot keep us alive either.
 */
async function exit(code: number): Promise<never> {
  const drained = (s: NodeJS.WriteStream) =>
    s.writableLength === 0 || s.destroyed ? undefined : new Promise<void>((resolve) => s.write("", () => resolve()));
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

main(process.argv).then(exit, (e: unknown) => {
  report(e);
  return exit(125);
});

export { ExitStatus };

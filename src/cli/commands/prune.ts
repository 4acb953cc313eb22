/**
 * `container prune` and `system prune`: Docker's warning and [y/N] prompt (skipped with -f;
 * anything but "y" cancels, quietly, with status 0), each pruner's "Deleted …:" section,
 * and "Total reclaimed space: …".
 */
import type { Command } from "commander";
import type { PruneReport } from "../../engine/prune.js";
import type { CliContext } from "../context.js";
import { humanSize } from "../units.js";

/** Docker's confirmation: the message, " [y/N] ", one line of stdin. */
export async function confirm(message: string): Promise<boolean> {
  process.stdout.write(`${message} [y/N] `);
  const line = await readLine(process.stdin);
  return line.trim().toLowerCase() === "y";
}

function readLine(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const done = () => {
      input.off("data", onData);
      input.off("end", done);
      input.off("error", done);
      input.pause();
      resolve(text.split("\n")[0] ?? "");
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      if (text.includes("\n")) done();
    };
    input.on("data", onData);
    input.once("end", done);
    input.once("error", done);
    input.resume();
  });
}

function printReports(reports: PruneReport[]): void {
  let total = 0;
  for (const r of reports) {
    total += r.reclaimed;
    if (r.lines.length > 0) process.stdout.write(`${r.title}\n${r.lines.join("\n")}\n\n`);
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(total)}\n`);
}

/** The `container` and `system` command groups, made once whoever registers first. */
export function commandGroup(program: Command, name: string, description: string): Command {
  const existing = program.commands.find((c) => c.name() === name);
  if (existing) return existing;
  return program.command(name).description(description).usage("COMMAND");
}

/** A subcommand of a group, reporting its errors the way top-level commands do. */
function subcommand(group: Command, name: string): Command {
  return group.command(name).helpOption("--help", "Print usage").exitOverride().configureOutput({ outputError: () => {} });
}

export function registerPruneCommands(program: Command, ctx: CliContext): void {
  subcommand(commandGroup(program, "container", "Manage containers"), "prune")
    .description("Remove all stopped containers")
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (f: { force?: boolean }) => {
      if (!f.force && !(await confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return;
      const engine = await ctx.engine();
      const { pruneContainers } = await import("../../engine/prune.js");
      printReports([await pruneContainers(engine)]);
    });

  subcommand(commandGroup(program, "system", "Manage tsrun"), "prune")
    .description("Remove unused data")
    .option("-f, --force", "Do not prompt for confirmation")
    .option("--volumes", "Prune anonymous volumes")
    .action(async (f: { force?: boolean; volumes?: boolean }) => {
      const { SYSTEM_PRUNERS: all } = await import("../../engine/prune.js");
      const SYSTEM_PRUNERS = all.filter((p) => p.flag === undefined || f[p.flag]);
      const warning = `WARNING! This will remove:\n${SYSTEM_PRUNERS.map((p) => `  - ${p.warning}\n`).join("")}\nAre you sure you want to continue?`;
      if (!f.force && !(await confirm(warning))) return;
      const engine = await ctx.engine();
      const reports: PruneReport[] = [];
      for (const p of SYSTEM_PRUNERS) reports.push(await p.prune(engine));
      printReports(reports);
    });
}

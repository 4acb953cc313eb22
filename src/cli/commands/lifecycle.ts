/**
 * `start`, `stop`, `kill`, `restart`, `pause`, `unpause`, `wait`, `rename`, and the
 * monitor's hidden `_restart-hook`: Docker's flags, output and exit codes. Commands taking
 * several containers act on each, print each as given, report each failure as Docker's
 * client does ("Error response from daemon: …") and exit 1 if any failed.
 */
import type { Command } from "commander";
import { isTsrunError } from "../../common/errors.js";
import type { Engine } from "../../engine/index.js";
import { ExitStatus, UsageError } from "../exit.js";
import type { CliContext } from "../context.js";
import { parseIntFlag } from "./run.js";

/** Runs `act` on each container; prints what `act` returns (the name as given by default). */
async function eachContainer(refs: string[], act: (ref: string) => Promise<string | void>): Promise<void> {
  let failed = false;
  for (const ref of refs) {
    try {
      const out = await act(ref);
      process.stdout.write((out ?? ref) + "\n");
    } catch (e) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
    }
  }
  if (failed) throw new ExitStatus(1);
}

interface StopFlags {
  timeout?: string;
  time?: string;
  signal?: string;
}

function stopOptions(f: StopFlags, command: string): { timeout?: number; signal?: string } {
  if (f.timeout !== undefined && f.time !== undefined) {
    throw new UsageError("conflicting options: cannot specify both --timeout and --time", command);
  }
  const t = f.timeout ?? f.time;
  return {
    ...(t !== undefined ? { timeout: parseIntFlag(t, "--timeout", command) } : {}),
    ...(f.signal !== undefined ? { signal: f.signal } : {}),
  };
}

export function registerLifecycleCommands(program: Command, ctx: CliContext): void {
  program
    .command("start")
    .description("Start one or more stopped containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .option("-a, --attach", "Attach STDOUT/STDERR and forward signals")
    .option("-i, --interactive", "Attach container's STDIN")
    .action(async (refs: string[], f: { attach?: boolean; interactive?: boolean }) => {
      const engine = await ctx.engine();
      if (f.attach || f.interactive) {
        if (refs.length > 1) throw new ExitStatus(1, "tsrun: you cannot start and attach multiple containers at once");
        throw new ExitStatus(await startAttached(engine, refs[0]!, !!f.interactive));
      }
      const failed: string[] = [];
      let code = 1;
      for (const ref of refs) {
        try {
          await engine.start(ref);
          process.stdout.write(ref + "\n");
        } catch (e) {
          failed.push(ref);
          code = startFailureCode(e);
          process.stderr.write(`Error response from daemon: ${(e as Error).message}\n`);
        }
      }
      if (failed.length > 0) throw new ExitStatus(code, `Error: failed to start containers: ${failed.join(", ")}`);
    });

  program
    .command("stop")
    .description("Stop one or more running containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .option("-s, --signal <signal>", "Signal to send to the container")
    .option("-t, --timeout <seconds>", "Seconds to wait before killing the container")
    .option("--time <seconds>", "Seconds to wait before killing the container (deprecated: use --timeout)")
    .action(async (refs: string[], f: StopFlags) => {
      const opts = stopOptions(f, "stop");
      const engine = await ctx.engine();
      await eachContainer(refs, (ref) => engine.stop(ref, opts));
    });

  program
    .command("kill")
    .description("Kill one or more running containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .option("-s, --signal <signal>", "Signal to send to the container")
    .action(async (refs: string[], f: { signal?: string }) => {
      const engine = await ctx.engine();
      await eachContainer(refs, (ref) => engine.kill(ref, f.signal));
    });

  program
    .command("restart")
    .description("Restart one or more containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .option("-s, --signal <signal>", "Signal to send to the container")
    .option("-t, --timeout <seconds>", "Seconds to wait before killing the container")
    .option("--time <seconds>", "Seconds to wait before killing the container (deprecated: use --timeout)")
    .action(async (refs: string[], f: StopFlags) => {
      const opts = stopOptions(f, "restart");
      const engine = await ctx.engine();
      await eachContainer(refs, (ref) => engine.restart(ref, opts));
    });

  program
    .command("pause")
    .description("Pause all processes within one or more containers")
    .usage("CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .action(async (refs: string[]) => {
      const engine = await ctx.engine();
      await eachContainer(refs, (ref) => engine.pause(ref));
    });

  program
    .command("unpause")
    .description("Unpause all processes within one or more containers")
    .usage("CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .action(async (refs: string[]) => {
      const engine = await ctx.engine();
      await eachContainer(refs, (ref) => engine.unpause(ref));
    });

  program
    .command("wait")
    .description("Block until one or more containers stop, then print their exit codes")
    .usage("CONTAINER [CONTAINER...]")
    .argument("<containers...>")
    .action(async (refs: string[]) => {
      const engine = await ctx.engine();
      await eachContainer(refs, async (ref) => String(await engine.wait(ref)));
    });

  program
    .command("rename")
    .description("Rename a container")
    .usage("CONTAINER NEW_NAME")
    .argument("[names...]")
    .action(async (names: string[]) => {
      if (names.length !== 2) throw new UsageError(`"tsrun rename" requires exactly 2 arguments.`, "rename");
      const engine = await ctx.engine();
      try {
        await engine.rename(names[0]!, names[1]!);
      } catch (e) {
        throw new ExitStatus(1, `Error response from daemon: ${(e as Error).message}`);
      }
    });

  program
    .command("_restart-hook", { hidden: true })
    .argument("<id>")
    .action(async (id: string) => {
      const engine = await ctx.engine();
      await engine.restartHook(id);
    });
}

/**
 * `start -a [-i]`: attach, start, relay until the container exits, and return its status
 * (a running container is attached to). A start that fails exits as run does: 127 when
 * the command is not found, 126 when it cannot be invoked.
 */
async function startAttached(engine: Engine, ref: string, interactive: boolean): Promise<number> {
  const rec = engine.resolve(ref);
  const stdin = interactive && rec.Config.OpenStdin;
  if (stdin && rec.Config.Tty && !process.stdin.isTTY) throw new ExitStatus(1, "the input device is not a TTY");
  const autoRemove = rec.HostConfig.AutoRemove;
  let conn;
  try {
    conn = await engine.start(ref, { stdin, stdout: true, stderr: true, cleanupOwner: autoRemove });
  } catch (e) {
    throw new ExitStatus(startFailureCode(e), `Error response from daemon: ${(e as Error).message}`);
  }
  if (!conn) return 0;
  const { relay } = await import("../attach.js");
  let code: number;
  try {
    code = (await relay(conn, { stdin, tty: rec.Config.Tty, sigProxy: true })).exitCode;
  } catch (e) {
    await (autoRemove ? engine.remove(rec.Id, { force: true }) : engine.finish(rec.Id)).catch(() => undefined);
    conn.close();
    throw new ExitStatus(startFailureCode(e), `Error response from daemon: ${(e as Error).message}`);
  }
  await (autoRemove ? engine.remove(rec.Id, { force: true }) : engine.finish(rec.Id));
  conn.close();
  return code;
}

function startFailureCode(e: unknown): number {
  if (isTsrunError(e, "exec-not-found")) return 127;
  if (isTsrunError(e, "exec-permission")) return 126;
  return 1;
}

/**
 * `tsrun run` (and the flags it shares with `create`): Docker's flags, parsed by commander;
 * everything after IMAGE belongs to the command.
 */
import os from "node:os";
import type { Command } from "commander";
import type { RunOptions } from "../../engine/index.js";
import type { MonitorConnection } from "../../runtime/index.js";
import { ExitStatus } from "../exit.js";
import type { CliContext } from "../context.js";

const collect = (value: string, previous: string[]) => [...previous, value];

interface RunFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  label: string[];
  addHost: string[];
  shmSize?: string;
  userns?: string;
}

/** The flags of `run` and `create`. */
export function addContainerFlags(cmd: Command): Command {
  return cmd
    .option("-i, --interactive", "Keep STDIN open even if not attached")
    .option("-t, --tty", "Allocate a pseudo-TTY")
    .option("--rm", "Automatically remove the container when it exits")
    .option("--name <name>", "Assign a name to the container")
    .option("-e, --env <list>", "Set environment variables", collect, [])
    .option("--env-file <file>", "Read in a file of environment variables", collect, [])
    .option("-w, --workdir <dir>", "Working directory inside the container")
    .option("-u, --user <user>", "Username or UID (format: <name|uid>[:<group|gid>])")
    .option("-h, --hostname <name>", "Container host name")
    .option("--entrypoint <command>", "Overwrite the default ENTRYPOINT of the image")
    .option("-l, --label <list>", "Set meta data on a container", collect, [])
    .option("--add-host <list>", "Add a custom host-to-IP mapping (host:ip)", collect, [])
    .option("--shm-size <bytes>", "Size of /dev/shm")
    .option("--userns <mode>", 'User namespace to use ("host" to disable)');
}

export function toRunOptions(image: string, command: string[], f: RunFlags): RunOptions {
  const tty = !!f.tty;
  return {
    image,
    command,
    ...(f.name !== undefined ? { name: f.name } : {}),
    interactive: !!f.interactive,
    tty,
    rm: !!f.rm,
    detach: !!f.detach,
    env: f.env,
    envFiles: f.envFile,
    ...(f.workdir !== undefined ? { workdir: f.workdir } : {}),
    ...(f.user !== undefined ? { user: f.user } : {}),
    ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
    ...(f.entrypoint !== undefined ? { entrypoint: f.entrypoint } : {}),
    labels: f.label,
    addHosts: f.addHost,
    ...(f.shmSize !== undefined ? { shmSize: f.shmSize } : {}),
    ...(f.userns !== undefined ? { userns: f.userns } : {}),
    ...(tty && process.stdout.isTTY ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}),
  };
}

export function registerRun(program: Command, ctx: CliContext): void {
  const run = program
    .command("run")
    .description("Create and run a new container from an image")
    .usage("[OPTIONS] IMAGE [COMMAND] [ARG...]")
    .argument("<image>")
    .argument("[command...]")
    .option("-d, --detach", "Run container in background and print container ID")
    .passThroughOptions();
  addContainerFlags(run).action(async (image: string, command: string[], flags: RunFlags) => {
    ctx.kind = "run";
    if (flags.tty && flags.interactive && !process.stdin.isTTY) {
      throw new ExitStatus(1, "the input device is not a TTY");
    }
    const opts = toRunOptions(image, command, flags);
    const engine = await ctx.engine();
    // Until the relay forwards signals, a signal aborts the run and cleans up after it.
    const early = trapSignals();
    let rec;
    try {
      rec = await engine.create(opts);
    } catch (e) {
      early.release();
      throw e;
    }
    if (early.caught) {
      early.release();
      await engine.remove(rec.Id, { force: true });
      throw new ExitStatus(128 + early.caught);
    }
    if (opts.detach) {
      early.release();
      await engine.start(rec.Id);
      process.stdout.write(rec.Id + "\n");
      return;
    }
    let conn: MonitorConnection | undefined;
    let code: number;
    try {
      conn = await engine.start(rec.Id, { stdin: opts.interactive, stdout: true, stderr: true, cleanupOwner: opts.rm });
      if (!conn) throw new ExitStatus(125, `tsrun: container ${rec.Id} did not start`);
      if (early.caught) throw new ExitStatus(128 + early.caught);
      early.release();
      const { relay } = await import("../attach.js");
      code = (await relay(conn, { stdin: opts.interactive, tty: opts.tty, sigProxy: true })).exitCode;
    } catch (e) {
      early.release();
      await (opts.rm ? engine.remove(rec.Id, { force: true }) : engine.finish(rec.Id)).catch(() => undefined);
      conn?.close();
      throw e;
    }
    // The connection closes only now: a cleanup owner that went away first would make the
    // monitor run its exit command.
    await (opts.rm ? engine.remove(rec.Id, { force: true }) : engine.finish(rec.Id));
    conn.close();
    throw new ExitStatus(code);
  });
}

/** Records the first terminating signal instead of dying, until released. */
function trapSignals(): { caught: number; release(): void } {
  const state = { caught: 0, release: () => {} };
  const sigs: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];
  const handler = (sig: NodeJS.Signals) => {
    state.caught ||= os.constants.signals[sig];
  };
  for (const s of sigs) process.on(s, handler);
  state.release = () => {
    for (const s of sigs) process.off(s, handler);
  };
  return state;
}

/**
 * `tsrun run` (and the flags it shares with `create`): Docker's flags, parsed by commander;
 * everything after IMAGE belongs to the command.
 */
import os from "node:os";
import { Option, type Command } from "commander";
import { crashPoint } from "../../common/crash-points.js";
import type { RunOptions } from "../../engine/index.js";
import type { ResourceFlags } from "../../engine/limits.js";
import type { MonitorConnection } from "../../runtime/index.js";
import { ExitStatus, UsageError } from "../exit.js";
import type { CliContext } from "../context.js";

const collect = (value: string, previous: string[]) => [...previous, value];

interface RunFlags extends ResourceFlags {
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
  pid?: string;
  ipc?: string;
  stopSignal?: string;
  stopTimeout?: string;
  restart?: string;
  init?: boolean;
  mount: string[];
  volume: string[];
  tmpfs: string[];
  volumesFrom: string[];
  readOnly?: boolean;
  network: string[];
  net: string[];
  networkAlias: string[];
  netAlias: string[];
  ip?: string;
  macAddress?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
  dnsOpt: string[];
  publish: string[];
  publishAll?: boolean;
  expose: string[];
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
    .option("--userns <mode>", 'User namespace to use ("host" to disable)')
    .option("--pid <mode>", "PID namespace to use (host or container:<name|id>)")
    .option("--ipc <mode>", "IPC mode to use (private, shareable, host, none or container:<name|id>)")
    .option("--stop-signal <signal>", "Signal to stop the container")
    .option("--stop-timeout <seconds>", "Timeout (in seconds) to stop a container")
    .option("--restart <policy>", "Restart policy to apply when a container exits")
    .option("--init", "Run an init inside the container that forwards signals and reaps processes")
    .option("-m, --memory <bytes>", "Memory limit")
    .option("--memory-swap <bytes>", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option("--memory-reservation <bytes>", "Memory soft limit")
    .option("--cpus <decimal>", "Number of CPUs")
    .option("-c, --cpu-shares <int>", "CPU shares (relative weight)")
    .option("--cpuset-cpus <string>", "CPUs in which to allow execution (0-3, 0,1)")
    .option("--pids-limit <int>", "Tune container pids limit (set -1 for unlimited)")
    .option("--mount <mount>", "Attach a filesystem mount to the container", collect, [])
    .option("-v, --volume <list>", "Bind mount a volume", collect, [])
    .option("--tmpfs <list>", "Mount a tmpfs directory", collect, [])
    .option("--volumes-from <list>", "Mount volumes from the specified container(s)", collect, [])
    .option("--read-only", "Mount the container's root filesystem as read only")
    .option("--network <network>", "Connect a container to a network (bridge, host, none, container:<name|id> or a network's name)", collect, [])
    .addOption(new Option("--net <network>").hideHelp().argParser(collect).default([]))
    .option("--network-alias <list>", "Add network-scoped alias for the container", collect, [])
    .addOption(new Option("--net-alias <list>").hideHelp().argParser(collect).default([]))
    .option("--ip <ip>", "IPv4 address (e.g., 172.30.100.104)")
    .option("--mac-address <string>", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    .option("--dns <list>", "Set custom DNS servers", collect, [])
    .option("--dns-search <list>", "Set custom DNS search domains", collect, [])
    .option("--dns-option <list>", "Set DNS options", collect, [])
    .addOption(new Option("--dns-opt <list>").hideHelp().argParser(collect).default([]))
    .option("-p, --publish <list>", "Publish a container's port(s) to the host", collect, [])
    .option("-P, --publish-all", "Publish all exposed ports to random ports")
    .option("--expose <list>", "Expose a port or a range of ports", collect, []);
}

/** An integer flag value, or Go's strconv error in Docker's usage-error form. */
export function parseIntFlag(value: string, flag: string, command: string): number {
  if (!/^[+-]?\d+$/.test(value.trim())) {
    throw new UsageError(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`, command);
  }
  return Number(value);
}

export function toRunOptions(image: string, command: string[], f: RunFlags, commandName = "run"): RunOptions {
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
    ...(f.pid !== undefined ? { pid: f.pid } : {}),
    ...(f.ipc !== undefined ? { ipc: f.ipc } : {}),
    ...(f.stopSignal !== undefined ? { stopSignal: f.stopSignal } : {}),
    ...(f.stopTimeout !== undefined ? { stopTimeout: parseIntFlag(f.stopTimeout, "--stop-timeout", commandName) } : {}),
    ...(f.restart !== undefined ? { restart: f.restart } : {}),
    ...(f.init ? { init: true } : {}),
    mounts: f.mount,
    volumes: f.volume,
    tmpfs: f.tmpfs,
    volumesFrom: f.volumesFrom,
    ...(f.readOnly ? { readOnly: true } : {}),
    networks: [...f.network, ...f.net],
    networkAliases: [...f.networkAlias, ...f.netAlias],
    ...(f.ip !== undefined ? { ip: f.ip } : {}),
    ...(f.macAddress !== undefined ? { macAddress: f.macAddress } : {}),
    dns: f.dns,
    dnsSearch: f.dnsSearch,
    dnsOptions: [...f.dnsOption, ...f.dnsOpt],
    publish: f.publish,
    ...(f.publishAll ? { publishAll: true } : {}),
    expose: f.expose,
    ...(tty && process.stdout.isTTY ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } } : {}),
    resources: {
      memory: f.memory,
      memorySwap: f.memorySwap,
      memoryReservation: f.memoryReservation,
      cpus: f.cpus,
      cpuShares: f.cpuShares,
      cpusetCpus: f.cpusetCpus,
      pidsLimit: f.pidsLimit,
    },
    warn: (message) => process.stderr.write(`WARNING: ${message}\n`),
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
      await engine.remove(rec.Id, { force: true, volumes: true });
      throw new ExitStatus(128 + early.caught);
    }
    if (opts.detach) {
      early.release();
      try {
        await engine.start(rec.Id);
      } catch (e) {
        if (opts.rm) await engine.remove(rec.Id, { force: true, volumes: true }).catch(() => undefined);
        throw e;
      }
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
      crashPoint("run:after-exit");
    } catch (e) {
      early.release();
      await (opts.rm ? engine.remove(rec.Id, { force: true, volumes: true }) : engine.finish(rec.Id)).catch(() => undefined);
      conn?.close();
      throw e;
    }
    // The connection closes only now: a cleanup owner that went away first would make the
    // monitor run its exit command.
    await (opts.rm ? engine.remove(rec.Id, { force: true, volumes: true }) : engine.finish(rec.Id));
    conn.close();
    throw new ExitStatus(code);
  });
}

export function registerCreate(program: Command, ctx: CliContext): void {
  const create = program
    .command("create")
    .description("Create a new container")
    .usage("[OPTIONS] IMAGE [COMMAND] [ARG...]")
    .argument("<image>")
    .argument("[command...]")
    .passThroughOptions();
  addContainerFlags(create).action(async (image: string, command: string[], flags: RunFlags) => {
    ctx.kind = "run"; // Docker's create fails as run does: 125 for its own errors
    const engine = await ctx.engine();
    const rec = await engine.create(toRunOptions(image, command, flags, "create"));
    process.stdout.write(rec.Id + "\n");
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

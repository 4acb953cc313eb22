/**
 * Docker's create: every flag validated before anything exists, then the container's
 * directory, name, id range, writable layer, /etc files, OCI bundle and record. Starts
 * nothing. On any failure nothing is left.
 */
import fs from "node:fs";
import path from "node:path";
import { TsrunError, invalidArgument, logger, newId, writeJsonAtomic } from "../common/index.js";
import { crashPoint } from "../common/crash-points.js";
import type { Image } from "../image/index.js";
import { parseSignal } from "../runtime/signals.js";
import { createWritableLayer, writeEtcFiles } from "./container-fs.js";
import { ContainerMounts } from "./container-mounts.js";
import { createLockedContainerDir } from "./container-lock.js";
import { DEFAULT_PATH, DEFAULT_SHM_SIZE } from "./defaults.js";
import type { Engine } from "./engine.js";
import type { IdRange } from "./idpool.js";
import { applyInit, initBinary } from "./init-process.js";
import { UnionTree } from "./union-tree.js";
import { resolveLimits } from "./limits.js";
import { applyHostModes, donorRange, parseIpcMode, parsePidMode, usernsFor } from "./namespace-modes.js";
import { NetworkConfig, resolveHostGateway } from "./network-config.js";
import { networksOf } from "./network-wiring.js";
import { randomName, validateName } from "./names.js";
import { ContainerFiles, emptyState, writeRecord, type ContainerRecord } from "./record.js";
import { removeTree } from "./remove-tree.js";
import { FIRST_DELAY_MS, parseRestartPolicy } from "./restart-policy.js";
import {
  envValue,
  expandEnvArg,
  mergeEnv,
  parseAddHost,
  parseEnvFile,
  parseLabels,
  parseSize,
  validateHostname,
  validateWorkdir,
  type RunOptions,
} from "./run-options.js";
import { buildSpec } from "./spec-builder.js";
import { resolveUser } from "./users.js";

const log = logger("engine");

export async function createContainer(engine: Engine, opts: RunOptions): Promise<ContainerRecord> {
  // 1. Everything that can be wrong with the flags, before anything exists.
  const name = opts.name !== undefined ? validateName(opts.name) : undefined;
  if (opts.hostname !== undefined) validateHostname(opts.hostname);
  if (opts.workdir !== undefined) validateWorkdir(opts.workdir);
  if (opts.userns !== undefined && opts.userns !== "" && opts.userns !== "host") {
    throw invalidArgument(`invalid USER namespace mode "${opts.userns}": only "host" is supported`);
  }
  const restartPolicy = parseRestartPolicy(opts.restart);
  if (opts.rm && restartPolicy.Name !== "no") throw invalidArgument("Conflicting options: --restart and --rm");
  if (opts.stopSignal !== undefined) parseStopSignal(opts.stopSignal);
  if (opts.stopTimeout !== undefined && !Number.isInteger(opts.stopTimeout)) {
    throw invalidArgument(`invalid argument "${opts.stopTimeout}" for "--stop-timeout" flag: strconv.ParseInt: parsing "${opts.stopTimeout}": invalid syntax`);
  }
  const pidMode = parsePidMode(opts.pid);
  const ipcMode = parseIpcMode(opts.ipc);
  const network = await NetworkConfig.parse(opts, () => networksOf(engine), (ref) => engine.resolve(ref));
  const userns = usernsFor(pidMode, ipcMode, (ref) => engine.resolve(ref), network.mode);
  const hostInit = opts.init ? initBinary() : undefined;
  const userEnv = [...opts.envFiles.flatMap((f) => parseEnvFile(f)), ...opts.env.flatMap((e) => expandEnvArg(e) ?? [])];
  const extraHosts = await resolveHostGateway(opts.addHosts.map(parseAddHost), engine.root.root, async () => (await networksOf(engine)).hostGateway());
  const labels = parseLabels(opts.labels);
  const shmSize = opts.shmSize !== undefined ? parseSize(opts.shmSize, "--shm-size") : DEFAULT_SHM_SIZE;
  if (shmSize <= 0) throw invalidArgument(`invalid argument "${opts.shmSize}" for "--shm-size" flag: size must be greater than 0`);
  const limits = resolveLimits(opts.resources ?? {});
  const mounts = await ContainerMounts.parse(opts);

  // 2. The image and what it implies.
  const store = await engine.images();
  const image: Image = await store.resolveForRun(opts.image);
  const cfg = image.config.config ?? {};
  const entrypoint = opts.entrypoint !== undefined ? (opts.entrypoint === "" ? [] : [opts.entrypoint]) : (cfg.Entrypoint ?? []);
  // --entrypoint resets the image's CMD; run arguments replace it.
  const cmd = opts.command.length > 0 ? opts.command : opts.entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw invalidArgument("No command specified");
  const layers = await image.layerDirs();
  const files = new UnionTree(layers);
  const userSpec = opts.user ?? cfg.User ?? "";
  const user = resolveUser(userSpec, files.readFile("/etc/passwd"), files.readFile("/etc/group"));
  const configEnv = mergeEnv(cfg.Env ?? [], userEnv);
  const workdir = opts.workdir ?? (cfg.WorkingDir || "/");
  const ownUserns = opts.userns !== "host" && !userns.host && !userns.joinOf;
  await mounts.resolve(engine, Object.keys(cfg.Volumes ?? {}));

  // 3. The container exists from here on; undo everything if a later step fails.
  const id = newId();
  const hostname = network.hostname(id);
  const cf = new ContainerFiles(engine.root, id);
  const lock = createLockedContainerDir(engine.root, id);
  crashPoint("create:after-dir");
  let claimedName: string | undefined;
  let idRange: IdRange | undefined;
  try {
    claimedName = await claimName(engine, name, id);
    crashPoint("create:after-name");
    if (ownUserns) idRange = await engine.pool.allocate({ root: engine.root.root, id });
    crashPoint("create:after-idrange");
    // Volumes are locked from here until the record naming them is written (volumes/prepare.ts).
    await mounts.prepare(engine, layers);
    const upperParent = createWritableLayer(cf);
    const etc = writeEtcFiles(cf, hostname, extraHosts, network.resolvConf(engine.root.root));
    network.writeHostsFile(etc.hosts, extraHosts);
    crashPoint("create:after-files");
    const processEnv = mergeEnv([`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, ...(opts.tty ? ["TERM=xterm"] : [])], configEnv);
    if (envValue(processEnv, "HOME") === undefined) processEnv.push(`HOME=${user.home}`);
    // A joined user namespace maps ids as its owner's does: the files are idmapped with it.
    const specRange = idRange ?? (opts.userns !== "host" ? donorRange(userns) : undefined);
    const spec = buildSpec({
      id,
      args,
      env: processEnv,
      cwd: workdir,
      user,
      tty: opts.tty,
      ...(opts.consoleSize ? { consoleSize: opts.consoleSize } : {}),
      hostname,
      layers,
      upperParent,
      etcFiles: etc,
      ...(specRange ? { idRange: specRange } : {}),
      shmSize,
      readonlyRootfs: !!opts.readOnly,
      resources: limits.resources,
    });
    applyHostModes(spec, pidMode, ipcMode);
    network.applyTo(spec);
    mounts.applyTo(spec, { userns: specRange !== undefined });
    if (hostInit) applyInit(spec, hostInit);
    fs.mkdirSync(path.join(cf.bundle, "rootfs"), { recursive: true, mode: 0o700 });
    writeJsonAtomic(path.join(cf.bundle, "config.json"), spec, 0o600);
    crashPoint("create:after-bundle");
    const stopSignal = opts.stopSignal ?? cfg.StopSignal;
    const rec: ContainerRecord = {
      Id: id,
      Name: "/" + claimedName,
      Created: new Date().toISOString(),
      Path: args[0]!,
      Args: args.slice(1),
      Image: image.id,
      Config: {
        Hostname: hostname,
        Domainname: "",
        User: opts.user ?? cfg.User ?? "",
        AttachStdin: opts.interactive && !opts.detach,
        AttachStdout: !opts.detach,
        AttachStderr: !opts.detach,
        ...(network.exposedPorts(cfg.ExposedPorts) ? { ExposedPorts: network.exposedPorts(cfg.ExposedPorts) } : {}),
        Tty: opts.tty,
        OpenStdin: opts.interactive,
        StdinOnce: opts.interactive && !opts.detach,
        Env: configEnv,
        Cmd: cmd.length > 0 ? cmd : null,
        Image: opts.image,
        Volumes: mounts.configVolumes(cfg.Volumes),
        WorkingDir: opts.workdir ?? cfg.WorkingDir ?? "",
        Entrypoint: entrypoint.length > 0 ? entrypoint : null,
        Labels: { ...(cfg.Labels ?? {}), ...labels },
        ...(stopSignal ? { StopSignal: stopSignal } : {}),
        ...(opts.stopTimeout !== undefined ? { StopTimeout: opts.stopTimeout } : {}),
      },
      HostConfig: {
        AutoRemove: opts.rm,
        ...network.hostConfig(),
        RestartPolicy: restartPolicy,
        PidMode: pidMode,
        IpcMode: ipcMode,
        Init: opts.init ? true : null,
        ShmSize: shmSize,
        ExtraHosts: opts.addHosts.length > 0 ? opts.addHosts : null,
        UsernsMode: opts.userns ?? "",
        LogConfig: { Type: "json-file", Config: {} },
        ...mounts.hostConfig(),
        ...limits.hostConfig,
      },
      State: emptyState(),
      RestartCount: 0,
      Mounts: mounts.mountPoints(),
      Tsrun: { ...(idRange ? { idRange } : {}), layers, restartDelayMs: FIRST_DELAY_MS, net: network.record() },
    };
    writeRecord(engine.root, rec);
    mounts.release();
    crashPoint("create:after-record");
    log.withId(id)(`created from ${image.id} as ${claimedName}`);
    for (const w of [...limits.warnings, ...network.warnings]) opts.warn?.(w);
    return rec;
  } catch (e) {
    mounts.abort();
    if (idRange) engine.pool.release(idRange, { root: engine.root.root, id });
    if (claimedName) engine.names.release(claimedName, id);
    removeTree(engine.root, cf.dir);
    throw e;
  } finally {
    lock.release();
  }
}

/** --stop-signal and STOPSIGNAL, as Docker's daemon parses them. */
export function parseStopSignal(value: string): number {
  try {
    return parseSignal(value);
  } catch {
    throw invalidArgument(`Invalid signal: ${value}`);
  }
}

async function claimName(engine: Engine, name: string | undefined, id: string): Promise<string> {
  if (name !== undefined) {
    await engine.names.claim(name, id);
    return name;
  }
  for (let i = 0; ; i++) {
    const candidate = i < 10 ? randomName() : `${randomName()}${i}`;
    try {
      await engine.names.claim(candidate, id);
      return candidate;
    } catch (e) {
      if (!(e instanceof TsrunError && e.kind === "conflict") || i > 50) throw e;
    }
  }
}

/**
 * The engine: Docker's container model on top of the runtime. It owns container records,
 * names, the id pool and spec generation; the runtime owns processes, the monitor and
 * cgroups. Heavy modules (the image store, the runtime) load on first use, so a command
 * pays only for what it touches.
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "../common/random.js";
import {
  StateRoot,
  TsrunError,
  conflict,
  errnoCode,
  invalidArgument,
  isFullId,
  isIdPrefix,
  logger,
  newId,
  notFound,
  removeTreeSync,
  resolveRoot,
  shortId,
  writeJsonAtomic,
} from "../common/index.js";
import type { Image, ImageStore } from "../image/index.js";
import type { AttachOptions, ExitStatus, MonitorConnection, Runtime, RuntimeState } from "../runtime/index.js";
import { DEFAULT_PATH, DEFAULT_SHM_SIZE } from "./defaults.js";
import { IdPool, type IdRange } from "./idpool.js";
import { LayeredFiles } from "./layered-files.js";
import { NameRegistry, randomName, validateName } from "./names.js";
import {
  ContainerFiles,
  ZERO_TIME,
  emptyState,
  listIds,
  readRecord,
  writeRecord,
  type ContainerRecord,
} from "./record.js";
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
import { containerResolvConf, createWritableLayer, writeEtcFiles } from "./container-fs.js";
import { resolveUser } from "./users.js";
import { initErrorToTsrun } from "./start-errors.js";
import { liveStatus, type ContainerStatus } from "./status.js";

const log = logger("engine");

export interface EngineOptions {
  /** State root; default: TSRUN_ROOT or /var/lib/tsrun. */
  root?: string;
  /** The native monitor binary (default: the package's native/build/tsrun-monitor). */
  monitorPath?: string;
  /** argv that runs this tsrun (for the monitor's exit command); default: this process's. */
  selfCommand?: string[];
}

export interface ContainerView {
  record: ContainerRecord;
  status: ContainerStatus;
}

export class Engine {
  readonly root: StateRoot;
  private imageStore?: ImageStore;
  private runtimeInstance?: Runtime;
  private readonly names: NameRegistry;
  private readonly pool = new IdPool();

  constructor(private readonly opts: EngineOptions = {}) {
    this.root = new StateRoot(resolveRoot(opts.root));
    this.names = new NameRegistry(this.root.root);
  }

  async images(): Promise<ImageStore> {
    if (!this.imageStore) {
      const { ImageStore } = await import("../image/index.js");
      this.imageStore = new ImageStore(this.root);
    }
    return this.imageStore;
  }

  async runtime(): Promise<Runtime> {
    if (!this.runtimeInstance) {
      const { Runtime } = await import("../runtime/index.js");
      this.runtimeInstance = new Runtime(this.root.runtime, this.opts.monitorPath ? { monitorPath: this.opts.monitorPath } : {});
    }
    return this.runtimeInstance;
  }

  // ---------------------------------------------------------------------------------------
  // Lookup

  /** A container by name, full id or unique id prefix (Docker's rules). */
  resolve(ref: string): ContainerRecord {
    const byName = this.names.lookup(ref.replace(/^\//, ""));
    if (byName) {
      const rec = readRecord(this.root, byName);
      if (rec) return rec;
    }
    if (isFullId(ref)) {
      const rec = readRecord(this.root, ref);
      if (rec) return rec;
    } else if (isIdPrefix(ref)) {
      const matches = listIds(this.root).filter((id) => id.startsWith(ref));
      if (matches.length > 1) throw invalidArgument(`Multiple IDs found with provided prefix: ${ref}`);
      const rec = matches.length === 1 ? readRecord(this.root, matches[0]!) : undefined;
      if (rec) return rec;
    }
    throw notFound(`No such container: ${ref}`);
  }

  async status(rec: ContainerRecord): Promise<ContainerStatus> {
    const runtime = fs.existsSync(this.root.runtimeState(rec.Id)) ? await this.runtime() : undefined;
    return liveStatus(rec, runtime?.state(rec.Id));
  }

  async list(): Promise<ContainerView[]> {
    const out: ContainerView[] = [];
    for (const id of listIds(this.root)) {
      const record = readRecord(this.root, id);
      if (!record) continue;
      out.push({ record, status: await this.status(await this.reconcile(record)) });
    }
    return out.sort((a, b) => b.record.Created.localeCompare(a.record.Created));
  }

  /** Every container with the image it uses and its layers (for rmi's conflict checks and GC). */
  async imageUsers(): Promise<{ id: string; image: string; running: boolean; layers: string[] }[]> {
    return (await this.list()).map((v) => ({
      id: v.record.Id,
      image: v.record.Image,
      running: v.status.Running,
      layers: v.record.Tsrun.layers,
    }));
  }

  // ---------------------------------------------------------------------------------------
  // Create

  /**
   * Validates everything, then writes the container's record, writable layer, /etc files
   * and OCI bundle. Starts nothing (Docker's create). On any failure nothing is left.
   */
  async create(opts: RunOptions): Promise<ContainerRecord> {
    // 1. Everything that can be wrong with the flags, before anything exists.
    const name = opts.name !== undefined ? validateName(opts.name) : undefined;
    if (opts.hostname !== undefined) validateHostname(opts.hostname);
    if (opts.workdir !== undefined) validateWorkdir(opts.workdir);
    if (opts.userns !== undefined && opts.userns !== "" && opts.userns !== "host") {
      throw invalidArgument(`invalid USER namespace mode "${opts.userns}": only "host" is supported`);
    }
    const userEnv = [...opts.envFiles.flatMap((f) => parseEnvFile(f)), ...opts.env.flatMap((e) => expandEnvArg(e) ?? [])];
    const extraHosts = opts.addHosts.map(parseAddHost);
    const labels = parseLabels(opts.labels);
    const shmSize = opts.shmSize !== undefined ? parseSize(opts.shmSize, "--shm-size") : DEFAULT_SHM_SIZE;
    if (shmSize <= 0) throw invalidArgument(`invalid argument "${opts.shmSize}" for "--shm-size" flag: size must be greater than 0`);

    // 2. The image and what it implies.
    const store = await this.images();
    const image: Image = await store.resolveForRun(opts.image);
    const cfg = image.config.config ?? {};
    const entrypoint =
      opts.entrypoint !== undefined ? (opts.entrypoint === "" ? [] : [opts.entrypoint]) : (cfg.Entrypoint ?? []);
    // --entrypoint resets the image's CMD; run arguments replace it.
    const cmd = opts.command.length > 0 ? opts.command : opts.entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) throw invalidArgument("No command specified");
    const layers = await image.layerDirs();
    const files = new LayeredFiles(layers);
    const userSpec = opts.user ?? cfg.User ?? "";
    const user = resolveUser(userSpec, files.readFile("/etc/passwd"), files.readFile("/etc/group"));
    const configEnv = mergeEnv(cfg.Env ?? [], userEnv);
    const workdir = opts.workdir ?? (cfg.WorkingDir || "/");

    // 3. The container exists from here on; undo everything if a later step fails.
    const id = newId();
    const hostname = opts.hostname ?? id.slice(0, 12);
    const cf = new ContainerFiles(this.root, id);
    fs.mkdirSync(this.root.containers, { recursive: true, mode: 0o700 });
    fs.mkdirSync(cf.dir, { mode: 0o700 });
    let claimedName: string | undefined;
    let idRange: IdRange | undefined;
    try {
      claimedName = await this.claimName(name, id);
      if (opts.userns !== "host") idRange = await this.pool.allocate({ root: this.root.root, id });
      const upperParent = createWritableLayer(cf);
      const etc = writeEtcFiles(cf, hostname, extraHosts, containerResolvConf(readIfExists("/etc/resolv.conf")));
      const processEnv = mergeEnv(
        [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${hostname}`, ...(opts.tty ? ["TERM=xterm"] : [])],
        configEnv,
      );
      if (envValue(processEnv, "HOME") === undefined) processEnv.push(`HOME=${user.home}`);
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
        ...(idRange ? { idRange } : {}),
        shmSize,
        readonlyRootfs: false,
      });
      fs.mkdirSync(path.join(cf.bundle, "rootfs"), { recursive: true, mode: 0o700 });
      writeJsonAtomic(path.join(cf.bundle, "config.json"), spec, 0o600);
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
          ...(cfg.ExposedPorts ? { ExposedPorts: cfg.ExposedPorts } : {}),
          Tty: opts.tty,
          OpenStdin: opts.interactive,
          StdinOnce: opts.interactive && !opts.detach,
          Env: configEnv,
          Cmd: cmd.length > 0 ? cmd : null,
          Image: opts.image,
          Volumes: cfg.Volumes ?? null,
          WorkingDir: opts.workdir ?? cfg.WorkingDir ?? "",
          Entrypoint: entrypoint.length > 0 ? entrypoint : null,
          Labels: { ...(cfg.Labels ?? {}), ...labels },
          ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
        },
        HostConfig: {
          AutoRemove: opts.rm,
          NetworkMode: "none",
          RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
          ShmSize: shmSize,
          ExtraHosts: opts.addHosts.length > 0 ? opts.addHosts : null,
          UsernsMode: opts.userns ?? "",
          LogConfig: { Type: "json-file", Config: {} },
        },
        State: emptyState(),
        RestartCount: 0,
        Tsrun: { ...(idRange ? { idRange } : {}), layers },
      };
      writeRecord(this.root, rec);
      log.withId(id)(`created from ${image.id} as ${claimedName}`);
      return rec;
    } catch (e) {
      if (idRange) this.pool.release(idRange, { root: this.root.root, id });
      if (claimedName) this.names.release(claimedName, id);
      removeTree(this.root, cf.dir);
      throw e;
    }
  }

  private async claimName(name: string | undefined, id: string): Promise<string> {
    if (name !== undefined) {
      await this.names.claim(name, id);
      return name;
    }
    for (let i = 0; ; i++) {
      const candidate = i < 10 ? randomName() : `${randomName()}${i}`;
      try {
        await this.names.claim(candidate, id);
        return candidate;
      } catch (e) {
        if (!(e instanceof TsrunError && e.kind === "conflict") || i > 50) throw e;
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Start, attach

  /**
   * Starts a created or exited container. With `attach`, the container is set up and held
   * before its command runs; the caller connects and sends START (so no output is lost) by
   * calling `start()` on the returned connection.
   */
  async start(ref: string, attach?: AttachOptions): Promise<MonitorConnection | undefined> {
    const rec = await this.reconcile(this.resolve(ref));
    const st = await this.status(rec);
    if (st.Running) {
      if (attach) throw conflict(`Container ${rec.Id} is already running`);
      return undefined; // Docker: starting a running container is a no-op
    }
    const runtime = await this.runtime();
    const cf = new ContainerFiles(this.root, rec.Id);
    try {
      await runtime.create(rec.Id, {
        bundle: cf.bundle,
        stdin: rec.Config.OpenStdin,
        logPath: cf.log,
        exitCommand: [...this.selfCommand(), "--root", this.root.root, "_exit-hook", rec.Id],
      });
    } catch (e) {
      const err = initErrorToTsrun(e, rec.Path);
      rec.State.Error = err instanceof Error ? err.message : String(err);
      writeRecord(this.root, rec);
      throw err;
    }
    if (rec.State.Error) {
      rec.State.Error = "";
      writeRecord(this.root, rec);
    }
    if (attach) return runtime.attach(rec.Id, attach);
    try {
      await runtime.start(rec.Id);
    } catch (e) {
      throw initErrorToTsrun(e, rec.Path);
    }
    return undefined;
  }

  private selfCommand(): string[] {
    // "--" stops Node 20 from taking our own flags (--env-file) as its options.
    return this.opts.selfCommand ?? [process.execPath, "--", process.argv[1] ?? "tsrun"];
  }

  // ---------------------------------------------------------------------------------------
  // Exit, removal

  /**
   * Moves a stopped container's exit status from the runtime into the record and frees the
   * runtime's state (monitor gone, cgroups removed); an exited `--rm` container is removed
   * altogether, by whichever command notices first. Idempotent; safe to race.
   *
   * While the monitor still runs it may be delivering the last output to an attached
   * client, so only `force` (the foreground client itself, or the monitor's exit command)
   * takes the runtime state apart then.
   */
  async reconcile(rec: ContainerRecord, opts: { force?: boolean } = {}): Promise<ContainerRecord> {
    if (!fs.existsSync(this.root.runtimeState(rec.Id))) return rec;
    const runtime = await this.runtime();
    let st: RuntimeState;
    try {
      st = runtime.state(rec.Id);
    } catch (e) {
      if (e instanceof TsrunError && e.kind === "not-found") return rec;
      throw e;
    }
    if (st.status !== "stopped" || (st.monitorAlive && !opts.force)) return rec;
    if (st.exit || st.startedAt) recordExit(rec, st.exit, st.startedAt);
    writeRecord(this.root, rec);
    if (rec.HostConfig.AutoRemove) {
      await this.destroy(rec);
      return rec;
    }
    await runtime.delete(rec.Id, { force: true });
    return rec;
  }

  /** The exit status after a foreground run: record it and free the runtime state. */
  async finish(id: string): Promise<ContainerRecord | undefined> {
    const rec = readRecord(this.root, id);
    return rec ? this.reconcile(rec, { force: true }) : undefined;
  }

  /** Docker's rm. Returns the container's id. */
  async remove(ref: string, opts: { force?: boolean } = {}): Promise<string> {
    const rec = await this.reconcile(this.resolve(ref));
    const st = await this.status(rec);
    if (st.Paused && !opts.force) {
      throw conflict(
        `You cannot remove a paused container ${rec.Id}. Unpause and then stop the container before attempting removal or force remove`,
      );
    }
    if (st.Running && !opts.force) {
      throw conflict(
        `You cannot remove a running container ${rec.Id}. Stop the container before attempting removal or force remove`,
      );
    }
    await this.destroy(rec);
    return rec.Id;
  }

  /** Removes everything of a container, in an order a crash at any point can resume. */
  private async destroy(rec: ContainerRecord): Promise<void> {
    const id = rec.Id;
    rec.State.Status = "removing";
    writeRecord(this.root, rec);
    if (fs.existsSync(this.root.runtimeState(id))) await (await this.runtime()).delete(id, { force: true });
    // Leases and the name go before the directory: a lease or name whose directory is
    // missing is then known to be a leftover, which is what makes reclaiming them safe.
    if (rec.Tsrun.idRange) this.pool.release(rec.Tsrun.idRange, { root: this.root.root, id });
    this.names.release(rec.Name.replace(/^\//, ""), id);
    removeTree(this.root, new ContainerFiles(this.root, id).dir);
    log.withId(id)("removed");
  }

  /** Run by the monitor after the container exits and nobody else cleaned up. */
  async exitHook(id: string): Promise<void> {
    const rec = readRecord(this.root, id);
    if (rec) await this.reconcile(rec, { force: true });
  }
}

/** Takes a directory out of sight atomically (rename into tmp/), then deletes it. */
function removeTree(root: StateRoot, dir: string): void {
  fs.mkdirSync(root.tmp, { recursive: true, mode: 0o700 });
  const grave = path.join(root.tmp, `removed-${path.basename(dir)}-${randomBytes(4).toString("hex")}`);
  try {
    fs.renameSync(dir, grave);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  removeTreeSync(grave);
}

function recordExit(rec: ContainerRecord, exit: ExitStatus | undefined, startedAt: string | undefined): void {
  rec.State.Status = "exited";
  if (startedAt) rec.State.StartedAt = startedAt;
  if (exit) {
    rec.State.ExitCode = exit.exitCode;
    rec.State.OOMKilled = exit.oomKilled;
    rec.State.FinishedAt = exit.finishedAt;
    if (exit.startedAt) rec.State.StartedAt = exit.startedAt;
  } else {
    rec.State.ExitCode = 255;
    rec.State.FinishedAt = new Date().toISOString();
  }
  if (rec.State.StartedAt === ZERO_TIME) rec.State.StartedAt = rec.State.FinishedAt;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

export { shortId };

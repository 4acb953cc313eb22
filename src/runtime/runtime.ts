import fs from "node:fs";
import path from "node:path";
import type { Cgroup } from "../cgroups/cgroup.js";
import { openCgroupDriver, type CgroupDriver } from "../cgroups/driver.js";
import { monitorCgroupPath, resolveCgroupPath } from "../cgroups/cgroup-path.js";
import { badState, conflict, errnoCode, invalidArgument, isTsrunError, notFound } from "../common/errors.js";
import { crashPoint } from "../common/crash-points.js";
import { removeTreeSync } from "../common/fsutil.js";
import { logger } from "../common/log.js";
import { OwnerLock } from "../linux/owner-lock.js";
import { launchMonitor, MonitorConnection, readExitRecord, readStartedAt, type AttachOptions } from "./monitor-client.js";
import { planFromSpec } from "./planner.js";
import { isAlive, isSelfOrDescendant, processStartTime, signalProcess, type ProcessIdentity } from "../linux/process-identity.js";
import { parseSignal } from "./signals.js";
import type { RestartPlan } from "./plan.js";
import type { Spec } from "./spec.js";
import {
  LOCK_FILE,
  deriveStatus,
  readStateRecord,
  toRuntimeState,
  writeStateRecord,
  type Observation,
  type RuntimeState,
  type StateRecord,
} from "./state.js";

const log = logger("runtime");

export interface CreateOptions {
  bundle: string;
  /** Keep a stdin pipe for attach clients (docker -i). */
  stdin?: boolean;
  /** json-file log of the container's output. */
  logPath?: string;
  /** Run by the monitor after the container exits, unless a cleanup-owner client is attached. */
  exitCommand?: string[];
  /** The restart policy the monitor carries out (run instead of the exit command); none for "no". */
  restart?: RestartPlan;
}

export interface RuntimeOptions {
  /** The tsrun-monitor binary, when not the packaged one. */
  monitorPath?: string;
  /** The cgroup driver; the host's unless a test passes one on a fake tree. */
  cgroups?: CgroupDriver;
  /** Starts the monitor; launchMonitor unless a test passes a fake. */
  launch?: typeof launchMonitor;
}

const MONITOR_EXIT_TIMEOUT_MS = 5_000;

/**
 * The OCI runtime: create / start / state / kill / pause / resume / delete of containers
 * from bundles, with their state in `<runtimeRoot>/<id>/`. Knows nothing of images, names or
 * networks. Each operation on a container holds its lock (`<id>/lock`); state() takes none.
 */
export class Runtime {
  private driver?: CgroupDriver;

  constructor(
    readonly runtimeRoot: string,
    private readonly opts: RuntimeOptions = {},
  ) {
    this.driver = opts.cgroups;
  }

  stateDir(id: string): string {
    return path.join(this.runtimeRoot, id);
  }

  async create(id: string, opts: CreateOptions): Promise<RuntimeState> {
    validateId(id);
    log.withId(id)("create");
    const bundle = path.resolve(opts.bundle);
    const spec = readSpec(bundle);
    const cgroupPath = resolveCgroupPath(spec.linux?.cgroupsPath, id);
    const stateDir = this.stateDir(id);
    fs.mkdirSync(this.runtimeRoot, { recursive: true, mode: 0o700 });
    try {
      // Search permission for all: the init, as root of the container's user namespace (an
      // unprivileged host uid), enters it to stage the rootfs. Listing stays root-only.
      fs.mkdirSync(stateDir, { mode: 0o711 });
    } catch (e) {
      if (errnoCode(e) === "EEXIST") throw conflict(`container with id exists: ${id}`);
      throw e;
    }
    crashPoint("runtime:create:after-mkdir");
    const record: StateRecord = {
      ociVersion: spec.ociVersion,
      id,
      bundle,
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      phase: "creating",
      created: new Date().toISOString(),
      cgroupPath,
      // No lock while creating: the id is new (the mkdir above made it ours), and while this
      // process lives its "creating" record is not mistaken for a crashed one.
      creator: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
    };
    const made: Teardown = {};
    try {
      writeStateRecord(stateDir, record);
      crashPoint("runtime:create:after-state");
      const driver = this.cgroups();
      driver.sweepMonitorCgroups(path.posix.dirname(cgroupPath));
      made.container = driver.create(cgroupPath);
      // The last monitor's restart command (this process, then) is still in the last monitor
      // cgroup, which it could not remove: the new monitor takes it over.
      const lastMonitor = driver.open(monitorCgroupPath(cgroupPath));
      // A restart command runs in the previous monitor's cgroup, and so do the processes it
      // started (e.g. for the network): that cgroup is ours to reuse.
      const inherited = lastMonitor.exists() && lastMonitor.pids().every((p) => isSelfOrDescendant(p, process.pid));
      made.monitorCgroup = inherited ? lastMonitor : driver.create(monitorCgroupPath(cgroupPath));
      const plan = planFromSpec(spec, {
        id,
        stateDir,
        bundle,
        cgroups: driver.placement(made.container, made.monitorCgroup),
        stdin: opts.stdin === true,
        ...(opts.logPath ? { logPath: opts.logPath } : {}),
        ...(opts.exitCommand ? { exitCommand: opts.exitCommand } : {}),
        ...(opts.restart ? { restart: opts.restart } : {}),
      });
      if (spec.linux?.resources) made.container.applyResources(spec.linux.resources);
      crashPoint("runtime:create:after-cgroups");
      log.withId(id)("cgroups made, launching the monitor");
      const launched = await (this.opts.launch ?? launchMonitor)({ plan, ...(this.opts.monitorPath ? { monitorPath: this.opts.monitorPath } : {}) });
      made.monitor = { pid: launched.monitorPid, startTime: launched.monitorStartTime };
      crashPoint("runtime:create:after-monitor");
      Object.assign(record, {
        phase: "created",
        init: { pid: launched.pid, startTime: launched.pidStartTime },
        monitor: made.monitor,
        protocol: launched.protocol,
      } satisfies Partial<StateRecord>);
      writeStateRecord(stateDir, record);
      log.withId(id)(`created: init ${launched.pid}`);
      return this.observe(id);
    } catch (e) {
      log.withId(id)(`create failed, cleaning up: ${(e as Error).message}`);
      // Only what this create made: a cgroup that existed before is someone else's.
      await this.teardown(id, cgroupPath, made).catch((cleanup) => log.withId(id)(`cleanup after failed create: ${(cleanup as Error).message}`));
      throw e;
    }
  }

  /** Runs the container's process (OCI start). */
  async start(id: string): Promise<void> {
    await this.withContainer(id, async () => {
      const st = this.observe(id);
      if (st.status === "stopped") throw badState("cannot start a container that has stopped");
      if (st.status !== "created") throw badState(`container ${id} is not in created state`);
      crashPoint("runtime:start:locked");
      const conn = await MonitorConnection.connect(this.stateDir(id), {});
      try {
        await conn.start();
      } finally {
        conn.close();
      }
      crashPoint("runtime:start:after-start");
    });
  }

  /** A connection to the container's monitor, for its stdio, START and exit. */
  async attach(id: string, opts: AttachOptions): Promise<MonitorConnection> {
    const st = this.state(id);
    if (st.status === "stopped") throw badState(`cannot attach to a stopped container ${id}`);
    return MonitorConnection.connect(this.stateDir(id), opts);
  }

  /** The container's state, from its records and the live system; cheap and lock-free. */
  state(id: string): RuntimeState {
    validateId(id);
    return this.observe(id);
  }

  list(): RuntimeState[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.runtimeRoot);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
    const out: RuntimeState[] = [];
    for (const id of names.sort()) {
      try {
        out.push(this.observe(id));
      } catch (e) {
        if (!isTsrunError(e, "not-found")) throw e; // deleted while listing
      }
    }
    return out;
  }

  /** Sends a signal to the container's PID 1 (names like "KILL", "SIGTERM", or numbers). */
  async kill(id: string, signal: number | string): Promise<void> {
    const signo = parseSignal(signal);
    await this.withContainer(id, async (rec) => {
      const st = this.observe(id);
      if (!["created", "running", "paused"].includes(st.status) || !rec.init) throw badState(`container ${id} is not running`);
      signalProcess(rec.init, signo);
      // A frozen process only takes SIGKILL once thawed; runc thaws too.
      if (st.status === "paused" && signo === 9) await this.cgroups().open(rec.cgroupPath).thaw();
    });
  }

  async pause(id: string): Promise<void> {
    await this.withContainer(id, async (rec) => {
      const st = this.observe(id);
      if (st.status === "paused") throw badState(`container ${id} is already paused`);
      if (st.status !== "running" && st.status !== "created") throw badState(`container ${id} is not running`);
      await this.cgroups().open(rec.cgroupPath).freeze();
    });
  }

  async resume(id: string): Promise<void> {
    await this.withContainer(id, async (rec) => {
      if (this.observe(id).status !== "paused") throw badState(`container ${id} is not paused`);
      await this.cgroups().open(rec.cgroupPath).thaw();
    });
  }

  /**
   * Removes a stopped or created container: kills what is left in its cgroup, stops its
   * monitor, removes its cgroups and its state. With force, a running or paused one too.
   * Also repairs what a crash left: a create that never finished, a monitor that died.
   */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    log.withId(id)("delete");
    await this.withContainer(id, async (rec) => {
      crashPoint("runtime:delete:locked");
      const st = this.observe(id);
      // A create in progress (its process alive) is not ours to take apart, force or not.
      if (st.status === "creating") throw conflict(`container ${id} is being created`);
      if (!opts.force && (st.status === "running" || st.status === "paused")) {
        throw badState(`cannot delete container ${id} that is not stopped: ${st.status}`);
      }
      await this.destroy(id, rec);
      log.withId(id)("deleted");
    }, { allowBroken: true });
  }

  // ---------------------------------------------------------------------------------------

  private cgroups(): CgroupDriver {
    this.driver ??= openCgroupDriver();
    return this.driver;
  }

  /** Runs `body` under the container's lock, with its record; not-found when it does not exist. */
  private async withContainer<T>(
    id: string,
    body: (rec: StateRecord) => Promise<T>,
    opts: { allowBroken?: boolean } = {},
  ): Promise<T> {
    validateId(id);
    const stateDir = this.stateDir(id);
    if (!fs.existsSync(stateDir)) throw notFound(`container ${id} does not exist`);
    let lock: OwnerLock;
    try {
      lock = await OwnerLock.acquire(path.join(stateDir, LOCK_FILE));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(`container ${id} does not exist`);
      throw e;
    }
    try {
      // The dir may have been deleted while we waited for the lock.
      if (!fs.existsSync(stateDir)) throw notFound(`container ${id} does not exist`);
      const rec = readStateRecord(stateDir);
      if (!rec && !opts.allowBroken) throw badState(`container ${id} was never created completely; delete it`);
      return await body(rec ?? brokenRecord(id, stateDir));
    } finally {
      lock.release();
    }
  }

  private observe(id: string): RuntimeState {
    const stateDir = this.stateDir(id);
    let isDir = false;
    try {
      isDir = fs.statSync(stateDir).isDirectory();
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    if (!isDir) throw notFound(`container ${id} does not exist`);
    const record = readStateRecord(stateDir);
    let exit = readExitRecord(stateDir);
    const creating = !record || record.phase === "creating";
    const initAlive = !creating && isAlive(record.init);
    const monitorAlive = !creating && isAlive(record.monitor);
    // The monitor records the exit and then exits: one that did both since the first read
    // is not a monitor that died without recording it.
    if (!exit && !creating && !monitorAlive) exit = readExitRecord(stateDir);
    const o: Observation = {
      record,
      exit,
      // A create holds no lock (see create()): its process being alive is what says it is in progress.
      locked: creating && isAlive(record?.creator),
      initAlive,
      monitorAlive,
      startedAt: creating ? undefined : readStartedAt(stateDir),
      frozen: initAlive && !exit && this.cgroups().open(record!.cgroupPath).isFrozen(),
    };
    return toRuntimeState(id, record?.bundle ?? "", deriveStatus(o), o);
  }

  /** Kills and removes everything of a container; repeatable, so crash repair is the same path. */
  private async destroy(id: string, rec: StateRecord): Promise<void> {
    if (!rec.cgroupPath) return this.teardown(id, "", rec.monitor ? { monitor: rec.monitor } : {});
    const driver = this.cgroups();
    await this.teardown(id, rec.cgroupPath, {
      container: driver.open(rec.cgroupPath),
      monitorCgroup: driver.open(monitorCgroupPath(rec.cgroupPath)),
      ...(rec.monitor ? { monitor: rec.monitor } : {}),
    });
  }

  private async teardown(id: string, cgroupPath: string, t: Teardown): Promise<void> {
    if (t.container?.exists()) await t.container.remove();
    crashPoint("runtime:delete:after-kill");
    if (t.monitor && signalProcess(t.monitor, "SIGKILL")) await waitGone(t.monitor);
    crashPoint("runtime:delete:after-monitor");
    // The monitor's exit command may be the caller: it cannot remove the cgroup it is in,
    // which is then left for the next delete's sweep.
    if (t.monitorCgroup?.exists() && !t.monitorCgroup.pids().includes(process.pid)) await t.monitorCgroup.remove();
    if (cgroupPath) {
      const driver = this.cgroups();
      driver.sweepMonitorCgroups(path.posix.dirname(cgroupPath));
      driver.removeEmptyAncestors(cgroupPath);
    }
    crashPoint("runtime:delete:after-cgroups");
    removeTreeSync(this.stateDir(id));
  }
}

/** What to kill and remove of a container. */
interface Teardown {
  container?: Cgroup;
  monitorCgroup?: Cgroup;
  monitor?: ProcessIdentity;
}

/** runc's rule for ids: no path separators, nothing a file name cannot carry. */
export function validateId(id: string): void {
  if (!/^[A-Za-z0-9_+.-]{1,1024}$/.test(id) || id === "." || id === "..") throw invalidArgument(`Invalid container id "${id}"`);
}

function readSpec(bundle: string): Spec {
  const file = path.join(bundle, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw invalidArgument(`Cannot read "${file}": ${errnoCode(e) ?? e}`, e);
  }
  try {
    return JSON.parse(text) as Spec;
  } catch (e) {
    throw invalidArgument(`Cannot parse "${file}": ${(e as Error).message}`, e);
  }
}

/** A state dir whose create died before state.json was written: nothing but the dir to remove. */
function brokenRecord(id: string, stateDir: string): StateRecord {
  log.withId(id)(`repairing "${stateDir}": no state record`);
  // No cgroup path on record: cgroups are made only after state.json, so there are none.
  return { ociVersion: "1.2.0", id, bundle: "", phase: "creating", created: "", cgroupPath: "" };
}

async function waitGone(p: ProcessIdentity): Promise<void> {
  const deadline = Date.now() + MONITOR_EXIT_TIMEOUT_MS;
  // SIGKILL takes effect within a millisecond or so: poll fast first, then back off.
  for (let delay = 1; isAlive(p); delay = Math.min(delay * 2, 20)) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for monitor ${p.pid} to exit`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

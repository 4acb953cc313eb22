/**
 * The engine: Docker's container model on top of the runtime. It owns container records,
 * names, the id pool and spec generation; the runtime owns processes, the monitor and
 * cgroups. Heavy modules (the image store, the runtime) load on first use, so a command
 * pays only for what it touches.
 *
 * This class is the facade; each lifecycle operation lives in its own module (create.ts,
 * start.ts, settle.ts, stop.ts, pause.ts, wait.ts, rename.ts, prune.ts), and each one that
 * changes a container's state does so under the container's lock (container-lock.ts),
 * deciding with the state machine of transitions.ts.
 */
import fs from "node:fs";
import { crashPoint } from "../common/crash-points.js";
import {
  StateRoot,
  invalidArgument,
  isFullId,
  isIdPrefix,
  isTsrunError,
  logger,
  notFound,
  resolveRoot,
  shortId,
} from "../common/index.js";
import type { ImageStore } from "../image/index.js";
import type { AttachOptions, MonitorConnection, Runtime, RuntimeState } from "../runtime/index.js";
import { readRestartAt } from "../runtime/monitor-client.js";
import { tryWithContainerLock, withContainerLock } from "./container-lock.js";
import { removeAnonymousVolumesOf } from "./container-mounts.js";
import { createContainer } from "./create.js";
import { IdPool } from "./idpool.js";
import { NameRegistry } from "./names.js";
import { releaseNetworks } from "./network-wiring.js";
import { ContainerFiles, listIds, readRecord, writeRecord, type ContainerRecord } from "./record.js";
import { removeTree } from "./remove-tree.js";
import { finishInterrupted, recordedName } from "./repair.js";
import { sweepScratchDirs } from "./scratch-dirs.js";
import type { RunOptions } from "./run-options.js";
import { settle, type SettleOptions } from "./settle.js";
import { liveStatus, type ContainerStatus } from "./status.js";
import { decide } from "./transitions.js";

const log = logger("engine");

export interface EngineOptions {
  /** State root; default: TSRUN_ROOT or /var/lib/tsrun. */
  root?: string;
  /** The native monitor binary (default: the package's native/build/tsrun-monitor). */
  monitorPath?: string;
  /** argv that runs this tsrun (for the monitor's exit and restart commands); default: this process's. */
  selfCommand?: string[];
}

export interface ContainerView {
  record: ContainerRecord;
  status: ContainerStatus;
}

/** A container's record with what the runtime shows of it at one moment. */
export interface Observed {
  rec: ContainerRecord;
  /** The runtime's state, while the container has one. */
  rt?: RuntimeState;
  /** When a container waiting out its restart back-off restarts. */
  restartDue?: string;
  status: ContainerStatus;
}

export interface RemoveOptions {
  /** Kill a running container first. */
  force?: boolean;
  /** Also remove its anonymous volumes (rm -v; --rm). */
  volumes?: boolean;
}

export interface DestroyOptions {
  /** Also remove the container's anonymous volumes (rm -v, --rm). */
  volumes?: boolean;
  /**
   * Told a failure to remove those volumes instead of throwing it (the container itself is
   * gone by then): for removals nobody waits on, such as an exited --rm container's.
   */
  onVolumeError?: (e: Error) => void;
}

export interface StopOptions {
  /** Seconds before SIGKILL; negative: wait forever. Default: --stop-timeout, else 10. */
  timeout?: number;
  /** Default: --stop-signal or the image's STOPSIGNAL, else SIGTERM. */
  signal?: string;
}

export class Engine {
  readonly root: StateRoot;
  /** The root's container names (for the engine's own modules). */
  readonly names: NameRegistry;
  /** The machine's user-namespace ranges (for the engine's own modules). */
  readonly pool = new IdPool();
  private imageStore?: ImageStore;
  private runtimeInstance?: Runtime;

  constructor(private readonly opts: EngineOptions = {}) {
    this.root = new StateRoot(resolveRoot(opts.root));
    this.names = new NameRegistry(this.root.root, (id) => recordedName(this.root, id));
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

  /** argv that runs this tsrun on this root, for commands the monitor runs later. */
  selfCommand(...args: string[]): string[] {
    // "--" stops Node 20 from taking our own flags (--env-file) as its options.
    const self = this.opts.selfCommand ?? [process.execPath, "--", process.argv[1] ?? "tsrun"];
    return [...self, "--root", this.root.root, ...args];
  }

  // ---------------------------------------------------------------------------------------
  // Lookup and observation

  /** A container by name, full id or unique id prefix (Docker's rules). */
  resolve(ref: string): ContainerRecord {
    const name = ref.replace(/^\//, "");
    const byName = name ? this.names.lookup(name) : undefined;
    if (byName) {
      const rec = readRecord(this.root, byName);
      // A name left behind by a crashed rename names a container that has another now.
      if (rec && rec.Name === "/" + name) return rec;
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

  /** The record as it is now (re-read under a lock); "No such container" when it is gone. */
  reread(id: string, ref: string): ContainerRecord {
    const rec = readRecord(this.root, id);
    if (!rec) throw notFound(`No such container: ${ref}`);
    return rec;
  }

  async observe(rec: ContainerRecord): Promise<Observed> {
    if (rec.State.Status === "removing" || !fs.existsSync(this.root.runtimeState(rec.Id))) {
      return { rec, status: liveStatus(rec, undefined) };
    }
    const runtime = await this.runtime();
    let rt: RuntimeState;
    try {
      rt = runtime.state(rec.Id);
    } catch (e) {
      if (isTsrunError(e, "not-found")) return { rec, status: liveStatus(rec, undefined) };
      throw e;
    }
    // The monitor's `restarting` record outlives it until the restart replaces the runtime state.
    const restartDue = rt.status === "stopped" ? readRestartAt(runtime.stateDir(rec.Id)) : undefined;
    return { rec, rt, ...(restartDue ? { restartDue } : {}), status: liveStatus(rec, rt, restartDue) };
  }

  async status(rec: ContainerRecord): Promise<ContainerStatus> {
    return (await this.observe(rec)).status;
  }

  /**
   * Every container, newest first. Containers whose runtime part is over are settled on
   * the way (exit recorded, runtime state freed, --rm ones removed), and creates and
   * removals that a killed tsrun left midway are finished (repair.ts), unless another
   * command holds them: listing never waits.
   */
  async list(): Promise<ContainerView[]> {
    await sweepScratchDirs(this.root);
    const out: ContainerView[] = [];
    for (const id of listIds(this.root)) {
      let record = readRecord(this.root, id);
      // A create or removal that died midway is finished here; one in progress is left alone.
      if (!record || record.State.Status === "removing") {
        if (await finishInterrupted(this, id)) continue;
        record = readRecord(this.root, id);
        if (!record) continue;
      }
      let o = await this.observe(record);
      if (o.rt?.status === "stopped" && !o.rt.monitorAlive) {
        const settled = await tryWithContainerLock(this.root, id, async () => {
          const fresh = readRecord(this.root, id);
          return fresh ? { rec: await settle(this, fresh) } : { rec: undefined };
        });
        if (settled && !settled.rec) continue; // removed (--rm)
        record = settled?.rec ?? readRecord(this.root, id);
        if (!record) continue;
        o = await this.observe(record);
      }
      out.push({ record, status: o.status });
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
  // Lifecycle (each in its own module)

  /** Docker's create: validates everything, writes the container, starts nothing. */
  create(opts: RunOptions): Promise<ContainerRecord> {
    return createContainer(this, opts);
  }

  /**
   * Starts a created or exited container (a running one: nothing to do). With `attach`, the
   * container is set up and held before its command runs; the caller connects and sends
   * START (so no output is lost) by calling `start()` on the returned connection. `start -a`
   * of a running container attaches to it.
   */
  async start(ref: string, attach?: AttachOptions): Promise<MonitorConnection | undefined> {
    const { startContainer } = await import("./start.js");
    return startContainer(this, ref, attach);
  }

  /** Docker's stop: the stop signal, SIGKILL after the timeout; a restart in waiting is cancelled. */
  async stop(ref: string, opts: StopOptions = {}): Promise<void> {
    const { stopContainer } = await import("./stop.js");
    return stopContainer(this, ref, opts);
  }

  /** Docker's kill (default SIGKILL). */
  async kill(ref: string, signal?: string): Promise<void> {
    const { killContainer } = await import("./stop.js");
    return killContainer(this, ref, signal);
  }

  /** Docker's restart: stop if running, then start. */
  async restart(ref: string, opts: StopOptions = {}): Promise<void> {
    const { restartContainer } = await import("./stop.js");
    return restartContainer(this, ref, opts);
  }

  async pause(ref: string): Promise<void> {
    const { pauseContainer } = await import("./pause.js");
    return pauseContainer(this, ref);
  }

  async unpause(ref: string): Promise<void> {
    const { unpauseContainer } = await import("./pause.js");
    return unpauseContainer(this, ref);
  }

  /** Docker's wait: blocks while the container runs, then returns its exit code. */
  async wait(ref: string): Promise<number> {
    const { waitContainer } = await import("./wait.js");
    return waitContainer(this, ref);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const { renameContainer } = await import("./rename.js");
    return renameContainer(this, ref, newName);
  }

  /** Docker's rm. Returns the container's id. */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<string> {
    const id = this.resolve(ref).Id;
    await withContainerLock(this.root, id, ref, async () => {
      crashPoint("rm:locked");
      const rec = await settle(this, this.reread(id, ref));
      if (!rec) return; // it was an exited --rm container: already gone
      const o = await this.observe(rec);
      if (decide("remove", o.status.Status, { id, ref, force: !!opts.force }) === "proceed") {
        await this.destroy(rec, { volumes: !!opts.volumes });
      }
    });
    return id;
  }

  /**
   * Moves a stopped container's exit status from the runtime into the record and frees the
   * runtime's state; an exited `--rm` container is removed altogether. With `force` (the
   * foreground client itself, or the monitor's exit command) even while the monitor still
   * delivers the last output. Returns the record, or undefined when it was removed.
   */
  async reconcile(rec: ContainerRecord, opts: SettleOptions = {}): Promise<ContainerRecord | undefined> {
    try {
      return await withContainerLock(this.root, rec.Id, rec.Id, async () => {
        const fresh = readRecord(this.root, rec.Id);
        return fresh ? settle(this, fresh, opts) : undefined;
      });
    } catch (e) {
      if (isTsrunError(e, "not-found")) return undefined;
      throw e;
    }
  }

  /** The exit status after a foreground run: record it and free the runtime state. */
  async finish(id: string): Promise<ContainerRecord | undefined> {
    const rec = readRecord(this.root, id);
    return rec ? this.reconcile(rec, { force: true }) : undefined;
  }

  /** Run by the monitor after the container exits, when no restart follows. */
  async exitHook(id: string): Promise<void> {
    await this.finish(id);
  }

  /** Run by the monitor after a restart back-off: records the exit and starts the container again. */
  async restartHook(id: string): Promise<void> {
    const rec = readRecord(this.root, id);
    if (rec) await this.reconcile(rec, { force: true, restartHook: true });
  }

  /** Removes everything of a container, in an order a crash at any point can resume. Under its lock. */
  async destroy(rec: ContainerRecord, opts: DestroyOptions = {}): Promise<void> {
    const id = rec.Id;
    rec.State.Status = "removing";
    writeRecord(this.root, rec);
    crashPoint("rm:after-mark");
    if (fs.existsSync(this.root.runtimeState(id))) await (await this.runtime()).delete(id, { force: true });
    crashPoint("rm:after-runtime-delete");
    await releaseNetworks(this, rec);
    // Leases and the name go before the directory: a lease or name whose directory is
    // missing is then known to be a leftover, which is what makes reclaiming them safe.
    if (rec.Tsrun.idRange) this.pool.release(rec.Tsrun.idRange, { root: this.root.root, id });
    crashPoint("rm:after-lease");
    this.names.release(rec.Name.replace(/^\//, ""), id);
    crashPoint("rm:after-name");
    removeTree(this.root, new ContainerFiles(this.root, id).dir);
    log.withId(id)("removed");
    // After the record is gone: a volume is "in use" as long as a record names it.
    if (opts.volumes && rec.Mounts) {
      try {
        const removed = await removeAnonymousVolumesOf(this, rec.Mounts);
        if (removed.length > 0) log.withId(id)(`removed volumes ${removed.join(", ")}`);
      } catch (e) {
        if (!opts.onVolumeError) throw e;
        opts.onVolumeError(e as Error);
      }
    }
  }
}

export { shortId };

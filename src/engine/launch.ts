/**
 * Bringing a container's process up: the shared namespaces located, the runtime's create
 * (a new monitor, with the exit command and the restart policy it carries out) and START.
 * Used by start, restart and the restart policy. Call under the container's lock.
 */
import path from "node:path";
import { isTsrunError, readJsonIfExists, writeJsonAtomic } from "../common/index.js";
import { crashPoint } from "../common/crash-points.js";
import type { AttachOptions, MonitorConnection } from "../runtime/index.js";
import type { Spec } from "../runtime/spec.js";
import type { Engine } from "./engine.js";
import { applyJoins, checkDonor, joinedContainer, type Donor } from "./namespace-modes.js";
import { connectNetworks, networkDonor, prepareNetworks, shareDonorFiles } from "./network-wiring.js";
import { processStartTime } from "../linux/process-identity.js";
import { ContainerFiles, writeRecord, type ContainerRecord } from "./record.js";
import { FIRST_DELAY_MS } from "./restart-policy.js";
import { initErrorToTsrun } from "./start-errors.js";

export interface LaunchOptions {
  /** A start by hand (start, restart, run): the policy's restart count and back-off begin anew. */
  manual?: boolean;
}

export async function launch(
  engine: Engine,
  rec: ContainerRecord,
  attach?: AttachOptions,
  opts: LaunchOptions = {},
): Promise<MonitorConnection | undefined> {
  let dirty = rec.State.Error !== "" || rec.Tsrun.manuallyStopped === true || rec.Tsrun.restartCancelled === true;
  rec.State.Error = "";
  delete rec.Tsrun.manuallyStopped;
  delete rec.Tsrun.restartCancelled;
  if (opts.manual && (rec.RestartCount !== 0 || rec.Tsrun.restartDelayMs !== FIRST_DELAY_MS)) {
    rec.RestartCount = 0;
    rec.Tsrun.restartDelayMs = FIRST_DELAY_MS;
    dirty = true;
  }
  const cf = new ContainerFiles(engine.root, rec.Id);
  const runtime = await engine.runtime();
  const policy = rec.HostConfig.RestartPolicy;
  let pid1 = 0;
  const unprepare = await prepareNetworks(engine, rec);
  try {
    await writeNamespaceJoins(engine, rec, cf);
    const created = await runtime.create(rec.Id, {
      bundle: cf.bundle,
      stdin: rec.Config.OpenStdin,
      logPath: cf.log,
      exitCommand: engine.selfCommand("_exit-hook", rec.Id),
      ...(policy.Name !== "no"
        ? {
            restart: {
              policy: policy.Name,
              maxRetries: policy.MaximumRetryCount,
              retryCount: rec.RestartCount,
              delayMs: rec.Tsrun.restartDelayMs ?? FIRST_DELAY_MS,
              command: engine.selfCommand("_restart-hook", rec.Id),
            },
          }
        : {}),
    });
    pid1 = created.pid ?? 0;
  } catch (e) {
    unprepare();
    throw failed(engine, rec, e);
  }
  crashPoint("launch:before-networks");
  // A client connects to the monitor while the network is wired: only its START must wait.
  const connecting = attach ? runtime.attach(rec.Id, attach) : undefined;
  connecting?.catch(() => undefined); // its failure is the caller's, once awaited
  try {
    // Between create and START, as a createRuntime hook: the network namespace exists, nothing runs yet.
    await connectNetworks(engine, rec, { pid: pid1, startTime: processStartTime(pid1) ?? 0 });
  } catch (e) {
    void connecting?.then((c) => c.close(), () => undefined);
    await runtime.delete(rec.Id, { force: true }).catch(() => undefined);
    throw failed(engine, rec, e);
  }
  if (dirty) writeRecord(engine.root, rec);
  crashPoint("launch:created");
  if (connecting) return connecting;
  try {
    await runtime.start(rec.Id);
  } catch (e) {
    throw failed(engine, rec, e);
  }
  crashPoint("launch:started");
  return undefined;
}

/** Records a failed start as Docker does (State.Error; exit code 127, 126 or 128) and returns the error to throw. */
function failed(engine: Engine, rec: ContainerRecord, e: unknown): unknown {
  const err = initErrorToTsrun(e, rec.Path);
  rec.State.Error = err instanceof Error ? err.message : String(err);
  rec.State.ExitCode = isTsrunError(err, "exec-not-found") ? 127 : isTsrunError(err, "exec-permission") ? 126 : 128;
  writeRecord(engine.root, rec);
  return err;
}

/**
 * `--pid container:X` / `--ipc container:X` / `--network container:X`: X's namespaces, found
 * through its PID 1 now, written into the bundle (they change with each start of X).
 */
async function writeNamespaceJoins(engine: Engine, rec: ContainerRecord, cf: ContainerFiles): Promise<void> {
  const pidRef = joinedContainer(rec.HostConfig.PidMode);
  const ipcRef = joinedContainer(rec.HostConfig.IpcMode);
  const netRef = joinedContainer(rec.HostConfig.NetworkMode);
  if (!pidRef && !ipcRef && !netRef) return;
  const donor = async (ref: string, forIpc: boolean): Promise<Donor> => {
    const d = engine.resolve(ref);
    const { status } = await engine.observe(d);
    const ipcMode = d.HostConfig.IpcMode ?? "private";
    checkDonor(ref, status.Status, forIpc ? { ipcMode } : undefined);
    return { rec: d, pid: status.Pid, ipcMode };
  };
  const file = path.join(cf.bundle, "config.json");
  const spec = readJsonIfExists<Spec>(file);
  if (!spec) return;
  const net = netRef ? await networkDonor(engine, rec, netRef) : undefined;
  applyJoins(spec, {
    ...(pidRef ? { pid: await donor(pidRef, false) } : {}),
    ...(ipcRef ? { ipc: await donor(ipcRef, true) } : {}),
    ...(net ? { net: { ...net, ipcMode: net.rec.HostConfig.IpcMode ?? "private" } } : {}),
  });
  if (net) shareDonorFiles(engine, spec, net.rec);
  writeJsonAtomic(file, spec, 0o600);
}

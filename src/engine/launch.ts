/**
 * Bringing a container's process up: the shared namespaces located, the runtime's create
 * (a new monitor, with the exit command and the restart policy it carries out) and START.
 * Used by start, restart and the restart policy. Call under the container's lock.
 */
import path from "node:path";
import { isTsrunError, readJsonIfExists, writeJsonAtomic } from "../common/index.js";
import type { AttachOptions, MonitorConnection } from "../runtime/index.js";
import type { Spec } from "../runtime/spec.js";
import type { Engine } from "./engine.js";
import { applyJoins, checkDonor, joinedContainer, type Donor } from "./namespace-modes.js";
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
  try {
    await writeNamespaceJoins(engine, rec, cf);
    await runtime.create(rec.Id, {
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
  } catch (e) {
    throw failed(engine, rec, e);
  }
  if (dirty) writeRecord(engine.root, rec);
  if (attach) return runtime.attach(rec.Id, attach);
  try {
    await runtime.start(rec.Id);
  } catch (e) {
    throw failed(engine, rec, e);
  }
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
 * `--pid container:X` / `--ipc container:X`: X's namespaces, found through its PID 1 now,
 * written into the bundle (they change with each start of X).
 */
async function writeNamespaceJoins(engine: Engine, rec: ContainerRecord, cf: ContainerFiles): Promise<void> {
  const pidRef = joinedContainer(rec.HostConfig.PidMode);
  const ipcRef = joinedContainer(rec.HostConfig.IpcMode);
  if (!pidRef && !ipcRef) return;
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
  applyJoins(spec, {
    ...(pidRef ? { pid: await donor(pidRef, false) } : {}),
    ...(ipcRef ? { ipc: await donor(ipcRef, true) } : {}),
  });
  writeJsonAtomic(file, spec, 0o600);
}

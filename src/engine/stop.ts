/**
 * Docker's stop, kill and restart. The transitions happen under the container's lock; the
 * wait for the process to exit does not hold it (a `stop -t 10` must not block others).
 *
 * - stop: the stop signal (--signal, else --stop-signal or the image's STOPSIGNAL, else
 *   SIGTERM) through the monitor as a stop on purpose (no restart follows), SIGKILL after the
 *   timeout (-t, else --stop-timeout, else 10 s; negative: none) if the same process still
 *   runs. A paused container is thawed after the signal, so it can act on it. A container
 *   waiting out a restart back-off has its restart cancelled.
 * - kill: SIGKILL or the given signal. SIGKILL and the stop signal also cancel restarts (as
 *   Docker's ExitOnNext); any kill makes unless-stopped not restart.
 */
import os from "node:os";
import { TsrunError, conflict, invalidArgument, logger, systemError } from "../common/index.js";
import { crashPoint } from "../common/crash-points.js";
import { parseSignal } from "../runtime/signals.js";
import { withContainerLock } from "./container-lock.js";
import { parseStopSignal } from "./create.js";
import type { Engine, StopOptions } from "./engine.js";
import { stopOnPurpose } from "./monitor-signals.js";
import { readRecord, writeRecord, type ContainerRecord } from "./record.js";
import { settle } from "./settle.js";
import { decide } from "./transitions.js";

const log = logger("engine");
const { SIGKILL, SIGTERM } = os.constants.signals;
const DEFAULT_STOP_TIMEOUT_S = 10;
/** After SIGKILL the process is gone within milliseconds; this is only a bound. */
const KILL_WAIT_MS = 10_000;
/**
 * How much later than the CLI the monitor sends the stop's SIGKILL: the CLI's comes first
 * while it lives; the monitor's is for a CLI killed while it waited.
 */
const MONITOR_KILL_GRACE_MS = 2_000;

export function stopSignalOf(rec: ContainerRecord): number {
  return rec.Config.StopSignal ? parseStopSignal(rec.Config.StopSignal) : SIGTERM;
}

export async function stopContainer(engine: Engine, ref: string, opts: StopOptions): Promise<void> {
  const explicit = opts.signal !== undefined ? parseStopSignal(opts.signal) : undefined;
  const id = engine.resolve(ref).Id;
  const sent = await withContainerLock(engine.root, id, ref, async () => {
    const rec = await settle(engine, engine.reread(id, ref));
    if (!rec) return undefined; // an exited --rm container, gone now
    const { status } = await engine.observe(rec);
    const d = decide("stop", status.Status, { id, ref });
    if (d === "noop") return undefined;
    rec.Tsrun.manuallyStopped = true;
    rec.Tsrun.restartCancelled = true;
    writeRecord(engine.root, rec);
    crashPoint("stop:after-mark");
    if (d === "cancel-restart") {
      await cancelRestart(engine, id);
      return undefined;
    }
    const signo = explicit ?? stopSignalOf(rec);
    const timeoutS = opts.timeout ?? rec.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S;
    log.withId(id)(`stop: signal ${signo}`);
    // The monitor keeps the timeout too: a stop whose CLI is killed while it waits still ends.
    await signalOnPurpose(engine, id, signo, status.Paused, timeoutS < 0 ? undefined : timeoutS * 1000 + MONITOR_KILL_GRACE_MS);
    crashPoint("stop:after-signal");
    return { pid: status.Pid, timeoutS };
  });
  if (!sent) return;
  if (await waitForExit(engine, id, sent.timeoutS < 0 ? Infinity : sent.timeoutS * 1000)) return settleExit(engine, id);
  log.withId(id)(`stop: still running after ${sent.timeoutS} s, SIGKILL`);
  await withContainerLock(engine.root, id, ref, async () => {
    const rec = readRecord(engine.root, id);
    if (!rec) return;
    const { status } = await engine.observe(rec);
    crashPoint("stop:before-kill");
    // Only the process we asked to stop: a start since then is not ours to kill.
    if ((status.Status === "running" || status.Status === "paused") && status.Pid === sent.pid) {
      await signalOnPurpose(engine, id, SIGKILL, status.Paused);
    }
  });
  if (!(await waitForExit(engine, id, KILL_WAIT_MS))) {
    throw systemError(`cannot stop container: ${ref}: tried to kill container, but did not receive an exit event`);
  }
  await settleExit(engine, id);
}

export async function killContainer(engine: Engine, ref: string, signal: string | undefined): Promise<void> {
  let signo = SIGKILL;
  if (signal !== undefined) {
    try {
      signo = parseSignal(signal);
    } catch {
      throw invalidArgument(`Invalid signal: ${signal}`);
    }
  }
  const id = engine.resolve(ref).Id;
  const waitGone = await withContainerLock(engine.root, id, ref, async () => {
    const rec = await settle(engine, engine.reread(id, ref));
    if (!rec) throw conflict(`Cannot kill container: ${ref}: Container ${id} is not running`);
    const { status } = await engine.observe(rec);
    const d = decide("kill", status.Status, { id, ref });
    const cancels = signo === SIGKILL || signo === stopSignalOf(rec);
    rec.Tsrun.manuallyStopped = true;
    if (cancels) rec.Tsrun.restartCancelled = true;
    writeRecord(engine.root, rec);
    if (d === "cancel-restart") {
      // Nothing runs to be signalled; a cancelling signal ends the wait for the restart.
      if (cancels) await cancelRestart(engine, id);
      return false;
    }
    if (cancels) await signalOnPurpose(engine, id, signo, status.Paused);
    else await (await engine.runtime()).kill(id, signo);
    return signo === SIGKILL;
  });
  // Docker's kill with SIGKILL returns once the container is down.
  if (waitGone && (await waitForExit(engine, id, KILL_WAIT_MS))) await settleExit(engine, id);
}

/**
 * Settles a container that has just exited (its network and host ports released) before
 * stop or kill returns, as Docker's do, rather than when the monitor's exit command gets to it.
 */
async function settleExit(engine: Engine, id: string): Promise<void> {
  const rec = readRecord(engine.root, id);
  if (rec) await engine.reconcile(rec);
}

export async function restartContainer(engine: Engine, ref: string, opts: StopOptions): Promise<void> {
  try {
    await stopContainer(engine, ref, opts);
    crashPoint("restart:after-stop");
    await engine.start(ref);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new TsrunError(e instanceof TsrunError ? e.kind : "system", `Cannot restart container ${ref}: ${msg}`, { cause: e });
  }
}

/** The signal as a stop on purpose; a frozen container is thawed so that it acts on it. */
async function signalOnPurpose(engine: Engine, id: string, signo: number, paused: boolean, killAfterMs?: number): Promise<void> {
  const runtime = await engine.runtime();
  if (!(await stopOnPurpose(runtime, id, signo, killAfterMs))) await runtime.kill(id, signo).catch(() => undefined);
  if (paused) await runtime.resume(id).catch(() => undefined);
}

/** Ends a restart back-off: the monitor then exits without restarting (its exit command settles the rest). */
async function cancelRestart(engine: Engine, id: string): Promise<void> {
  const runtime = await engine.runtime();
  await stopOnPurpose(runtime, id, 0);
}

/**
 * Waits until the container's process has exited and its exit is recorded (or its monitor
 * is gone). True when it did within `ms`.
 */
export async function waitForExit(engine: Engine, id: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 2; ; delay = Math.min(delay * 2, 25)) {
    const rec = readRecord(engine.root, id);
    if (!rec) return true;
    const { rt, status } = await engine.observe(rec);
    if (!rt || (rt.status === "stopped" && (rt.exit !== undefined || !rt.monitorAlive)) || status.Status === "created") return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
  }
}

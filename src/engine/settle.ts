/**
 * Settling a container whose runtime part is over: its exit (or its monitor's death) is
 * folded into the record and the runtime's state freed; then an exited `--rm` container is
 * removed, or one whose restart policy applies is started again. Whoever notices first does
 * it — the foreground client, the monitor's exit or restart command, or any later command —
 * always under the container's lock, so it happens once. Idempotent.
 */
import { logger } from "../common/index.js";
import { crashPoint } from "../common/crash-points.js";
import type { ExitStatus } from "../runtime/index.js";
import type { Engine } from "./engine.js";
import { launch } from "./launch.js";
import { releaseNetworks } from "./network-wiring.js";
import { ZERO_TIME, writeRecord, type ContainerRecord } from "./record.js";
import { FIRST_DELAY_MS, nextDelay, shouldRestart, waitedDelay } from "./restart-policy.js";
import { MONITOR_DIED, monitorDied } from "./status.js";

const log = logger("engine");

export interface SettleOptions {
  /**
   * Take the runtime state apart even while the monitor lives (it may still be handing the
   * last output to a client): only the foreground client and the monitor's own commands.
   */
  force?: boolean;
  /** The monitor waited out the restart back-off and asks for the restart. */
  restartHook?: boolean;
}

/** Call under the container's lock. Returns the record, or undefined when it was removed. */
export async function settle(engine: Engine, rec: ContainerRecord, opts: SettleOptions = {}): Promise<ContainerRecord | undefined> {
  const { rt } = await engine.observe(rec);
  if (!rt || rt.status !== "stopped") return rec;
  // PID 1 is gone: its addresses and host ports are free now, even while the monitor lingers.
  await releaseNetworks(engine, rec);
  const restartDue =
    rt.exit !== undefined &&
    shouldRestart(rec.HostConfig.RestartPolicy, {
      exitCode: rt.exit.exitCode,
      restartCount: rec.RestartCount,
      cancelled: rec.Tsrun.restartCancelled === true,
      manuallyStopped: rec.Tsrun.manuallyStopped === true,
    });
  if (rt.monitorAlive) {
    if (!opts.force) return rec;
    // The monitor waits out the back-off, then runs the restart hook: not ours to cut short.
    if (restartDue && !opts.restartHook) return rec;
  }
  const died = monitorDied(rt);
  if (died) {
    rec.State = {
      ...rec.State,
      Status: "exited",
      ExitCode: 255,
      Error: MONITOR_DIED,
      StartedAt: rt.startedAt ?? rec.State.StartedAt,
      FinishedAt: new Date().toISOString(),
    };
    log.withId(rec.Id)("monitor died: repairing");
  } else if (rt.exit || rt.startedAt) {
    recordExit(rec, rt.exit, rt.startedAt);
  }
  const ran = died || rt.exit !== undefined || rt.startedAt !== undefined;
  writeRecord(engine.root, rec);
  crashPoint("settle:after-record");
  if (rec.HostConfig.AutoRemove && ran) {
    // --rm takes the anonymous volumes along (Docker's autoremove), never named ones.
    await engine.destroy(rec, { volumes: true, onVolumeError: (e) => log.withId(rec.Id)(`removing volumes: ${e.message}`) });
    return undefined;
  }
  // Kills whatever is left in the container's cgroup (a monitor that died left it unsupervised).
  await (await engine.runtime()).delete(rec.Id, { force: true });
  crashPoint("settle:after-delete");
  if (restartDue && !died) await restartByPolicy(engine, rec, rt.exit!);
  return rec;
}

/** The policy's restart: one more in RestartCount, the next back-off planned, a new monitor. */
async function restartByPolicy(engine: Engine, rec: ContainerRecord, exit: ExitStatus): Promise<void> {
  const up = Date.parse(exit.finishedAt) - Date.parse(exit.startedAt ?? rec.State.StartedAt);
  const waited = waitedDelay(rec.Tsrun.restartDelayMs ?? FIRST_DELAY_MS, Number.isFinite(up) ? up : 0);
  rec.RestartCount += 1;
  rec.Tsrun.restartDelayMs = nextDelay(waited);
  writeRecord(engine.root, rec);
  log.withId(rec.Id)(`restart ${rec.RestartCount} (${rec.HostConfig.RestartPolicy.Name}), next back-off ${rec.Tsrun.restartDelayMs} ms`);
  try {
    await launch(engine, rec);
  } catch (e) {
    // launch() recorded the error in State.Error; the container stays exited, as Docker's does.
    log.withId(rec.Id)(`restart failed: ${(e as Error).message}`);
  }
}

export function recordExit(rec: ContainerRecord, exit: ExitStatus | undefined, startedAt: string | undefined): void {
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

/**
 * A container's state as Docker reports it (inspect's State, ps's STATUS column), merged
 * from the engine's record and the runtime's live view.
 */
import type { RuntimeState } from "../runtime/index.js";
import type { ContainerRecord } from "./record.js";

export type DockerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface ContainerStatus {
  Status: DockerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

/** State.Error of a container whose monitor died without recording an exit. */
export const MONITOR_DIED = "the container's monitor died without recording its exit; the container was killed";

/**
 * A container that ran (its command was executed) and whose monitor is gone without an exit
 * record. (A start that crashed before its monitor reported, or a monitor that died before
 * START, ran nothing: the container keeps its recorded state.)
 */
export function monitorDied(rt: RuntimeState): boolean {
  return rt.status === "stopped" && rt.monitorPid !== undefined && !rt.monitorAlive && !rt.exit && rt.startedAt !== undefined;
}

/**
 * The live state: the record's, overlaid with the runtime's view while a runtime state
 * exists. `restartDue` is when a container waiting out its restart back-off restarts (the
 * monitor's `restarting` record), if it is.
 */
export function liveStatus(rec: ContainerRecord, rt: RuntimeState | undefined, restartDue?: string): ContainerStatus {
  const s = rec.State;
  const base: ContainerStatus = {
    Status: s.Status,
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: s.OOMKilled,
    Dead: s.Status === "dead",
    Pid: 0,
    ExitCode: s.ExitCode,
    Error: s.Error,
    StartedAt: s.StartedAt,
    FinishedAt: s.FinishedAt,
  };
  if (s.Status === "removing" || !rt) return base;
  switch (rt.status) {
    case "created":
    case "creating":
      return base;
    case "running":
    case "paused":
      return {
        ...base,
        Status: rt.status,
        Running: true,
        Paused: rt.status === "paused",
        Pid: rt.pid ?? 0,
        ExitCode: 0,
        Error: "",
        StartedAt: rt.startedAt ?? base.StartedAt,
      };
    case "stopped": {
      if (monitorDied(rt)) {
        // Nothing recorded the exit, and nothing supervises what may be left of it.
        return {
          ...base,
          Status: "exited",
          ExitCode: 255,
          Error: MONITOR_DIED,
          StartedAt: rt.startedAt ?? base.StartedAt,
          FinishedAt: new Date().toISOString(),
        };
      }
      if (!rt.exit && rt.monitorAlive && rt.startedAt) {
        // PID 1 is gone but its monitor is still draining the output before it records
        // the exit: Docker shows the container running until the exit is known.
        return { ...base, Status: "running", Running: true, ExitCode: 0, Error: "", StartedAt: rt.startedAt };
      }
      const exited: ContainerStatus = {
        ...base,
        Status: "exited",
        ExitCode: rt.exit?.exitCode ?? base.ExitCode,
        OOMKilled: rt.exit?.oomKilled ?? base.OOMKilled,
        StartedAt: rt.exit?.startedAt ?? rt.startedAt ?? base.StartedAt,
        FinishedAt: rt.exit?.finishedAt ?? base.FinishedAt,
      };
      // Docker counts a restarting container as running (stop, rm and kill treat it so).
      if (restartDue && rt.exit) return { ...exited, Status: "restarting", Running: true, Restarting: true };
      return exited;
    }
  }
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;

/** Docker's human durations ("Less than a second", "3 seconds", "About a minute", "2 hours"). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return plural(Math.floor(h / 24 / 365), "year");
}

/** The STATUS column of `ps`: "Created", "Up 3 seconds", "Up 5 seconds (Paused)", "Exited (0) 2 seconds ago". */
export function statusText(st: ContainerStatus, now = Date.now()): string {
  switch (st.Status) {
    case "created":
      return "Created";
    case "running":
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))}`;
    case "paused":
      return `Up ${humanDuration(now - Date.parse(st.StartedAt))} (Paused)`;
    case "restarting":
      return `Restarting (${st.ExitCode}) ${humanDuration(now - Date.parse(st.FinishedAt))} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "exited":
      return `Exited (${st.ExitCode}) ${humanDuration(now - Date.parse(st.FinishedAt))} ago`;
  }
}

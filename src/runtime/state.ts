import path from "node:path";
import { readJsonIfExists, writeJsonAtomic } from "../common/fsutil.js";
import type { ExitStatus } from "./monitor-client.js";
import type { ProcessIdentity } from "../linux/process-identity.js";

/** OCI status, as `runc state` reports it. */
export type RuntimeStatus = "creating" | "created" | "running" | "paused" | "stopped";

/** The OCI state of a container plus what tsrun knows of its life. */
export interface RuntimeState {
  ociVersion: string;
  id: string;
  status: RuntimeStatus;
  /** The container's first process on the host, while it is created, running or paused. */
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
  /** RFC 3339 times. */
  created?: string;
  startedAt?: string;
  finishedAt?: string;
  exit?: ExitStatus;
  monitorPid?: number;
  /** The monitor still runs (after an exit it may still be delivering output to its clients). */
  monitorAlive: boolean;
  /** Protocol version of the container's monitor. */
  protocol?: number;
}

/** state.json: what the runtime recorded; the status is derived from it and from the live system. */
export interface StateRecord {
  ociVersion: string;
  id: string;
  bundle: string;
  annotations?: Record<string, string>;
  /** "creating" until the monitor reported the init set up; crash repair keys on it. */
  phase: "creating" | "created";
  created: string;
  /** Written before the cgroups are made, so a crash in create can still be repaired. */
  cgroupPath: string;
  /** The process creating the container: while it lives, a "creating" record is not broken. */
  creator?: ProcessIdentity;
  init?: ProcessIdentity;
  monitor?: ProcessIdentity;
  protocol?: number;
}

export const STATE_FILE = "state.json";
export const LOCK_FILE = "lock";

export const readStateRecord = (stateDir: string) => readJsonIfExists<StateRecord>(path.join(stateDir, STATE_FILE));
/** Runtime state lives as long as the container's processes, which a power loss ends too: no fsync. */
export const writeStateRecord = (stateDir: string, rec: StateRecord) =>
  writeJsonAtomic(path.join(stateDir, STATE_FILE), rec, { durable: false });

/** What is observed of a container at one moment. */
export interface Observation {
  record: StateRecord | undefined;
  exit: ExitStatus | undefined;
  /** A create is in progress: the process creating it lives (when the phase is "creating"). */
  locked: boolean;
  initAlive: boolean;
  monitorAlive: boolean;
  /** When the init ran execve (the monitor's `started` record), if it has. */
  startedAt: string | undefined;
  frozen: boolean;
}

/**
 * The status from the records and the live system. A container whose creator died mid-way,
 * whose monitor died, or whose init is gone is "stopped": it cannot run on unsupervised,
 * and delete repairs it.
 */
export function deriveStatus(o: Observation): RuntimeStatus {
  if (!o.record || o.record.phase === "creating") return o.locked ? "creating" : "stopped";
  if (o.exit || !o.initAlive || !o.monitorAlive) return "stopped";
  if (o.frozen) return "paused";
  return o.startedAt ? "running" : "created";
}

/** The OCI state for a derived status. */
export function toRuntimeState(id: string, bundle: string, status: RuntimeStatus, o: Observation): RuntimeState {
  const rec = o.record;
  const startedAt = o.exit?.startedAt || o.startedAt;
  const live = status === "created" || status === "running" || status === "paused";
  return {
    ociVersion: rec?.ociVersion ?? "1.2.0",
    id,
    status,
    ...(live && rec?.init ? { pid: rec.init.pid } : {}),
    bundle: rec?.bundle ?? bundle,
    ...(rec?.annotations ? { annotations: rec.annotations } : {}),
    ...(rec?.created ? { created: rec.created } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(o.exit ? { finishedAt: o.exit.finishedAt, exit: o.exit } : {}),
    ...(rec?.monitor ? { monitorPid: rec.monitor.pid } : {}),
    monitorAlive: o.monitorAlive,
    ...(rec?.protocol !== undefined ? { protocol: rec.protocol } : {}),
  };
}

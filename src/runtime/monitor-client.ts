/**
 * The TypeScript side of the monitor: launching it, and talking to it over its socket.
 * Protocol and constants: native/protocol.def (the one source), documented in
 * docs/ARCHITECTURE.md#monitor-protocol.
 *
 * CONTRACT (implemented by the native work; callers code against these signatures).
 */

/** A failure reported by the monitor or the init: which step, the errno, and the path involved. */
export interface InitFailure {
  /** Step name from native/protocol.def, e.g. "mount", "pivot_root", "exec-lookup", "exec". */
  step: string;
  errno: number;
  path: string;
  detail?: string;
}

export interface Launched {
  /** The container's first process, in the host's pid namespace. */
  pid: number;
  /** Its start time (field 22 of /proc/PID/stat), so a reused pid is never mistaken for it. */
  pidStartTime: number;
  monitorPid: number;
  monitorStartTime: number;
  /** Protocol version the monitor speaks; recorded with the container. */
  protocol: number;
}

export interface ExitStatus {
  /** Docker's exit code: the status, or 128+n for death by signal n. */
  exitCode: number;
  signal?: number;
  oomKilled: boolean;
  startedAt?: string;
  finishedAt: string;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** This client removes the container after exit; the monitor skips its exit command unless it disconnects first. */
  cleanupOwner?: boolean;
}

export interface MonitorHello {
  protocol: number;
  pid: number;
  state: "created" | "running" | "exited";
  exit?: ExitStatus;
}

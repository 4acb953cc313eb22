/**
 * The plan: everything the native monitor and init need to start one container, flat and
 * already validated. TypeScript decides; C carries out, in order, and reports the step
 * that failed. Nothing here is interpreted again in C beyond what each field says.
 *
 * Produced by planner.ts from an OCI spec; encoded by plan-codec.ts into the binary form
 * native/ reads (see native/protocol.def).
 */

export type NamespaceKind = "user" | "mnt" | "pid" | "uts" | "ipc" | "net" | "cgroup";

export interface IdMapEntry {
  inside: number;
  outside: number;
  count: number;
}

/** How the container's root filesystem is assembled before pivot_root. */
export type RootfsPlan =
  | {
      kind: "overlay";
      /** Layer directories (each the content of one layer), top-most first. */
      lowers: string[];
      /** Directory holding `upper/` and `work/` (cloned as one mount, so both share it). */
      upperParent: string;
      /** Clone layers and upper parent as idmapped mounts with the container's user namespace. */
      idmap: boolean;
      readonly: boolean;
    }
  | {
      /** An existing directory (an OCI bundle's rootfs), bind-mounted onto itself. */
      kind: "dir";
      path: string;
      readonly: boolean;
    };

/**
 * One mount inside the container, in order. Targets are absolute paths inside the container
 * and are resolved inside its root (never through a symlink out of it); missing targets are
 * created (a directory, or an empty file when the source is not a directory).
 */
export interface MountPlan {
  /**
   * "fs": a fresh filesystem (proc, sysfs, tmpfs, devpts, mqueue, cgroup, cgroup2…), mounted
   *        by the init. `source` is the fs's source name.
   * "bind": a bind of a host path `source`; recursive unless flags say otherwise. With
   *        `idmap`, the monitor makes an idmapped clone with the container's user namespace.
   */
  kind: "fs" | "bind";
  source: string;
  target: string;
  fstype: string;
  /** MS_* flags (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_BIND…). */
  flags: number;
  /** Propagation to apply after mounting (MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE, with MS_REC), or 0. */
  propagation: number;
  /** fs-specific data ("mode=755,size=65536k"). */
  data: string;
  idmap: boolean;
  /**
   * A bind whose source is a path in another mount namespace (this file, `/proc/<pid>/ns/mnt`),
   * e.g. a joined IPC namespace's /dev/shm: the kernel clones only mounts of the caller's
   * namespace, so the monitor enters that one for the clone.
   */
  sourceNs?: string;
}

export interface Capabilities {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

export interface Rlimit {
  /** RLIMIT_* number. */
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface ProcessPlan {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Allocate a pty in the container's devpts; its master goes to the monitor. */
  terminal: boolean;
  consoleSize?: { rows: number; cols: number };
  capabilities: Capabilities;
  noNewPrivileges: boolean;
  rlimits: Rlimit[];
  oomScoreAdj?: number;
  /** umask, or undefined to keep 0022. */
  umask?: number;
}

/**
 * Docker's `--restart` policy, carried out by the monitor: when PID 1 exits and the policy
 * applies (and the container was not stopped on purpose), the monitor waits `delayMs` — or
 * 100 ms when the container had been up 10 s or more — and then runs `command` instead of
 * the exit command. "no" is the absence of a RestartPlan.
 */
export interface RestartPlan {
  policy: "on-failure" | "always" | "unless-stopped";
  /** on-failure only: restarts allowed in all (0 = unlimited). */
  maxRetries: number;
  /** Restarts so far (on-failure stops restarting once it reaches maxRetries). */
  retryCount: number;
  /** The back-off to wait before this restart (the engine's doubling of Docker's 100 ms, up to 1 min). */
  delayMs: number;
  /** The tsrun subcommand that rebuilds the container (run detached, like the exit command). */
  command: string[];
}

export interface MonitorPlan {
  /** The runtime state directory: the monitor chdirs here and keeps its socket and records here. */
  stateDir: string;
  /** Keep a stdin pipe open for attach clients (docker -i); else stdin is /dev/null. */
  stdin: boolean;
  /** json-file log to append the container's output to, or undefined for none. */
  logPath?: string;
  /** Run after the container exits unless a cleanup-owner client is attached (conmon --exit-command). */
  exitCommand?: string[];
  /** cgroup.procs files the monitor writes its own pid into at start (keeps it out of the caller's cgroup). */
  ownCgroupProcs: string[];
  /** memory cgroup file to read the OOM-kill count from (v1 memory.oom_control, v2 memory.events), if any. */
  oomEventsFile?: string;
  /** The restart policy; absent for "no". */
  restart?: RestartPlan;
}

export interface Plan {
  containerId: string;
  /** Namespaces to create, in the order the init needs them (user first). */
  newNamespaces: NamespaceKind[];
  /** Existing namespaces to join (setns) before creating the new ones, e.g. --ipc container:X. */
  joinNamespaces: { kind: NamespaceKind; path: string }[];
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  /** cgroup.procs files (one per hierarchy) the init pid is written into before it goes on. */
  cgroupProcs: string[];
  rootfs: RootfsPlan;
  /** Propagation of the container's root mount after setup (MS_PRIVATE|MS_REC by default). */
  rootPropagation: number;
  mounts: MountPlan[];
  /** Host device nodes bound onto the same path inside /dev (never created or chowned). */
  devices: { hostPath: string; target: string }[];
  symlinks: { target: string; linkPath: string }[];
  maskedPaths: string[];
  readonlyPaths: string[];
  hostname?: string;
  domainname?: string;
  /** Written to /proc/sys/<key with dots as slashes> inside the container. */
  sysctls: { key: string; value: string }[];
  process: ProcessPlan;
  monitor: MonitorPlan;
}

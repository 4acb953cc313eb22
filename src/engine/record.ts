/**
 * The engine's record of one container (containers/<id>/container.json): what Docker's
 * inspect shows as Config and HostConfig, plus the last state the engine knows. Live state
 * (running, paused, pid) comes from the runtime; the record keeps what outlives it (exit
 * code, times, errors).
 */
import fs from "node:fs";
import path from "node:path";
import { StateRoot, errnoCode, readJsonIfExists, writeJsonAtomic } from "../common/index.js";
import type { IdRange } from "./idpool.js";
import type { ResourceHostConfig } from "./limits.js";
import type { RestartPolicy } from "./restart-policy.js";
import type { MountPoint, MountSpec } from "./volumes/index.js";
import type { PortMap } from "../network/index.js";
import type { ContainerNetConfig } from "./network-config.js";

export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
}

export interface HostConfig extends Partial<ResourceHostConfig> {
  AutoRemove: boolean;
  NetworkMode: string;
  RestartPolicy: RestartPolicy;
  /** "" (own namespace), "host" or "container:<name|id>" as given. */
  PidMode?: string;
  /** "private", "shareable", "host" or "container:<name|id>" as given. */
  IpcMode?: string;
  /** --init: null when not given (Docker's inspect). */
  Init?: boolean | null;
  ShmSize: number;
  ExtraHosts: string[] | null;
  UsernsMode: string;
  LogConfig: { Type: string; Config: Record<string, string> };
  /** `-v` values that name a source (Docker's Binds); null when none. */
  Binds?: string[] | null;
  /** `--volumes-from` values as given; null when none. */
  VolumesFrom?: string[] | null;
  /** `--tmpfs`: destination → options. */
  Tmpfs?: Record<string, string>;
  /** `--mount` values as Docker's API mount objects. */
  Mounts?: MountSpec[];
  /** `-p` as Docker's PortMap ("80/tcp" → [{HostIp, HostPort}]); {} when none. */
  PortBindings?: PortMap;
  /** `-P`: every exposed port gets a free host port. */
  PublishAllPorts?: boolean;
  /** --dns, --dns-option, --dns-search as given. */
  Dns?: string[];
  DnsOptions?: string[];
  DnsSearch?: string[];
}

export type PersistedStatus = "created" | "exited" | "dead" | "removing";

export interface PersistedState {
  Status: PersistedStatus;
  ExitCode: number;
  Error: string;
  OOMKilled: boolean;
  StartedAt: string;
  FinishedAt: string;
}

export interface ContainerRecord {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  Image: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  State: PersistedState;
  RestartCount: number;
  /**
   * Docker's mount points (volumes, binds, tmpfs): what inspect shows, what makes a volume
   * in use (src/engine/volumes/refs.ts), what `--volumes-from` copies and `rm -v` removes.
   * Absent in records written before volumes existed.
   */
  Mounts?: MountPoint[];
  /** tsrun's own bookkeeping, not part of Docker's inspect output. */
  Tsrun: {
    /** The user-namespace range (also in bundle/config.json); absent with --userns=host. */
    idRange?: IdRange;
    /** Unpacked layer dirs of the image, top-most first. */
    layers: string[];
    /** Monitor protocol version the container was last started with. */
    monitorProtocol?: number;
    /**
     * Stopped or killed by hand since its last start (Docker's HasBeenManuallyStopped):
     * unless-stopped then does not restart it. Cleared by start.
     */
    manuallyStopped?: boolean;
    /**
     * Stopped on purpose (stop; kill with SIGKILL or the stop signal) since its last start:
     * no policy restarts it (Docker's ExitOnNext). Cleared by start.
     */
    restartCancelled?: boolean;
    /** The restart back-off planned for the next exit (ms); see restart-policy.ts. */
    restartDelayMs?: number;
    /** The networks to attach at each start (network-config.ts); absent in records older than networking. */
    net?: ContainerNetConfig;
  };
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";

export function emptyState(): PersistedState {
  return { Status: "created", ExitCode: 0, Error: "", OOMKilled: false, StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME };
}

/** The files of one container directory. */
export class ContainerFiles {
  readonly dir: string;
  constructor(root: StateRoot, readonly id: string) {
    this.dir = root.container(id);
  }
  get record(): string {
    return path.join(this.dir, "container.json");
  }
  get bundle(): string {
    return path.join(this.dir, "bundle");
  }
  /** Holds upper/ and work/: cloned as one (idmapped) mount, so both live on it. */
  get fs(): string {
    return path.join(this.dir, "fs");
  }
  get etc(): string {
    return path.join(this.dir, "etc");
  }
  get log(): string {
    return path.join(this.dir, `${this.id}-json.log`);
  }
}

export function readRecord(root: StateRoot, id: string): ContainerRecord | undefined {
  return readJsonIfExists<ContainerRecord>(new ContainerFiles(root, id).record);
}

export function writeRecord(root: StateRoot, rec: ContainerRecord): void {
  writeJsonAtomic(new ContainerFiles(root, rec.Id).record, rec, 0o600);
}

/** Ids of every container directory of the root. */
export function listIds(root: StateRoot): string[] {
  try {
    return fs.readdirSync(root.containers).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return [];
    throw e;
  }
}

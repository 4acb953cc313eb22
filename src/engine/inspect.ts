/**
 * Docker's inspect documents for containers and images: the field names, order, defaults
 * and shapes of Docker's API (types.ContainerJSON, types.ImageInspect), filled from tsrun's
 * records. Fields tsrun has no notion of yet carry Docker's defaults; what the record holds
 * (HostConfig, Config, NetworkSettings) overrides them, so later features only need to
 * record their fields.
 */
import path from "node:path";
import { isTsrunError, notFound, readJsonIfExists } from "../common/index.js";
import type { Image } from "../image/index.js";
import type { Spec } from "../runtime/spec.js";
import type { Engine } from "./engine.js";
import { NO_LIMITS } from "./limits.js";
import { networkSettings } from "./network-settings.js";
import { ContainerFiles, ZERO_TIME, type ContainerRecord } from "./record.js";
import type { ContainerStatus } from "./status.js";
import { inspectMounts } from "./volumes/index.js";

export type InspectDocument = Record<string, unknown>;

/** Which kind of object a name was found as. */
export type InspectType = "container" | "image";

/** A container's inspect document ("No such container: X" when there is none). */
export async function inspectContainer(engine: Engine, ref: string): Promise<InspectDocument> {
  const rec = engine.resolve(ref);
  const st = await engine.status(rec);
  return containerDocument(engine, rec, st, await networkSettings(engine, rec, st));
}

/** An image's inspect document ("No such image: X" when there is none). */
export async function inspectImage(engine: Engine, ref: string): Promise<InspectDocument> {
  const store = await engine.images();
  const image = store.find(ref);
  if (!image) throw notFound(`No such image: ${ref}`);
  return imageDocument(engine, image);
}

/**
 * The object a name stands for, as `docker inspect` without --type looks for it: a
 * container, else an image. "No such object: X" when it is neither.
 */
export async function inspectAny(engine: Engine, ref: string, type?: InspectType): Promise<{ type: InspectType; doc: InspectDocument }> {
  if (type !== "image") {
    try {
      return { type: "container", doc: await inspectContainer(engine, ref) };
    } catch (e) {
      if (type === "container" || !isTsrunError(e, "not-found")) throw e;
    }
  }
  try {
    return { type: "image", doc: await inspectImage(engine, ref) };
  } catch (e) {
    if (type === "image") throw e;
    // A name that cannot even be an image reference is simply not an image.
    if (!isTsrunError(e, "not-found") && !isTsrunError(e, "invalid-argument")) throw e;
  }
  throw notFound(`No such object: ${ref}`);
}

/** `network`: the container's NetworkSettings (network-settings.ts). */
export function containerDocument(engine: Engine, rec: ContainerRecord, st: ContainerStatus, network: InspectDocument): InspectDocument {
  const cf = new ContainerFiles(engine.root, rec.Id);
  const spec = readJsonIfExists<Spec>(path.join(cf.bundle, "config.json"));
  const running = st.Running && st.Pid > 0;
  const recorded = rec as unknown as { ExecIDs?: string[] | null };
  return {
    Id: rec.Id,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: {
      Status: st.Status,
      Running: st.Running,
      Paused: st.Paused,
      Restarting: st.Restarting,
      OOMKilled: st.OOMKilled,
      Dead: st.Dead,
      Pid: st.Pid,
      ExitCode: st.ExitCode,
      Error: st.Error,
      StartedAt: st.StartedAt,
      FinishedAt: st.FinishedAt,
    },
    Image: rec.Image,
    ResolvConfPath: path.join(cf.etc, "resolv.conf"),
    HostnamePath: path.join(cf.etc, "hostname"),
    HostsPath: path.join(cf.etc, "hosts"),
    LogPath: rec.HostConfig.LogConfig?.Type === "none" ? "" : cf.log,
    Name: rec.Name,
    RestartCount: rec.RestartCount,
    Driver: "overlay2",
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: recorded.ExecIDs ?? null,
    HostConfig: hostConfig(rec, spec),
    GraphDriver: {
      Data: sortKeys({
        LowerDir: rec.Tsrun.layers.join(":"),
        // The rootfs is mounted inside the container only: its merged view on the host is
        // the running process's root.
        ...(running ? { MergedDir: `/proc/${st.Pid}/root` } : {}),
        UpperDir: path.join(cf.fs, "upper"),
        WorkDir: path.join(cf.fs, "work"),
      }),
      Name: "overlay2",
    },
    Mounts: inspectMounts(rec.Mounts ?? []),
    Config: containerConfig(rec),
    NetworkSettings: network,
  };
}

/** Config fields that are Go maps (encoded with sorted keys); the others are structs or lists. */
const CONFIG_MAPS = new Set(["ExposedPorts", "Volumes", "Labels"]);
const HOST_CONFIG_MAPS = new Set(["PortBindings", "Sysctls", "StorageOpt", "Tmpfs", "Annotations"]);

/** Config in Docker's field order (omitempty fields only when set). */
function containerConfig(rec: ContainerRecord): InspectDocument {
  const c = rec.Config as unknown as Record<string, unknown>;
  const ordered: InspectDocument = {};
  const order: [string, unknown, boolean][] = [
    ["Hostname", "", false],
    ["Domainname", "", false],
    ["User", "", false],
    ["AttachStdin", false, false],
    ["AttachStdout", false, false],
    ["AttachStderr", false, false],
    ["ExposedPorts", undefined, true],
    ["Tty", false, false],
    ["OpenStdin", false, false],
    ["StdinOnce", false, false],
    ["Env", null, false],
    ["Cmd", null, false],
    ["Healthcheck", undefined, true],
    ["ArgsEscaped", undefined, true],
    ["Image", "", false],
    ["Volumes", null, false],
    ["WorkingDir", "", false],
    ["Entrypoint", null, false],
    ["NetworkDisabled", undefined, true],
    ["MacAddress", undefined, true],
    ["OnBuild", null, false],
    ["Labels", {}, false],
    ["StopSignal", undefined, true],
    ["StopTimeout", undefined, true],
    ["Shell", undefined, true],
  ];
  for (const [key, dflt, omitEmpty] of order) {
    const v = key in c ? c[key] : dflt;
    if (omitEmpty && (v === undefined || v === null || v === "")) continue;
    ordered[key] = CONFIG_MAPS.has(key) && isPlainMap(v) ? sortKeys(v) : v;
  }
  for (const [k, v] of Object.entries(c)) if (!(k in ordered) && !order.some(([o]) => o === k)) ordered[k] = v;
  return ordered;
}

/** Docker's HostConfig with its defaults, overlaid by what the record holds. */
function hostConfig(rec: ContainerRecord, spec: Spec | undefined): InspectDocument {
  const defaults: InspectDocument = {
    Binds: null,
    ContainerIDFile: "",
    LogConfig: { Type: "json-file", Config: {} },
    NetworkMode: "none",
    PortBindings: {},
    RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: "",
    VolumesFrom: null,
    ConsoleSize: [0, 0],
    CapAdd: null,
    CapDrop: null,
    // tsrun gives every container its own cgroup namespace.
    CgroupnsMode: "private",
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: "private",
    Cgroup: "",
    Links: null,
    OomScoreAdj: 0,
    PidMode: "",
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: spec?.root?.readonly ?? false,
    SecurityOpt: null,
    // Placeholders keep Go's field order; left out (omitempty) unless the record sets them.
    Tmpfs: undefined,
    UTSMode: "",
    UsernsMode: "",
    ShmSize: 67108864,
    Runtime: "tsrun",
    Isolation: "",
    CpuShares: NO_LIMITS.CpuShares,
    Memory: NO_LIMITS.Memory,
    NanoCpus: NO_LIMITS.NanoCpus,
    CgroupParent: "",
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: NO_LIMITS.CpusetCpus,
    CpusetMems: "",
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemoryReservation: NO_LIMITS.MemoryReservation,
    MemorySwap: NO_LIMITS.MemorySwap,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: NO_LIMITS.PidsLimit,
    Ulimits: null,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    Mounts: undefined,
    MaskedPaths: spec?.linux?.maskedPaths ?? [],
    ReadonlyPaths: spec?.linux?.readonlyPaths ?? [],
  };
  const out: InspectDocument = { ...defaults };
  for (const [k, v] of Object.entries(rec.HostConfig)) {
    // Docker leaves Init out unless it was set.
    if (k === "Init" && (v === null || v === undefined)) continue;
    if (v !== undefined) out[k] = HOST_CONFIG_MAPS.has(k) && isPlainMap(v) ? sortKeys(v) : v;
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  if (isPlainMap(out.LogConfig)) out.LogConfig = { ...out.LogConfig, Config: sortKeys((out.LogConfig.Config as InspectDocument) ?? {}) };
  return out;
}

export function imageDocument(engine: Engine, image: Image): InspectDocument {
  const cfg = image.config;
  const c = cfg.config ?? {};
  const diffDirs = image.diffIds.map((d) => path.join(engine.root.layer(d.replace(/^sha256:/, "")), "diff")).reverse();
  const [upper, ...lower] = diffDirs;
  return {
    Id: image.id,
    RepoTags: image.repoTags,
    // Digests come with pull (a loaded image has no registry digest, as in Docker).
    RepoDigests: [],
    Parent: "",
    Comment: (cfg.comment as string | undefined) ?? lastHistoryComment(image),
    Created: cfg.created ?? ZERO_TIME,
    DockerVersion: (cfg.docker_version as string | undefined) ?? "",
    Author: cfg.author ?? "",
    Config: {
      Hostname: "",
      Domainname: "",
      User: c.User ?? "",
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(c.ExposedPorts ? { ExposedPorts: sortKeys(c.ExposedPorts as InspectDocument) } : {}),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
      ...(c.ArgsEscaped ? { ArgsEscaped: true } : {}),
      Image: "",
      Volumes: c.Volumes ? sortKeys(c.Volumes as InspectDocument) : null,
      WorkingDir: c.WorkingDir ?? "",
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ? sortKeys(c.Labels) : null,
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
      ...(c.Shell ? { Shell: c.Shell } : {}),
    },
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: image.size,
    GraphDriver: {
      Data: sortKeys({
        ...(lower.length > 0 ? { LowerDir: lower.join(":") } : {}),
        UpperDir: upper ?? "",
      }),
      Name: "overlay2",
    },
    RootFS: { Type: "layers", Layers: image.diffIds },
    Metadata: { LastTagTime: ZERO_TIME },
  };
}

function lastHistoryComment(image: Image): string {
  const h = image.config.history ?? [];
  return h.length > 0 ? (h[h.length - 1]!.comment ?? "") : "";
}

function isPlainMap(v: unknown): v is InspectDocument {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Go encodes maps with their keys sorted. */
function sortKeys<T extends object>(m: T): T {
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T;
}

/** Docker's JSON: Go's encoder escapes <, >, & and U+2028/2029 in strings. */
export function dockerJson(v: unknown, indent = 4): string {
  return JSON.stringify(v, null, indent).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

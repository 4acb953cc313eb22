import path from "node:path";
import type { CgroupPlacement } from "../cgroups/driver.js";
import { invalidArgument } from "../common/errors.js";
import { logger } from "../common/log.js";
import { capabilityMask } from "./capabilities.js";
import { expandCgroupMount } from "./cgroup-mount.js";
import { realHostProbe, type HostProbe } from "./host-probe.js";
import { adaptIdmappedBinds } from "./idmap-binds.js";
import { MS, PROPAGATION_OPTIONS, parseMountOptions } from "./mount-options.js";
import { planNamespaces } from "./namespaces.js";
import type { MountPlan, NamespaceKind, Plan, ProcessPlan, RestartPlan, RootfsPlan } from "./plan.js";
import { planRlimit } from "./rlimits.js";
import { ANNOTATION_LAYERS, ANNOTATION_UPPER, type Mount, type Spec } from "./spec.js";

const log = logger("runtime");

export interface PlanContext {
  id: string;
  /** The runtime state directory of the container (monitor socket, plan, records). */
  stateDir: string;
  /** The bundle directory: root.path and relative bind sources are taken from it. */
  bundle: string;
  cgroups: CgroupPlacement;
  stdin: boolean;
  logPath?: string;
  exitCommand?: string[];
  /** The monitor's restart policy, if any. */
  restart?: RestartPlan;
  /** Host lookups (devices, /proc/kcore); the real host unless a test passes a fake. */
  host?: HostProbe;
}

/** Namespaced sysctls (runc's list): which namespace a key needs. */
const IPC_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

/**
 * Validates an OCI spec and turns it into the flat plan the native init carries out.
 * Everything that can be decided in TypeScript is decided here; every rejection is one line
 * naming the field and the value.
 */
export function planFromSpec(spec: Spec, ctx: PlanContext): Plan {
  const host = ctx.host ?? realHostProbe;
  if (typeof spec.ociVersion !== "string" || !/^1\./.test(spec.ociVersion)) {
    throw invalidArgument(`Unsupported ociVersion "${spec.ociVersion}": tsrun reads version 1 specs`);
  }
  if (!path.isAbsolute(ctx.bundle)) throw invalidArgument(`Bundle path "${ctx.bundle}" is not absolute`);
  for (const [stage, hooks] of Object.entries(spec.hooks ?? {})) {
    if (hooks.length > 0) throw invalidArgument(`Hooks are not supported ("${stage}")`);
  }
  if (spec.linux?.seccomp) log.withId(ctx.id)("ignoring linux.seccomp: not supported yet");

  const ns = planNamespaces(spec.linux);
  const has = (kind: NamespaceKind) => ns.newNamespaces.includes(kind) || ns.joinNamespaces.some((j) => j.kind === kind);
  // A joined user namespace (--pid/--ipc container:X) maps ids as a new one does: the rootfs
  // and "idmap" binds are idmapped with it.
  const userns = ns.newNamespaces.includes("user") || ns.joinNamespaces.some((j) => j.kind === "user");

  if ((spec.hostname || spec.domainname) && !ns.newNamespaces.includes("uts")) {
    throw invalidArgument("Cannot set the hostname or domainname without a new UTS namespace");
  }

  const planned = (spec.mounts ?? []).flatMap((m) => planMount(m, ctx, { userns, cgroupns: ns.newNamespaces.includes("cgroup") }));
  // Binds of filesystems the kernel cannot idmap (proc, sysfs, NFS…) go unmapped, split per
  // mount when under a recursive bind. The container's own files (beside its bundle) need no look.
  const ownDir = path.dirname(ctx.bundle) + "/";
  const mounts =
    host.mountinfo && host.realpath
      ? adaptIdmappedBinds(planned, { mountinfo: () => host.mountinfo!(), realpath: (p) => host.realpath!(p) }, (m) => m.source.startsWith(ownDir))
      : planned;
  const devTmpfs = (spec.mounts ?? []).some((m) => clean(m.destination) === "/dev" && m.type === "tmpfs");
  const devBound = mounts.some((m) => m.target === "/dev" && m.kind === "bind");

  return {
    containerId: ctx.id,
    newNamespaces: ns.newNamespaces,
    joinNamespaces: ns.joinNamespaces,
    uidMap: ns.uidMap,
    gidMap: ns.gidMap,
    cgroupProcs: ctx.cgroups.procs,
    rootfs: planRootfs(spec, ctx.bundle, userns),
    rootPropagation: rootPropagation(spec.linux?.rootfsPropagation),
    mounts,
    devices: (spec.linux?.devices ?? []).map((d) => planDevice(d, host)),
    symlinks: devBound ? [] : defaultSymlinks(devTmpfs, host),
    maskedPaths: absolutePaths(spec.linux?.maskedPaths, "linux.maskedPaths"),
    readonlyPaths: absolutePaths(spec.linux?.readonlyPaths, "linux.readonlyPaths"),
    ...(spec.hostname ? { hostname: spec.hostname } : {}),
    ...(spec.domainname ? { domainname: spec.domainname } : {}),
    sysctls: Object.entries(spec.linux?.sysctl ?? {}).map(([key, value]) => planSysctl(key, value, has)),
    process: planProcess(spec),
    monitor: {
      stateDir: ctx.stateDir,
      stdin: ctx.stdin,
      ...(ctx.logPath ? { logPath: ctx.logPath } : {}),
      ...(ctx.exitCommand && ctx.exitCommand.length > 0 ? { exitCommand: ctx.exitCommand } : {}),
      ...(ctx.restart ? { restart: ctx.restart } : {}),
      ownCgroupProcs: ctx.cgroups.monitorProcs,
      ...(ctx.cgroups.oomEventsFile ? { oomEventsFile: ctx.cgroups.oomEventsFile } : {}),
    },
  };
}

function planRootfs(spec: Spec, bundle: string, userns: boolean): RootfsPlan {
  const annotations = spec.annotations ?? {};
  const readonly = spec.root?.readonly === true;
  const layers = annotations[ANNOTATION_LAYERS];
  const upper = annotations[ANNOTATION_UPPER];
  if (layers !== undefined || upper !== undefined) {
    let lowers: unknown;
    try {
      lowers = JSON.parse(layers ?? "");
    } catch {
      throw invalidArgument(`Annotation "${ANNOTATION_LAYERS}" is not a JSON array of layer directories`);
    }
    if (!Array.isArray(lowers) || lowers.length === 0 || !lowers.every((l) => typeof l === "string" && path.isAbsolute(l))) {
      throw invalidArgument(`Annotation "${ANNOTATION_LAYERS}" must be a non-empty JSON array of absolute directories`);
    }
    if (!upper || !path.isAbsolute(upper)) throw invalidArgument(`Annotation "${ANNOTATION_UPPER}" must be an absolute directory`);
    return { kind: "overlay", lowers: lowers as string[], upperParent: upper, idmap: userns, readonly };
  }
  if (!spec.root?.path) throw invalidArgument("root.path is required");
  return { kind: "dir", path: path.resolve(bundle, spec.root.path), readonly };
}

function rootPropagation(value: string | undefined): number {
  if (value === undefined || value === "") return MS.PRIVATE | MS.REC;
  const flags = PROPAGATION_OPTIONS[value];
  if (flags === undefined) throw invalidArgument(`Invalid linux.rootfsPropagation "${value}"`);
  return flags;
}

/**
 * A source under `/proc/<pid>/root/` names a path of that process's mount namespace (a
 * joined container's /dev/shm): planned as that path there, since open_tree cannot clone a
 * mount of another namespace through the magic link.
 */
function inItsNamespace(source: string): { source: string; sourceNs?: string } {
  const m = /^\/proc\/([1-9][0-9]*)\/root(\/.*)?$/.exec(source);
  if (!m) return { source };
  return { source: m[2] ?? "/", sourceNs: `/proc/${m[1]}/ns/mnt` };
}

function planMount(
  m: Mount,
  ctx: PlanContext,
  opts: { userns: boolean; cgroupns: boolean },
): MountPlan[] {
  if (typeof m.destination !== "string" || !path.isAbsolute(m.destination)) {
    throw invalidArgument(`Mount destination "${m.destination}" is not absolute`);
  }
  const target = clean(m.destination);
  const o = parseMountOptions(m.options);
  const bind = m.type === "bind" || o.bind;
  if (m.uidMappings || m.gidMappings) {
    throw invalidArgument(`Cannot mount "${target}": per-mount uidMappings/gidMappings are not supported (use "idmap")`);
  }
  if (o.idmap && !bind) throw invalidArgument(`Cannot mount "${target}": "idmap" needs a bind mount`);
  if (o.idmap && !opts.userns) throw invalidArgument(`Cannot mount "${target}": "idmap" needs a new user namespace`);

  if (bind) {
    if (!m.source) throw invalidArgument(`Bind mount on "${target}" has no source`);
    const source = path.resolve(ctx.bundle, m.source);
    return [
      {
        kind: "bind",
        ...inItsNamespace(source),
        target,
        fstype: "",
        flags: o.flags | MS.BIND,
        propagation: o.propagation,
        data: "",
        idmap: o.idmap,
      },
    ];
  }
  if (!m.type) throw invalidArgument(`Mount on "${target}" has no type`);
  if (m.type === "cgroup" || m.type === "cgroup2") {
    return expandCgroupMount(target, o.flags, o.propagation, ctx.cgroups, opts.cgroupns);
  }
  return [
    { kind: "fs", source: m.source || m.type, target, fstype: m.type, flags: o.flags, propagation: o.propagation, data: o.data, idmap: false },
  ];
}

/**
 * A spec device becomes a bind of the host's node: the user namespace cannot mknod. The
 * node is found at the same path on the host, else by its numbers under /dev/char or
 * /dev/block (`--device /dev/sda:/dev/xvda` names the container's path).
 */
function planDevice(
  d: { path: string; type: string; major: number; minor: number },
  host: HostProbe,
): { hostPath: string; target: string } {
  if (!d.path || !path.isAbsolute(d.path)) throw invalidArgument(`Device path "${d.path}" is not absolute`);
  const type = d.type === "u" ? "c" : d.type;
  if (type !== "c" && type !== "b") throw invalidArgument(`Cannot add device "${d.path}": type "${d.type}" is not supported`);
  const target = clean(d.path);
  const byNumber = `/dev/${type === "c" ? "char" : "block"}/${d.major}:${d.minor}`;
  for (const candidate of [target, byNumber]) {
    const node = host.device(candidate);
    if (node && node.type === type && node.major === d.major && node.minor === d.minor) return { hostPath: candidate, target };
  }
  throw invalidArgument(`Cannot add device "${d.path}": no ${type} ${d.major}:${d.minor} node on the host`);
}

function defaultSymlinks(devTmpfs: boolean, host: HostProbe): { target: string; linkPath: string }[] {
  const links = [
    { target: "/proc/self/fd", linkPath: "/dev/fd" },
    { target: "/proc/self/fd/0", linkPath: "/dev/stdin" },
    { target: "/proc/self/fd/1", linkPath: "/dev/stdout" },
    { target: "/proc/self/fd/2", linkPath: "/dev/stderr" },
  ];
  if (devTmpfs) links.push({ target: "pts/ptmx", linkPath: "/dev/ptmx" });
  if (host.exists("/proc/kcore")) links.push({ target: "/proc/kcore", linkPath: "/dev/core" });
  return links;
}

function planSysctl(key: string, value: string, has: (kind: NamespaceKind) => boolean): { key: string; value: string } {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) {
    throw invalidArgument(`Invalid sysctl "${key}": a key is dotted names without "/" or ".."`);
  }
  if (typeof value !== "string") throw invalidArgument(`Invalid sysctl "${key}": the value must be a string`);
  const needs: NamespaceKind | undefined = key.startsWith("net.")
    ? "net"
    : IPC_SYSCTLS.has(key) || key.startsWith("fs.mqueue.")
      ? "ipc"
      : key === "kernel.hostname" || key === "kernel.domainname"
        ? "uts"
        : undefined;
  if (!needs) throw invalidArgument(`Sysctl "${key}" is not in a separate kernel namespace`);
  if (!has(needs)) throw invalidArgument(`Sysctl "${key}" needs the container's own ${needs} namespace`);
  return { key, value };
}

function planProcess(spec: Spec): ProcessPlan {
  const p = spec.process;
  if (!p) throw invalidArgument("process is required");
  if (!Array.isArray(p.args) || p.args.length === 0 || !p.args.every((a) => typeof a === "string")) {
    throw invalidArgument("process.args must be a non-empty list of strings");
  }
  if (typeof p.cwd !== "string" || !path.isAbsolute(p.cwd)) throw invalidArgument(`process.cwd "${p.cwd}" is not absolute`);
  for (const e of p.env ?? []) {
    if (typeof e !== "string" || e.indexOf("=") <= 0) throw invalidArgument(`Invalid process.env entry "${e}": expected KEY=value`);
  }
  const { uid, gid, umask, additionalGids = [] } = p.user ?? ({} as Partial<NonNullable<typeof p.user>>);
  for (const [name, v] of [["uid", uid], ["gid", gid], ...additionalGids.map((g) => ["additionalGids", g] as const)] as const) {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xfffffffe) throw invalidArgument(`Invalid process.user.${name} "${v}"`);
  }
  if (umask !== undefined && (!Number.isInteger(umask) || umask < 0 || umask > 0o777)) throw invalidArgument(`Invalid process.user.umask "${umask}"`);
  if (p.oomScoreAdj !== undefined && (!Number.isInteger(p.oomScoreAdj) || p.oomScoreAdj < -1000 || p.oomScoreAdj > 1000)) {
    throw invalidArgument(`Invalid process.oomScoreAdj "${p.oomScoreAdj}": it must be between -1000 and 1000`);
  }
  const caps = p.capabilities ?? {};
  const size = p.consoleSize;
  return {
    args: p.args,
    env: p.env ?? [],
    cwd: clean(p.cwd),
    uid: uid!,
    gid: gid!,
    additionalGids,
    terminal: p.terminal === true,
    ...(p.terminal && size ? { consoleSize: { rows: size.height, cols: size.width } } : {}),
    capabilities: {
      bounding: capabilityMask(caps.bounding),
      effective: capabilityMask(caps.effective),
      permitted: capabilityMask(caps.permitted),
      inheritable: capabilityMask(caps.inheritable),
      ambient: capabilityMask(caps.ambient),
    },
    noNewPrivileges: p.noNewPrivileges === true,
    rlimits: (p.rlimits ?? []).map(planRlimit),
    ...(p.oomScoreAdj !== undefined ? { oomScoreAdj: p.oomScoreAdj } : {}),
    ...(umask !== undefined ? { umask } : {}),
  };
}

function absolutePaths(paths: string[] | undefined, field: string): string[] {
  return (paths ?? []).map((p) => {
    if (typeof p !== "string" || !path.isAbsolute(p)) throw invalidArgument(`${field} entry "${p}" is not absolute`);
    return clean(p);
  });
}

/** "/a//b/../c/" → "/a/c": targets are compared and resolved inside the root in this form. */
const clean = (p: string): string => path.posix.normalize(p).replace(/(.)\/$/, "$1");

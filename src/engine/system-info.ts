/**
 * What `info` and `version` report: Docker's system.Info and types.Version fields (the
 * names templates use), filled with tsrun's own facts: its version, Node's, the monitor
 * protocol, the host's cgroups, kernel, OS, CPUs and memory, and the state root.
 */
import fs from "node:fs";
import os from "node:os";
import { packageRoot } from "../common/index.js";
import { layoutFromMountinfo } from "../cgroups/index.js";
import { MONITOR_PROTOCOL, PLAN_FORMAT } from "../runtime/protocol.gen.js";
import type { Engine } from "./engine.js";
import { probeHostSupport } from "./limits.js";

export interface ComponentVersion {
  Name: string;
  Version: string;
  Details: Record<string, string>;
}

export interface VersionInfo {
  Client: { Platform: { Name: string }; Version: string; NodeVersion: string; Os: string; Arch: string; Context: string };
  Server: {
    Platform: { Name: string };
    Components: ComponentVersion[];
    Version: string;
    NodeVersion: string;
    Os: string;
    Arch: string;
    KernelVersion: string;
    MonitorProtocol: number;
  };
}

/** The tsrun version (package.json), read once. */
export function tsrunVersion(): string {
  return (JSON.parse(fs.readFileSync(`${packageRoot()}/package.json`, "utf8")) as { version: string }).version;
}

/** Go's GOARCH for Node's process.arch. */
export function goArch(arch: string = process.arch): string {
  return ({ x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<string, string>)[arch] ?? arch;
}

export function versionInfo(): VersionInfo {
  const version = tsrunVersion();
  return {
    Client: { Platform: { Name: "" }, Version: version, NodeVersion: process.version, Os: "linux", Arch: goArch(), Context: "default" },
    Server: {
      Platform: { Name: "tsrun" },
      Components: [
        {
          Name: "Engine",
          Version: version,
          Details: { NodeVersion: process.version, Os: "linux", Arch: goArch(), KernelVersion: os.release() },
        },
        {
          Name: "tsrun-monitor",
          Version: version,
          Details: { MonitorProtocol: String(MONITOR_PROTOCOL), PlanFormat: String(PLAN_FORMAT) },
        },
      ],
      Version: version,
      NodeVersion: process.version,
      Os: "linux",
      Arch: goArch(),
      KernelVersion: os.release(),
      MonitorProtocol: MONITOR_PROTOCOL,
    },
  };
}

/** Docker's system.Info (the fields `info` prints and templates use). */
export interface SystemInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DriverStatus: [string, string][];
  MemoryLimit: boolean;
  SwapLimit: boolean;
  CpuCfsPeriod: boolean;
  CpuCfsQuota: boolean;
  CPUShares: boolean;
  CPUSet: boolean;
  PidsLimit: boolean;
  OomKillDisable: boolean;
  Debug: boolean;
  SystemTime: string;
  LoggingDriver: string;
  CgroupDriver: string;
  CgroupVersion: string;
  KernelVersion: string;
  OperatingSystem: string;
  OSVersion: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  DockerRootDir: string;
  Name: string;
  Labels: string[];
  ExperimentalBuild: boolean;
  ServerVersion: string;
  Runtimes: Record<string, { path: string }>;
  DefaultRuntime: string;
  InitBinary: string;
  SecurityOptions: string[];
  Warnings: string[] | null;
  ClientInfo: { Version: string; Context: string; Debug: boolean };
}

export async function systemInfo(engine: Engine): Promise<SystemInfo> {
  let running = 0;
  let paused = 0;
  let stopped = 0;
  const views = await engine.list();
  for (const v of views) {
    if (v.status.Paused) paused++;
    else if (v.status.Running) running++;
    else stopped++;
  }
  const images = (await engine.images()).list().length;
  const host = probeHostSupport();
  const layout = layoutFromMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8"));
  const osRelease = parseOsRelease(readOr("/etc/os-release", ""));
  const version = tsrunVersion();
  const warnings: string[] = [];
  if (!host.memoryLimit) warnings.push("WARNING: No memory limit support");
  if (!host.swapLimit) warnings.push("WARNING: No swap limit support");
  if (!host.pidsLimit) warnings.push("WARNING: No pids limit support");
  return {
    ID: "",
    Containers: views.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: stopped,
    Images: images,
    Driver: "overlay2",
    DriverStatus: [
      ["Backing Filesystem", backingFilesystem(engine.root.root)],
      ["Supports d_type", "true"],
      ["Using metacopy", "false"],
      ["Native Overlay Diff", "true"],
      ["userxattr", "true"],
      // Layers are shared by every container, idmapped into each one's user namespace.
      ["Idmapped layers", "true"],
    ],
    MemoryLimit: host.memoryLimit,
    SwapLimit: host.swapLimit,
    CpuCfsPeriod: host.cpuCfs,
    CpuCfsQuota: host.cpuCfs,
    CPUShares: host.cpuShares,
    CPUSet: host.cpuset,
    PidsLimit: host.pidsLimit,
    OomKillDisable: layout.version === 1,
    Debug: process.env.DEBUG !== undefined && process.env.DEBUG !== "",
    SystemTime: new Date().toISOString(),
    LoggingDriver: "json-file",
    CgroupDriver: "cgroupfs",
    CgroupVersion: String(layout.version),
    KernelVersion: os.release(),
    OperatingSystem: osRelease.PRETTY_NAME ?? "Linux",
    OSVersion: osRelease.VERSION_ID ?? "",
    OSType: "linux",
    Architecture: os.machine(),
    NCPU: host.numCpu,
    MemTotal: os.totalmem(),
    DockerRootDir: engine.root.root,
    Name: os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: version,
    Runtimes: { tsrun: { path: process.argv[1] ?? "tsrun" } },
    DefaultRuntime: "tsrun",
    InitBinary: "tsrun-init",
    SecurityOptions: ["name=userns", "name=cgroupns"],
    Warnings: warnings.length > 0 ? warnings : null,
    ClientInfo: { Version: version, Context: "default", Debug: process.env.DEBUG !== undefined && process.env.DEBUG !== "" },
  };
}

/** The filesystem type under the state root, named as Docker names it ("extfs", "xfs"…). */
function backingFilesystem(dir: string): string {
  let type: number;
  try {
    type = fs.statfsSync(fs.existsSync(dir) ? dir : "/").type;
  } catch {
    return "<unknown>";
  }
  const names: Record<number, string> = {
    0xef53: "extfs",
    0x58465342: "xfs",
    0x9123683e: "btrfs",
    0x01021994: "tmpfs",
    0x794c7630: "overlayfs",
    0x2fc12fc1: "zfs",
    0x6969: "nfs",
    0xf2f52010: "f2fs",
  };
  return names[type] ?? `<unknown 0x${type.toString(16)}>`;
}

function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
  }
  return out;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

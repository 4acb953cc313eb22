/**
 * Image config + the user's flags → an OCI runtime spec (bundle/config.json), with Docker's
 * defaults. The one place where "what Docker gives a container" becomes runtime terms.
 */
import { ANNOTATION_LAYERS, ANNOTATION_UPPER, type Mount, type Resources, type Spec } from "../runtime/spec.js";
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICES,
  DEFAULT_NET_SYSCTLS,
  MASKED_PATHS,
  READONLY_PATHS,
  defaultMounts,
} from "./defaults.js";
import type { IdRange } from "./idpool.js";
import type { ResolvedUser } from "./users.js";

export interface SpecInput {
  id: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  tty: boolean;
  consoleSize?: { rows: number; cols: number };
  hostname: string;
  /** Unpacked layer content dirs, top-most first. */
  layers: string[];
  /** The container's dir holding upper/ and work/. */
  upperParent: string;
  /** Host files bound onto /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: { hostname: string; hosts: string; resolvConf: string };
  /** The user-namespace range, or undefined for --userns=host. */
  idRange?: IdRange;
  shmSize: number;
  readonlyRootfs: boolean;
  /** Memory, CPU and pids limits (limits.ts). */
  resources?: Resources;
}

/** Docker's /tsrun-parented cgroup of a container (the runtime creates one per hierarchy). */
export const cgroupsPathFor = (id: string) => `/tsrun/${id}`;

export function buildSpec(input: SpecInput): Spec {
  const userns = input.idRange !== undefined;
  const etcMount = (destination: string, source: string): Mount => ({
    destination,
    type: "bind",
    source,
    // idmap: the files are 0:0 on the host and must look root-owned inside, without a chown.
    options: ["rbind", "rprivate", ...(userns ? ["idmap"] : [])],
  });
  const namespaces: NonNullable<Spec["linux"]>["namespaces"] = [
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "mount" },
    { type: "network" },
    { type: "cgroup" },
  ];
  if (userns) namespaces.unshift({ type: "user" });
  return {
    ociVersion: "1.2.0",
    process: {
      terminal: input.tty,
      ...(input.consoleSize ? { consoleSize: { height: input.consoleSize.rows, width: input.consoleSize.cols } } : {}),
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: false,
    },
    root: { path: "rootfs", readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: [
      ...defaultMounts(input.shmSize),
      etcMount("/etc/resolv.conf", input.etcFiles.resolvConf),
      etcMount("/etc/hostname", input.etcFiles.hostname),
      etcMount("/etc/hosts", input.etcFiles.hosts),
    ],
    annotations: {
      [ANNOTATION_LAYERS]: JSON.stringify(input.layers),
      [ANNOTATION_UPPER]: input.upperParent,
    },
    linux: {
      namespaces,
      ...(userns
        ? {
            uidMappings: [{ containerID: 0, hostID: input.idRange!.uid, size: input.idRange!.size }],
            gidMappings: [{ containerID: 0, hostID: input.idRange!.gid, size: input.idRange!.size }],
          }
        : {}),
      devices: DEFAULT_DEVICES.map((d) => ({ ...d, fileMode: 0o666, uid: 0, gid: 0 })),
      cgroupsPath: cgroupsPathFor(input.id),
      resources: {
        ...input.resources,
        devices: [{ allow: false, access: "rwm" }],
      },
      // Both ends of ping_group_range must be gids mapped in the container's user namespace.
      sysctl: {
        ...DEFAULT_NET_SYSCTLS,
        ...(userns ? { "net.ipv4.ping_group_range": `0 ${input.idRange!.size - 1}` } : {}),
      },
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

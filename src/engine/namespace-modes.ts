/**
 * `--pid` and `--ipc`: a container's own PID and IPC namespaces (the default), the host's,
 * or another container's, with Docker's rules and messages.
 *
 * - `host` needs the host's user namespace: a process in a user namespace of its own could
 *   not mount /proc for the host's PID namespace nor mqueue for its IPC namespace (the kernel
 *   asks for CAP_SYS_ADMIN over the namespace's owner). Docker refuses host namespaces with
 *   user namespaces; tsrun runs such a container without one, as `--userns=host` does.
 * - `container:X` joins X's namespace, and for the same reason X's user namespace too: the
 *   container then shares X's id range (and has no lease of its own). X must be running
 *   when the container starts; its namespaces are found through X's PID 1 then, so the
 *   paths are written into the bundle at each start, not at create.
 * - `--ipc`: `private` (Docker's default) cannot be joined, `shareable` can, `none` has no
 *   /dev/shm.
 */
import { conflict, invalidArgument } from "../common/index.js";
import type { Mount, NamespaceType, Spec } from "../runtime/spec.js";
import type { IdRange } from "./idpool.js";
import type { ContainerRecord } from "./record.js";

export const DEFAULT_IPC_MODE = "private";

const CONTAINER_PREFIX = "container:";

/** The `container:X` reference of a mode, if it is one. */
export function joinedContainer(mode: string | undefined): string | undefined {
  return mode?.startsWith(CONTAINER_PREFIX) ? mode.slice(CONTAINER_PREFIX.length) : undefined;
}

export function parsePidMode(value: string | undefined): string {
  const v = value ?? "";
  if (v === "" || v === "host" || (joinedContainer(v) ?? "") !== "") return v;
  throw invalidArgument("--pid: invalid PID mode");
}

export function parseIpcMode(value: string | undefined): string {
  const v = value === undefined || value === "" ? DEFAULT_IPC_MODE : value;
  if (["none", "private", "shareable", "host"].includes(v) || (joinedContainer(v) ?? "") !== "") return v;
  throw invalidArgument("--ipc: invalid IPC mode");
}

/** What the modes ask of the container's user namespace, decided at create. */
export interface UsernsChoice {
  /** No user namespace at all (a host namespace, or joining a container that has none). */
  host: boolean;
  /** Joining this container's user namespace (and using its id range). */
  joinOf?: ContainerRecord;
}

/**
 * The user namespace the modes imply (`--network host` and `container:X` included). `lookup`
 * finds a container (throws "No such container"). Two joined containers must share one user
 * namespace.
 */
export function usernsFor(pidMode: string, ipcMode: string, lookup: (ref: string) => ContainerRecord, netMode = ""): UsernsChoice {
  if (pidMode === "host" || ipcMode === "host" || netMode === "host") return { host: true };
  const donors = [joinedContainer(pidMode), joinedContainer(ipcMode), joinedContainer(netMode)]
    .filter((r): r is string => r !== undefined)
    .map(lookup);
  if (donors.length === 0) return { host: false };
  const [first, second] = donors;
  const rangeKey = (r: ContainerRecord) => (r.Tsrun.idRange ? `${r.Tsrun.idRange.uid}` : "host");
  if (second && rangeKey(second) !== rangeKey(first!)) {
    throw invalidArgument(`Cannot join the namespaces of ${first!.Id} and ${second.Id}: their user namespaces differ`);
  }
  return first!.Tsrun.idRange ? { host: false, joinOf: first! } : { host: true };
}

/** The id range a joining container's files are mapped with: its donor's. */
export function donorRange(choice: UsernsChoice): IdRange | undefined {
  return choice.joinOf?.Tsrun.idRange;
}

/** The spec changes of host and `none` modes, made once at create. */
export function applyHostModes(spec: Spec, pidMode: string, ipcMode: string): void {
  const drop = new Set<NamespaceType>();
  if (pidMode === "host") drop.add("pid");
  if (ipcMode === "host") drop.add("ipc");
  if (spec.linux?.namespaces) spec.linux.namespaces = spec.linux.namespaces.filter((n) => !drop.has(n.type));
  const mounts = spec.mounts ?? [];
  const shm = mounts.findIndex((m) => m.destination === "/dev/shm");
  if (shm >= 0 && ipcMode === "none") mounts.splice(shm, 1);
  if (shm >= 0 && ipcMode === "host") {
    // Docker shares the host's /dev/shm with --ipc host: POSIX shared memory lives there.
    const bind: Mount = { destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind", "rprivate", "nosuid", "nodev", "noexec"] };
    mounts.splice(shm, 1, bind);
  }
}

/** A running container whose namespaces are joined: its PID 1 on the host. */
export interface Donor {
  rec: ContainerRecord;
  pid: number;
  ipcMode: string;
}

/**
 * Writes the joined namespaces' paths into the spec, at start: `/proc/<donor pid>/ns/…` for
 * the PID, IPC and network namespaces and, when the donor has one, its user namespace (whose id
 * maps then come with it).
 */
export function applyJoins(spec: Spec, joins: { pid?: Donor; ipc?: Donor; net?: Donor }): void {
  const linux = (spec.linux ??= {});
  const namespaces = (linux.namespaces ??= []);
  const set = (type: NamespaceType, path: string) => {
    const at = namespaces.findIndex((n) => n.type === type);
    if (at >= 0) namespaces[at] = { type, path };
    else namespaces.push({ type, path });
  };
  const donors = [joins.pid, joins.ipc, joins.net].filter((d): d is Donor => d !== undefined);
  if (joins.pid) set("pid", `/proc/${joins.pid.pid}/ns/pid`);
  if (joins.ipc) {
    set("ipc", `/proc/${joins.ipc.pid}/ns/ipc`);
    shareShm(spec, joins.ipc.pid);
  }
  if (joins.net) set("network", `/proc/${joins.net.pid}/ns/net`);
  const userDonor = donors.find((d) => d.rec.Tsrun.idRange);
  if (userDonor && namespaces.some((n) => n.type === "user")) {
    set("user", `/proc/${userDonor.pid}/ns/user`);
    delete linux.uidMappings;
    delete linux.gidMappings;
  }
}

/**
 * POSIX shared memory lives in /dev/shm: a container in X's IPC namespace sees X's, as with
 * Docker (through X's PID 1, the planner clones it in X's mount namespace).
 */
function shareShm(spec: Spec, donorPid: number): void {
  const mounts = spec.mounts ?? [];
  const at = mounts.findIndex((m) => m.destination === "/dev/shm");
  if (at < 0) return;
  mounts[at] = { destination: "/dev/shm", type: "bind", source: `/proc/${donorPid}/root/dev/shm`, options: ["rbind", "rprivate", "nosuid", "nodev", "noexec"] };
}

/** Docker's checks on a container whose namespace is to be joined. */
export function checkDonor(ref: string, status: string, ipc: { ipcMode: string } | undefined): void {
  if (status === "restarting") throw conflict(`Container ${ref} is restarting, wait until the container is running`);
  if (status !== "running" && status !== "paused") throw conflict(`Container ${ref} is not running`);
  if (ipc && ipc.ipcMode !== "shareable" && ipc.ipcMode !== "host") {
    throw invalidArgument(`container ${ref}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
  }
}

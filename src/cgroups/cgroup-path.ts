import path from "node:path";

/** The parent of every cgroup tsrun creates unless a spec names an absolute path elsewhere. */
export const TSRUN_CGROUP_PARENT = "/tsrun";

/**
 * The absolute cgroup path for a spec's linux.cgroupsPath: absolute paths as given, a
 * relative one under /tsrun, none at all /tsrun/<id>. Systemd's "slice:prefix:name" form
 * and any "."/".." segment are refused, so a spec can never point outside where it says.
 */
export function resolveCgroupPath(cgroupsPath: string | undefined, id: string): string {
  const raw = cgroupsPath === undefined || cgroupsPath === "" ? id : cgroupsPath;
  if (raw.includes(":")) {
    throw new Error(`Cannot use cgroupsPath "${raw}": systemd cgroup paths are not supported`);
  }
  const segments = raw.split("/").filter((s) => s !== "");
  if (segments.length === 0) throw new Error(`Cannot use cgroupsPath "${raw}": it names the root cgroup`);
  for (const s of segments) {
    if (s === "." || s === "..") throw new Error(`Cannot use cgroupsPath "${raw}": "${s}" is not allowed`);
  }
  return raw.startsWith("/") ? "/" + segments.join("/") : path.posix.join(TSRUN_CGROUP_PARENT, ...segments);
}

/**
 * The cgroup a container's monitor lives in: a sibling of the container's, as conmon's
 * libpod-conmon-<id>.scope beside libpod-<id>.scope. Out of the container's cgroup so an OOM
 * kill or a cgroup-wide kill never takes it; out of the caller's so the container outlives it.
 */
export function monitorCgroupPath(containerCgroup: string): string {
  return containerCgroup + ".monitor";
}

/** True for /tsrun and paths under it: the levels tsrun may create, fill in and remove when empty. */
export function isTsrunOwned(cgroupPath: string): boolean {
  return cgroupPath === TSRUN_CGROUP_PARENT || cgroupPath.startsWith(TSRUN_CGROUP_PARENT + "/");
}

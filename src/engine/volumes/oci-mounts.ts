/**
 * Mount requests → OCI spec mounts (what the runtime mounts) and Docker's mount points (what
 * the container record keeps). Volumes and host binds carry `idmap` when the container has
 * a user namespace: the idmapped clone makes files that are 0:0 on disk root's inside, and
 * what the container's root writes 0:0 on disk, with no chown of anything.
 */
import { invalidArgument, notFound } from "../../common/errors.js";
import type { Mount } from "../../runtime/spec.js";
import { cleanPath } from "./mount-paths.js";
import type { Volume, VolumeStore } from "./store.js";
import { tmpfsMountOptions } from "./tmpfs.js";
import type { MountPoint, MountRequest, VolumeRequest } from "./types.js";

export interface OciMountContext {
  /** The container has a user namespace of its own (not --userns=host). */
  userns: boolean;
}

function volumeOf(store: VolumeStore, r: VolumeRequest): Volume {
  if (r.name === undefined) throw new Error(`Anonymous volume at "${r.target}" was never created (call prepareMounts first)`);
  const v = store.get(r.name);
  if (!v) throw notFound(`get ${r.name}: no such volume`);
  return v;
}

/**
 * A volume created with the local driver's mount options (`-o type=… -o device=… -o o=…`):
 * Docker mounts them on the host, once for all users; tsrun mounts them inside each
 * container instead (no host mount to leak). tmpfs is then one per container, not shared.
 */
function optionVolumeMount(v: Volume, r: VolumeRequest, ctx: OciMountContext): Mount {
  const { type = "", device = "", o = "" } = v.Options ?? {};
  const words = o === "" ? [] : o.split(",");
  const ro = r.readonly ? ["ro"] : [];
  if (words.includes("bind") || words.includes("rbind")) {
    const rest = words.filter((w) => w !== "bind" && w !== "rbind");
    return {
      destination: r.target,
      type: "bind",
      source: device,
      options: [words.includes("rbind") ? "rbind" : "bind", ...rest, ...ro, ...(ctx.userns ? ["idmap"] : [])],
    };
  }
  if (type === "tmpfs") return { destination: r.target, type: "tmpfs", source: device || "tmpfs", options: [...words, ...ro] };
  throw invalidArgument(
    `Cannot mount volume "${v.Name}": the local driver's option type=${type || "none"} (device=${device}) is not supported by tsrun`,
  );
}

function toOciMount(r: MountRequest, store: VolumeStore, ctx: OciMountContext): Mount {
  const idmap = ctx.userns ? ["idmap"] : [];
  const ro = r.readonly ? ["ro"] : [];
  switch (r.kind) {
    case "volume": {
      const v = volumeOf(store, r);
      if (v.Options && Object.keys(v.Options).length > 0) return optionVolumeMount(v, r, ctx);
      return { destination: r.target, type: "bind", source: v.Mountpoint, options: ["rbind", ...ro, ...idmap] };
    }
    case "bind":
      return {
        destination: r.target,
        type: "bind",
        source: r.source,
        options: [r.recursive ? "rbind" : "bind", r.propagation, ...ro, ...idmap],
      };
    case "tmpfs":
      return { destination: r.target, type: "tmpfs", source: "tmpfs", options: tmpfsMountOptions(r) };
  }
}

const depth = (m: Mount) => cleanPath(m.destination).split("/").length;

/** The requests' OCI mounts, parents before children (Docker's mount sort, kept stable). */
export function toOciMounts(requests: readonly MountRequest[], store: VolumeStore, ctx: OciMountContext): Mount[] {
  return byDepth(requests.map((r) => toOciMount(r, store, ctx)));
}

/** Sorted parents before children, otherwise in the order given. */
function byDepth(mounts: readonly Mount[]): Mount[] {
  return mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i)
    .map(({ m }) => m);
}

/**
 * The spec's mounts: the defaults (/proc, /dev…, the /etc files) minus those a user mount
 * replaces (same destination; everything under /dev when the user mounts /dev), and the
 * user's mounts (moby's withMounts), all parents before children: a volume on /etc goes
 * under the /etc/hosts bind, not over it.
 */
export function mergeMounts(defaults: readonly Mount[], user: readonly Mount[]): Mount[] {
  const taken = new Set(user.map((m) => cleanPath(m.destination)));
  const devMounted = taken.has("/dev");
  const kept = defaults.filter((m) => {
    const d = cleanPath(m.destination);
    return !taken.has(d) && !(devMounted && d.startsWith("/dev/"));
  });
  return byDepth([...kept, ...user]);
}

/**
 * Docker's mount points for the container record (and its inspect output). A `--tmpfs` is
 * not one: Docker keeps it in HostConfig.Tmpfs only, so inspect's Mounts and
 * `--volumes-from` leave it out (a `--mount type=tmpfs` is one).
 */
export function toMountPoints(requests: readonly MountRequest[], store: VolumeStore): MountPoint[] {
  const points = requests.filter((r) => !(r.kind === "tmpfs" && r.origin === "volume-flag"));
  return points.map((r): MountPoint => {
    switch (r.kind) {
      case "volume": {
        const v = volumeOf(store, r);
        return {
          Type: "volume",
          Name: v.Name,
          Source: v.Mountpoint,
          Destination: r.target,
          Driver: v.Driver,
          Mode: r.mode,
          RW: !r.readonly,
          Propagation: "",
        };
      }
      case "bind":
        return { Type: "bind", Source: r.source, Destination: r.target, Mode: r.mode, RW: !r.readonly, Propagation: r.propagation };
      case "tmpfs": {
        const options = {
          ...(r.size !== undefined ? { SizeBytes: r.size } : {}),
          ...(r.mode !== undefined ? { Mode: r.mode } : {}),
          ...(r.options.length > 0 ? { Options: r.options } : {}),
        };
        return {
          Type: "tmpfs",
          Source: "",
          Destination: r.target,
          Mode: "",
          RW: !r.readonly,
          Propagation: "",
          ...(Object.keys(options).length > 0 ? { TmpfsOptions: options } : {}),
        };
      }
    }
  });
}

/** A record's mount points as `inspect` shows them (without tsrun's tmpfs details). */
export function inspectMounts(points: readonly MountPoint[]): MountPoint[] {
  return points.map(({ TmpfsOptions: _omit, ...shown }) => shown);
}

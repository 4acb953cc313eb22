/**
 * A container's mounts from all its flags, with Docker's precedence (moby's
 * registerMountPoints): `--volumes-from` first, overridden by `-v` binds and volumes, then by
 * `--mount`; `-v /path` and the image's VOLUMEs only where nothing else is mounted. Two
 * explicit mounts on one destination are an error, found before anything is created.
 */
import { invalidArgument } from "../../common/errors.js";
import { hostPathExists, mountSpecToRequest, parseMountFlag, type MountSpec } from "./mount-flag.js";
import { cleanPath } from "./mount-paths.js";
import { parseTmpfsFlag } from "./tmpfs.js";
import type { MountPoint, MountRequest, VolumesFromRequest } from "./types.js";
import { bindText, parseVolumeFlag, parseVolumesFrom } from "./volume-flag.js";

/** The mount flags of `run`/`create`, as given. */
export interface MountFlags {
  /** `--mount` values. */
  mounts?: readonly string[];
  /** `-v/--volume` values. */
  volumes?: readonly string[];
  /** `--tmpfs` values. */
  tmpfs?: readonly string[];
  /** `--volumes-from` values. */
  volumesFrom?: readonly string[];
}

/** Every mount flag checked; what depends on other containers or the image comes later. */
export interface ParsedMounts {
  /** From `-v` with a source, `--mount` and `--tmpfs`; no two share a destination. */
  explicit: MountRequest[];
  /** Destinations of `-v /path` (anonymous volumes, like the image's VOLUMEs). */
  anonymous: string[];
  volumesFrom: VolumesFromRequest[];
  /** HostConfig.Binds: the `-v` values that name a source, relative host paths made absolute. */
  binds: string[];
  /** HostConfig.Mounts: the `--mount` values as the CLI sends them (Go's omitempty applied). */
  specs: MountSpec[];
}

const duplicate = (target: string) => invalidArgument(`Duplicate mount point: ${target}`);

/**
 * Parses and validates every mount flag (Docker's messages, exit 125 for run/create).
 * `exists` looks up `--mount` bind sources; `cwd` resolves relative ones.
 */
export function parseMountFlags(
  flags: MountFlags,
  opts: { cwd?: string; exists?: (p: string) => boolean } = {},
): ParsedMounts {
  const cwd = opts.cwd ?? process.cwd();
  // The CLI's own parsing comes first, then the daemon's checks.
  const mountSpecs = (flags.mounts ?? []).map((m) => parseMountFlag(m, cwd));
  const volumeFlags = [...new Set(flags.volumes ?? [])].map((v) => parseVolumeFlag(v, cwd));
  const mounts = mountSpecs.map((m) => ({ raw: m.Target, request: mountSpecToRequest(m, opts.exists ?? hostPathExists) }));
  const tmpfs = (flags.tmpfs ?? []).map(parseTmpfsFlag);
  const volumesFrom = (flags.volumesFrom ?? []).map(parseVolumesFrom);

  const explicit: MountRequest[] = [];
  const taken = new Set<string>(tmpfs.map((t) => t.target));
  const anonymous: string[] = [];
  for (const v of volumeFlags) {
    if (v.kind === "anonymous") {
      if (!anonymous.includes(v.target)) anonymous.push(v.target);
      continue;
    }
    if (taken.has(v.target)) throw duplicate(v.target);
    taken.add(v.target);
    explicit.push(v);
  }
  for (const { raw, request } of mounts) {
    if (taken.has(request.target)) throw duplicate(raw);
    taken.add(request.target);
    explicit.push(request);
  }
  explicit.push(...tmpfs);
  const binds = [...new Set(flags.volumes ?? [])].filter((_, i) => volumeFlags[i]!.kind !== "anonymous").map((v) => bindText(v, cwd));
  return { explicit, anonymous, volumesFrom, binds, specs: mountSpecs.map(apiMount) };
}

/** A MountSpec as Docker's API encodes mount.Mount: empty fields left out, Go's field order. */
function apiMount(m: MountSpec): MountSpec {
  const out: Record<string, unknown> = { Type: m.Type };
  if (m.Source !== "") out.Source = m.Source;
  if (m.Target !== "") out.Target = m.Target;
  if (m.ReadOnly) out.ReadOnly = true;
  if (m.BindOptions) out.BindOptions = m.BindOptions;
  if (m.VolumeOptions) out.VolumeOptions = m.VolumeOptions;
  if (m.ImageOptions) out.ImageOptions = m.ImageOptions;
  if (m.TmpfsOptions) out.TmpfsOptions = m.TmpfsOptions;
  return out as unknown as MountSpec;
}

/** A mount of another container, as `--volumes-from` gives it to this one (never copied into). */
export function fromMountPoint(m: MountPoint, from: VolumesFromRequest): MountRequest {
  const readonly = !m.RW || from.readonly;
  const target = cleanPath(m.Destination);
  switch (m.Type) {
    case "volume":
      return { kind: "volume", name: m.Name!, anonymous: false, target, readonly, nocopy: true, origin: "volumes-from", mode: m.Mode };
    case "bind":
      return {
        kind: "bind",
        source: m.Source,
        target,
        readonly,
        propagation: m.Propagation || "rprivate",
        recursive: true,
        createSource: true,
        origin: "volumes-from",
        mode: m.Mode,
      };
    case "tmpfs":
      return {
        kind: "tmpfs",
        target,
        readonly,
        ...(m.TmpfsOptions?.SizeBytes ? { size: m.TmpfsOptions.SizeBytes } : {}),
        ...(m.TmpfsOptions?.Mode ? { mode: m.TmpfsOptions.Mode } : {}),
        options: m.TmpfsOptions?.Options ?? [],
        origin: "volumes-from",
      };
  }
}

/**
 * The container's final mount list. `mountsOf` gives another container's recorded Mounts
 * (it throws Docker's "No such container" for an unknown one); `imageVolumes` are the
 * image config's Volumes keys. Anonymous volumes come without a name: `prepareMounts`
 * creates them.
 */
export function resolveMounts(
  parsed: ParsedMounts,
  ctx: { mountsOf?: (container: string) => readonly MountPoint[]; imageVolumes?: readonly string[] } = {},
): MountRequest[] {
  const byTarget = new Map<string, MountRequest>();
  for (const from of parsed.volumesFrom) {
    if (!ctx.mountsOf) throw invalidArgument("--volumes-from needs the container records");
    for (const m of ctx.mountsOf(from.container)) {
      const r = fromMountPoint(m, from);
      byTarget.delete(r.target); // the later one wins, in the later one's place
      byTarget.set(r.target, r);
    }
  }
  for (const r of parsed.explicit) {
    byTarget.delete(r.target);
    byTarget.set(r.target, r);
  }
  const anonymous = [
    ...parsed.anonymous.map((t) => ({ target: t, origin: "anonymous-flag" as const })),
    // moby joins an image VOLUME to the container's root, so "data" means "/data".
    ...(ctx.imageVolumes ?? []).map((t) => ({ target: cleanPath("/" + t), origin: "image" as const })),
  ];
  for (const { target, origin } of anonymous) {
    if (byTarget.has(target)) continue;
    byTarget.set(target, { kind: "volume", anonymous: true, target, readonly: false, nocopy: false, origin, mode: "" });
  }
  return [...byTarget.values()];
}

/**
 * `--mount type=volume|bind|tmpfs,source=…,target=…,…`: parsed as docker/cli's MountOpt does
 * (its messages are flag errors: `invalid argument "…" for "--mount" flag: …`), then checked
 * as moby's linux parser checks a mount (`invalid mount config for type "bind": …`),
 * bind source existence included, before anything is created.
 */
import fs from "node:fs";
import path from "node:path";
import { invalidArgument } from "../../common/errors.js";
import { readCsvRecord } from "./csv-record.js";
import { cleanPath, notAbsolute, targetProblem } from "./mount-paths.js";
import { validateDriver, validateVolumeName, validateVolumeOptions } from "./names.js";
import { ramInBytes } from "./sizes.js";
import type { MountRequest } from "./types.js";

/** Docker's API mount (HostConfig.Mounts entry), the part tsrun reads. */
export interface MountSpec {
  Type: string;
  Source: string;
  Target: string;
  ReadOnly: boolean;
  BindOptions?: {
    Propagation?: string;
    NonRecursive?: boolean;
    ReadOnlyNonRecursive?: boolean;
    ReadOnlyForceRecursive?: boolean;
    CreateMountpoint?: boolean;
  };
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    Subpath?: string;
    DriverConfig?: { Name?: string; Options?: Record<string, string> };
  };
  ImageOptions?: { Subpath?: string };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

const BOOLEAN_KEYS = new Set(["readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src"]);

/** docker/cli's parseBoolValue: only 1, true, 0, false (and no value = true). */
function boolValue(key: string, val: string, hasValue: boolean): boolean {
  if (!hasValue) return true;
  if (val === "1" || val === "true") return true;
  if (val === "0" || val === "false") return false;
  throw new Error(
    `invalid value for '${key}': invalid boolean value (${JSON.stringify(val)}): must be one of "true", "1", "false", or "0" (default "true")`,
  );
}

/** `k=v` added to a map (an empty key is ignored, as docker/cli does). */
function setOnMap(target: Record<string, string> | undefined, kv: string): Record<string, string> | undefined {
  const eq = kv.indexOf("=");
  const k = eq === -1 ? kv : kv.slice(0, eq);
  if (k === "") return target;
  return { ...(target ?? {}), [k]: eq === -1 ? "" : kv.slice(eq + 1) };
}

/** The client half: syntax of one `--mount` value. Errors carry docker/cli's wording, unwrapped. */
function parseFields(raw: string, cwd: string): MountSpec {
  const value = raw.trim();
  if (value === "") throw new Error("value is empty");
  const m: MountSpec = { Type: "volume", Source: "", Target: "", ReadOnly: false };
  const bind = () => (m.BindOptions ??= {});
  const vol = () => (m.VolumeOptions ??= {});
  const driver = () => (vol().DriverConfig ??= {});
  const tmpfs = () => (m.TmpfsOptions ??= {});
  for (const field of readCsvRecord(value)) {
    const eq = field.indexOf("=");
    const hasValue = eq !== -1;
    let key = hasValue ? field.slice(0, eq) : field;
    const val = hasValue ? field.slice(eq + 1) : "";
    if (key.trim() !== key) throw new Error(`invalid option '${key.trim()}' in '${field}': option should not have whitespace`);
    if (hasValue) {
      if (val.trim() === "") throw new Error(`invalid value for '${key}': value is empty`);
      if (val.trim() !== val) throw new Error(`invalid value for '${key}' in '${field}': value should not have whitespace`);
    }
    key = key.toLowerCase();
    if (!hasValue && !BOOLEAN_KEYS.has(key)) throw new Error(`invalid field '${field}' must be a key=value pair`);
    switch (key) {
      case "type":
        m.Type = val.toLowerCase();
        break;
      case "source":
      case "src":
        m.Source = !path.isAbsolute(val) && val.startsWith(".") ? path.resolve(cwd, val) : val;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = val;
        break;
      case "readonly":
      case "ro":
        m.ReadOnly = boolValue(key, val, hasValue);
        break;
      case "consistency":
        break; // a Docker Desktop hint; no meaning on Linux
      case "bind-propagation":
        bind().Propagation = val.toLowerCase();
        break;
      case "bind-nonrecursive":
        throw new Error("bind-nonrecursive is deprecated, use bind-recursive=disabled instead");
      case "bind-recursive":
        if (val === "disabled") bind().NonRecursive = true;
        else if (val === "writable") bind().ReadOnlyNonRecursive = true;
        else if (val === "readonly") bind().ReadOnlyForceRecursive = true;
        else if (val !== "enabled") {
          throw new Error(`invalid value for ${key}: ${val} (must be "enabled", "disabled", "writable", or "readonly")`);
        }
        break;
      case "bind-create-src":
        bind().CreateMountpoint = boolValue(key, val, hasValue);
        break;
      case "volume-subpath":
        vol().Subpath = val;
        break;
      case "volume-nocopy":
        vol().NoCopy = boolValue(key, val, hasValue);
        break;
      case "volume-label":
        vol().Labels = setOnMap(vol().Labels, val);
        break;
      case "volume-driver":
        driver().Name = val;
        break;
      case "volume-opt":
        driver().Options = setOnMap(driver().Options, val);
        break;
      case "image-subpath":
        (m.ImageOptions ??= {}).Subpath = val;
        break;
      case "tmpfs-size": {
        const size = ramInBytes(val);
        if (size === undefined) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfs().SizeBytes = size;
        break;
      }
      case "tmpfs-mode": {
        const mode = /^[0-7]+$/.test(val) ? Number.parseInt(val, 8) : NaN;
        if (!(mode <= 0xffffffff)) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfs().Mode = mode;
        break;
      }
      default:
        throw new Error(`unknown option '${key}' in '${field}'`);
    }
  }
  for (const [opts, prefix, type] of [
    [m.BindOptions, "bind", "bind"],
    [m.VolumeOptions, "volume", "volume"],
    [m.ImageOptions, "image", "image"],
    [m.TmpfsOptions, "tmpfs", "tmpfs"],
  ] as const) {
    if (opts && m.Type !== type) throw new Error(`cannot mix '${prefix}-*' options with mount type '${m.Type}'`);
  }
  if (m.BindOptions?.ReadOnlyNonRecursive && !m.ReadOnly) {
    throw new Error("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
  }
  if (m.BindOptions?.ReadOnlyForceRecursive) {
    if (!m.ReadOnly) throw new Error("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction");
    if (m.BindOptions.Propagation !== "rprivate") {
      throw new Error("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction");
    }
  }
  return m;
}

/** `--mount VALUE` as the CLI parses it; errors are Docker's flag errors. */
export function parseMountFlag(raw: string, cwd = process.cwd()): MountSpec {
  try {
    return parseFields(raw, cwd);
  } catch (e) {
    throw invalidArgument(`invalid argument ${JSON.stringify(raw)} for "--mount" flag: ${(e as Error).message}`);
  }
}

const PROPAGATIONS = new Set(["private", "rprivate", "slave", "rslave", "shared", "rshared"]);

/** A path's existence as os.Stat sees it (a dangling symlink does not exist). */
export const hostPathExists = (p: string): boolean => fs.existsSync(p);

/** Why moby's linux parser refuses a mount, or undefined when it accepts it. */
export function mountConfigProblem(m: MountSpec, exists: (p: string) => boolean, checkSource: boolean): string | undefined {
  const extra = (f: string) => `field ${f} must not be specified`;
  if (m.Type !== "bind" && m.BindOptions) return extra("BindOptions");
  if (m.Type !== "volume" && m.VolumeOptions) return extra("VolumeOptions");
  if (m.Type !== "image" && m.ImageOptions) return extra("ImageOptions");
  if (m.Type !== "tmpfs" && m.TmpfsOptions) return extra("TmpfsOptions");
  if (m.Target === "") return "field Target must not be empty";
  const target = targetProblem(m.Target);
  if (target) return target;
  switch (m.Type) {
    case "bind": {
      if (m.Source === "") return "field Source must not be empty";
      const propagation = m.BindOptions?.Propagation;
      if (propagation && !PROPAGATIONS.has(propagation)) return `invalid propagation mode: ${propagation}`;
      if (!m.Source.replace(/\\/g, "/").startsWith("/")) return notAbsolute(m.Source.replace(/\\/g, "/"));
      if (checkSource && !exists(m.Source) && !m.BindOptions?.CreateMountpoint) {
        return `bind source path does not exist: ${m.Source}`;
      }
      return undefined;
    }
    case "volume": {
      const subpath = m.VolumeOptions?.Subpath;
      if (subpath !== undefined && subpath !== "") {
        if (m.Source === "") return "must not set Subpath when using anonymous volumes";
        if (path.isAbsolute(subpath) || cleanPath(subpath).split("/")[0] === "..") {
          return "subpath must be a relative path within the volume";
        }
        return "volume-subpath is not supported by tsrun";
      }
      return undefined;
    }
    case "tmpfs":
      return m.Source !== "" ? extra("Source") : undefined;
    case "image":
      return m.Source === "" ? "field Source must not be empty" : "image mounts are not supported by tsrun";
    default:
      return "mount type unknown";
  }
}

/**
 * The daemon half: moby's checks of a mount (Docker's create refuses the container with
 * these), then a typed request. `exists` is how a bind source is looked up.
 */
export function mountSpecToRequest(m: MountSpec, exists: (p: string) => boolean = hostPathExists): MountRequest {
  const problem = mountConfigProblem(m, exists, true);
  if (problem) throw invalidArgument(`invalid mount config for type "${m.Type}": ${problem}`);
  const target = cleanPath(m.Target);
  switch (m.Type) {
    case "bind":
      return {
        kind: "bind",
        source: cleanPath(m.Source),
        target,
        readonly: m.ReadOnly,
        propagation: m.BindOptions?.Propagation || "rprivate",
        recursive: !m.BindOptions?.NonRecursive,
        createSource: !!m.BindOptions?.CreateMountpoint,
        origin: "mount",
        mode: "",
      };
    case "tmpfs":
      return {
        kind: "tmpfs",
        target,
        readonly: m.ReadOnly,
        ...(m.TmpfsOptions?.SizeBytes ? { size: m.TmpfsOptions.SizeBytes } : {}),
        ...(m.TmpfsOptions?.Mode ? { mode: m.TmpfsOptions.Mode } : {}),
        options: [],
        origin: "mount",
      };
    default: {
      const vo = m.VolumeOptions;
      const name = m.Source === "" ? undefined : m.Source;
      validateDriver(vo?.DriverConfig?.Name, name);
      if (name !== undefined) validateVolumeName(name);
      const createOptions = vo?.DriverConfig?.Options;
      if (createOptions) validateVolumeOptions(name ?? "", createOptions);
      return {
        kind: "volume",
        ...(name !== undefined ? { name } : {}),
        anonymous: name === undefined,
        target,
        readonly: m.ReadOnly,
        nocopy: !!vo?.NoCopy,
        ...(createOptions ? { createOptions } : {}),
        ...(vo?.Labels ? { createLabels: vo.Labels } : {}),
        origin: "mount",
        mode: "z",
      };
    }
  }
}

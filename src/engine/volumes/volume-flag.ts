/**
 * `-v/--volume` and `--volumes-from`. A `-v` value is read twice, as Docker does: by the
 * CLI's volume-spec splitter (`invalid spec: …`), which sends `/path` alone on as an
 * anonymous volume, then by moby's ParseMountRaw (`invalid volume specification: '…'`,
 * `invalid mode: …`). Unlike `--mount`, a missing bind source is no error: it is created.
 */
import path from "node:path";
import { invalidArgument } from "../../common/errors.js";
import { mountConfigProblem, type MountSpec } from "./mount-flag.js";
import { cleanPath, targetProblem } from "./mount-paths.js";
import { validateVolumeName } from "./names.js";
import type { BindRequest, VolumeRequest, VolumesFromRequest } from "./types.js";

const RW_MODES = new Set(["rw", "ro"]);
const LABEL_MODES = new Set(["z", "Z"]);
const PROPAGATION_MODES = new Set(["private", "rprivate", "slave", "rslave", "shared", "rshared"]);
const COPY_MODES = new Set(["nocopy"]);
const CONSISTENCY_MODES = new Set(["consistent", "cached", "delegated"]);
const MODE_GROUPS = [RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES];

/** moby's linuxValidMountMode: known words only, at most one of each kind. */
export function validMountMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = MODE_GROUPS.map(() => 0);
  for (const word of mode.split(",")) {
    const g = MODE_GROUPS.findIndex((group) => group.has(word));
    if (g === -1) return false;
    counts[g]!++;
  }
  return counts.every((c) => c <= 1);
}

const modeWords = (mode: string) => (mode === "" ? [] : mode.split(","));
const hasPropagation = (mode: string) => modeWords(mode).some((w) => PROPAGATION_MODES.has(w));
const hasCopyMode = (mode: string) => modeWords(mode).some((w) => COPY_MODES.has(w));
const isReadOnly = (mode: string) => modeWords(mode).includes("ro");

export const invalidSpec = (raw: string) => `invalid volume specification: '${raw}'`;

/** What a `-v` value asks for: an anonymous volume (the CLI passes `/path` alone on as such), or a mount. */
export type VolumeFlag = { kind: "anonymous"; target: string; raw: string } | BindRequest | VolumeRequest;

/** docker/cli's volumespec.Parse: source, target and options split at colons. */
function splitSpec(spec: string): { source: string; target: string; options: string } {
  if (spec.length === 0) throw invalidArgument("invalid empty volume spec");
  if (spec.length <= 2) return { source: "", target: spec, options: "" };
  const parts = spec.split(":");
  // Sections are read left to right; the first problem met is the one reported.
  for (let k = 0; k < parts.length; k++) {
    if (parts[k] === "") throw invalidArgument(`invalid spec: ${spec}: empty section between colons`);
    if (k === 2 && parts.length > 3) throw invalidArgument(`invalid spec: ${spec}: too many colons`);
  }
  if (parts.length === 1) return { source: "", target: parts[0]!, options: "" };
  return { source: parts[0]!, target: parts[1]!, options: parts[2] ?? "" };
}

/** moby's ParseMountRaw for a `-v` value that names a source. */
function parseMountRaw(raw: string): BindRequest | VolumeRequest {
  const arr = raw.split(":");
  const fields = arr.length > 4 ? [...arr.slice(0, 3), arr.slice(3).join(":")] : arr;
  if (fields[0] === "") throw invalidArgument(invalidSpec(raw));
  let source: string;
  let target: string;
  let mode = "";
  if (fields.length === 2) {
    if (validMountMode(fields[1]!)) throw invalidArgument(invalidSpec(raw));
    [source, target] = fields as [string, string];
  } else if (fields.length === 3) {
    [source, target, mode] = fields as [string, string, string];
  } else {
    throw invalidArgument(invalidSpec(raw));
  }
  if (!validMountMode(mode)) throw invalidArgument(`invalid mode: ${mode}`);
  const type = path.posix.isAbsolute(source) ? "bind" : "volume";
  const spec: MountSpec = { Type: type, Source: source, Target: target, ReadOnly: isReadOnly(mode) };
  if (hasCopyMode(mode)) spec.VolumeOptions = { NoCopy: true };
  if (hasPropagation(mode)) spec.BindOptions = { Propagation: modeWords(mode).find((w) => PROPAGATION_MODES.has(w))! };
  const problem = mountConfigProblem(spec, () => true, false);
  if (problem) throw invalidArgument(`${invalidSpec(raw)}: invalid mount config for type "${type}": ${problem}`);
  if (type === "bind") {
    return {
      kind: "bind",
      source: cleanPath(source),
      target: cleanPath(target),
      readonly: spec.ReadOnly,
      propagation: spec.BindOptions?.Propagation ?? "rprivate",
      recursive: true,
      createSource: true,
      origin: "volume-flag",
      mode,
    };
  }
  validateVolumeName(source);
  return {
    kind: "volume",
    name: source,
    anonymous: false,
    target: cleanPath(target),
    readonly: spec.ReadOnly,
    nocopy: !!spec.VolumeOptions?.NoCopy,
    origin: "volume-flag",
    mode: mode || "z",
  };
}

/** `-v VALUE`; a relative host path (`./data:/data`) is taken from `cwd`, as the CLI does. */
export function parseVolumeFlag(raw: string, cwd = process.cwd()): VolumeFlag {
  const { source, target } = splitSpec(raw);
  if (source === "") {
    const problem = targetProblem(target);
    if (problem) throw invalidArgument(`${invalidSpec(raw)}: invalid mount config for type "volume": ${problem}`);
    return { kind: "anonymous", target: cleanPath(target), raw };
  }
  return parseMountRaw(bindText(raw, cwd));
}

/** A `-v` value with a relative host path made absolute, as the CLI sends it (and HostConfig.Binds shows it). */
export function bindText(raw: string, cwd = process.cwd()): string {
  const { source } = splitSpec(raw);
  return source.startsWith(".") ? path.resolve(cwd, source) + raw.slice(source.length) : raw;
}

/** moby's ParseVolumesFrom: `CONTAINER[:MODE]`, where MODE may only say ro or rw (and z/Z). */
export function parseVolumesFrom(spec: string): VolumesFromRequest {
  if (spec === "") throw invalidArgument("volumes-from specification cannot be an empty string");
  const colon = spec.indexOf(":");
  const container = colon === -1 ? spec : spec.slice(0, colon);
  const mode = colon === -1 ? "" : spec.slice(colon + 1);
  if (mode === "") return { container, mode: "rw", readonly: false };
  if (!validMountMode(mode) || hasPropagation(mode) || hasCopyMode(mode)) throw invalidArgument(`invalid mode: ${mode}`);
  return { container, mode, readonly: isReadOnly(mode) };
}

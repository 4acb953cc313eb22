/**
 * Volume names, with the local driver's rule: they become directory names under volumes/, so
 * the rule is also what keeps a name from escaping that directory (no "/", no leading ".").
 */
import { invalidArgument } from "../../common/errors.js";
import { ramInBytes } from "./sizes.js";

export const VOLUME_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]";
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker marks the volumes it names itself with this label (empty value). */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** Why `name` cannot be a local volume's name, in Docker's words, or undefined when it can. */
export function volumeNameProblem(name: string): string | undefined {
  if (name.length === 1) return "volume name is too short, names should be at least two alphanumeric characters";
  if (!VOLUME_NAME.test(name)) {
    return `"${name}" includes invalid characters for a local volume name, only "${VOLUME_NAME_CHARS}" are allowed. If you intended to pass a host directory, use absolute path`;
  }
  // A longer name cannot be a directory entry (and leaves no room for its lock's temp file).
  if (Buffer.byteLength(name) > 200) return `volume name "${name.slice(0, 20)}…" is too long (at most 200 characters)`;
  return undefined;
}

/** Throws Docker's create error ("create NAME: …") for a name the local driver refuses. */
export function validateVolumeName(name: string): string {
  const problem = volumeNameProblem(name);
  if (problem) throw invalidArgument(`create ${name}: ${problem}`);
  return name;
}

/** The driver named by a flag, which must be the local one (tsrun has no volume plugins). */
export function validateDriver(driver: string | undefined, volumeName?: string): void {
  if (driver === undefined || driver === "" || driver === "local") return;
  const what = volumeName ? `create ${volumeName}: ` : "";
  throw invalidArgument(`${what}error looking up volume plugin ${driver}: plugin "${driver}" not found`);
}

const VALID_OPTIONS = new Set(["type", "o", "device", "size"]);
const REQUIRED_WITH: Record<string, string[]> = { device: ["type"], type: ["device"], o: ["device", "type"] };

/** The local driver's options (`-o`, `volume-opt`): Docker's checks and messages. */
export function validateVolumeOptions(name: string, opts: Record<string, string>): void {
  const fail = (why: string) => invalidArgument(name ? `create ${name}: ${why}` : why);
  for (const key of Object.keys(opts)) if (!VALID_OPTIONS.has(key)) throw fail(`invalid option: "${key}"`);
  if (opts.size !== undefined) {
    const size = ramInBytes(opts.size);
    if (size === undefined) throw fail(`invalid size: '${opts.size}'`);
    // Sizes need project quotas on the volumes' filesystem, which tsrun does not set up.
    if (size > 0) throw fail("quota size requested but no quota support");
  }
  for (const [key, needs] of Object.entries(REQUIRED_WITH)) {
    if (!(key in opts)) continue;
    for (const need of needs) if (!(need in opts)) throw fail(`missing required option: "${need}"`);
  }
}

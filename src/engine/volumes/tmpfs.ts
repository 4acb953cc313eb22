/**
 * tmpfs mounts: `--tmpfs /path[:opts]` and the tmpfs options of `--mount`, turned into the
 * OCI mount options Docker gives them (noexec,nosuid,nodev,rprivate, then the user's, the
 * last word on each flag winning).
 */
import { invalidArgument } from "../../common/errors.js";
import { cleanPath, targetProblem } from "./mount-paths.js";
import type { TmpfsRequest } from "./types.js";

/** moby/sys/mount's flag words: the ones that set or clear the same MS_* flag collide. */
const FLAG_WORDS: Record<string, string> = {
  ro: "rdonly",
  rw: "rdonly",
  suid: "nosuid",
  nosuid: "nosuid",
  dev: "nodev",
  nodev: "nodev",
  exec: "noexec",
  noexec: "noexec",
  sync: "sync",
  async: "sync",
  dirsync: "dirsync",
  remount: "remount",
  mand: "mand",
  nomand: "mand",
  atime: "noatime",
  noatime: "noatime",
  diratime: "nodiratime",
  nodiratime: "nodiratime",
  relatime: "relatime",
  norelatime: "relatime",
  strictatime: "strictatime",
  nostrictatime: "strictatime",
  // Propagation words all collide with each other (there is one propagation).
  bind: "propagation",
  rbind: "propagation",
  unbindable: "propagation",
  runbindable: "propagation",
  private: "propagation",
  rprivate: "propagation",
  shared: "propagation",
  rshared: "propagation",
  slave: "propagation",
  rslave: "propagation",
};

const DATA_KEYS = new Set(["", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"]);

/** moby/sys/mount.MergeTmpfsOptions: later words win, duplicates go, unknown data is an error. */
export function mergeTmpfsOptions(options: readonly string[]): string[] {
  const flagsSeen = new Set<string>();
  const dataSeen = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const option = options[i]!;
    if (option === "defaults") continue;
    const flag = FLAG_WORDS[option];
    if (flag) {
      if (!flagsSeen.has(flag)) {
        out.unshift(option);
        flagsSeen.add(flag);
      }
      continue;
    }
    const eq = option.indexOf("=");
    const key = eq === -1 ? option : option.slice(0, eq);
    if (eq === -1 || !DATA_KEYS.has(key)) throw invalidArgument(`invalid tmpfs option "${key}"`);
    if (!dataSeen.has(key)) {
      out.unshift(option);
      dataSeen.add(key);
    }
  }
  return out;
}

/** Docker's defaults for every tmpfs a user asks for. */
const TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev", "rprivate"];

/** `--tmpfs /path[:opts]`: validated (destination and options) before anything is created. */
export function parseTmpfsFlag(spec: string): TmpfsRequest {
  const colon = spec.indexOf(":");
  const dest = colon === -1 ? spec : spec.slice(0, colon);
  const data = colon === -1 ? "" : spec.slice(colon + 1);
  const problem = targetProblem(dest);
  if (problem) throw invalidArgument(problem);
  const options = data === "" ? [] : data.split(",");
  mergeTmpfsOptions([...TMPFS_DEFAULTS, ...options]); // rejects unknown options now, not at start
  return { kind: "tmpfs", target: cleanPath(dest), readonly: false, options, origin: "volume-flag" };
}

/** moby's ConvertTmpfsOptions: a byte size in the largest unit that divides it ("64m"). */
export function tmpfsSizeOption(bytes: number): string {
  for (const [suffix, unit] of [
    ["g", 2 ** 30],
    ["m", 2 ** 20],
    ["k", 2 ** 10],
  ] as const) {
    if (bytes % unit === 0) return `size=${bytes / unit}${suffix}`;
  }
  return `size=${bytes}`;
}

/** The OCI options of a tmpfs request. */
export function tmpfsMountOptions(t: TmpfsRequest): string[] {
  const own: string[] = [];
  if (t.readonly) own.push("ro");
  if (t.mode !== undefined && t.mode !== 0) own.push(`mode=${t.mode.toString(8)}`);
  if (t.size !== undefined && t.size !== 0) own.push(tmpfsSizeOption(t.size));
  return mergeTmpfsOptions([...TMPFS_DEFAULTS, ...own, ...t.options]);
}

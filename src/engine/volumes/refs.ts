/**
 * Which containers use which volumes, from the container records: a volume is in use while
 * any container of the root (running or not) has it in its `Mounts`. That is Docker's rule
 * for `volume rm`, `volume prune` and the `dangling` filter.
 */
import type { StateRoot } from "../../common/index.js";
import { listIds, readRecord } from "../record.js";
import type { VolumeRefs } from "./store.js";
import type { MountPoint } from "./types.js";

/** The volume names a record's Mounts reference. */
export function volumeNamesOf(mounts: readonly MountPoint[] | undefined): string[] {
  return [...new Set((mounts ?? []).flatMap((m) => (m.Type === "volume" && m.Name ? [m.Name] : [])))];
}

/** Reads every container record of the root, each time it is called. */
export function recordVolumeRefs(root: StateRoot): VolumeRefs {
  return () => {
    const refs = new Map<string, string[]>();
    for (const id of listIds(root)) {
      let mounts: MountPoint[] | undefined;
      try {
        mounts = (readRecord(root, id) as { Mounts?: MountPoint[] } | undefined)?.Mounts;
      } catch {
        // A record being replaced or torn by a crash: it is rewritten or removed by its owner.
        continue;
      }
      for (const name of volumeNamesOf(mounts)) {
        const ids = refs.get(name);
        if (ids) ids.push(id);
        else refs.set(name, [id]);
      }
    }
    return refs;
  };
}

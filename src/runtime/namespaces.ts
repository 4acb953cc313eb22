import { invalidArgument } from "../common/errors.js";
import type { IdMapEntry, NamespaceKind } from "./plan.js";
import type { IdMapping, Linux, NamespaceType } from "./spec.js";

/**
 * The order the init creates namespaces in, each for a reason: the user namespace first so
 * the others belong to it (its root can then mount, set the hostname, bind port 80 in the
 * network namespace); cgroup last, after the cgroup join, or the container would see the
 * host's cgroup path.
 */
const ORDER: readonly NamespaceKind[] = ["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"];

const KIND_OF: Partial<Record<NamespaceType, NamespaceKind>> = {
  user: "user",
  mount: "mnt",
  pid: "pid",
  uts: "uts",
  ipc: "ipc",
  network: "net",
  cgroup: "cgroup",
};

export interface NamespacePlan {
  newNamespaces: NamespaceKind[];
  joinNamespaces: { kind: NamespaceKind; path: string }[];
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
}

export function planNamespaces(linux: Linux | undefined): NamespacePlan {
  const created = new Set<NamespaceKind>();
  const joined: { kind: NamespaceKind; path: string }[] = [];
  const seen = new Set<string>();
  for (const ns of linux?.namespaces ?? []) {
    const kind = KIND_OF[ns.type];
    if (!kind) throw invalidArgument(`Namespace type "${ns.type}" is not supported`);
    if (seen.has(ns.type)) throw invalidArgument(`Namespace type "${ns.type}" is given twice`);
    seen.add(ns.type);
    if (ns.path) {
      if (!ns.path.startsWith("/")) throw invalidArgument(`Namespace path "${ns.path}" is not absolute`);
      joined.push({ kind, path: ns.path });
    } else {
      created.add(kind);
    }
  }
  const uidMap = idMap(linux?.uidMappings);
  const gidMap = idMap(linux?.gidMappings);
  if (created.has("user")) {
    if (uidMap.length === 0 || gidMap.length === 0) {
      throw invalidArgument("A new user namespace needs linux.uidMappings and linux.gidMappings");
    }
  } else if (uidMap.length > 0 || gidMap.length > 0) {
    throw invalidArgument("linux.uidMappings and linux.gidMappings need a new user namespace");
  }
  return {
    newNamespaces: ORDER.filter((k) => created.has(k)),
    // setns into the user namespace first, so the others can be joined as its root.
    joinNamespaces: joined.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind)),
    uidMap,
    gidMap,
  };
}

function idMap(mappings: IdMapping[] | undefined): IdMapEntry[] {
  return (mappings ?? []).map((m) => {
    for (const v of [m.containerID, m.hostID, m.size]) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw invalidArgument(`Invalid id mapping ${JSON.stringify(m)}: ids and size must be 32-bit non-negative integers`);
      }
    }
    if (m.size === 0) throw invalidArgument(`Invalid id mapping ${JSON.stringify(m)}: size is 0`);
    return { inside: m.containerID, outside: m.hostID, count: m.size };
  });
}

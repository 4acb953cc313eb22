/**
 * The networks of one state root: `<root>/networks/<name>.json`, one file per network, keyed
 * by name because that is how `run --network NAME` (and every default `run`, with `bridge`)
 * looks one up: a single read. Lookups by id scan the directory (a handful of files).
 * Network names are restricted to [a-zA-Z0-9][a-zA-Z0-9_.-]*, so a name is always a safe
 * file name; endpoint directories are named by 64-hex network ids and never end in .json.
 */
import fs from "node:fs";
import path from "node:path";
import { StateRoot } from "../common/paths.js";
import { errnoCode, invalidArgument, notFound } from "../common/errors.js";
import { isFullId, newId } from "../common/ids.js";
import { randomHex } from "../common/random.js";
import { readJsonIfExists, writeJsonAtomic } from "../common/fsutil.js";
import { BUILTIN_NAMES, type NetworkRecord } from "./model.js";

export const networkNotFound = (ref: string) => notFound(`network ${ref} not found`);

/** A record with Docker's defaults for everything the caller does not set. */
export function newNetworkRecord(fields: Partial<NetworkRecord> & Pick<NetworkRecord, "Name" | "Driver">): NetworkRecord {
  return {
    Id: newId(),
    Created: new Date().toISOString(),
    Scope: "local",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: {}, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Options: {},
    Labels: {},
    Tsrun: { builtin: false },
    ...fields,
  };
}

function builtinRecord(name: (typeof BUILTIN_NAMES)[number]): NetworkRecord {
  const driver = name === "bridge" ? "bridge" : name === "host" ? "host" : "null";
  return newNetworkRecord({
    Name: name,
    Driver: driver,
    // Docker shows null IPAM options for its predefined networks.
    IPAM: { Driver: "default", Options: null, Config: [] },
    Tsrun: { builtin: true },
  });
}

export class NetworkStore {
  readonly dir: string;

  constructor(readonly root: StateRoot) {
    this.dir = root.networks;
  }

  private file(name: string): string {
    return path.join(this.dir, `${name}.json`);
  }

  /** Directory of a network's endpoint records. */
  endpointDir(networkId: string): string {
    return path.join(this.dir, networkId);
  }

  /** The network named `name`, creating the built-ins on first use. */
  get(name: string): NetworkRecord | undefined {
    const rec = readJsonIfExists<NetworkRecord>(this.file(name));
    if (rec || !(BUILTIN_NAMES as readonly string[]).includes(name)) return rec;
    this.insert(builtinRecord(name as (typeof BUILTIN_NAMES)[number]));
    return readJsonIfExists<NetworkRecord>(this.file(name));
  }

  /** Every network, built-ins first created if missing. */
  list(): NetworkRecord[] {
    for (const b of BUILTIN_NAMES) if (!fs.existsSync(this.file(b))) this.insert(builtinRecord(b));
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
    return names.flatMap((n) => {
      const rec = readJsonIfExists<NetworkRecord>(path.join(this.dir, n));
      return rec ? [rec] : [];
    });
  }

  /**
   * Docker's lookup: a full id, else an exact name, else a unique id prefix.
   * Errors: "network X not found", "network X is ambiguous (N matches found based on ID)".
   */
  resolve(ref: string): NetworkRecord {
    if (!isFullId(ref)) {
      const byName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref) ? this.get(ref) : undefined;
      if (byName) return byName;
    }
    const all = this.list();
    const exact = all.find((n) => n.Id === ref);
    if (exact) return exact;
    const byName = all.find((n) => n.Name === ref);
    if (byName) return byName;
    const byPrefix = ref ? all.filter((n) => n.Id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0]!;
    if (byPrefix.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${byPrefix.length} matches found based on ID)`);
    throw networkNotFound(ref);
  }

  /** Writes a new network; false when one of that name exists already. */
  insert(rec: NetworkRecord): boolean {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${rec.Name}.${process.pid}-${randomHex(4)}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(rec, null, 2) + "\n", { mode: 0o600 });
    try {
      fs.linkSync(tmp, this.file(rec.Name));
      return true;
    } catch (e) {
      if (errnoCode(e) === "EEXIST") return false;
      throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  /** Replaces an existing network's record (same name). */
  update(rec: NetworkRecord): void {
    writeJsonAtomic(this.file(rec.Name), rec, 0o600);
  }

  /** Removes a network's record and its (empty) endpoint directory. */
  delete(rec: NetworkRecord): void {
    const current = readJsonIfExists<NetworkRecord>(this.file(rec.Name));
    if (current && current.Id === rec.Id) fs.rmSync(this.file(rec.Name), { force: true });
    fs.rmSync(this.endpointDir(rec.Id), { recursive: true, force: true });
  }

  /** True while `networkId` is the id of the network named `name` (lease liveness). */
  holds(name: string, networkId: string): NetworkRecord | undefined {
    let rec: NetworkRecord | undefined;
    try {
      rec = readJsonIfExists<NetworkRecord>(this.file(name));
    } catch {
      return undefined;
    }
    return rec && rec.Id === networkId ? rec : undefined;
  }
}

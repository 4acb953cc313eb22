/**
 * Endpoint records of one state root: `<root>/networks/<network id>/<container id>.json`,
 * written when a container is attached to a network and removed when it is detached or
 * released. A record outlives its container only after a crash; its owner (the container's
 * PID 1, by pid and start time) then is dead, and `live()` treats it as gone (and removes it).
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../common/errors.js";
import { pidExists, readJsonIfExists } from "../common/fsutil.js";
import { isAlive } from "../linux/process-identity.js";
import type { EndpointRecord } from "./model.js";

const ID_DIR = /^[0-9a-f]{64}$/;
/** write()'s temp files: `<container id>.json.<writer pid>.<n>.tmp`. */
const TEMP_FILE = /^([0-9a-f]{64})\.json\.(\d+)\.\d+\.tmp$/;
let tempSeq = 0;



export class EndpointStore {
  constructor(readonly networksDir: string) {}

  private file(networkId: string, containerId: string): string {
    return path.join(this.networksDir, networkId, `${containerId}.json`);
  }

  read(networkId: string, containerId: string): EndpointRecord | undefined {
    try {
      return readJsonIfExists<EndpointRecord>(this.file(networkId, containerId));
    } catch {
      return undefined; // torn by a crash: as good as gone
    }
  }

  /**
   * Writes a record (temp + rename, no fsync: after a machine crash every container is gone
   * and so is the record's meaning).
   */
  write(rec: EndpointRecord): void {
    const file = this.file(rec.NetworkID, rec.ContainerID);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${tempSeq++}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(rec, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  /** Removes a record if it is still the given endpoint's. */
  remove(rec: Pick<EndpointRecord, "NetworkID" | "ContainerID" | "EndpointID">): void {
    const current = this.read(rec.NetworkID, rec.ContainerID);
    if (current && current.EndpointID !== rec.EndpointID) return;
    fs.rmSync(this.file(rec.NetworkID, rec.ContainerID), { force: true });
  }

  /** Every record of one network, dead owners included. */
  ofNetwork(networkId: string): EndpointRecord[] {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(this.networksDir, networkId)).filter((n) => n.endsWith(".json"));
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return [];
      throw e;
    }
    return names.flatMap((n) => {
      const rec = this.read(networkId, n.slice(0, -5));
      return rec ? [rec] : [];
    });
  }

  /** Network ids that have an endpoint directory. */
  networkIds(): string[] {
    try {
      return fs.readdirSync(this.networksDir).filter((n) => ID_DIR.test(n));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  /**
   * Removes the temp files of writers killed mid-write (their pid is gone): of one
   * container, or of every container. Returns the paths removed.
   */
  removeStaleTemps(containerId?: string): string[] {
    const removed: string[] = [];
    for (const networkId of this.networkIds()) {
      const dir = path.join(this.networksDir, networkId);
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue; // removed with its network meanwhile
      }
      for (const name of names) {
        const m = TEMP_FILE.exec(name);
        if (!m || (containerId !== undefined && m[1] !== containerId) || pidExists(Number(m[2]))) continue;
        fs.rmSync(path.join(dir, name), { force: true });
        removed.push(path.join(dir, name));
      }
    }
    return removed;
  }

  /** Every record of the root. */
  all(): EndpointRecord[] {
    return this.networkIds().flatMap((id) => this.ofNetwork(id));
  }

  /** A container's records, one per network it is attached to. */
  ofContainer(containerId: string): EndpointRecord[] {
    return this.networkIds().flatMap((id) => {
      const rec = this.read(id, containerId);
      return rec ? [rec] : [];
    });
  }
}

/** True while the endpoint's container (its PID 1) is alive. */
export const endpointIsLive = (rec: EndpointRecord): boolean => isAlive(rec.Owner);

/**
 * A directory of machine-wide leases (subnets, addresses), shared by every state root.
 *
 * A lease is a file named for what it holds, whose content names its owner. It is claimed
 * with link(2) of a fully written temp file: atomic like O_EXCL (two claimants cannot both
 * win, whatever their state root) and never seen empty or half-written. Only its owner, or a
 * collector that found the owner gone (holding the table's lock), removes it; `release`
 * removes a lease only while it still names the caller, so a late release never frees what
 * someone else claimed since.
 */
import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../common/errors.js";

// Temp names need only be unique among live processes: pid plus a per-process counter (no
// trip to /dev/urandom). A dead process's leftover of the same name is simply overwritten.
let tempSeq = 0;

export class LeaseDir<T> {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Claims `name` for `owner`; false when it is already held. */
  claim(name: string, owner: T): boolean {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.${process.pid}.${tempSeq++}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(owner), { mode: 0o600 });
    try {
      fs.linkSync(tmp, this.file(name));
      return true;
    } catch (e) {
      if (errnoCode(e) === "EEXIST") return false;
      throw e;
    } finally {
      fs.unlinkSync(tmp);
    }
  }

  /** The owner named by a lease: undefined when there is none, null when it is unreadable. */
  read(name: string): T | null | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file(name), "utf8");
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      return null;
    }
  }

  /** Removes the lease if it still names an owner for which `mine` holds. */
  release(name: string, mine: (owner: T) => boolean): void {
    const owner = this.read(name);
    if (owner && mine(owner)) this.remove(name);
  }

  /** Unconditional removal: for collectors holding the table's lock, and for owners. */
  remove(name: string): void {
    try {
      fs.unlinkSync(this.file(name));
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
  }

  /** Names of every lease (temp files excluded). */
  names(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => !n.startsWith("."));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  /** Every lease with its owner (null when unreadable). */
  entries(): { name: string; owner: T | null }[] {
    const out: { name: string; owner: T | null }[] = [];
    for (const name of this.names()) {
      const owner = this.read(name);
      if (owner !== undefined) out.push({ name, owner });
    }
    return out;
  }

  /** Temp files left by claimants killed mid-claim (older than a minute). */
  removeStaleTemps(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.startsWith(".") && n.endsWith(".tmp"));
    } catch {
      return;
    }
    const cutoff = Date.now() - 60_000;
    for (const n of names) {
      try {
        if (fs.statSync(path.join(this.dir, n)).mtimeMs < cutoff) fs.rmSync(path.join(this.dir, n), { force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}

/**
 * Container names of one state root: unique, claimed atomically as files
 * `<root>/names/<name>` (O_EXCL) holding the container id. A container's directory exists
 * before its name is claimed and loses its name before the directory goes, so a name
 * whose container directory is missing is a leftover of a crash and may be reclaimed; so is
 * a name whose container's record carries another name (a rename that crashed half-way), or
 * whose container is a create that died before writing its record.
 * Renames and reclaims hold `locks/names.lock`, so a reclaimer never sees a rename midway.
 */
import fs from "node:fs";
import path from "node:path";
import { randomInt } from "../common/random.js";
import { conflict, errnoCode, invalidArgument } from "../common/index.js";

const nameInUse = (name: string, holder: string) =>
  conflict(
    `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
  );

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  if (!VALID_NAME.test(name)) {
    throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, "");
}

export class NameRegistry {
  private readonly dir: string;

  /**
   * `currentName(id)`: the name in the container's record, or undefined while it has no
   * record yet (being created, which claims the name first), or "" when it never will (a
   * create that died: its name is a leftover).
   */
  constructor(
    private readonly root: string,
    private readonly currentName: (id: string) => string | undefined = () => undefined,
  ) {
    this.dir = path.join(root, "names");
  }

  /** The id holding `name`, or undefined. */
  lookup(name: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, name), "utf8").trim() || undefined;
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    }
  }

  /** Claims `name` for `id`, or throws Docker's conflict error naming the holder. */
  async claim(name: string, id: string): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, name);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, id, { flag: "wx", mode: 0o600 });
        return;
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
      }
      const holder = this.lookup(name);
      if (holder && this.holds(name, holder)) throw nameInUse(name, holder);
      await this.reclaim(name);
    }
    throw conflict(`Conflict. The container name "/${name}" could not be claimed`);
  }

  /** Whether `id` really holds `name` (see the module comment for what does not). */
  private holds(name: string, id: string): boolean {
    if (!fs.existsSync(path.join(this.root, "containers", id))) return false;
    const current = this.currentName(id);
    return current === undefined || current === name;
  }

  /**
   * Moves container `id` from `oldName` to `newName`: claims the new name, lets `commit`
   * record it, then releases the old one, all under the names lock so that no reclaimer
   * sees the moment when both names (or the new one and the old record) exist.
   */
  async rename(oldName: string, newName: string, id: string, commit: () => void): Promise<void> {
    const { withLock } = await import("../linux/index.js");
    fs.mkdirSync(path.join(this.root, "locks"), { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await withLock(path.join(this.root, "locks", "names.lock"), () => {
      const file = path.join(this.dir, newName);
      try {
        fs.writeFileSync(file, id, { flag: "wx", mode: 0o600 });
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
        const holder = this.lookup(newName);
        if (holder && this.holds(newName, holder)) throw nameInUse(newName, holder);
        fs.writeFileSync(file, id, { mode: 0o600 }); // a leftover, and we hold the lock
      }
      try {
        commit();
      } catch (e) {
        fs.rmSync(file, { force: true });
        throw e;
      }
      this.release(oldName, id);
    });
  }

  /**
   * Removes a leftover name whose container is gone. Under a lock, so two reclaimers never
   * race; claimers cannot replace an existing file (O_EXCL), and an owner releases its name
   * before its directory goes, so what we read is still what we unlink.
   */
  private async reclaim(name: string): Promise<void> {
    const { withLock } = await import("../linux/index.js");
    fs.mkdirSync(path.join(this.root, "locks"), { recursive: true, mode: 0o700 });
    await withLock(path.join(this.root, "locks", "names.lock"), () => {
      const holder = this.lookup(name);
      if (holder === undefined || !this.holds(name, holder)) fs.rmSync(path.join(this.dir, name), { force: true });
    });
  }

  /** Releases `name` if `id` holds it. */
  release(name: string, id: string): void {
    if (this.lookup(name) === id) fs.rmSync(path.join(this.dir, name), { force: true });
  }

  all(): Map<string, string> {
    const out = new Map<string, string>();
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if (errnoCode(e) !== "ENOENT") throw e;
    }
    for (const n of names) {
      const id = this.lookup(n);
      if (id) out.set(n, id);
    }
    return out;
  }
}

// Our own short lists, in the spirit of Docker's generator: "adjective_surname".
const ADJECTIVES = [
  "admiring", "agitated", "amazing", "awesome", "blissful", "bold", "brave", "busy", "charming", "clever",
  "compassionate", "competent", "confident", "cool", "dazzling", "determined", "eager", "ecstatic", "elastic",
  "elegant", "epic", "exciting", "fervent", "festive", "focused", "friendly", "frosty", "gallant", "gifted",
  "gracious", "happy", "hopeful", "inspiring", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid",
  "magical", "modest", "nervous", "nice", "nifty", "nostalgic", "optimistic", "peaceful", "pensive", "practical",
  "priceless", "quirky", "quizzical", "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy",
  "stoic", "sweet", "tender", "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "wizardly", "wonderful",
  "youthful", "zealous", "zen",
];
const SURNAMES = [
  "agnesi", "albattani", "archimedes", "babbage", "bardeen", "bhabha", "bohr", "boole", "cannon", "carson",
  "curie", "darwin", "davinci", "dijkstra", "einstein", "euclid", "euler", "faraday", "fermat", "fermi",
  "feynman", "franklin", "galileo", "gauss", "goodall", "hamilton", "hawking", "heisenberg", "hopper",
  "hypatia", "johnson", "kepler", "knuth", "lamarr", "leakey", "lovelace", "mayer", "mcclintock", "meitner",
  "mendel", "morse", "newton", "nobel", "noether", "pascal", "pasteur", "planck", "ramanujan", "ride",
  "ritchie", "shannon", "stallman", "swartz", "tesla", "thompson", "torvalds", "turing", "volta", "wilson",
  "wozniak", "wright", "yalow",
];

export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
}

import path from "node:path";
import { errnoCode } from "../common/errors.js";
import type { Resources } from "../runtime/spec.js";
import type { CgroupFs } from "./cgroupfs.js";
import type { Hierarchy } from "./hierarchy.js";

/** A cgroup's directory in one hierarchy. */
export interface CgroupDir {
  hierarchy: Hierarchy;
  dir: string;
}

const EMPTY_TIMEOUT_MS = 10_000;
const FREEZE_TIMEOUT_MS = 10_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * One cgroup path (/tsrun/<id>) across every hierarchy of the host. The version-specific
 * parts (resources, freezer, kill, OOM counter) are in the v1 and v2 subclasses.
 */
export abstract class Cgroup {
  constructor(
    readonly path: string,
    readonly dirs: readonly CgroupDir[],
    protected readonly cgfs: CgroupFs,
  ) {}

  abstract readonly version: 1 | 2;

  /** cgroup.procs of every hierarchy: a process written into all of them has joined. */
  procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, "cgroup.procs"));
  }

  exists(): boolean {
    return this.dirs.some((d) => this.cgfs.exists(d.dir));
  }

  /** Every process in the cgroup and its descendants, in any hierarchy, sorted. */
  pids(): number[] {
    const all = new Set<number>();
    for (const d of this.dirs) for (const dir of this.subtree(d.dir)) for (const pid of this.procsIn(dir)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  /** The file the monitor reads OOM kills from, when the memory controller is there. */
  abstract oomEventsFile(): string | undefined;

  /** How many processes the kernel's OOM killer took in this cgroup. */
  oomKillCount(): number {
    const file = this.oomEventsFile();
    if (!file || !this.cgfs.exists(file)) return 0;
    const m = /^oom_kill (\d+)$/m.exec(this.cgfs.read(file));
    return m ? Number(m[1]) : 0;
  }

  abstract applyResources(resources: Resources): void;
  abstract freeze(): Promise<void>;
  abstract thaw(): Promise<void>;
  abstract isFrozen(): boolean;

  /**
   * SIGKILL every process in the cgroup and its children, frozen ones too, and wait until it
   * is empty. cgroup.kill (cgroup2, kernel >= 5.14; it works without controllers, so also
   * in a hybrid host's unified tree) kills the whole subtree at once, forks in flight
   * included; without it the cgroup is frozen so nothing forks between reading cgroup.procs
   * and the kills. Frozen tasks only die once thawed.
   */
  async killAll(): Promise<void> {
    const kill = this.cgroupKillFile();
    if (kill && this.cgfs.exists(kill)) {
      this.cgfs.write(kill, "1");
      if (this.isFrozen()) await this.thaw();
    } else {
      const freezable = this.canFreeze();
      if (freezable) await this.freeze();
      this.killPids(this.pids());
      if (freezable) await this.thaw();
    }
    await this.waitEmpty(() => this.killPids(this.pids()));
  }

  /** The cgroup.kill file to use, if the host has a cgroup2 hierarchy. */
  protected abstract cgroupKillFile(): string | undefined;
  protected abstract canFreeze(): boolean;

  /**
   * Kill what is left, then rmdir the cgroup in every hierarchy, children before parents.
   * A cgroup that is already gone is fine (removal is repeatable for crash repair).
   */
  async remove(): Promise<void> {
    if (this.pids().length > 0) await this.killAll();
    for (const d of this.dirs) {
      for (const dir of this.subtree(d.dir).reverse()) {
        try {
          this.cgfs.rmdir(dir);
        } catch (e) {
          if (errnoCode(e) !== "ENOENT") throw new Error(`Cannot remove cgroup "${dir}": ${errnoCode(e) ?? e}`, { cause: e });
        }
      }
    }
  }

  /** Polls until no process is left, signalling stragglers again each round. */
  protected async waitEmpty(resignal: () => void): Promise<void> {
    const deadline = Date.now() + EMPTY_TIMEOUT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      const left = this.pids();
      if (left.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`Cannot empty cgroup "${this.path}": processes ${left.join(", ")} are still in it`);
      }
      resignal();
      await sleep(delay);
    }
  }

  /** Polls a file (freezer.state, cgroup.events) until its content passes `test`. */
  protected async waitFor(file: string, test: (content: string) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      if (test(this.cgfs.read(file))) return;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for cgroup "${this.path}" to be ${what}`);
      await sleep(delay);
    }
  }

  /** cgroup2's freezer: cgroup.freeze, settled once cgroup.events says so. */
  protected async setCgroup2Frozen(dir: string, frozen: boolean): Promise<void> {
    const value = frozen ? "1" : "0";
    this.cgfs.write(path.join(dir, "cgroup.freeze"), value);
    await this.waitFor(path.join(dir, "cgroup.events"), (s) => s.includes(`frozen ${value}`), frozen ? "frozen" : "thawed");
  }

  protected killPids(pids: number[]): void {
    for (const pid of pids) {
      try {
        this.cgfs.kill(pid, "SIGKILL");
      } catch (e) {
        if (errnoCode(e) !== "ESRCH") throw e;
      }
    }
  }

  /** The directory and its descendants, parents first; nothing when it does not exist. */
  protected subtree(dir: string): string[] {
    if (!this.cgfs.exists(dir)) return [];
    let children: string[];
    try {
      children = this.cgfs.children(dir);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return [];
      throw e;
    }
    return [dir, ...children.flatMap((c) => this.subtree(path.join(dir, c)))];
  }

  private procsIn(dir: string): number[] {
    let text: string;
    try {
      text = this.cgfs.read(path.join(dir, "cgroup.procs"));
    } catch (e) {
      if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENODEV") return [];
      throw e;
    }
    return text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number);
  }
}

import path from "node:path";
import { logger } from "../common/log.js";
import type { Resources } from "../runtime/spec.js";
import { Cgroup, type CgroupDir } from "./cgroup.js";
import { v1ResourceWrites } from "./resources.js";

const log = logger("cgroups");

/**
 * A cgroup on a v1 (or hybrid) host: one directory per controller hierarchy, plus the
 * controller-less cgroup2 ("unified") when mounted, whose cgroup.kill and cgroup.freeze work
 * without controllers.
 */
export class CgroupV1 extends Cgroup {
  readonly version = 1;

  oomEventsFile(): string | undefined {
    const d = this.dirOf("memory");
    return d ? path.join(d, "memory.oom_control") : undefined;
  }

  applyResources(resources: Resources): void {
    const writes = v1ResourceWrites(resources);
    const memsw = writes.find((w) => w.file === "memory.memsw.limit_in_bytes");
    const limit = writes.find((w) => w.file === "memory.limit_in_bytes");
    // The kernel keeps limit <= memsw at every moment: when raising the limit above the
    // current memsw, memsw has to move first.
    if (memsw && limit && this.raisesAboveMemsw(limit.value)) {
      writes.splice(writes.indexOf(memsw), 1);
      writes.splice(writes.indexOf(limit), 0, memsw);
    }
    for (const w of writes) {
      const dir = this.dirOf(w.controller);
      if (!dir) throw new Error(`Cannot apply "${w.file}": the "${w.controller}" cgroup controller is not mounted`);
      const file = path.join(dir, w.file);
      if (w === memsw && !this.cgfs.exists(file)) {
        // Docker drops the swap limit with a warning when swap accounting is off.
        log(`skipping ${w.file}: swap accounting is off on this host`);
        continue;
      }
      this.cgfs.write(file, w.value);
    }
  }

  async freeze(): Promise<void> {
    await this.setFrozen(true);
  }

  async thaw(): Promise<void> {
    await this.setFrozen(false);
  }

  isFrozen(): boolean {
    const state = this.freezerState();
    if (state) return this.cgfs.exists(state) && this.cgfs.read(state).trim() !== "THAWED";
    const unified = this.unifiedDir();
    const file = unified && path.join(unified, "cgroup.freeze");
    return !!file && this.cgfs.exists(file) && this.cgfs.read(file).trim() === "1";
  }

  protected cgroupKillFile(): string | undefined {
    const unified = this.unifiedDir();
    return unified && path.join(unified, "cgroup.kill");
  }

  protected canFreeze(): boolean {
    return this.freezerState() !== undefined || this.unifiedDir() !== undefined;
  }

  private raisesAboveMemsw(limit: string): boolean {
    const dir = this.dirOf("memory");
    const file = dir && path.join(dir, "memory.memsw.limit_in_bytes");
    if (!file || !this.cgfs.exists(file)) return false;
    return BigInt(limit) > BigInt(this.cgfs.read(file).trim());
  }

  private freezerState(): string | undefined {
    const d = this.dirOf("freezer");
    return d ? path.join(d, "freezer.state") : undefined;
  }

  /** The v1 freezer when mounted, else the cgroup2 freezer of the unified hierarchy. */
  private async setFrozen(frozen: boolean): Promise<void> {
    const state = this.freezerState();
    if (state) {
      const want = frozen ? "FROZEN" : "THAWED";
      this.cgfs.write(state, want);
      await this.waitFor(state, (s) => s.trim() === want, want.toLowerCase());
      return;
    }
    const unified = this.unifiedDir();
    if (!unified) throw new Error(`Cannot freeze cgroup "${this.path}": no freezer controller and no cgroup2 mount`);
    await this.setCgroup2Frozen(unified, frozen);
  }

  private dirOf(controller: string): string | undefined {
    return this.dirs.find((d: CgroupDir) => d.hierarchy.controllers.includes(controller))?.dir;
  }

  private unifiedDir(): string | undefined {
    return this.dirs.find((d) => d.hierarchy.fstype === "cgroup2")?.dir;
  }
}

import path from "node:path";
import type { Resources } from "../runtime/spec.js";
import { Cgroup } from "./cgroup.js";
import { v2ResourceWrites } from "./resources.js";

/** A cgroup on a pure cgroup v2 host: one directory in the unified hierarchy. */
export class CgroupV2 extends Cgroup {
  readonly version = 2;

  private get dir(): string {
    return this.dirs[0]!.dir;
  }

  oomEventsFile(): string | undefined {
    return this.controllers().includes("memory") ? path.join(this.dir, "memory.events") : undefined;
  }

  applyResources(resources: Resources): void {
    const writes = v2ResourceWrites(resources);
    if (writes.length === 0) return;
    const enabled = this.controllers();
    for (const w of writes) {
      if (!enabled.includes(w.controller)) {
        throw new Error(`Cannot apply "${w.file}": the "${w.controller}" cgroup controller is not enabled for "${this.path}"`);
      }
      this.cgfs.write(path.join(this.dir, w.file), w.value);
    }
  }

  async freeze(): Promise<void> {
    await this.setCgroup2Frozen(this.dir, true);
  }

  async thaw(): Promise<void> {
    await this.setCgroup2Frozen(this.dir, false);
  }

  isFrozen(): boolean {
    const file = path.join(this.dir, "cgroup.freeze");
    return this.cgfs.exists(file) && this.cgfs.read(file).trim() === "1";
  }

  protected cgroupKillFile(): string {
    return path.join(this.dir, "cgroup.kill");
  }

  protected canFreeze(): boolean {
    return this.cgfs.exists(path.join(this.dir, "cgroup.freeze"));
  }

  private controllers(): string[] {
    const file = path.join(this.dir, "cgroup.controllers");
    return this.cgfs.exists(file) ? this.cgfs.read(file).trim().split(/\s+/).filter(Boolean) : [];
  }
}

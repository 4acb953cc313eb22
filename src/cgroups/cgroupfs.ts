import fs from "node:fs";
import { errnoCode } from "../common/errors.js";

/**
 * The file and process operations the drivers make. The real one talks to the kernel; a fake
 * one (fake-tree.ts) emulates cgroupfs in a temp dir, so the drivers are unit-tested without
 * root. Keep it to what cgroupfs does differently from a plain directory.
 */
export interface CgroupFs {
  /** mkdir of one cgroup level; throws with code EEXIST / ENOENT as mkdir(2). */
  mkdir(dir: string): void;
  /** rmdir of one cgroup (its interface files go with it); EBUSY while populated or with children. */
  rmdir(dir: string): void;
  read(file: string): string;
  /** Write an existing interface file; never creates one. */
  write(file: string, value: string): void;
  exists(file: string): boolean;
  /** Names of the child cgroups of a directory. */
  children(dir: string): string[];
  kill(pid: number, signal: NodeJS.Signals): void;
}

export class CgroupWriteError extends Error {
  constructor(
    readonly file: string,
    readonly value: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(`Cannot write "${value}" to "${file}": ${code ?? String(cause)}`, { cause });
    this.name = "CgroupWriteError";
  }
}

export const realCgroupFs: CgroupFs = {
  mkdir: (dir) => fs.mkdirSync(dir),
  rmdir: (dir) => fs.rmdirSync(dir),
  read: (file) => fs.readFileSync(file, "utf8"),
  write(file, value) {
    try {
      // O_WRONLY without O_CREAT: some interface files are write-only (cgroup.kill), and a
      // missing file must fail rather than be created.
      const fd = fs.openSync(file, fs.constants.O_WRONLY);
      try {
        fs.writeSync(fd, value);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw new CgroupWriteError(file, value, errnoCode(e), e);
    }
  },
  exists: (file) => fs.existsSync(file),
  children: (dir) =>
    fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
  kill: (pid, signal) => process.kill(pid, signal),
};

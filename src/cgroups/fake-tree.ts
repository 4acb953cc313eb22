import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CgroupWriteError, type CgroupFs } from "./cgroupfs.js";
import { CgroupDriver, openCgroupDriver } from "./driver.js";

/**
 * A temp directory laid out like /sys/fs/cgroup, with a CgroupFs that behaves like cgroupfs
 * where the drivers depend on it: mkdir fills in the interface files, rmdir refuses a busy
 * cgroup, writes never create files, a v1 cpuset without cpus refuses tasks (ENOSPC),
 * cgroup.freeze updates cgroup.events, cgroup.kill and SIGKILL empty cgroup.procs.
 * The standard way to unit-test cgroup code without root; the v2 driver can only be tested
 * this way on a v1 host.
 */
export class FakeCgroupTree {
  readonly root: string;
  readonly mountinfo: string;
  readonly cgfs: CgroupFs;
  /** Signals sent through cgfs.kill, in order. */
  readonly signals: { pid: number; signal: string }[] = [];
  /** Interface-file writes made through cgfs, in order (file relative to the root). */
  readonly writes: { file: string; value: string }[] = [];
  private readonly mounts: { dir: string; kind: "v1" | "v2"; controllers: string[] }[] = [];
  private readonly options: { swap: boolean; cgroupKill: boolean };

  constructor(
    readonly layout: "v1" | "v2",
    opts: { swapAccounting?: boolean; cgroupKill?: boolean } = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-fake-cgroup-"));
    this.options = { swap: opts.swapAccounting ?? true, cgroupKill: opts.cgroupKill ?? true };
    const lines: string[] = [];
    const add = (name: string, kind: "v1" | "v2", controllers: string[]) => {
      const dir = name ? path.join(this.root, name) : this.root;
      fs.mkdirSync(dir, { recursive: true });
      this.mounts.push({ dir, kind, controllers });
      const id = 30 + lines.length;
      lines.push(
        kind === "v1"
          ? `${id} 29 0:${id} / ${dir} rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,${controllers.join(",")}`
          : `${id} 29 0:${id} / ${dir} rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate`,
      );
      this.populate(dir, true);
    };
    if (layout === "v1") {
      for (const c of ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]) add(c, "v1", [c]);
      add("systemd", "v1", ["name=systemd"]);
      add("unified", "v2", []);
    } else {
      add("", "v2", []);
    }
    this.mountinfo = lines.join("\n") + "\n";
    this.cgfs = this.makeFs();
  }

  driver(): CgroupDriver {
    return openCgroupDriver({ mountinfo: this.mountinfo, cgfs: this.cgfs });
  }

  /** Path of a hierarchy's mount ("memory", "unified"; "" for the v2 root). */
  hierarchy(name: string): string {
    return name ? path.join(this.root, name) : this.root;
  }

  /** Puts a (fake) process into a cgroup directory, as a write to cgroup.procs would. */
  addProcess(dir: string, pid: number): void {
    this.cgfs.write(path.join(dir, "cgroup.procs"), String(pid));
  }

  read(file: string): string {
    return fs.readFileSync(file, "utf8");
  }

  dispose(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  private mountOf(p: string) {
    const m = [...this.mounts].sort((a, b) => b.dir.length - a.dir.length).find((m) => p === m.dir || p.startsWith(m.dir + "/"));
    if (!m) throw new Error(`Path "${p}" is outside the fake cgroup tree`);
    return m;
  }

  /** The interface files a new cgroup directory gets from the kernel. */
  private populate(dir: string, isRoot: boolean): void {
    const m = this.mountOf(dir);
    const files: Record<string, string> = { "cgroup.procs": "" };
    if (m.kind === "v1") {
      Object.assign(files, { tasks: "", "cgroup.clone_children": "0", "notify_on_release": "0" });
      for (const c of m.controllers) Object.assign(files, v1Files(c, isRoot, this.options.swap));
    } else {
      const parentSubtree = isRoot ? "" : fs.readFileSync(path.join(path.dirname(dir), "cgroup.subtree_control"), "utf8").trim();
      const controllers = isRoot ? (this.layout === "v2" ? "cpuset cpu io memory pids" : "") : parentSubtree;
      Object.assign(files, {
        "cgroup.controllers": controllers,
        "cgroup.subtree_control": isRoot ? controllers : "",
        "cgroup.events": "populated 0\nfrozen 0\n",
      });
      if (!isRoot) {
        files["cgroup.freeze"] = "0";
        if (this.options.cgroupKill) files["cgroup.kill"] = "";
        for (const c of controllers.split(" ").filter(Boolean)) Object.assign(files, v2Files(c));
      }
    }
    for (const [name, value] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), value);
  }

  private makeFs(): CgroupFs {
    return {
      mkdir: (dir) => {
        fs.mkdirSync(dir);
        this.populate(dir, false);
      },
      rmdir: (dir) => {
        const entries = fs.readdirSync(dir, { withFileTypes: true });
        if (entries.some((e) => e.isDirectory())) throw sysError("EBUSY", "rmdir", dir);
        if (fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").trim() !== "") throw sysError("EBUSY", "rmdir", dir);
        for (const e of entries) fs.rmSync(path.join(dir, e.name));
        fs.rmdirSync(dir);
      },
      read: (file) => fs.readFileSync(file, "utf8"),
      write: (file, value) => {
        if (!fs.existsSync(file)) throw new CgroupWriteError(file, value, "ENOENT", sysError("ENOENT", "open", file));
        this.writes.push({ file: path.relative(this.root, file), value });
        this.emulateWrite(file, value);
      },
      exists: (file) => fs.existsSync(file),
      children: (dir) =>
        fs
          .readdirSync(dir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name),
      kill: (pid, signal) => {
        this.signals.push({ pid, signal });
        if (signal === "SIGKILL") this.removePid(this.root, pid);
      },
    };
  }

  private emulateWrite(file: string, value: string): void {
    const dir = path.dirname(file);
    const base = path.basename(file);
    if (base === "cgroup.procs") {
      const cpus = path.join(dir, "cpuset.cpus");
      if (this.mountOf(dir).kind === "v1" && fs.existsSync(cpus) && fs.readFileSync(cpus, "utf8").trim() === "") {
        throw new CgroupWriteError(file, value, "ENOSPC", sysError("ENOSPC", "write", file));
      }
      fs.appendFileSync(file, value.trim() + "\n");
    } else if (base === "cgroup.freeze") {
      fs.writeFileSync(file, value.trim());
      const events = path.join(dir, "cgroup.events");
      fs.writeFileSync(events, fs.readFileSync(events, "utf8").replace(/frozen \d/, `frozen ${value.trim()}`));
    } else if (base === "cgroup.kill") {
      for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
        this.removePid(this.root, Number(pid));
      }
    } else if (base === "cgroup.subtree_control") {
      const enabled = new Set(fs.readFileSync(file, "utf8").split(/\s+/).filter(Boolean));
      for (const token of value.split(/\s+/).filter(Boolean)) {
        if (token.startsWith("+")) enabled.add(token.slice(1));
        else if (token.startsWith("-")) enabled.delete(token.slice(1));
      }
      fs.writeFileSync(file, [...enabled].join(" "));
    } else {
      fs.writeFileSync(file, value);
    }
  }

  /** A process died: it leaves every cgroup.procs in the tree. */
  private removePid(dir: string, pid: number): void {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) this.removePid(p, pid);
      else if (e.name === "cgroup.procs") {
        const kept = fs.readFileSync(p, "utf8").split("\n").filter((l) => l && Number(l) !== pid);
        fs.writeFileSync(p, kept.map((l) => l + "\n").join(""));
      }
    }
  }
}

function v1Files(controller: string, isRoot: boolean, swap: boolean): Record<string, string> {
  const unlimited = "9223372036854771712";
  switch (controller) {
    case "cpu":
      return { "cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1" };
    case "cpuset":
      return { "cpuset.cpus": isRoot ? "0-1" : "", "cpuset.mems": isRoot ? "0" : "" };
    case "memory":
      return {
        "memory.limit_in_bytes": unlimited,
        "memory.soft_limit_in_bytes": unlimited,
        ...(swap ? { "memory.memsw.limit_in_bytes": unlimited } : {}),
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
      };
    case "freezer":
      return isRoot ? {} : { "freezer.state": "THAWED" };
    case "pids":
      return isRoot ? {} : { "pids.max": "max" };
    default:
      return {};
  }
}

function v2Files(controller: string): Record<string, string> {
  switch (controller) {
    case "memory":
      return { "memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n" };
    case "cpu":
      return { "cpu.weight": "100", "cpu.max": "max 100000" };
    case "cpuset":
      return { "cpuset.cpus": "", "cpuset.mems": "" };
    case "pids":
      return { "pids.max": "max" };
    case "io":
      return { "io.weight": "default 100" };
    default:
      return {};
  }
}

function sysError(code: string, syscall: string, p: string): NodeJS.ErrnoException {
  const e = new Error(`${syscall} "${p}": ${code}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  e.path = p;
  return e;
}

import { describe, expect, it } from "vitest";
import type { CgroupPlacement } from "../../src/cgroups/driver.js";
import { isTsrunError } from "../../src/common/errors.js";
import type { HostProbe } from "../../src/runtime/host-probe.js";
import { MS } from "../../src/runtime/mount-options.js";
import { planFromSpec, type PlanContext } from "../../src/runtime/planner.js";
import { ANNOTATION_LAYERS, ANNOTATION_UPPER, type Spec } from "../../src/runtime/spec.js";

const V1: CgroupPlacement = {
  version: 1,
  path: "/tsrun/c1",
  hierarchies: [
    { name: "cpu", fstype: "cgroup", mountData: "cpu", dir: "/sys/fs/cgroup/cpu/tsrun/c1" },
    { name: "memory", fstype: "cgroup", mountData: "memory", dir: "/sys/fs/cgroup/memory/tsrun/c1" },
    { name: "systemd", fstype: "cgroup", mountData: "none,name=systemd", dir: "/sys/fs/cgroup/systemd/tsrun/c1" },
    { name: "unified", fstype: "cgroup2", mountData: "", dir: "/sys/fs/cgroup/unified/tsrun/c1" },
  ],
  procs: ["/sys/fs/cgroup/cpu/tsrun/c1/cgroup.procs", "/sys/fs/cgroup/memory/tsrun/c1/cgroup.procs"],
  monitorProcs: ["/sys/fs/cgroup/cpu/tsrun/c1.monitor/cgroup.procs"],
  oomEventsFile: "/sys/fs/cgroup/memory/tsrun/c1/memory.oom_control",
};

const V2: CgroupPlacement = {
  version: 2,
  path: "/tsrun/c1",
  hierarchies: [{ name: "", fstype: "cgroup2", mountData: "", dir: "/sys/fs/cgroup/tsrun/c1" }],
  procs: ["/sys/fs/cgroup/tsrun/c1/cgroup.procs"],
  monitorProcs: ["/sys/fs/cgroup/tsrun/c1.monitor/cgroup.procs"],
};

/** A host with /dev/null (1:3) and /dev/sda (b 8:0), reachable by number too, and no /proc/kcore. */
const HOST: HostProbe = {
  exists: (p) => p !== "/proc/kcore",
  device: (p) =>
    p === "/dev/null" || p === "/dev/char/1:3"
      ? { type: "c", major: 1, minor: 3 }
      : p === "/dev/sda" || p === "/dev/block/8:0"
        ? { type: "b", major: 8, minor: 0 }
        : undefined,
};

function ctx(over: Partial<PlanContext> = {}): PlanContext {
  return { id: "c1", stateDir: "/run/tsrun/c1", bundle: "/bundles/c1", cgroups: V1, stdin: false, host: HOST, ...over };
}

/** A spec shaped like the one the engine (and Docker) writes. */
function dockerSpec(): Spec {
  return {
    ociVersion: "1.1.0",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ["sh", "-c", "echo hi"],
      env: ["PATH=/usr/bin:/bin", "HOSTNAME=c1"],
      cwd: "/",
      capabilities: { bounding: ["CAP_CHOWN", "CAP_KILL"], effective: ["CAP_CHOWN", "CAP_KILL"], permitted: ["CAP_CHOWN", "CAP_KILL"] },
      rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs" },
    hostname: "c1",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
      { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "cgroup" }, { type: "user" }],
      uidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }],
      devices: [{ path: "/dev/null", type: "c", major: 1, minor: 3 }],
      maskedPaths: ["/proc/kcore", "/proc/keys"],
      readonlyPaths: ["/proc/sys", "/proc/bus"],
      sysctl: { "net.ipv4.ip_unprivileged_port_start": "0" },
    },
  };
}

function rejection(spec: Spec, c: PlanContext = ctx()): string {
  try {
    planFromSpec(spec, c);
  } catch (e) {
    expect(isTsrunError(e, "invalid-argument")).toBe(true);
    return (e as Error).message;
  }
  throw new Error("the spec was accepted");
}

describe("planFromSpec: a Docker-like spec", () => {
  const plan = planFromSpec(dockerSpec(), ctx());

  it("creates namespaces user first and cgroup last, with the id maps", () => {
    expect(plan.newNamespaces).toEqual(["user", "mnt", "pid", "uts", "ipc", "net", "cgroup"]);
    expect(plan.joinNamespaces).toEqual([]);
    expect(plan.uidMap).toEqual([{ inside: 0, outside: 200000, count: 65536 }]);
    expect(plan.gidMap).toEqual([{ inside: 0, outside: 200000, count: 65536 }]);
  });

  it("takes root.path relative to the bundle, with private propagation by default", () => {
    expect(plan.rootfs).toEqual({ kind: "dir", path: "/bundles/c1/rootfs", readonly: false });
    expect(plan.rootPropagation).toBe(MS.PRIVATE | MS.REC);
  });

  it("turns mount options into flags and data", () => {
    expect(plan.mounts[0]).toEqual({
      kind: "fs", source: "proc", target: "/proc", fstype: "proc", flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, propagation: 0, data: "", idmap: false,
    });
    expect(plan.mounts[1]).toMatchObject({ target: "/dev", fstype: "tmpfs", flags: MS.NOSUID | MS.STRICTATIME, data: "mode=755,size=65536k" });
    expect(plan.mounts[2]).toMatchObject({ target: "/dev/pts", data: "newinstance,ptmxmode=0666,mode=0620" });
    expect(plan.mounts[3]).toMatchObject({ target: "/sys", flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY });
  });

  it("expands the cgroup mount into a tmpfs, one fresh mount per host hierarchy, then a read-only remount", () => {
    const cg = plan.mounts.slice(4);
    const hard = MS.NOSUID | MS.NOEXEC | MS.NODEV;
    expect(cg.map((m) => [m.target, m.fstype, m.data])).toEqual([
      ["/sys/fs/cgroup", "tmpfs", "mode=755"],
      ["/sys/fs/cgroup/cpu", "cgroup", "cpu"],
      ["/sys/fs/cgroup/memory", "cgroup", "memory"],
      ["/sys/fs/cgroup/systemd", "cgroup", "none,name=systemd"],
      ["/sys/fs/cgroup/unified", "cgroup2", ""],
      ["/sys/fs/cgroup", "tmpfs", "mode=755"],
    ]);
    expect(cg[0]!.flags).toBe(hard);
    expect(cg[1]).toMatchObject({ kind: "fs", source: "cgroup", flags: hard | MS.RDONLY });
    expect(cg[5]!.flags).toBe(hard | MS.REMOUNT | MS.RDONLY);
  });

  it("binds devices from the host and adds Docker's /dev symlinks", () => {
    expect(plan.devices).toEqual([{ hostPath: "/dev/null", target: "/dev/null" }]);
    expect(plan.symlinks).toEqual([
      { target: "/proc/self/fd", linkPath: "/dev/fd" },
      { target: "/proc/self/fd/0", linkPath: "/dev/stdin" },
      { target: "/proc/self/fd/1", linkPath: "/dev/stdout" },
      { target: "/proc/self/fd/2", linkPath: "/dev/stderr" },
      { target: "pts/ptmx", linkPath: "/dev/ptmx" },
    ]);
  });

  it("keeps masked and read-only paths, hostname and sysctls", () => {
    expect(plan.maskedPaths).toEqual(["/proc/kcore", "/proc/keys"]);
    expect(plan.readonlyPaths).toEqual(["/proc/sys", "/proc/bus"]);
    expect(plan.hostname).toBe("c1");
    expect(plan.domainname).toBeUndefined();
    expect(plan.sysctls).toEqual([{ key: "net.ipv4.ip_unprivileged_port_start", value: "0" }]);
  });

  it("plans the process with capability masks and rlimits by number", () => {
    const caps = (1n << 0n) | (1n << 5n);
    expect(plan.process).toEqual({
      args: ["sh", "-c", "echo hi"],
      env: ["PATH=/usr/bin:/bin", "HOSTNAME=c1"],
      cwd: "/",
      uid: 0,
      gid: 0,
      additionalGids: [],
      terminal: false,
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: 0n, ambient: 0n },
      noNewPrivileges: true,
      rlimits: [{ resource: 7, soft: 1024n, hard: 4096n }],
    });
  });

  it("gives the monitor its state dir, its own cgroups and the OOM counter", () => {
    expect(plan.cgroupProcs).toEqual(V1.procs);
    expect(plan.monitor).toEqual({
      stateDir: "/run/tsrun/c1",
      stdin: false,
      ownCgroupProcs: V1.monitorProcs,
      oomEventsFile: V1.oomEventsFile,
    });
  });
});

describe("planFromSpec: variations", () => {
  it("builds an overlay rootfs from the layer annotations, idmapped in a user namespace", () => {
    const spec = dockerSpec();
    spec.annotations = { [ANNOTATION_LAYERS]: JSON.stringify(["/l/2", "/l/1"]), [ANNOTATION_UPPER]: "/c/fs" };
    spec.root = { path: "ignored", readonly: true };
    expect(planFromSpec(spec, ctx()).rootfs).toEqual({ kind: "overlay", lowers: ["/l/2", "/l/1"], upperParent: "/c/fs", idmap: true, readonly: true });
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "user");
    delete spec.linux!.uidMappings;
    delete spec.linux!.gidMappings;
    expect(planFromSpec(spec, ctx()).rootfs).toMatchObject({ kind: "overlay", idmap: false });
  });

  it("parses bind options, propagation and idmap", () => {
    const spec = dockerSpec();
    spec.mounts = [
      { destination: "/data/", type: "bind", source: "vol", options: ["ro", "rprivate"] },
      { destination: "/r", source: "/srv", options: ["rbind", "nosuid", "rslave", "ridmap"] },
      { destination: "/s", type: "none", source: "/srv", options: ["bind", "idmap", "shared", "tmpcopyup"] },
      { destination: "/t", type: "tmpfs", options: ["ro", "rw", "noexec", "exec", "mode=1777", "unbindable"] },
    ];
    const [data, r, s, t] = planFromSpec(spec, ctx()).mounts;
    expect(data).toEqual({ kind: "bind", source: "/bundles/c1/vol", target: "/data", fstype: "", flags: MS.BIND | MS.RDONLY, propagation: MS.PRIVATE | MS.REC, data: "", idmap: false });
    expect(r).toMatchObject({ kind: "bind", source: "/srv", flags: MS.BIND | MS.REC | MS.NOSUID, propagation: MS.SLAVE | MS.REC, idmap: true });
    expect(s).toMatchObject({ kind: "bind", flags: MS.BIND, propagation: MS.SHARED, idmap: true, data: "" });
    expect(t).toMatchObject({ kind: "fs", source: "tmpfs", flags: 0, data: "mode=1777", propagation: MS.UNBINDABLE });
  });

  it("plans a source under /proc/PID/root/ as that path in PID's mount namespace", () => {
    const spec = dockerSpec();
    spec.mounts = [
      { destination: "/dev/shm", type: "bind", source: "/proc/4242/root/dev/shm", options: ["rbind"] },
      { destination: "/whole", type: "bind", source: "/proc/4242/root", options: ["rbind"] },
      { destination: "/self", type: "bind", source: "/proc/self/root/etc", options: ["rbind"] },
    ];
    const [shm, whole, self] = planFromSpec(spec, ctx()).mounts;
    expect(shm).toMatchObject({ kind: "bind", source: "/dev/shm", sourceNs: "/proc/4242/ns/mnt" });
    expect(whole).toMatchObject({ source: "/", sourceNs: "/proc/4242/ns/mnt" });
    expect(self!.source).toBe("/proc/self/root/etc");
    expect(self!.sourceNs).toBeUndefined();
  });

  it("binds the container's own cgroup dirs when there is no cgroup namespace", () => {
    const spec = dockerSpec();
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "cgroup");
    const cg = planFromSpec(spec, ctx()).mounts.filter((m) => m.target.startsWith("/sys/fs/cgroup/"));
    expect(cg.map((m) => [m.kind, m.source, m.target])).toEqual([
      ["bind", "/sys/fs/cgroup/cpu/tsrun/c1", "/sys/fs/cgroup/cpu"],
      ["bind", "/sys/fs/cgroup/memory/tsrun/c1", "/sys/fs/cgroup/memory"],
      ["bind", "/sys/fs/cgroup/systemd/tsrun/c1", "/sys/fs/cgroup/systemd"],
      ["bind", "/sys/fs/cgroup/unified/tsrun/c1", "/sys/fs/cgroup/unified"],
    ]);
    expect(cg[0]!.flags & (MS.BIND | MS.REC | MS.RDONLY)).toBe(MS.BIND | MS.REC | MS.RDONLY);
  });

  it("mounts co-mounted controllers under each controller's name too", () => {
    const placement: CgroupPlacement = {
      ...V1,
      hierarchies: [{ name: "cpu,cpuacct", fstype: "cgroup", mountData: "cpu,cpuacct", dir: "/sys/fs/cgroup/cpu,cpuacct/tsrun/c1" }],
    };
    const targets = planFromSpec(dockerSpec(), ctx({ cgroups: placement })).mounts.map((m) => m.target);
    expect(targets).toEqual(expect.arrayContaining(["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct"]));
  });

  it("mounts one cgroup2 on a pure v2 host, read-only as the spec says", () => {
    const cg = planFromSpec(dockerSpec(), ctx({ cgroups: V2 })).mounts.filter((m) => m.target.startsWith("/sys/fs/cgroup"));
    expect(cg).toEqual([
      { kind: "fs", source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2", flags: MS.RDONLY | MS.NOSUID | MS.NOEXEC | MS.NODEV, propagation: 0, data: "", idmap: false },
    ]);
    expect(planFromSpec(dockerSpec(), ctx({ cgroups: V2 })).monitor.oomEventsFile).toBeUndefined();
  });

  it("joins namespaces by path, user first", () => {
    const spec = dockerSpec();
    spec.linux!.namespaces = [{ type: "network", path: "/proc/9/ns/net" }, { type: "user", path: "/proc/9/ns/user" }, { type: "pid" }, { type: "mount" }];
    delete spec.linux!.uidMappings;
    delete spec.linux!.gidMappings;
    delete spec.hostname;
    const plan = planFromSpec(spec, ctx());
    expect(plan.joinNamespaces).toEqual([
      { kind: "user", path: "/proc/9/ns/user" },
      { kind: "net", path: "/proc/9/ns/net" },
    ]);
    expect(plan.newNamespaces).toEqual(["mnt", "pid"]);
  });

  it("finds a device by its numbers when the path differs, and adds /dev/core only where kcore exists", () => {
    const spec = dockerSpec();
    spec.linux!.devices = [{ path: "/dev/xvda", type: "b", major: 8, minor: 0 }];
    const plan = planFromSpec(spec, ctx({ host: { ...HOST, exists: () => true } }));
    expect(plan.devices).toEqual([{ hostPath: "/dev/block/8:0", target: "/dev/xvda" }]);
    expect(plan.symlinks).toContainEqual({ target: "/proc/kcore", linkPath: "/dev/core" });
  });

  it("adds no /dev links over a host /dev bind, and no ptmx link without a /dev tmpfs", () => {
    const spec = dockerSpec();
    spec.mounts = [{ destination: "/dev", type: "bind", source: "/dev", options: ["rbind"] }];
    expect(planFromSpec(spec, ctx()).symlinks).toEqual([]);
    spec.mounts = [];
    expect(planFromSpec(spec, ctx()).symlinks.map((s) => s.linkPath)).toEqual(["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"]);
  });

  it("passes terminal size, umask, oomScoreAdj, additional gids, log and exit command", () => {
    const spec = dockerSpec();
    Object.assign(spec.process!, { terminal: true, consoleSize: { height: 24, width: 80 }, oomScoreAdj: -500, user: { uid: 1000, gid: 1000, umask: 0o27, additionalGids: [10, 20] } });
    spec.process!.rlimits = [{ type: "RLIMIT_CORE", soft: 18446744073709551615, hard: 18446744073709551615 }];
    const plan = planFromSpec(spec, ctx({ stdin: true, logPath: "/l/c1-json.log", exitCommand: ["tsrun", "rm", "c1"] }));
    expect(plan.process).toMatchObject({ terminal: true, consoleSize: { rows: 24, cols: 80 }, oomScoreAdj: -500, umask: 0o27, uid: 1000, gid: 1000, additionalGids: [10, 20] });
    expect(plan.process.rlimits).toEqual([{ resource: 4, soft: (1n << 64n) - 1n, hard: (1n << 64n) - 1n }]);
    expect(plan.monitor).toMatchObject({ stdin: true, logPath: "/l/c1-json.log", exitCommand: ["tsrun", "rm", "c1"] });
  });

  it("sets propagation of / as linux.rootfsPropagation says", () => {
    const spec = dockerSpec();
    spec.linux!.rootfsPropagation = "rslave";
    expect(planFromSpec(spec, ctx()).rootPropagation).toBe(MS.SLAVE | MS.REC);
  });
});

describe("planFromSpec: rejections", () => {
  const cases: [string, (s: Spec) => void, string][] = [
    ["a wrong ociVersion", (s) => (s.ociVersion = "0.9"), 'Unsupported ociVersion "0.9": tsrun reads version 1 specs'],
    ["missing args", (s) => (s.process!.args = []), "process.args must be a non-empty list of strings"],
    ["no process", (s) => delete s.process, "process is required"],
    ["a relative cwd", (s) => (s.process!.cwd = "tmp"), 'process.cwd "tmp" is not absolute'],
    ["an env entry without =", (s) => (s.process!.env = ["FOO"]), 'Invalid process.env entry "FOO": expected KEY=value'],
    ["an unknown capability", (s) => (s.process!.capabilities = { bounding: ["CAP_FLY"] }), 'Unknown capability "CAP_FLY"'],
    ["an unknown rlimit", (s) => (s.process!.rlimits = [{ type: "RLIMIT_FOO", soft: 1, hard: 1 }]), 'Unknown rlimit "RLIMIT_FOO"'],
    ["soft above hard", (s) => (s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 10, hard: 5 }]), 'Invalid rlimit "RLIMIT_NOFILE": soft limit 10 is above hard limit 5'],
    ["a negative uid", (s) => (s.process!.user = { uid: -1, gid: 0 }), 'Invalid process.user.uid "-1"'],
    ["a big umask", (s) => (s.process!.user = { uid: 0, gid: 0, umask: 0o1000 }), 'Invalid process.user.umask "512"'],
    ["oomScoreAdj out of range", (s) => (s.process!.oomScoreAdj = 2000), 'Invalid process.oomScoreAdj "2000": it must be between -1000 and 1000'],
    ["no root", (s) => delete s.root, "root.path is required"],
    ["bad layers", (s) => (s.annotations = { [ANNOTATION_LAYERS]: "[1]", [ANNOTATION_UPPER]: "/u" }), `Annotation "${ANNOTATION_LAYERS}" must be a non-empty JSON array of absolute directories`],
    ["layers that are not JSON", (s) => (s.annotations = { [ANNOTATION_LAYERS]: "x", [ANNOTATION_UPPER]: "/u" }), `Annotation "${ANNOTATION_LAYERS}" is not a JSON array of layer directories`],
    ["a relative upper", (s) => (s.annotations = { [ANNOTATION_LAYERS]: '["/l"]', [ANNOTATION_UPPER]: "u" }), `Annotation "${ANNOTATION_UPPER}" must be an absolute directory`],
    ["a relative mount destination", (s) => s.mounts!.push({ destination: "tmp", type: "tmpfs" }), 'Mount destination "tmp" is not absolute'],
    ["a bind without source", (s) => s.mounts!.push({ destination: "/x", type: "bind" }), 'Bind mount on "/x" has no source'],
    ["a mount without type", (s) => s.mounts!.push({ destination: "/x", source: "x" }), 'Mount on "/x" has no type'],
    ["idmap on a tmpfs", (s) => s.mounts!.push({ destination: "/x", type: "tmpfs", options: ["idmap"] }), 'Cannot mount "/x": "idmap" needs a bind mount'],
    ["per-mount id maps", (s) => s.mounts!.push({ destination: "/x", type: "bind", source: "/y", uidMappings: [] }), 'Cannot mount "/x": per-mount uidMappings/gidMappings are not supported (use "idmap")'],
    ["a missing device", (s) => (s.linux!.devices = [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }]), 'Cannot add device "/dev/fuse": no c 10:229 node on the host'],
    ["a device of the wrong numbers", (s) => (s.linux!.devices = [{ path: "/dev/null", type: "c", major: 1, minor: 5 }]), 'Cannot add device "/dev/null": no c 1:5 node on the host'],
    ["a fifo device", (s) => (s.linux!.devices = [{ path: "/dev/f", type: "p", major: 0, minor: 0 }]), 'Cannot add device "/dev/f": type "p" is not supported'],
    ["a sysctl with ..", (s) => (s.linux!.sysctl = { "net..x": "1" }), 'Invalid sysctl "net..x": a key is dotted names without "/" or ".."'],
    ["a sysctl with /", (s) => (s.linux!.sysctl = { "net/ipv4/x": "1" }), 'Invalid sysctl "net/ipv4/x": a key is dotted names without "/" or ".."'],
    ["a host sysctl", (s) => (s.linux!.sysctl = { "vm.swappiness": "1" }), 'Sysctl "vm.swappiness" is not in a separate kernel namespace'],
    ["a net sysctl without netns", (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "network"); }, 'Sysctl "net.ipv4.ip_unprivileged_port_start" needs the container\'s own net namespace'],
    ["a hostname without uts", (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts"); }, "Cannot set the hostname or domainname without a new UTS namespace"],
    ["a user namespace without maps", (s) => delete s.linux!.uidMappings, "A new user namespace needs linux.uidMappings and linux.gidMappings"],
    ["maps without a user namespace", (s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "user"); }, "linux.uidMappings and linux.gidMappings need a new user namespace"],
    ["a zero-size map", (s) => (s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: 0 }]), 'Invalid id mapping {"containerID":0,"hostID":1,"size":0}: size is 0'],
    ["a time namespace", (s) => s.linux!.namespaces!.push({ type: "time" }), 'Namespace type "time" is not supported'],
    ["a namespace twice", (s) => s.linux!.namespaces!.push({ type: "pid" }), 'Namespace type "pid" is given twice'],
    ["a relative namespace path", (s) => (s.linux!.namespaces![0] = { type: "pid", path: "ns/pid" }), 'Namespace path "ns/pid" is not absolute'],
    ["hooks", (s) => (s.hooks = { prestart: [{ path: "/bin/true" }] }), 'Hooks are not supported ("prestart")'],
    ["a relative masked path", (s) => (s.linux!.maskedPaths = ["proc/kcore"]), 'linux.maskedPaths entry "proc/kcore" is not absolute'],
    ["a bad rootfsPropagation", (s) => (s.linux!.rootfsPropagation = "sideways"), 'Invalid linux.rootfsPropagation "sideways"'],
  ];
  for (const [what, edit, message] of cases) {
    it(`refuses ${what}`, () => {
      const spec = dockerSpec();
      edit(spec);
      expect(rejection(spec)).toBe(message);
    });
  }

  it("refuses idmap without a user namespace", () => {
    const spec = dockerSpec();
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "user");
    delete spec.linux!.uidMappings;
    delete spec.linux!.gidMappings;
    spec.mounts!.push({ destination: "/x", type: "bind", source: "/y", options: ["idmap"] });
    expect(rejection(spec)).toBe('Cannot mount "/x": "idmap" needs a new user namespace');
  });
});

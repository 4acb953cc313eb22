import { describe, expect, it } from "vitest";
import { layoutFromMountinfo, parseCgroupMounts } from "../../src/cgroups/hierarchy.js";
import { resolveCgroupPath, monitorCgroupPath, isTsrunOwned } from "../../src/cgroups/cgroup-path.js";

// This VM's own mountinfo (cgroup lines), plus unrelated mounts around them.
const HYBRID = `
22 1 8:1 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe("parseCgroupMounts", () => {
  it("finds every hierarchy of a hybrid host with its controllers", () => {
    const mounts = parseCgroupMounts(HYBRID);
    expect(mounts.map((m) => m.mountPoint)).toEqual([
      "/sys/fs/cgroup/cpu",
      "/sys/fs/cgroup/cpuacct",
      "/sys/fs/cgroup/cpuset",
      "/sys/fs/cgroup/memory",
      "/sys/fs/cgroup/devices",
      "/sys/fs/cgroup/freezer",
      "/sys/fs/cgroup/blkio",
      "/sys/fs/cgroup/pids",
      "/sys/fs/cgroup/systemd",
      "/sys/fs/cgroup/unified",
    ]);
    expect(mounts.find((m) => m.mountPoint.endsWith("systemd"))?.controllers).toEqual(["name=systemd"]);
    expect(mounts.find((m) => m.fstype === "cgroup2")?.controllers).toEqual([]);
  });

  it("keeps the first mount of a hierarchy and skips binds of a subtree", () => {
    const text = `${HYBRID}
90 22 0:29 / /tmp/again/cpu rw - cgroup cgroup rw,cpu
91 22 0:32 /tsrun/x /tmp/sub rw - cgroup cgroup rw,memory
`;
    const cpu = parseCgroupMounts(text).filter((m) => m.controllers.includes("cpu"));
    expect(cpu.map((m) => m.mountPoint)).toEqual(["/sys/fs/cgroup/cpu"]);
    expect(parseCgroupMounts(text).some((m) => m.mountPoint === "/tmp/sub")).toBe(false);
  });

  it("reads co-mounted controllers and octal escapes in paths", () => {
    const text = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n50 1 0:40 / /mnt/with\\040space rw - cgroup2 cgroup2 rw\n";
    const mounts = parseCgroupMounts(text);
    expect(mounts[0]?.controllers).toEqual(["cpu", "cpuacct"]);
    expect(mounts[1]?.mountPoint).toBe("/mnt/with space");
  });
});

describe("layoutFromMountinfo", () => {
  it("drives a hybrid host as v1 and joins its unified hierarchy too", () => {
    const layout = layoutFromMountinfo(HYBRID);
    expect(layout.version).toBe(1);
    expect(layout.hierarchies.map((h) => h.name)).toEqual([
      "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified",
    ]);
  });

  it("drives a pure cgroup2 host as v2 with one unnamed hierarchy", () => {
    const layout = layoutFromMountinfo("30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
    expect(layout).toEqual({
      version: 2,
      hierarchies: [{ name: "", mountPoint: "/sys/fs/cgroup", fstype: "cgroup2", controllers: [] }],
    });
  });

  it("refuses a host without cgroups", () => {
    expect(() => layoutFromMountinfo("22 1 8:1 / / rw - ext4 /dev/vda rw\n")).toThrow("Cannot find a cgroup hierarchy in mountinfo");
  });
});

describe("resolveCgroupPath", () => {
  it("puts relative and missing paths under /tsrun and keeps absolute ones", () => {
    expect(resolveCgroupPath(undefined, "abc")).toBe("/tsrun/abc");
    expect(resolveCgroupPath("", "abc")).toBe("/tsrun/abc");
    expect(resolveCgroupPath("a/b", "abc")).toBe("/tsrun/a/b");
    expect(resolveCgroupPath("/tsrun/x/", "abc")).toBe("/tsrun/x");
    expect(resolveCgroupPath("/k8s.io//x", "abc")).toBe("/k8s.io/x");
  });

  it("refuses dot segments, the root and systemd paths", () => {
    expect(() => resolveCgroupPath("/tsrun/../x", "a")).toThrow('Cannot use cgroupsPath "/tsrun/../x": ".." is not allowed');
    expect(() => resolveCgroupPath("/", "a")).toThrow('Cannot use cgroupsPath "/": it names the root cgroup');
    expect(() => resolveCgroupPath("system.slice:tsrun:a", "a")).toThrow("systemd cgroup paths are not supported");
  });

  it("names the monitor's cgroup beside the container's and knows tsrun's own levels", () => {
    expect(monitorCgroupPath("/tsrun/abc")).toBe("/tsrun/abc.monitor");
    expect(isTsrunOwned("/tsrun")).toBe(true);
    expect(isTsrunOwned("/tsrun/a/b")).toBe(true);
    expect(isTsrunOwned("/tsrunx")).toBe(false);
    expect(isTsrunOwned("/k8s.io/a")).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { buildSpec, type SpecInput } from "../../src/engine/spec-builder.js";
import { ANNOTATION_LAYERS, ANNOTATION_UPPER } from "../../src/runtime/spec.js";
import { planFromSpec } from "../../src/runtime/planner.js";

const input: SpecInput = {
  id: "a".repeat(64),
  args: ["sh"],
  env: ["PATH=/bin"],
  cwd: "/",
  user: { uid: 0, gid: 0, additionalGids: [0], home: "/root" },
  tty: false,
  hostname: "aaaaaaaaaaaa",
  layers: ["/l/2/diff", "/l/1/diff"],
  upperParent: "/c/fs",
  etcFiles: { hostname: "/c/etc/hostname", hosts: "/c/etc/hosts", resolvConf: "/c/etc/resolv.conf" },
  idRange: { uid: 131072, gid: 131072, size: 65536 },
  shmSize: 1024,
  readonlyRootfs: false,
};

describe("buildSpec", () => {
  it("gives a user namespace mapped to the range, and idmapped /etc files", () => {
    const spec = buildSpec(input);
    expect(spec.linux!.namespaces!.map((n) => n.type)).toEqual(["user", "pid", "ipc", "uts", "mount", "network", "cgroup"]);
    expect(spec.linux!.uidMappings).toEqual([{ containerID: 0, hostID: 131072, size: 65536 }]);
    expect(spec.mounts!.find((m) => m.destination === "/etc/hosts")!.options).toContain("idmap");
    expect(spec.linux!.sysctl!["net.ipv4.ping_group_range"]).toBe("0 65535");
    expect(spec.annotations![ANNOTATION_LAYERS]).toBe(JSON.stringify(input.layers));
    expect(spec.annotations![ANNOTATION_UPPER]).toBe("/c/fs");
    expect(spec.mounts!.find((m) => m.destination === "/dev/shm")!.options).toContain("size=1024");
    expect(spec.linux!.cgroupsPath).toBe(`/tsrun/${input.id}`);
  });

  it("without a user namespace (--userns=host) maps nothing", () => {
    const { idRange: _omit, ...rest } = input;
    const spec = buildSpec(rest);
    expect(spec.linux!.namespaces!.map((n) => n.type)).not.toContain("user");
    expect(spec.linux!.uidMappings).toBeUndefined();
    expect(spec.mounts!.find((m) => m.destination === "/etc/hosts")!.options).not.toContain("idmap");
    expect(spec.linux!.sysctl!["net.ipv4.ping_group_range"]).toBe("0 2147483647");
  });

  it("is a spec the runtime accepts", () => {
    const plan = planFromSpec(buildSpec(input), {
      id: input.id,
      stateDir: "/s",
      bundle: "/b",
      cgroups: {
        version: 2,
        path: "/tsrun/x",
        hierarchies: [{ name: "", fstype: "cgroup2", mountData: "", dir: "/sys/fs/cgroup/tsrun/x" }],
        procs: ["/sys/fs/cgroup/tsrun/x/cgroup.procs"],
        monitorProcs: [],
      },
      stdin: false,
    });
    expect(plan.rootfs).toMatchObject({ kind: "overlay", lowers: input.layers, upperParent: "/c/fs", idmap: true });
    expect(plan.process.args).toEqual(["sh"]);
  });
});

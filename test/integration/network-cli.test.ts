/**
 * `tsrun network create|ls|inspect|rm|prune` end to end through the built CLI, on private
 * state roots: Docker's output, messages and exit codes, and the machine-wide subnet table
 * shared by roots that create networks at the same time. Subnets and leases are released
 * at the end (the roots' networks are removed through the library even if a test failed).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { Networks } from "../../src/network/index.js";
import { MACHINE_DIR } from "../../src/common/paths.js";

if (!isRoot) console.warn("network-cli.test.ts: skipped, integration tests need root");

const subnetLease = (tag: string) => path.join(MACHINE_DIR, "net", "subnets", tag);

describe.skipIf(!isRoot)("tsrun network", () => {
  let root: TestRoot;
  const roots: TestRoot[] = [];
  const tsrun = (...args: string[]) => root.run(["network", ...args]);

  beforeAll(() => {
    root = new TestRoot();
    roots.push(root);
  });

  afterAll(async () => {
    for (const r of roots) {
      await new Networks(r.dir).destroyAll().catch((e: unknown) => console.error("cleanup:", e));
      r.destroy();
    }
  });

  it("lists the built-in networks, sorted by name, in Docker's columns", async () => {
    const r = await tsrun("ls");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("NETWORK ID     NAME      DRIVER    SCOPE");
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(1))).toEqual([
      ["bridge", "bridge", "local"],
      ["host", "host", "local"],
      ["none", "null", "local"],
    ]);
    expect(lines[1]).toMatch(/^[0-9a-f]{12}   bridge    bridge    local$/);
    const q = await tsrun("ls", "-q", "--no-trunc");
    expect(q.stdout.trim().split("\n").every((l) => /^[0-9a-f]{64}$/.test(l))).toBe(true);
  });

  it("creates a network, prints its id, and shows it as Docker does", async () => {
    const r = await tsrun("create", "--subnet", "10.232.0.0/16", "--gateway", "10.232.0.254", "--ip-range", "10.232.5.0/24", "--label", "team=a", "-o", "com.docker.network.driver.mtu=1400", "--internal", "appnet");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);

    const inspect = await tsrun("inspect", "appnet");
    expect(inspect.code).toBe(0);
    expect(inspect.stdout.startsWith('[\n    {\n        "Name": "appnet",\n')).toBe(true);
    const [net] = JSON.parse(inspect.stdout);
    expect(net).toMatchObject({
      Name: "appnet",
      Id: id,
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "10.232.0.0/16", IPRange: "10.232.5.0/24", Gateway: "10.232.0.254" }] },
      Internal: true,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: {},
      Options: { "com.docker.network.driver.mtu": "1400" },
      Labels: { team: "a" },
    });
    expect(Object.keys(net)).toEqual([
      "Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable",
      "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels",
    ]);
    // Only the subnet is taken until a container joins: no bridge yet.
    const tag = (await new Networks(root.dir).resolve("appnet")).Tsrun.tag!;
    expect(fs.existsSync(subnetLease(tag))).toBe(true);
    expect(fs.existsSync(`/sys/class/net/tsr-${tag}`)).toBe(false);

    expect((await tsrun("inspect", "-f", "{{.Name}} {{.Internal}} {{range .IPAM.Config}}{{.Gateway}}{{end}} {{index .Labels \"team\"}}", id.slice(0, 8))).stdout).toBe("appnet true 10.232.0.254 a\n");
    expect((await tsrun("ls", "-f", "label=team=a", "--format", "{{.Name}}\t{{.Driver}}\t{{.Internal}}")).stdout).toBe("appnet\tbridge\ttrue\n");
    expect((await tsrun("ls", "-f", "type=custom", "-q")).stdout).toBe(id.slice(0, 12) + "\n");
    expect((await tsrun("ls", "-f", "driver=null", "--format", "{{.Name}}")).stdout).toBe("none\n");
    expect(JSON.parse((await tsrun("ls", "-f", "name=app", "--format", "json")).stdout)).toMatchObject({ Name: "appnet", ID: id.slice(0, 12), Labels: "team=a" });
  });

  it("refuses what Docker refuses, in Docker's words", async () => {
    // Subnets are machine-wide: this one overlaps no other test file's, which run alongside.
    expect((await tsrun("create", "--subnet", "10.238.0.0/16", "taken")).code).toBe(0);
    const cases: [string[], number, string][] = [
      [["create", "taken"], 1, "Error response from daemon: network with name taken already exists\n"],
      [["create", "bridge"], 1, "Error response from daemon: network with name bridge already exists\n"],
      [["create", "--subnet", "10.238.7.0/24", "overlap"], 1, "Error response from daemon: invalid pool request: Pool overlaps with other one on this address space\n"],
      [["create", "--subnet", "10.0.0/8", "bad"], 1, "Error response from daemon: invalid CIDR address: 10.0.0/8\n"],
      [["create", "--subnet", "10.234.0.0/16", "--gateway", "10.235.0.1", "bad"], 1, "Error response from daemon: no matching subnet for gateway 10.235.0.1\n"],
      [["create", "-d", "overlay", "bad"], 1, 'Error response from daemon: plugin "overlay" not found\n'],
      [["inspect", "nope"], 1, "Error response from daemon: network nope not found\n"],
      [["rm", "bridge"], 1, "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"],
      [["rm", "nope"], 1, "Error response from daemon: network nope not found\n"],
      [["ls", "-f", "color=red"], 1, "Error response from daemon: invalid filter 'color'\n"],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await tsrun(...args);
      expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), code, stderr]);
    }
    const gw = await tsrun("create", "--gateway", "nonsense", "x");
    expect([gw.code, gw.stderr.split("\n")[0]]).toEqual([125, 'tsrun: invalid argument "nonsense" for "--gateway" flag: invalid string being converted to IP address: nonsense']);
    expect((await tsrun("inspect", "nope")).stdout).toBe("[]\n");
    expect((await tsrun("rm", "-f", "nope")).code).toBe(0);
    const none = await tsrun("create");
    expect([none.code, none.stderr.split("\n")[0]]).toEqual([1, '"tsrun network create" requires exactly 1 argument.']);
    expect((await tsrun("ls", "--format", "{{.Name}}")).stdout.split("\n")).not.toContain("overlap");
  });

  it("removes networks by name or id, printing what it was given, and frees their subnets", async () => {
    const a = (await tsrun("create", "--subnet", "10.236.0.0/24", "rm-a")).stdout.trim();
    await tsrun("create", "--subnet", "10.236.1.0/24", "rm-b");
    const tags = ["rm-a", "rm-b"].map((n) => new Networks(root.dir).resolve(n).Tsrun.tag!);
    const r = await tsrun("rm", a.slice(0, 10), "rm-b", "nope");
    expect(r.stdout).toBe(`${a.slice(0, 10)}\nrm-b\n`);
    expect(r.stderr).toBe("Error response from daemon: network nope not found\n");
    expect(r.code).toBe(1);
    for (const t of tags) expect(fs.existsSync(subnetLease(t))).toBe(false);
    // The subnet can be taken again at once.
    expect((await tsrun("create", "--subnet", "10.236.0.0/24", "rm-c")).code).toBe(0);
  });

  it("prunes custom networks only, honouring filters", async () => {
    const pr = new TestRoot();
    roots.push(pr);
    const run = (...args: string[]) => pr.run(["network", ...args]);
    await run("create", "--subnet", "10.237.0.0/24", "p-one");
    await run("create", "--subnet", "10.237.1.0/24", "--label", "keep=yes", "p-two");
    const kept = await run("prune", "-f", "--filter", "label!=keep=yes");
    expect(kept.stdout).toBe("Deleted Networks:\np-one\n\n");
    const declined = await pr.run(["network", "prune"], { input: "n\n" });
    expect(declined.stdout).toBe("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
    expect((await run("ls", "--format", "{{.Name}}")).stdout).toBe("bridge\nhost\nnone\np-two\n");
    const all = await pr.run(["network", "prune"], { input: "y\n" });
    expect(all.stdout).toMatch(/Deleted Networks:\np-two\n\n$/);
    expect((await run("prune", "-f")).stdout).toBe("");
    expect((await run("ls", "-q")).stdout.trim().split("\n")).toHaveLength(3);
  });

  it("never hands out one subnet twice, even to roots creating networks at the same time", async () => {
    const a = new TestRoot();
    const b = new TestRoot();
    roots.push(a, b);
    const jobs = [a, b].flatMap((r, i) => [0, 1, 2, 3].map((j) => r.run(["network", "create", `par-${i}-${j}`])));
    const results = await Promise.all(jobs);
    expect(results.map((r) => r.stderr)).toEqual(Array(8).fill(""));
    const subnets = [a, b].flatMap((r) => {
      const nets = new Networks(r.dir);
      return [0, 1, 2, 3].map((j) => nets.list().find((n) => n.Name.endsWith(`-${j}`))!.IPAM.Config[0]!.Subnet);
    });
    expect(new Set(subnets).size).toBe(8);
    for (const s of subnets) expect(s).toMatch(/^(172\.(1[6-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);
  });
});

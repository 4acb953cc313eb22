/**
 * The network library against a recording fake kernel: which `ip` and `nft` commands an
 * attachment runs, in which order, what it records (endpoint records, machine-wide leases,
 * hosts files), and how removal, release, prune and repair undo it. The state root and the
 * machine-wide tables live in a temp dir; no root needed. The real kernel is exercised by
 * test/integration/network-*.test.ts.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { Networks, type NetKernel, HOSTS_MARKER } from "../../src/network/index.js";
import { processStartTime, type ProcessIdentity } from "../../src/linux/process-identity.js";

class FakeKernel implements NetKernel {
  calls: string[] = [];
  readonly linkState = new Map<string, boolean>();
  readonly tables = new Set<string>();
  forwarding = false;

  async ip(lines: string[]): Promise<void> {
    for (const line of lines) {
      this.calls.push(`ip ${line}`);
      let m: RegExpExecArray | null;
      if ((m = /^link add (\S+) .*type bridge$/.exec(line))) this.linkState.set(m[1]!, false);
      else if ((m = /^link add (\S+) .* up type veth /.exec(line))) this.linkState.set(m[1]!, true);
      else if ((m = /^link set (\S+) up$/.exec(line))) this.linkState.set(m[1]!, true);
      else if ((m = /^link del (\S+)$/.exec(line))) {
        if (!this.linkState.delete(m[1]!)) throw new Error(`Cannot find device "${m[1]}"`);
      }
    }
  }
  async ipIn(pid: number, lines: string[] | Promise<string[]>): Promise<void> {
    for (const line of await lines) this.calls.push(`ip[netns ${pid}] ${line}`);
  }
  async nft(script: string): Promise<void> {
    const table = /^add table inet (\S+)$/m.exec(script)![1]!;
    if (script.includes(`table inet ${table} {`)) {
      this.tables.add(table);
      this.calls.push(`nft define ${table}`);
    } else {
      this.tables.delete(table);
      this.calls.push(`nft delete ${table}`);
    }
  }
  async inetTables(): Promise<string[]> {
    return [...this.tables];
  }
  links(): string[] {
    return [...this.linkState.keys()];
  }
  linkExists(name: string): boolean {
    return this.linkState.has(name);
  }
  linkIsUp(name: string): boolean {
    return this.linkState.get(name) === true;
  }
  ipForwarding(): boolean {
    return this.forwarding;
  }
  enableIpForwarding(): void {
    this.forwarding = true;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-netlib-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
let kernel: FakeKernel;
let machineDir: string;
let rootDir: string;
let nets: Networks;

beforeEach(() => {
  n++;
  kernel = new FakeKernel();
  machineDir = path.join(tmp, `machine-${n}`);
  rootDir = path.join(tmp, `root-${n}`);
  nets = new Networks(rootDir, { machineDir, kernel });
});

const me: ProcessIdentity = { pid: process.pid, startTime: processStartTime(process.pid)! };
const cid = (c: string) => c.repeat(64);
const hostsFile = (c: string) => {
  const f = path.join(rootDir, `hosts-${c}`);
  fs.mkdirSync(rootDir, { recursive: true });
  fs.writeFileSync(f, "127.0.0.1\tlocalhost\n");
  return f;
};
const leases = (kind: "subnets" | "addresses") => {
  try {
    return fs.readdirSync(path.join(machineDir, "net", kind)).filter((f) => !f.startsWith(".")).sort();
  } catch {
    return [];
  }
};

/** A process that has come and gone: an endpoint it owned is a leftover. */
async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn("sleep", ["10"], { stdio: "ignore" });
  await new Promise((r) => child.once("spawn", r));
  const id = { pid: child.pid!, startTime: processStartTime(child.pid!)! };
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await gone;
  return id;
}

describe("network create", () => {
  it("leases a subnet from the default pools and records it; no kernel objects yet", async () => {
    const a = await nets.create({ name: "a" });
    const b = await nets.create({ name: "b", labels: { x: "1" } });
    expect(a.IPAM.Config[0]!.Subnet).toMatch(/^(172|192)\./);
    expect(b.IPAM.Config[0]!.Subnet).not.toBe(a.IPAM.Config[0]!.Subnet);
    expect(a.Tsrun.tag).toMatch(/^[0-9a-f]{8}$/);
    expect(leases("subnets")).toEqual([a.Tsrun.tag, b.Tsrun.tag].sort());
    expect(kernel.calls).toEqual([]);
    expect(nets.resolve("b").Labels).toEqual({ x: "1" });
    expect(nets.resolve(a.Id.slice(0, 5)).Name).toBe("a");
  });

  it("refuses overlapping subnets across state roots, and duplicate names", async () => {
    await nets.create({ name: "a", subnets: ["10.77.0.0/16"] });
    const other = new Networks(path.join(tmp, `other-${n}`), { machineDir, kernel });
    await expect(other.create({ name: "b", subnets: ["10.77.5.0/24"] })).rejects.toThrow(
      "invalid pool request: Pool overlaps with other one on this address space",
    );
    await expect(nets.create({ name: "a", subnets: ["10.78.0.0/16"] })).rejects.toThrow("network with name a already exists");
    expect(leases("subnets")).toHaveLength(1);
  });

  it("collects the subnet of a network whose state root is gone, with its bridge and table", async () => {
    const gone = new Networks(path.join(tmp, `gone-${n}`), { machineDir, kernel });
    const old = await gone.create({ name: "old", subnets: ["10.79.0.0/16"] });
    await gone.attach({ network: "old", containerId: cid("a"), containerName: "a", process: me });
    fs.rmSync(path.join(tmp, `gone-${n}`), { recursive: true });
    kernel.calls = [];
    await nets.create({ name: "new", subnets: ["10.79.0.0/16"] });
    expect(kernel.calls).toEqual([`ip link del tsr-${old.Tsrun.tag}`, `nft delete tsr-${old.Tsrun.tag}`]);
  });
});

describe("attach", () => {
  it("builds the bridge once, then one veth pair per container, configured inside its namespace", async () => {
    const net = await nets.create({ name: "web", subnets: ["10.80.0.0/24"] });
    const br = `tsr-${net.Tsrun.tag}`;
    const ep = await nets.attach({ network: "web", containerId: cid("a"), containerName: "/a", process: me, hostsFile: hostsFile("a") });
    expect(ep).toMatchObject({ ip: "10.80.0.2", prefixLen: 24, gateway: "10.80.0.1", mac: "02:42:0a:50:00:02", ifname: "eth0" });
    expect(ep.dnsNames).toEqual(["a", "aaaaaaaaaaaa"]);
    expect(kernel.calls).toEqual([
      `nft define ${br}`,
      `ip link add ${br} address 02:42:0a:50:00:01 type bridge`,
      `ip addr replace 10.80.0.1/24 brd + dev ${br}`,
      `ip link set ${br} up`,
      `ip link add ${ep.hostIfname} master ${br} up type veth peer name eth0 address 02:42:0a:50:00:02 netns ${process.pid}`,
      `ip[netns ${process.pid}] addr add 10.80.0.2/24 brd + dev eth0`,
      `ip[netns ${process.pid}] link set eth0 up`,
      `ip[netns ${process.pid}] route add default via 10.80.0.1 dev eth0`,
    ]);
    expect(kernel.forwarding).toBe(true);
    expect(ep.hostIfname).toMatch(/^tsv[0-9a-f]{12}$/);

    kernel.calls = [];
    const b = await nets.attach({ network: "web", containerId: cid("b"), containerName: "b", process: me, aliases: ["db"], hostsFile: hostsFile("b") });
    expect(b.ip).toBe("10.80.0.3");
    expect(kernel.calls.filter((c) => c.includes("bridge") || c.startsWith("nft"))).toEqual([]);
    expect(leases("addresses")).toEqual(["10.80.0.2", "10.80.0.3"]);

    // Names: each container sees the other; the later one was added to the earlier one's file.
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).toBe(
      `127.0.0.1\tlocalhost\n${HOSTS_MARKER}\n10.80.0.2\taaaaaaaaaaaa\n10.80.0.3\tb db bbbbbbbbbbbb\n`,
    );
    expect(fs.readFileSync(path.join(rootDir, "hosts-b"), "utf8")).toContain("10.80.0.2\ta aaaaaaaaaaaa\n");
    expect((await nets.inspect("web")).Containers[cid("b")]).toEqual({
      Name: "b",
      EndpointID: b.endpointId,
      MacAddress: "02:42:0a:50:00:03",
      IPv4Address: "10.80.0.3/24",
      IPv6Address: "",
    });

    // Leaving: b's veth goes, its address is free, a no longer knows it.
    kernel.calls = [];
    await nets.detach("web", cid("b"));
    expect(kernel.calls).toEqual([`ip link del ${b.hostIfname}`]);
    expect(leases("addresses")).toEqual(["10.80.0.2"]);
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).not.toContain("10.80.0.3");
    await expect(nets.detach("web", cid("b"))).rejects.toThrow(`container ${cid("b")} is not connected to network web`);
  });

  it("gives the default bridge a subnet on first use, and no names", async () => {
    const a = await nets.attach({ network: "bridge", containerId: cid("a"), containerName: "a", hostname: "h-a", process: me, hostsFile: hostsFile("a") });
    await nets.attach({ network: "bridge", containerId: cid("b"), containerName: "b", process: me, hostsFile: hostsFile("b") });
    const bridge = nets.resolve("bridge");
    expect(bridge.IPAM.Config).toHaveLength(1);
    expect(bridge.Options["com.docker.network.bridge.name"]).toBe(`tsr-${bridge.Tsrun.tag}`);
    expect(a.dnsNames).toEqual([]);
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).toBe(`127.0.0.1\tlocalhost\n${HOSTS_MARKER}\n${a.ip}\th-a\n`);
    await expect(nets.remove("bridge")).rejects.toThrow("bridge is a pre-defined network and cannot be removed");
  });

  it("checks what a container asks for, with Docker's words, and leaves nothing when it fails", async () => {
    await nets.create({ name: "s", subnets: ["10.81.0.0/24"] });
    await nets.create({ name: "auto" });
    const req = { containerId: cid("a"), containerName: "a", process: me };
    await expect(nets.attach({ ...req, network: "bridge", ip: "172.17.0.9" })).rejects.toThrow("user specified IP address is supported on user defined networks only");
    await expect(nets.attach({ ...req, network: "auto", ip: "172.17.0.9" })).rejects.toThrow("user specified IP address is supported only when connecting to networks with user configured subnets");
    await expect(nets.attach({ ...req, network: "s", ip: "10.82.0.9" })).rejects.toThrow("no configured subnet or ip-range contain the IP address 10.82.0.9");
    await expect(nets.attach({ ...req, network: "bridge", aliases: ["x"] })).rejects.toThrow("network-scoped alias is supported only for containers in user defined networks");
    await expect(nets.attach({ ...req, network: "host" })).rejects.toThrow("container cannot be disconnected from host network or connected to host network");
    await expect(nets.attach({ ...req, network: "nope" })).rejects.toThrow("network nope not found");

    const fixed = await nets.attach({ ...req, network: "s", ip: "10.81.0.50", mac: "02:00:00:00:00:01" });
    expect(fixed).toMatchObject({ ip: "10.81.0.50", mac: "02:00:00:00:00:01" });
    await expect(nets.attach({ ...req, containerId: cid("b"), network: "s", ip: "10.81.0.50" })).rejects.toThrow("Address already in use");
    await expect(nets.attach({ ...req, containerId: cid("b"), network: "s", ip: "10.81.0.1" })).rejects.toThrow("Address already in use");
    await expect(nets.attach({ ...req, network: "s" })).rejects.toThrow(`endpoint with name a already exists in network s`);
    expect(leases("addresses")).toEqual(["10.81.0.50"]);

    // A failure in the kernel undoes the lease and the record.
    kernel.ipIn = async () => {
      throw new Error("RTNETLINK answers: Operation not permitted");
    };
    await expect(nets.attach({ ...req, containerId: cid("c"), network: "s" })).rejects.toThrow(/Cannot connect container cccccccccccc to network "s".*Operation not permitted/);
    expect(leases("addresses")).toEqual(["10.81.0.50"]);
    expect(nets.endpoints.ofContainer(cid("c"))).toEqual([]);
    expect(kernel.links().filter((l) => l.startsWith("tsv"))).toHaveLength(1);
  });

  it("gives a second network the next interface and no second default route", async () => {
    await nets.create({ name: "one", subnets: ["10.83.0.0/24"] });
    await nets.create({ name: "two", subnets: ["10.84.0.0/24"], internal: true });
    await nets.attach({ network: "one", containerId: cid("a"), containerName: "a", process: me });
    kernel.calls = [];
    const second = await nets.attach({ network: "two", containerId: cid("a"), containerName: "a", process: me });
    expect(second.ifname).toBe("eth1");
    expect(kernel.calls.filter((c) => c.includes("route"))).toEqual([]);
    expect(nets.endpointsOf(cid("a")).map((e) => e.networkName).sort()).toEqual(["one", "two"]);
  });
});

describe("removal, release, prune, repair", () => {
  it("refuses to remove a network while a running container is on it, then removes everything", async () => {
    const net = await nets.create({ name: "busy", subnets: ["10.85.0.0/24"] });
    await nets.attach({ network: "busy", containerId: cid("a"), containerName: "a", process: me });
    await expect(nets.remove("busy")).rejects.toThrow(`error while removing network: network busy id ${net.Id} has active endpoints`);
    expect(await nets.prune()).toEqual([]);
    await nets.release(cid("a"));
    expect(leases("addresses")).toEqual([]);
    kernel.calls = [];
    await nets.remove("busy");
    expect(kernel.calls).toEqual([`ip link del tsr-${net.Tsrun.tag}`, `nft delete tsr-${net.Tsrun.tag}`]);
    expect(leases("subnets")).toEqual([]);
    expect(() => nets.resolve("busy")).toThrow("network busy not found");
  });

  it("prunes unused user networks only, honouring what the caller keeps", async () => {
    await nets.create({ name: "p1" });
    await nets.create({ name: "p2", labels: { keep: "yes" } });
    await nets.create({ name: "p3", subnets: ["10.86.0.0/24"] });
    await nets.attach({ network: "p3", containerId: cid("a"), containerName: "a", process: me });
    const removed = await nets.prune((n) => n.Labels.keep === "yes");
    expect(removed.map((r) => r.Name)).toEqual(["p1"]);
    expect(nets.list().map((r) => r.Name).sort()).toEqual(["bridge", "host", "none", "p2", "p3"]);
  });

  it("treats the endpoints of a dead container as gone, and repair removes their traces", async () => {
    await nets.create({ name: "r", subnets: ["10.87.0.0/24"] });
    const dead = await deadProcess();
    await nets.attach({ network: "r", containerId: cid("a"), containerName: "a", process: me, hostsFile: hostsFile("a") });
    // Attach a process that dies right after (as if tsrun and the container were killed).
    const ghost = await (async () => {
      const child = spawn("sleep", ["10"], { stdio: "ignore" });
      await new Promise((r) => child.once("spawn", r));
      const id = { pid: child.pid!, startTime: processStartTime(child.pid!)! };
      const ep = await nets.attach({ network: "r", containerId: cid("g"), containerName: "ghost", process: id });
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
      return ep;
    })();
    expect((await nets.inspect("r")).Containers).not.toHaveProperty(cid("g"));
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).toContain("ghost");
    // Its veth lingers (the fake kernel does not reap namespaces); so do an orphan veth and bridge.
    kernel.linkState.set("tsv0123456789ab", true);
    kernel.linkState.set("tsr-deadbeef", true);
    kernel.tables.add("tsr-deadbeef");
    kernel.tables.add("tsr-feedf00d");
    await expect(nets.attach({ network: "r", containerId: cid("d"), containerName: "d", process: dead })).rejects.toThrow(/process \d+ is gone/);

    const report = await nets.repair();
    expect(report.endpoints).toEqual([`${nets.resolve("r").Id.slice(0, 12)}/${"g".repeat(12)}`]);
    expect(report.interfaces.sort()).toEqual(["tsr-deadbeef", "tsv0123456789ab", ghost.hostIfname].sort());
    expect(report.tables).toEqual(["tsr-feedf00d"]); // tsr-deadbeef went with its bridge
    expect([...kernel.tables]).toEqual([`tsr-${nets.resolve("r").Tsrun.tag}`]);
    expect(leases("addresses")).toEqual(["10.87.0.2"]);
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).not.toContain("ghost");
    expect(await nets.repair()).toEqual({ endpoints: [], addresses: [], subnets: [], interfaces: [], tables: [], ports: [] });
  });

  it("renames a container for its peers", async () => {
    await nets.create({ name: "rn", subnets: ["10.88.0.0/24"] });
    await nets.attach({ network: "rn", containerId: cid("a"), containerName: "a", process: me, hostsFile: hostsFile("a") });
    await nets.attach({ network: "rn", containerId: cid("b"), containerName: "b", process: me });
    await nets.rename(cid("b"), "/bee");
    expect(fs.readFileSync(path.join(rootDir, "hosts-a"), "utf8")).toContain("10.88.0.3\tbee bbbbbbbbbbbb\n");
  });

  it("removes every network of a root that goes away", async () => {
    await nets.create({ name: "x", subnets: ["10.89.0.0/24"] });
    await nets.attach({ network: "x", containerId: cid("a"), containerName: "a", process: me });
    await nets.attach({ network: "bridge", containerId: cid("b"), containerName: "b", process: me });
    await nets.destroyAll();
    expect(leases("subnets")).toEqual([]);
    expect(leases("addresses")).toEqual([]);
    expect(kernel.links()).toEqual([]);
    expect([...kernel.tables]).toEqual([]);
  });
});

/**
 * What `create` decides about a container's networking from its flags (src/engine/
 * network-config.ts): the mode, the attachments, Docker's refusals (docker/cli's parse and
 * moby's validateNetContainerMode, word for word), resolv.conf, and the spec changes of the
 * shared-namespace modes. A state root and machine tables in a temp dir, no kernel: nothing
 * here touches an interface.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Networks, type NetKernel } from "../../src/network/index.js";
import { NetworkConfig, resolveHostGateway, type NetworkFlags } from "../../src/engine/network-config.js";
import type { Spec } from "../../src/runtime/spec.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-netcfg-unit-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A kernel that must not be reached: parsing a create's flags creates nothing. */
const noKernel: NetKernel = new Proxy({} as NetKernel, {
  get: (_t, prop) => {
    if (prop === "links") return () => [];
    if (prop === "linkExists") return () => false;
    return () => {
      throw new Error(`kernel.${String(prop)} called while parsing flags`);
    };
  },
});

describe("NetworkConfig", () => {
  let nets: Networks;
  const root = path.join(tmp, "root");
  const parse = (flags: NetworkFlags, lookup: (ref: string) => unknown = () => ({})) =>
    NetworkConfig.parse({ addHosts: [], ...flags }, async () => nets, lookup);

  beforeAll(async () => {
    nets = new Networks(root, { machineDir: path.join(tmp, "machine"), kernel: noKernel });
    await nets.create({ name: "appnet", subnets: ["10.250.0.0/24"] });
    await nets.create({ name: "plain" });
  });

  it("puts a container on the default bridge unless told otherwise", async () => {
    const c = await parse({});
    expect(c.mode).toBe("bridge");
    expect(c.attachments.map((a) => a.name)).toEqual(["bridge"]);
    expect(c.hostConfig()).toEqual({ NetworkMode: "bridge", PortBindings: {}, PublishAllPorts: false, Dns: [], DnsOptions: [], DnsSearch: [] });
  });

  it("attaches user networks with what was asked of the first one", async () => {
    const c = await parse({ networks: ["appnet", "plain"], ip: "10.250.0.9", networkAliases: ["db"], macAddress: "02-42-AA-BB-CC-DD" });
    expect(c.mode).toBe("appnet");
    expect(c.attachments.map(({ name, ip, mac, aliases }) => ({ name, ip, mac, aliases }))).toEqual([
      { name: "appnet", ip: "10.250.0.9", mac: "02:42:aa:bb:cc:dd", aliases: ["db"] },
      { name: "plain", ip: undefined, mac: undefined, aliases: undefined },
    ]);
  });

  it("takes the long --network form", async () => {
    const c = await parse({ networks: ["name=appnet,alias=a1,alias=a2,ip=10.250.0.7"] });
    expect(c.attachments[0]).toMatchObject({ name: "appnet", ip: "10.250.0.7", aliases: ["a1", "a2"] });
  });

  it("refuses what Docker refuses, in its words", async () => {
    const cases: [NetworkFlags, string][] = [
      [{ networks: ["nope"] }, "network nope not found"],
      [{ networks: ["appnet", "appnet"] }, 'network "appnet" is specified multiple times'],
      [{ networks: ["appnet", "bridge"] }, "conflicting options: cannot attach both user-defined and non-user-defined network-modes"],
      [{ networkAliases: ["x"] }, "network-scoped aliases are only supported for user-defined networks"],
      [{ ip: "172.17.0.9" }, "user specified IP address is supported on user defined networks only"],
      [{ networks: ["plain"], ip: "10.1.2.3" }, "user specified IP address is supported only when connecting to networks with user configured subnets"],
      [{ networks: ["appnet"], ip: "10.9.9.9" }, "no configured subnet or ip-range contain the IP address 10.9.9.9"],
      [{ networks: ["appnet"], ip: "nope" }, 'invalid argument "nope" for "--ip" flag: invalid string being converted to IP address: nope'],
      [{ macAddress: "zz" }, "zz is not a valid mac address"],
      [{ dns: ["1.2.3"] }, 'invalid argument "1.2.3" for "--dns" flag: IP address is not correctly formatted: 1.2.3'],
      [{ dnsSearch: ["-bad-"] }, 'invalid argument "-bad-" for "--dns-search" flag: -bad- is not a valid domain'],
      [{ publish: ["abc"] }, "invalid containerPort: abc"],
      [{ networks: ["host"], macAddress: "02:42:00:00:00:01" }, "conflicting options: mac-address and the network mode"],
      [{ networks: ["none", "bridge"] }, "container cannot be connected to multiple networks with one of the networks in private (none) mode"],
      [{ networks: ["container:"] }, "Invalid network mode: invalid container format container:<name|id>"],
      [{ networks: ["container:web"], hostname: "h" }, "conflicting options: hostname and the network mode"],
      [{ networks: ["container:web"], dns: ["1.1.1.1"] }, "conflicting options: dns and the network mode"],
      [{ networks: ["container:web"], addHosts: ["a:1.2.3.4"] }, "conflicting options: custom host-to-IP mapping and the network mode"],
      [{ networks: ["container:web"], publish: ["80"] }, "conflicting options: port publishing and the container type network mode"],
      [{ networks: ["container:web"], expose: ["80"] }, "conflicting options: port exposing and the container type network mode"],
    ];
    for (const [flags, message] of cases) await expect(parse(flags), JSON.stringify(flags)).rejects.toThrow(message);
  });

  it("looks the joined container up at create, and shares nothing else", async () => {
    await expect(
      parse({ networks: ["container:ghost"] }, (ref) => {
        throw new Error(`No such container: ${ref}`);
      }),
    ).rejects.toThrow("No such container: ghost");
    const c = await parse({ networks: ["container:web"] });
    expect([c.kind, c.joinRef, c.attachments]).toEqual(["container", "web", []]);
  });

  it("warns that host networking discards published ports", async () => {
    const c = await parse({ networks: ["host"], publish: ["8080:80"] });
    expect(c.warnings).toEqual(["Published ports are discarded when using host network mode"]);
    expect(c.hostname("0123456789abcdef")).toBe(os.hostname());
  });

  it("exposes published and --expose ports besides the image's", async () => {
    const c = await parse({ publish: ["8080:80"], expose: ["90/udp"], publishAll: true });
    expect(c.exposedPorts({ "22/tcp": {} })).toEqual({ "22/tcp": {}, "80/tcp": {}, "90/udp": {} });
    expect(c.hostConfig().PortBindings).toEqual({ "80/tcp": [{ HostIp: "", HostPort: "8080" }] });
    expect(c.hostConfig().PublishAllPorts).toBe(true);
  });

  it("writes resolv.conf from --dns, --dns-search and --dns-option, else the root's defaults", async () => {
    const c = await parse({ dns: ["10.0.0.1", "10.0.0.2"], dnsSearch: ["example.com"], dnsOptions: ["ndots:2"] });
    expect(c.resolvConf(root)).toBe("search example.com\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions ndots:2\n");
    fs.writeFileSync(path.join(root, "daemon.json"), JSON.stringify({ dns: ["127.0.0.1"], "dns-opts": ["timeout:1"] }));
    const d = await parse({ dnsSearch: ["."] });
    expect(d.resolvConf(root)).toBe("nameserver 127.0.0.1\noptions timeout:1\n");
  });

  it("makes host-gateway the default bridge's gateway, or daemon.json's host-gateway-ip", async () => {
    const hosts = [{ host: "db", ip: "10.0.0.1" }, { host: "host.docker.internal", ip: "host-gateway" }];
    const noGateway = async (): Promise<string> => {
      throw new Error("the gateway was asked for");
    };
    const plain = path.join(tmp, "plain-root");
    fs.mkdirSync(plain, { recursive: true });
    expect(await resolveHostGateway(hosts.slice(0, 1), plain, noGateway)).toEqual(hosts.slice(0, 1));
    const gateway = await nets.hostGateway();
    expect(gateway).toBe(nets.resolve("bridge").IPAM.Config[0]!.Gateway);
    expect(await resolveHostGateway(hosts, plain, () => nets.hostGateway())).toEqual([hosts[0], { host: "host.docker.internal", ip: gateway }]);
    fs.writeFileSync(path.join(plain, "daemon.json"), JSON.stringify({ "host-gateway-ip": "192.0.2.7" }));
    expect((await resolveHostGateway(hosts, plain, noGateway))[1]).toEqual({ host: "host.docker.internal", ip: "192.0.2.7" });
    fs.writeFileSync(path.join(plain, "daemon.json"), JSON.stringify({ "host-gateway-ip": "nope" }));
    await expect(resolveHostGateway(hosts, plain, noGateway)).rejects.toThrow('invalid host-gateway-ip: "nope"');
  });

  it("gives host and container:X modes no network namespace or sysctls of their own", async () => {
    const spec = (): Spec => ({
      ociVersion: "1.2.0",
      linux: { namespaces: [{ type: "pid" }, { type: "network" }], sysctl: { "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 1", "kernel.x": "1" } },
    });
    const host = spec();
    (await parse({ networks: ["host"] })).applyTo(host);
    expect(host.linux!.namespaces).toEqual([{ type: "pid" }]);
    expect(host.linux!.sysctl).toEqual({ "kernel.x": "1" });
    const joined = spec();
    (await parse({ networks: ["container:web"] })).applyTo(joined);
    expect(joined.linux!.namespaces).toEqual([{ type: "pid" }, { type: "network" }]);
    const own = spec();
    (await parse({})).applyTo(own);
    expect(own).toEqual(spec());
  });
});

/**
 * The nft ruleset of a network and the hosts-file block that gives containers their peers'
 * names. Pure, plus an in-place rewrite in a temp dir.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { networkRuleset, deleteTableScript } from "../../src/network/nftables.js";
import { HOSTS_MARKER, hostsBlock, rewriteHosts, withBlock } from "../../src/network/hosts.js";
import { newNetworkRecord } from "../../src/network/store.js";
import type { EndpointRecord } from "../../src/network/model.js";

const net = (over: Partial<Parameters<typeof newNetworkRecord>[0]> = {}) =>
  newNetworkRecord({
    Name: "n",
    Driver: "bridge",
    IPAM: { Driver: "default", Options: {}, Config: [{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }] },
    Tsrun: { builtin: false, tag: "0a1b2c3d" },
    ...over,
  });

describe("nft rules of a network", () => {
  it("isolate the bridge from other tsrun bridges, let containers out, masquerade the subnet", () => {
    const text = networkRuleset(net());
    expect(text.startsWith("add table inet tsr-0a1b2c3d\ndelete table inet tsr-0a1b2c3d\ntable inet tsr-0a1b2c3d {\n")).toBe(true);
    const rules = text.split("\n").map((l) => l.trim());
    expect(rules).toContain('iifname "tsr-0a1b2c3d" oifname "tsr-0a1b2c3d" accept');
    expect(rules).toContain('iifname "tsr-0a1b2c3d" oifname "tsr-*" drop');
    expect(rules).toContain('oifname "tsr-0a1b2c3d" iifname "tsr-*" drop');
    expect(rules).toContain('oifname "tsr-0a1b2c3d" ct state established,related accept');
    expect(rules).toContain('oifname "tsr-0a1b2c3d" drop');
    expect(rules).toContain('ip saddr 172.18.0.0/16 oifname != "tsr-0a1b2c3d" masquerade');
    // The isolating drops come before the accept of outgoing traffic.
    expect(rules.indexOf('iifname "tsr-0a1b2c3d" oifname "tsr-*" drop')).toBeLessThan(rules.indexOf('iifname "tsr-0a1b2c3d" accept'));
  });

  it("keep an internal network's traffic on its bridge, with no NAT", () => {
    const rules = networkRuleset(net({ Internal: true })).split("\n").map((l) => l.trim());
    expect(rules).toContain('iifname "tsr-0a1b2c3d" drop');
    expect(rules).toContain('oifname "tsr-0a1b2c3d" drop');
    expect(rules).not.toContain('iifname "tsr-0a1b2c3d" accept');
    expect(rules.some((r) => r.includes("masquerade") || r.includes("postrouting"))).toBe(false);
  });

  it("follow the bridge driver's icc and masquerade options", () => {
    const text = networkRuleset(
      net({ Options: { "com.docker.network.bridge.enable_icc": "false", "com.docker.network.bridge.enable_ip_masquerade": "false" } }),
    );
    expect(text).toContain('iifname "tsr-0a1b2c3d" oifname "tsr-0a1b2c3d" drop');
    expect(text).not.toContain("masquerade");
  });

  it("are removed whether or not they exist", () => {
    expect(deleteTableScript("0a1b2c3d")).toBe("add table inet tsr-0a1b2c3d\ndelete table inet tsr-0a1b2c3d\n");
  });
});

const ep = (c: string, netId: string, ip: string, over: Partial<EndpointRecord> = {}): EndpointRecord => ({
  EndpointID: `${c}-${netId}`,
  NetworkID: netId,
  ContainerID: c.repeat(64).slice(0, 64),
  Name: `name-${c}`,
  Hostname: `host-${c}`,
  Aliases: [],
  IPAddress: ip,
  IPPrefixLen: 16,
  Gateway: "172.18.0.1",
  MacAddress: "02:42:00:00:00:00",
  IfName: "eth0",
  HostIfName: "tsv000000000000",
  DefaultRoute: true,
  Owner: { pid: 1, startTime: 1 },
  ...over,
});

describe("hosts blocks", () => {
  const a = "a".repeat(64);
  const user = new Set(["U1", "U2"]);

  it("give a container its own line, and its peers on user networks by name, alias and short id", () => {
    const eps = [
      ep("a", "U1", "172.18.0.2"),
      ep("b", "U1", "172.18.0.3", { Aliases: ["db", "db"] }),
      ep("c", "U2", "172.19.0.2"), // not a's network
      ep("d", "B", "172.17.0.2"), // the default bridge
      ep("a", "B", "172.17.0.3", { IfName: "eth1" }),
    ];
    expect(hostsBlock(a, eps, user)).toEqual(["172.18.0.2\thost-a", "172.18.0.3\tname-b db bbbbbbbbbbbb"]);
  });

  it("give no peers on the default bridge", () => {
    const eps = [ep("a", "B", "172.17.0.3"), ep("d", "B", "172.17.0.2")];
    expect(hostsBlock(a, eps, user)).toEqual(["172.17.0.3\thost-a"]);
    expect(hostsBlock("f".repeat(64), eps, user)).toEqual([]);
  });

  it("replace only tsrun's block, keeping what comes before it", () => {
    const base = "127.0.0.1\tlocalhost\n10.0.0.9\tadded-host\n";
    const one = withBlock(base, ["172.18.0.2\tx"]);
    expect(one).toBe(`${base}${HOSTS_MARKER}\n172.18.0.2\tx\n`);
    expect(withBlock(one, ["172.18.0.2\tx", "172.18.0.3\ty"])).toBe(`${base}${HOSTS_MARKER}\n172.18.0.2\tx\n172.18.0.3\ty\n`);
    expect(withBlock(one, [])).toBe(base);
    expect(withBlock("no newline", ["l"])).toBe(`no newline\n${HOSTS_MARKER}\nl\n`);
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-hosts-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("are rewritten in place: the inode a container has bound stays the same", () => {
    const file = path.join(dir, "hosts");
    fs.writeFileSync(file, "127.0.0.1\tlocalhost\n");
    const ino = fs.statSync(file).ino;
    rewriteHosts(file, ["172.18.0.2\tlong-name-number-one", "172.18.0.3\tlong-name-number-two"]);
    rewriteHosts(file, ["172.18.0.2\tx"]);
    expect(fs.statSync(file).ino).toBe(ino);
    expect(fs.readFileSync(file, "utf8")).toBe(`127.0.0.1\tlocalhost\n${HOSTS_MARKER}\n172.18.0.2\tx\n`);
    expect(() => rewriteHosts(path.join(dir, "missing"), ["x"])).not.toThrow();
  });
});

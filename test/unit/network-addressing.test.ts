/**
 * IPv4 arithmetic, the default subnet pools, the host's route table, and `network create`
 * requests checked with Docker's words. Pure: no root, no kernel.
 */
import { describe, expect, it } from "vitest";
import {
  broadcastOf,
  contains,
  formatCidr,
  formatIp,
  macForIp,
  overlaps,
  parseCidr,
  parseIp,
  parseMac,
  within,
} from "../../src/network/ipv4.js";
import { chooseSubnet, defaultPoolSubnets, parseRouteTable } from "../../src/network/subnet-pool.js";
import { checkCreateRequest } from "../../src/network/create-request.js";

const cidr = (s: string) => parseCidr(s)!;

describe("IPv4", () => {
  it("parses and formats addresses as Go does (no leading zeros, four octets)", () => {
    expect(parseIp("172.18.0.1")).toBe(0xac120001);
    expect(formatIp(0xac120001)).toBe("172.18.0.1");
    expect(formatIp(0xffffffff)).toBe("255.255.255.255");
    for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "a.b.c.d", "", "1.2.3.4/8"]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it("parses prefixes and knows containment and overlap", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ addr: 0x0a000000, bits: 8 });
    for (const bad of ["10.0.0.0", "10.0.0/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08x", "::1/64"]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
    expect(formatCidr(cidr("172.20.1.5/16"))).toBe("172.20.0.0/16");
    expect(formatIp(broadcastOf(cidr("172.20.0.0/16")))).toBe("172.20.255.255");
    expect(contains(cidr("10.1.0.0/16"), parseIp("10.1.200.3")!)).toBe(true);
    expect(contains(cidr("10.1.0.0/16"), parseIp("10.2.0.3")!)).toBe(false);
    expect(overlaps(cidr("10.0.0.0/8"), cidr("10.1.0.0/16"))).toBe(true);
    expect(overlaps(cidr("10.1.0.0/16"), cidr("10.0.0.0/8"))).toBe(true);
    expect(overlaps(cidr("10.1.0.0/16"), cidr("10.2.0.0/16"))).toBe(false);
    expect(within(cidr("10.1.2.0/24"), cidr("10.1.0.0/16"))).toBe(true);
    expect(within(cidr("10.1.0.0/16"), cidr("10.1.2.0/24"))).toBe(false);
  });

  it("derives Docker's MAC from an address and checks given ones", () => {
    expect(macForIp(parseIp("172.17.0.2")!)).toBe("02:42:ac:11:00:02");
    expect(parseMac("02:42:AC:11:00:02")).toBe("02:42:ac:11:00:02");
    expect(parseMac("02-42-ac-11-00-02")).toBe("02:42:ac:11:00:02");
    expect(parseMac("01:00:5e:00:00:01")).toBeUndefined(); // multicast
    expect(parseMac("02:42:ac:11:00")).toBeUndefined();
  });
});

describe("default subnets", () => {
  it("are Docker's pools, in Docker's order", () => {
    const all = [...defaultPoolSubnets()].map(formatCidr);
    expect(all.slice(0, 2)).toEqual(["172.17.0.0/16", "172.18.0.0/16"]);
    expect(all[14]).toBe("172.31.0.0/16");
    expect(all[15]).toBe("192.168.0.0/20");
    expect(all.at(-1)).toBe("192.168.240.0/20");
  });

  it("skip subnets taken by any root and those overlapping the host's routes", () => {
    expect(formatCidr(chooseSubnet([], [])!)).toBe("172.17.0.0/16");
    expect(formatCidr(chooseSubnet([cidr("172.17.0.0/16")], [cidr("172.18.5.0/24")])!)).toBe("172.19.0.0/16");
    expect(formatCidr(chooseSubnet([cidr("172.16.0.0/12")], [])!)).toBe("192.168.0.0/20");
    expect(chooseSubnet([cidr("172.16.0.0/12"), cidr("192.168.0.0/16")], [])).toBeUndefined();
  });

  it("reads /proc/net/route: no default route, no tsrun bridges", () => {
    const text = [
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
      "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
      "tsr-0a1b2c3d\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
      "",
    ].join("\n");
    expect(parseRouteTable(text).map(formatCidr)).toEqual(["192.0.2.0/24", "172.17.0.0/16"]);
  });
});

describe("network create requests", () => {
  const fails = (req: Parameters<typeof checkCreateRequest>[0]) => {
    try {
      checkCreateRequest(req);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error("did not fail");
  };

  it("accept a subnet, a gateway and an IP range inside it", () => {
    const r = checkCreateRequest({ name: "n", subnets: ["10.9.0.0/16"], gateways: ["10.9.0.254"], ipRanges: ["10.9.8.0/24"] });
    expect(formatCidr(r.subnet!)).toBe("10.9.0.0/16");
    expect(formatIp(r.gateway!)).toBe("10.9.0.254");
    expect(formatCidr(r.ipRange!)).toBe("10.9.8.0/24");
    expect(checkCreateRequest({ name: "plain" }).subnet).toBeUndefined();
  });

  it("refuse what Docker refuses, in Docker's words", () => {
    expect(fails({ name: "bridge" })).toBe("network with name bridge already exists");
    expect(fails({ name: "a/b" })).toMatch(/^invalid network name "a\/b"/);
    expect(fails({ name: "n", driver: "overlay" })).toBe('plugin "overlay" not found');
    expect(fails({ name: "n", driver: "host" })).toBe('only one instance of "host" network is allowed');
    expect(fails({ name: "n", subnets: ["10.0.0/8"] })).toBe("invalid CIDR address: 10.0.0/8");
    expect(fails({ name: "n", subnets: ["172.20.1.0/16"] })).toBe("invalid subnet 172.20.1.0/16: it should be 172.20.0.0/16");
    expect(fails({ name: "n", gateways: ["10.0.0.1"] })).toBe("every ip-range or gateway must have a corresponding subnet");
    expect(fails({ name: "n", subnets: ["10.1.0.0/16"], gateways: ["10.2.0.1"] })).toBe("no matching subnet for gateway 10.2.0.1");
    expect(fails({ name: "n", subnets: ["10.1.0.0/16"], ipRanges: ["10.2.0.0/24"] })).toBe("no matching subnet for range 10.2.0.0/24");
    expect(fails({ name: "n", options: { "com.docker.network.driver.mtu": "abc" } })).toMatch(/^invalid MTU/);
  });
});

/**
 * Published ports without root: the `-p`/`--expose` grammar (go-connections' rules and
 * messages), the machine-wide host-port table (conflicts, sequential free ports, collection
 * of dead owners, all-or-nothing claims) in a temp dir, the DNAT table's nft text, the
 * `port` / ps PORTS output (docker/cli's formatter cases) and the port proxy's command line.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { parseExpose, parsePublish, parsePublishList } from "../../src/network/port-spec.js";
import { PortTable, type PortRequest } from "../../src/network/port-table.js";
import { needsDnat, portTableScript } from "../../src/network/port-rules.js";
import { portRequests } from "../../src/network/ports.js";
import { proxyArgs } from "../../src/network/port-proxy-client.js";
import { displayablePorts, naturalCompare, portLines } from "../../src/cli/commands/port.js";
import { processStartTime, type ProcessIdentity } from "../../src/linux/process-identity.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-ports-unit-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("-p and --expose", () => {
  it("parses Docker's forms", () => {
    expect(parsePublish("80")).toEqual([{ port: "80/tcp", binding: { HostIp: "", HostPort: "" } }]);
    expect(parsePublish("8080:80")).toEqual([{ port: "80/tcp", binding: { HostIp: "", HostPort: "8080" } }]);
    expect(parsePublish("127.0.0.1:8080:80/udp")).toEqual([{ port: "80/udp", binding: { HostIp: "127.0.0.1", HostPort: "8080" } }]);
    expect(parsePublish("[::1]:8080:80")).toEqual([{ port: "80/tcp", binding: { HostIp: "::1", HostPort: "8080" } }]);
    expect(parsePublish("127.0.0.1::80")).toEqual([{ port: "80/tcp", binding: { HostIp: "127.0.0.1", HostPort: "" } }]);
    expect(parsePublish("published=8080,target=80,protocol=udp")).toEqual([{ port: "80/udp", binding: { HostIp: "", HostPort: "8080" } }]);
  });

  it("expands ranges, and keeps a host range for one container port", () => {
    expect(parsePublish("8000-8002:80-82").map((m) => `${m.binding.HostPort}->${m.port}`)).toEqual(["8000->80/tcp", "8001->81/tcp", "8002->82/tcp"]);
    expect(parsePublish("80-81").map((m) => `${m.binding.HostPort}->${m.port}`)).toEqual(["->80/tcp", "->81/tcp"]);
    expect(parsePublish("8000-8010:80")).toEqual([{ port: "80/tcp", binding: { HostIp: "", HostPort: "8000-8010" } }]);
  });

  it("refuses what Docker refuses, with its messages", () => {
    expect(() => parsePublish("abc")).toThrow("invalid containerPort: abc");
    expect(() => parsePublish("8080:80/xyz")).toThrow("invalid proto: xyz");
    expect(() => parsePublish("1.2.3:80:80")).toThrow("invalid IP address: 1.2.3");
    expect(() => parsePublish("x:80")).toThrow("invalid hostPort: x");
    expect(() => parsePublish("80-81:80-83")).toThrow("invalid ranges specified for container and host Ports: 80-83 and 80-81");
    expect(() => parsePublish("70000")).toThrow("invalid containerPort: 70000");
    expect(() => parsePublish("8080:")).toThrow("no port specified: 8080:<empty>");
  });

  it("collects the exposed ports and bindings of several flags", () => {
    expect(parsePublishList(["8080:80", "127.0.0.1:8081:80", "53/udp"])).toEqual({
      exposed: { "80/tcp": {}, "53/udp": {} },
      bindings: {
        "80/tcp": [
          { HostIp: "", HostPort: "8080" },
          { HostIp: "127.0.0.1", HostPort: "8081" },
        ],
        "53/udp": [{ HostIp: "", HostPort: "" }],
      },
    });
  });

  it("parses --expose", () => {
    expect(parseExpose("80")).toEqual(["80/tcp"]);
    expect(parseExpose("7000-7002/udp")).toEqual(["7000/udp", "7001/udp", "7002/udp"]);
    expect(() => parseExpose("1:2")).toThrow("invalid port format for --expose: 1:2");
    expect(() => parseExpose("x")).toThrow("invalid range format for --expose: x");
  });

  it("turns bindings into requests in port order, every address on both families", () => {
    const reqs = portRequests({ "81/tcp": [{ HostIp: "", HostPort: "" }], "80/udp": [{ HostIp: "::1", HostPort: "90" }], "80/tcp": [{ HostIp: "", HostPort: "8000-8001" }] }, true);
    expect(reqs.map((r) => [r.key, r.hostIps, r.hostRange])).toEqual([
      ["80/tcp", ["0.0.0.0", "::"], [8000, 8001]],
      ["80/udp", ["::1"], [90, 90]],
      ["81/tcp", ["0.0.0.0", "::"], [0, 0]],
    ]);
    expect(portRequests({ "80/tcp": [{ HostIp: "", HostPort: "" }] }, false)[0]!.hostIps).toEqual(["0.0.0.0"]);
  });
});

describe("the host-port table", () => {
  let netDir: string;
  let table: PortTable;
  const me: ProcessIdentity = { pid: process.pid, startTime: processStartTime(process.pid)! };
  const holder = (containerId: string, owner = me) => ({ root: "/roots/a", containerId, owner });
  const req = (key: string, hostIps: string[], hostRange: [number, number]): PortRequest => {
    const [port, proto] = key.split("/");
    return { key, proto: proto as "tcp" | "udp", containerPort: Number(port), hostIps, hostRange };
  };
  const free = async () => true;
  const leases = () => fs.readdirSync(path.join(netDir, "ports")).filter((n) => !n.startsWith(".")).sort();

  beforeEach(() => {
    netDir = fs.mkdtempSync(path.join(tmp, "net-"));
    const range = path.join(netDir, "range");
    fs.writeFileSync(range, "40000\t40009\n");
    table = new PortTable(netDir, range);
  });

  it("grants a fixed port once; another container gets Docker's conflict", async () => {
    const g = await table.claim([req("80/tcp", ["0.0.0.0", "::"], [8080, 8080])], holder("c1"), free);
    expect(g.map((x) => `${x.hostIp}:${x.hostPort}`)).toEqual(["0.0.0.0:8080", ":::8080"]);
    expect(leases()).toEqual(["tcp-0.0.0.0-8080", "tcp-::-8080"]);
    await expect(table.claim([req("80/tcp", ["127.0.0.1"], [8080, 8080])], holder("c2"), free)).rejects.toThrow(
      "Bind for 127.0.0.1:8080 failed: port is already allocated",
    );
    // Another protocol, or another family on a specific address, is another socket.
    await table.claim([req("80/udp", ["0.0.0.0"], [8080, 8080])], holder("c2"), free);
    await table.claim([req("80/tcp", ["::1"], [9090, 9090])], holder("c3"), free);
    await table.claim([req("80/tcp", ["127.0.0.1"], [9090, 9090])], holder("c4"), free);
  });

  it("hands out free ports sequentially from the bottom of the range, skipping what the host holds", async () => {
    const busy = new Set([40001]);
    const probe = async (_p: string, _ip: string, port: number) => !busy.has(port);
    const g = await table.claim(
      [req("80/tcp", ["0.0.0.0"], [0, 0]), req("80/udp", ["0.0.0.0"], [0, 0]), req("81/tcp", ["0.0.0.0"], [0, 0])],
      holder("c1"),
      probe,
    );
    expect(g.map((x) => `${x.key}=${x.hostPort}`)).toEqual(["80/tcp=40000", "80/udp=40002", "81/tcp=40003"]);
    const g2 = await table.claim([req("90/tcp", ["0.0.0.0"], [0, 0])], holder("c2"), probe);
    expect(g2[0]!.hostPort).toBe(40004);
  });

  it("is all or nothing", async () => {
    await table.claim([req("80/tcp", ["0.0.0.0"], [8080, 8080])], holder("c1"), free);
    await expect(
      table.claim([req("70/tcp", ["0.0.0.0"], [7070, 7070]), req("80/tcp", ["0.0.0.0"], [8080, 8080])], holder("c2"), free),
    ).rejects.toThrow("port is already allocated");
    expect(leases()).toEqual(["tcp-0.0.0.0-8080"]);
  });

  it("says so when a range has no free port", async () => {
    await table.claim([req("80/tcp", ["0.0.0.0"], [8000, 8001])], holder("c1"), free);
    await table.claim([req("80/tcp", ["0.0.0.0"], [8000, 8001])], holder("c2"), free);
    await expect(table.claim([req("80/tcp", ["0.0.0.0"], [8000, 8001])], holder("c3"), free)).rejects.toThrow("all ports are allocated");
  });

  it("takes back a dead container's ports, and releases a container's on request", async () => {
    const child = spawnSync("true");
    expect(child.status).toBe(0);
    const dead: ProcessIdentity = { pid: child.pid!, startTime: 1 };
    await table.claim([req("80/tcp", ["0.0.0.0"], [8080, 8080])], holder("gone", dead), free);
    await table.claim([req("80/tcp", ["0.0.0.0"], [8080, 8080])], holder("c1"), free);
    expect(table.all().map((l) => l.containerId)).toEqual(["c1"]);
    await table.release("/roots/other", "c1");
    expect(leases()).toEqual(["tcp-0.0.0.0-8080"]);
    await table.release("/roots/a", "c1");
    expect(leases()).toEqual([]);
  });
});

describe("DNAT rules", () => {
  it("rewrite every local address but loopback, or the one address asked for", () => {
    const text = portTableScript("0123456789abcdef".padEnd(64, "0"), [
      { proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, targetIp: "172.17.0.2", targetPort: 80 },
      { proto: "udp", hostIp: "192.0.2.9", hostPort: 53, targetIp: "172.17.0.2", targetPort: 53 },
    ]);
    expect(text).toContain("add table inet tsp0123456789ab\ndelete table inet tsp0123456789ab\ntable inet tsp0123456789ab {");
    expect(text).toContain('iifname != "tsr-*" meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80');
    expect(text).toContain("meta nfproto ipv4 ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat ip to 172.17.0.2:80");
    expect(text).toContain('iifname != "tsr-*" meta nfproto ipv4 ip daddr 192.0.2.9 udp dport 53 dnat ip to 172.17.0.2:53');
    expect([needsDnat("127.0.0.1"), needsDnat("::"), needsDnat("0.0.0.0"), needsDnat("10.1.2.3")]).toEqual([false, false, true, true]);
  });
});

describe("port and ps PORTS output", () => {
  it("prints docker/cli's PORTS column", () => {
    expect(displayablePorts({ "9988/tcp": null })).toBe("9988/tcp");
    expect(displayablePorts({ "9998/udp": null, "9999/udp": null })).toBe("9998-9999/udp");
    expect(displayablePorts({ "9988/tcp": [{ HostIp: "4.3.2.1", HostPort: "8899" }] })).toBe("4.3.2.1:8899->9988/tcp");
    expect(displayablePorts({ "9988/tcp": [{ HostIp: "4.3.2.1", HostPort: "9988" }] })).toBe("4.3.2.1:9988->9988/tcp");
    expect(
      displayablePorts({ "9998/udp": [{ HostIp: "1.2.3.4", HostPort: "9998" }], "9999/udp": [{ HostIp: "1.2.3.4", HostPort: "9999" }] }),
    ).toBe("1.2.3.4:9998-9999->9998-9999/udp");
    expect(
      displayablePorts({
        "80/tcp": [
          { HostIp: "0.0.0.0", HostPort: "32768" },
          { HostIp: "::", HostPort: "32768" },
        ],
        "90/tcp": null,
      }),
    ).toBe("90/tcp, 0.0.0.0:32768->80/tcp, [::]:32768->80/tcp");
  });

  it("prints `port` as Docker, naturally sorted", () => {
    const ports = {
      "80/tcp": [
        { HostIp: "::", HostPort: "32768" },
        { HostIp: "0.0.0.0", HostPort: "32768" },
      ],
      "9/udp": [{ HostIp: "127.0.0.1", HostPort: "100" }],
      "443/tcp": null,
    };
    expect(portLines(ports, "web")).toEqual(["9/udp -> 127.0.0.1:100", "80/tcp -> 0.0.0.0:32768", "80/tcp -> [::]:32768"]);
    expect(portLines(ports, "web", "80")).toEqual(["0.0.0.0:32768", "[::]:32768"]);
    expect(portLines(ports, "web", "9/udp")).toEqual(["127.0.0.1:100"]);
    expect(() => portLines(ports, "web", "443")).toThrow("Error: No public port '443' published for web");
    expect(() => portLines(ports, "web", "80/udp")).toThrow("Error: No public port '80/udp' published for web");
    expect(naturalCompare("a10", "a9")).toBeGreaterThan(0);
  });
});

describe("the port proxy's command line", () => {
  const base = { containerId: "c".repeat(64), owner: { pid: 42, startTime: 7 }, pidFile: "/r/containers/c/port-proxy.json" };
  const to = (proto: "tcp" | "udp", hostIp: string, hostPort: number, targetPort: number, targetIp = "10.0.0.2") => ({ proto, hostIp, hostPort, targetIp, targetPort });

  it("names one target, the owner by pid and start time, and each binding in order", () => {
    expect(proxyArgs({ ...base, bindings: [to("tcp", "0.0.0.0", 8080, 80), to("tcp", "::", 8080, 80), to("udp", "::1", 53, 5300)] })).toEqual([
      "--pid-file",
      "/r/containers/c/port-proxy.json",
      "--owner",
      "42:7",
      "--target",
      "10.0.0.2",
      "tcp,0.0.0.0,8080,80",
      "tcp,::,8080,80",
      "udp,::1,53,5300",
    ]);
    expect(proxyArgs({ ...base, udpIdleMs: 500, bindings: [to("udp", "127.0.0.1", 53, 53)] })).toContain("--udp-idle-ms");
  });

  it("refuses bindings that would send traffic to two addresses, or none", () => {
    expect(() => proxyArgs({ ...base, bindings: [to("tcp", "0.0.0.0", 1, 1), to("tcp", "0.0.0.0", 2, 2, "10.0.0.3")] })).toThrow(
      'port proxy: bindings target both "10.0.0.2" and "10.0.0.3"',
    );
    expect(() => proxyArgs({ ...base, bindings: [] })).toThrow("port proxy: no binding to serve");
  });
});

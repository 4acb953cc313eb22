/**
 * Published ports end to end through the CLI on a private root: `-p` reachable from
 * 127.0.0.1, [::1], the host's own address and other containers (TCP and UDP), `-P` handing
 * out host ports sequentially from the bottom of the ephemeral range, `port` and ps's PORTS,
 * Docker's messages for a port another container or another process holds (exit 125,
 * nothing left behind), ports freed by stop and rm, and cleanup after a killed CLI. Only
 * loopback, the host's own address and this file's containers are ever contacted.
 */
import dgram from "node:dgram";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { fetchFrom, httpd, idOf, listening, nftTables, portLeases, proxiesOf, udpTool } from "./network-fixtures.js";

if (!isRoot) console.warn("ports-run.test.ts: skipped, integration tests need root");

/** GET http://host:port/ from the host: the body, or undefined when nothing answers within 3 s. */
function get(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: "/", agent: false, timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve(body));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** One UDP exchange from the host: the answer, or undefined after 2 s. */
function udpAsk(host: string, port: number, msg: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), 2000);
    s.on("message", (m) => done(m.toString()));
    s.on("error", () => done(undefined));
    s.send(msg, port, host);
  });
}

/** The host's own IPv4 address (not loopback, not a tsrun bridge). */
function hostAddress(): string {
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (name === "lo" || name.startsWith("tsr-") || name.startsWith("tsv")) continue;
    const a = (addrs ?? []).find((x) => x.family === "IPv4" && !x.internal);
    if (a) return a.address;
  }
  throw new Error("this host has no IPv4 address of its own");
}

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "0.0.0.0", exclusive: true }, () => s.close(() => resolve(true)));
  });

/** `count` consecutive ports nothing on this host listens on now (below the ephemeral range, which -P uses). */
async function freePort(count = 1): Promise<number> {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 9000);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await bindable(p);
    if (free) return base;
  }
}

const [rangeLo, rangeHi] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number) as [number, number];

describe.skipIf(!isRoot)("published ports", () => {
  let root: TestRoot;
  let tools: string;
  const tsrun = (...args: string[]) => root.run(args);
  const ok = (...args: string[]) => root.ok(args);
  /** What a container of this root leaves on the machine besides its own directory. */
  const traces = async (names: string[]) => {
    const ids = await Promise.all(names.map((n) => idOf(root, n)));
    return {
      leases: portLeases(root),
      proxies: proxiesOf(root),
      tables: nftTables().filter((t) => t.startsWith("tsp") && ids.some((id) => id !== "" && t === `tsp${id.slice(0, 12)}`)),
    };
  };
  const nothing = { leases: [], proxies: [], tables: [] };

  beforeAll(async () => {
    root = new TestRoot("tsrun-ports-");
    root.loadBusybox();
    tools = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-ports-tools-"));
    udpTool(tools);
    await ok("network", "create", "--subnet", "10.233.7.0/24", "portnet");
  });
  afterAll(() => {
    root?.destroy();
    if (tools) fs.rmSync(tools, { recursive: true, force: true });
  });

  it("reaches a published TCP port from 127.0.0.1, [::1], the host's address and other containers", async () => {
    const port = await freePort();
    await ok("run", "-d", "--name", "web", "-p", `${port}:80`, ...httpd("hello-web"));
    await listening(root, "web", 80);
    expect(await get("127.0.0.1", port)).toBe("hello-web\n");
    expect(await get("::1", port)).toBe("hello-web\n");
    expect(await get(hostAddress(), port)).toBe("hello-web\n");
    // From a container on the same bridge, through its gateway, and from another network.
    const gateway = await ok("inspect", "-f", "{{.NetworkSettings.Gateway}}", "web");
    await ok("run", "-d", "--name", "peer", "busybox", "sleep", "120");
    await ok("run", "-d", "--name", "other", "--network", "portnet", "busybox", "sleep", "120");
    expect(await fetchFrom(root, "peer", `http://${gateway}:${port}/`)).toBe("hello-web\n");
    expect(await fetchFrom(root, "other", `http://${hostAddress()}:${port}/`)).toBe("hello-web\n");

    expect(await ok("port", "web")).toBe(`80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    expect(await ok("port", "web", "80/tcp")).toBe(`0.0.0.0:${port}\n[::]:${port}`);
    const missing = await tsrun("port", "web", "81");
    expect([missing.code, missing.stderr]).toEqual([1, "Error: No public port '81' published for web\n"]);
    expect(await ok("ps", "--filter", "name=web", "--format", "{{.Ports}}")).toBe(`0.0.0.0:${port}->80/tcp, [::]:${port}->80/tcp`);
    const ports = JSON.parse(await ok("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web")) as unknown;
    expect(ports).toEqual({ "80/tcp": [{ HostIp: "0.0.0.0", HostPort: String(port) }, { HostIp: "::", HostPort: String(port) }] });
    expect(JSON.parse(await ok("inspect", "-f", "{{json .HostConfig.PortBindings}}", "web"))).toEqual({ "80/tcp": [{ HostIp: "", HostPort: String(port) }] });

    await ok("rm", "-f", "web", "peer", "other");
    expect(await get("127.0.0.1", port)).toBeUndefined();
    expect(await traces([])).toEqual(nothing);
  });

  it("serves many clients at once, over 127.0.0.1 and [::1], through one proxy", async () => {
    const port = await freePort();
    await ok("run", "-d", "--name", "busy-web", "-p", `${port}:80`, ...httpd("many"));
    await listening(root, "busy-web", 80);
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => get(i % 2 ? "::1" : "127.0.0.1", port)));
    expect(answers.filter((a) => a !== "many\n")).toEqual([]);
    expect(proxiesOf(root)).toHaveLength(1);
    await ok("rm", "-f", "busy-web");
    expect(await traces([])).toEqual(nothing);
  });

  it("publishes port ranges, and a port on an IPv6 host address only", async () => {
    const base = await freePort(2);
    const v6 = await freePort();
    const script = "mkdir -p /a /b && echo eighty > /a/index.html && echo eighty-one > /b/index.html && httpd -p 81 -h /b && exec httpd -f -p 80 -h /a";
    await ok("run", "-d", "--name", "ranges", "-p", `${base}-${base + 1}:80-81`, "-p", `[::1]:${v6}:80`, "busybox", "sh", "-c", script);
    await listening(root, "ranges", 80);
    await listening(root, "ranges", 81);
    expect(await get("127.0.0.1", base)).toBe("eighty\n");
    expect(await get("127.0.0.1", base + 1)).toBe("eighty-one\n");
    expect(await get("::1", v6)).toBe("eighty\n");
    expect(await get("127.0.0.1", v6)).toBeUndefined();
    expect(await ok("port", "ranges", "80")).toBe(`0.0.0.0:${base}\n[::1]:${v6}\n[::]:${base}`);
    expect(await ok("ps", "--filter", "name=ranges", "--format", "{{.Ports}}")).toBe(
      `0.0.0.0:${base}->80/tcp, [::]:${base}->80/tcp, [::1]:${v6}->80/tcp, 0.0.0.0:${base + 1}->81/tcp, [::]:${base + 1}->81/tcp`,
    );
    await ok("rm", "-f", "ranges");
  });

  it("publishes UDP, and a port on one address only", async () => {
    const port = await freePort();
    const only = await freePort();
    const tool = `${path.join(tools, "udptool")}:/udptool:ro`;
    await ok("run", "-d", "--name", "udp", "-p", `${port}:5300/udp`, "-p", `127.0.0.1:${only}:5300/udp`, "-v", tool, "busybox", "/udptool", "serve", "5300");
    await new Promise((r) => setTimeout(r, 300));
    const gateway = await ok("inspect", "-f", "{{.NetworkSettings.Gateway}}", "udp");
    // Loopback and IPv6 reach the container through the proxy (from the bridge's address);
    // the host's own address is DNAT'ed, so the container sees the client's address.
    expect(await udpAsk("127.0.0.1", port, "one")).toBe(`echo:one ${gateway}`);
    expect(await udpAsk("::1", port, "two")).toBe(`echo:two ${gateway}`);
    expect(await udpAsk(hostAddress(), port, "three")).toBe(`echo:three ${hostAddress()}`);
    expect(await udpAsk("127.0.0.1", only, "four")).toBe(`echo:four ${gateway}`);
    expect(await udpAsk(hostAddress(), only, "five")).toBeUndefined();
    expect(await ok("port", "udp")).toBe(`5300/udp -> 0.0.0.0:${port}\n5300/udp -> 127.0.0.1:${only}\n5300/udp -> [::]:${port}`);
    await ok("rm", "-f", "udp");
    expect(await traces([])).toEqual(nothing);
  });

  it("gives -P every exposed port a host port, sequentially from the bottom of the ephemeral range", async () => {
    await ok("run", "-d", "--name", "all", "-P", "--expose", "7000-7002", "--expose", "7000/udp", "busybox", "sleep", "120");
    const lines = (await ok("port", "all")).split("\n").filter((l) => l.includes("0.0.0.0"));
    const byPort = lines.map((l) => {
      const [from, to] = l.split(" -> ") as [string, string];
      return [from, Number(to.split(":")[1])] as const;
    });
    expect(byPort.map(([from]) => from)).toEqual(["7000/tcp", "7000/udp", "7001/tcp", "7002/tcp"]);
    const hostPorts = byPort.map(([, p]) => p);
    expect(hostPorts.every((p) => p >= rangeLo && p <= rangeHi)).toBe(true);
    // In order, each after the last (80/tcp and 80/udp never share one), from the bottom up.
    for (let i = 1; i < hostPorts.length; i++) expect(hostPorts[i]!).toBeGreaterThan(hostPorts[i - 1]!);
    expect(hostPorts[0]! - rangeLo).toBeLessThan(200);
    expect(await ok("ps", "--filter", "name=all", "--format", "{{.Ports}}")).toContain(`0.0.0.0:${hostPorts[0]}->7000/tcp`);
    await ok("rm", "-f", "all");
  });

  it("refuses a port another container holds, or another process, with Docker's messages and nothing left behind", async () => {
    const port = await freePort();
    await ok("run", "-d", "--name", "holder", "-p", `${port}:80`, ...httpd("holder"));
    const before = await traces(["holder"]);
    const taken = await tsrun("run", "--rm", "--name", "late", "-p", `${port}:80`, "busybox", "true");
    expect(taken.code).toBe(125);
    expect(taken.stderr).toMatch(new RegExp(`^tsrun: driver failed programming external connectivity on endpoint late \\([0-9a-f]{64}\\): Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated\\n$`));
    expect(await tsrun("inspect", "late")).toMatchObject({ code: 1 });
    // Without --rm the container stays, Created, as Docker leaves it.
    const kept = await tsrun("run", "-d", "--name", "kept", "-p", `127.0.0.1:${port}:80`, "busybox", "true");
    expect(kept.code).toBe(125);
    expect(await ok("ps", "-a", "--filter", "name=kept", "--format", "{{.Status}}")).toBe("Created");
    expect(await traces(["holder"])).toEqual(before);

    const other = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ port: other, host: "0.0.0.0" }, resolve));
    try {
      const busy = await tsrun("run", "--rm", "--name", "busy", "-p", `${other}:80`, "busybox", "true");
      expect(busy.code).toBe(125);
      expect(busy.stderr).toMatch(
        new RegExp(`^tsrun: driver failed programming external connectivity on endpoint busy \\([0-9a-f]{64}\\): Error starting userland proxy: listen tcp4 0\\.0\\.0\\.0:${other}: bind: address already in use\\n$`),
      );
    } finally {
      server.close();
    }
    expect(await traces(["holder"])).toEqual(before);
    await ok("rm", "-f", "holder", "kept");
    expect(await traces([])).toEqual(nothing);
  });

  it("frees the ports when the container stops, and publishes them again when it starts", async () => {
    const port = await freePort();
    await ok("run", "-d", "--name", "cycle", "-p", `${port}:80`, ...httpd("cycle"));
    await listening(root, "cycle", 80);
    await ok("stop", "-t", "0", "cycle");
    expect(await ok("port", "cycle")).toBe("");
    expect(await ok("ps", "-a", "--filter", "name=cycle", "--format", "[{{.Ports}}]")).toBe("[]");
    expect(await traces(["cycle"])).toEqual(nothing);
    // Free at once: another container takes it.
    await ok("run", "--rm", "-p", `${port}:80`, "busybox", "true");
    await ok("start", "cycle");
    await listening(root, "cycle", 80);
    expect(await get("127.0.0.1", port)).toBe("cycle\n");
    await ok("restart", "-t", "0", "cycle");
    await listening(root, "cycle", 80);
    expect(await get("127.0.0.1", port)).toBe("cycle\n");
    await ok("rm", "-f", "cycle");
    expect(await traces([])).toEqual(nothing);
  });

  it("cleans up after a CLI killed mid-start, and after a killed monitor", async () => {
    const port = await freePort();
    // Killed after the network and ports are wired, before START: the container is Created.
    const crashed = await root.run(["run", "-d", "--name", "crashed", "-p", `${port}:80`, ...httpd("crashed")], { env: { TSRUN_CRASH_AT: "launch:created" } });
    expect(crashed.signal).toBe("SIGKILL");
    expect(await ok("ps", "-a", "--filter", "name=crashed", "--format", "{{.Status}}")).toBe("Created");
    await ok("start", "crashed");
    await listening(root, "crashed", 80);
    expect(await get("127.0.0.1", port)).toBe("crashed\n");

    // A foreground run whose CLI is killed while its proxy comes up.
    const other = await freePort();
    const cli = root.spawn(["run", "--name", "fg", "-p", `${other}:80`, ...httpd("fg")]);
    for (let i = 0; i < 400 && proxiesOf(root).length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    cli.kill("SIGKILL");
    await new Promise((r) => cli.once("exit", r));

    // The monitor of the first container dies (and its container with it): the next command settles it.
    const monitor = Number(fs.readFileSync(path.join(root.dir, "runtime", await idOf(root, "crashed"), "state.json"), "utf8").match(/"monitor":\s*\{\s*"pid":\s*(\d+)/)![1]);
    process.kill(monitor, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    expect(await ok("ps", "-a", "--filter", "name=crashed", "--format", "{{.Status}}")).toMatch(/^Exited \(255\)/);
    expect(await traces(["crashed"])).toMatchObject({ tables: [] });
    await ok("rm", "-f", "crashed", "fg");
    await ok("system", "prune", "-f");
    expect(await traces([])).toEqual(nothing);
    expect(await get("127.0.0.1", port)).toBeUndefined();
    expect(await get("127.0.0.1", other)).toBeUndefined();
  });
});

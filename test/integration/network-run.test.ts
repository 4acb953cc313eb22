/**
 * Containers on networks, end to end through the CLI on a private root: names on user
 * networks (TCP with busybox httpd + wget, UDP with a small static tool), address-only on
 * the default bridge, isolation between networks, connect/disconnect of a running
 * container, the host / none / container:X modes, resolv.conf and hosts, inspect, and that
 * nothing of a removed container stays on the machine. Traffic only ever goes between the
 * containers this file creates (their bridges' addresses) and loopback; the root's DNS
 * (daemon.json) is 127.0.0.1 inside each container, where nothing answers.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { addressLeases, fetchFrom, httpd, idOf, inside, listening, pidOf, udpTool, vethsOf } from "./network-fixtures.js";

if (!isRoot) console.warn("network-run.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("containers on networks", () => {
  let root: TestRoot;
  let tools: string;
  const tsrun = (...args: string[]) => root.run(args);
  const ok = (...args: string[]) => root.ok(args);
  const ipOn = async (name: string, network: string) => ok("inspect", "-f", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name);

  beforeAll(async () => {
    root = new TestRoot("tsrun-netrun-");
    root.loadBusybox();
    tools = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-netrun-tools-"));
    udpTool(tools);
    await ok("network", "create", "--subnet", "10.233.1.0/24", "front");
    await ok("network", "create", "--subnet", "10.233.2.0/24", "back");
  });
  afterAll(() => {
    root?.destroy();
    if (tools) fs.rmSync(tools, { recursive: true, force: true });
  });

  it("lets containers on a user network reach each other by name, alias and short id, started before or after", async () => {
    await ok("run", "-d", "--name", "early", "--network", "front", "busybox", "sleep", "120");
    await ok("run", "-d", "--name", "srv", "--network", "front", "--network-alias", "web", ...httpd("hello-srv"));
    await listening(root, "srv", 80);
    const short = (await idOf(root, "srv")).slice(0, 12);
    expect(await fetchFrom(root, "early", "http://srv/")).toBe("hello-srv\n");
    expect(await fetchFrom(root, "early", "http://web/")).toBe("hello-srv\n");
    expect(await fetchFrom(root, "early", `http://${short}/`)).toBe("hello-srv\n");
    // A container started after the server finds it too.
    const r = await tsrun("run", "--rm", "--network", "front", "busybox", "sh", "-c", "timeout 3 wget -qO- http://srv/");
    expect(r.stdout).toBe("hello-srv\n");
    const settings = JSON.parse(await ok("inspect", "-f", "{{json .NetworkSettings.Networks.front}}", "srv")) as Record<string, unknown>;
    expect(settings).toMatchObject({ Aliases: ["web"], IPPrefixLen: 24, Gateway: "10.233.1.1", DNSNames: ["srv", "web", short] });
    expect(settings.IPAddress).toMatch(/^10\.233\.1\.\d+$/);

    await ok("rm", "-f", "srv");
    expect(await fetchFrom(root, "early", "http://srv/")).toBeUndefined();
    expect((await inside(root, "early", ["cat", "/etc/hosts"])).out).not.toMatch(/\bsrv\b/);
    await ok("rm", "-f", "early");
  });

  it("carries UDP between containers by name", async () => {
    const tool = `${path.join(tools, "udptool")}:/udptool:ro`;
    await ok("run", "-d", "--name", "dns-ish", "--network", "front", "-v", tool, "busybox", "/udptool", "serve", "5300");
    const r = await tsrun("run", "--rm", "--network", "front", "-v", tool, "busybox", "/udptool", "send", "dns-ish", "5300", "ping-by-name");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^echo:ping-by-name 10\.233\.1\.\d+\n$/);
    await ok("rm", "-f", "dns-ish");
  });

  it("reaches peers on the default bridge by address only, as Docker", async () => {
    await ok("run", "-d", "--name", "plain", ...httpd("hello-bridge"));
    await listening(root, "plain", 80);
    const ip = await ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "plain");
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await ok("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "plain")).toBe(ip);
    const r = await tsrun("run", "--rm", "busybox", "sh", "-c", `timeout 3 wget -qO- http://${ip}/; timeout 3 wget -qO- http://plain/ || echo no-name`);
    expect(r.stdout).toBe("hello-bridge\nno-name\n");
    await ok("rm", "-f", "plain");
  });

  it("isolates two networks, and connects and disconnects a running container", async () => {
    await ok("run", "-d", "--name", "f-srv", "--network", "front", ...httpd("hello-front"));
    await listening(root, "f-srv", 80);
    const frontIp = await ipOn("f-srv", "front");
    await ok("run", "-d", "--name", "b-cli", "--network", "back", "busybox", "sleep", "120");
    expect(await fetchFrom(root, "b-cli", `http://${frontIp}/`)).toBeUndefined();

    await ok("network", "connect", "--alias", "b-alias", "front", "b-cli");
    const links = (await inside(root, "b-cli", ["ip", "-o", "-4", "addr"])).out;
    expect(links).toMatch(/eth0\s+inet 10\.233\.2\./);
    expect(links).toMatch(/eth1\s+inet 10\.233\.1\./);
    expect(await fetchFrom(root, "b-cli", "http://f-srv/")).toBe("hello-front\n");
    expect((await inside(root, "f-srv", ["cat", "/etc/hosts"])).out).toMatch(/10\.233\.1\.\d+\tb-cli b-alias /);
    const connected = JSON.parse(await ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", "b-cli")) as Record<string, unknown>;
    expect(Object.keys(connected)).toEqual(["back", "front"]);
    const again = await tsrun("network", "connect", "front", "b-cli");
    expect([again.code, again.stderr]).toEqual([1, "Error response from daemon: endpoint with name b-cli already exists in network front\n"]);

    await ok("network", "disconnect", "front", "b-cli");
    expect((await inside(root, "b-cli", ["ip", "-o", "-4", "addr"])).out).not.toContain("eth1");
    expect(await fetchFrom(root, "b-cli", `http://${frontIp}/`)).toBeUndefined();
    expect((await inside(root, "f-srv", ["cat", "/etc/hosts"])).out).not.toContain("b-cli");
    const twice = await tsrun("network", "disconnect", "front", "b-cli");
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^Error response from daemon: container [0-9a-f]{64} is not connected to network front\n$/);

    // A stopped container is connected in its record and wired at its next start.
    await ok("stop", "-t", "0", "b-cli");
    await ok("network", "connect", "front", "b-cli");
    await ok("start", "b-cli");
    expect(await fetchFrom(root, "b-cli", "http://f-srv/")).toBe("hello-front\n");

    const busy = await tsrun("network", "rm", "front");
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain("has active endpoints");
    await ok("rm", "-f", "f-srv", "b-cli");
  });

  it("runs --network host in the host's network and user namespaces", async () => {
    const r = await tsrun("run", "--rm", "--network", "host", "busybox", "sh", "-c", "hostname; cat /proc/self/uid_map; ls /sys/class/net");
    const [hostname, uidMap, ...ifaces] = r.stdout.trim().split("\n");
    expect(hostname).toBe(os.hostname());
    expect(uidMap!.trim().split(/\s+/)).toEqual(["0", "0", "4294967295"]);
    expect(ifaces.sort()).toEqual(fs.readdirSync("/sys/class/net").sort());
  });

  it("gives --network none nothing but lo", async () => {
    const r = await tsrun("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net");
    expect(r.stdout).toBe("lo\n");
    expect(await ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", await ok("create", "--network", "none", "busybox"))).toBe("none");
  });

  it("joins another container's network and user namespaces with --network container:X", async () => {
    await ok("run", "-d", "--name", "donor", "--network", "front", ...httpd("hello-donor"));
    await listening(root, "donor", 80);
    const r = await tsrun("run", "--rm", "--network", "container:donor", "busybox", "sh", "-c", "hostname; cat /proc/self/uid_map; timeout 3 wget -qO- http://127.0.0.1/; ip -o -4 addr show eth0");
    const [hostname, uidMap, body, addr] = r.stdout.trim().split("\n");
    expect(hostname).toBe((await idOf(root, "donor")).slice(0, 12));
    const donorMap = fs.readFileSync(`/proc/${await pidOf(root, "donor")}/uid_map`, "utf8");
    expect(uidMap!.trim().split(/\s+/)).toEqual(donorMap.trim().split(/\s+/));
    expect(body).toBe("hello-donor");
    expect(addr).toContain(`inet ${await ipOn("donor", "front")}/24`);
    await ok("stop", "-t", "0", "donor");
    const refused = await tsrun("run", "--rm", "--network", "container:donor", "busybox", "true");
    expect([refused.code, refused.stderr]).toEqual([125, "tsrun: cannot join network of a non running container: donor\n"]);
    const conflict = await tsrun("run", "--rm", "--network", "container:donor", "-p", "80", "busybox", "true");
    expect([conflict.code, conflict.stderr]).toEqual([125, "tsrun: conflicting options: port publishing and the container type network mode\n"]);
    await ok("rm", "-f", "donor");
  });

  it("writes resolv.conf and hosts as asked (--dns*, --add-host, the root's default resolver)", async () => {
    const byDefault = await tsrun("run", "--rm", "busybox", "cat", "/etc/resolv.conf");
    expect(byDefault.stdout).toBe("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    const r = await tsrun(
      "run", "--rm", "--hostname", "box", "--dns", "10.233.9.9", "--dns-search", "example.test", "--dns-option", "ndots:3",
      "--add-host", "extra.test:10.233.9.8", "busybox", "sh", "-c", "cat /etc/resolv.conf; grep -e extra.test -e box /etc/hosts",
    );
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 3)).toEqual(["search example.test", "nameserver 10.233.9.9", "options ndots:3"]);
    expect(lines[3]).toBe("10.233.9.8\textra.test");
    expect(lines[4]).toMatch(/^\d+\.\d+\.\d+\.\d+\tbox$/);
  });

  it("--add-host X:host-gateway names the default bridge's gateway, which the container reaches", async () => {
    const r = await tsrun("run", "--rm", "--add-host", "hostside.test:host-gateway", "busybox", "sh", "-c", "grep hostside.test /etc/hosts && ping -c 1 -W 2 hostside.test >/dev/null && echo reached");
    const gateway = (JSON.parse(await ok("network", "inspect", "bridge")) as { IPAM: { Config: { Gateway: string }[] } }[])[0]!.IPAM.Config[0]!.Gateway;
    expect(r).toMatchObject({ code: 0, stdout: `${gateway}\thostside.test\nreached\n` });
    // The record keeps what was asked, as Docker's HostConfig.ExtraHosts does.
    const id = await ok("create", "--add-host", "hostside.test:host-gateway", "busybox");
    expect(await ok("inspect", "-f", "{{json .HostConfig.ExtraHosts}}", id)).toBe('["hostside.test:host-gateway"]');
    await ok("rm", id);
  });

  it("refuses bad network flags with Docker's messages, creating nothing", async () => {
    const before = (await ok("ps", "-aq")).split("\n").filter(Boolean).length;
    const cases: [string[], string][] = [
      [["--network", "nowhere"], "tsrun: network nowhere not found\n"],
      [["--ip", "10.233.1.50"], "tsrun: user specified IP address is supported on user defined networks only\n"],
      [["--network-alias", "x"], "tsrun: network-scoped aliases are only supported for user-defined networks\n"],
      [["--mac-address", "nope"], "tsrun: nope is not a valid mac address\n"],
      [["-p", "99999"], "tsrun: invalid containerPort: 99999\n"],
    ];
    for (const [flags, message] of cases) {
      const r = await tsrun("run", "--rm", ...flags, "busybox", "true");
      expect([r.code, r.stderr], flags.join(" ")).toEqual([125, message]);
    }
    expect((await ok("ps", "-aq")).split("\n").filter(Boolean).length).toBe(before);
  });

  it("takes a static --ip and --mac-address on a user network", async () => {
    const r = await tsrun("run", "--rm", "--network", "back", "--ip", "10.233.2.77", "--mac-address", "02:42:0a:e9:02:77", "busybox", "ip", "-o", "link", "show", "eth0");
    expect(r.stdout).toContain("link/ether 02:42:0a:e9:02:77");
    const s = await tsrun("run", "--rm", "--network", "back", "--ip", "10.233.2.77", "busybox", "ip", "-o", "-4", "addr", "show", "eth0");
    expect(s.stdout).toContain("inet 10.233.2.77/24");
  });

  it("leaves nothing on the machine once its containers are gone", async () => {
    await ok("run", "-d", "--name", "tmp1", "--network", "front", "busybox", "sleep", "60");
    await ok("run", "-d", "--name", "tmp2", "busybox", "sleep", "60");
    expect(addressLeases(root).length).toBe(2);
    expect(vethsOf(root).length).toBe(2);
    await ok("rm", "-f", "tmp1", "tmp2");
    expect(addressLeases(root)).toEqual([]);
    expect(fs.readdirSync(path.join(root.dir, "networks")).filter((n) => /^[0-9a-f]{64}$/.test(n)).flatMap((d) => fs.readdirSync(path.join(root.dir, "networks", d)))).toEqual([]);
  });
});

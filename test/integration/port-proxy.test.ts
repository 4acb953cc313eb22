/**
 * The native port proxy (native/build/tsrun-proxy) driven directly through its launcher,
 * with servers on loopback standing in for a container: TCP both ways with half-closes from
 * 127.0.0.1 and [::1], a slow reader (the proxy's memory stays bounded), many connections at
 * once (and their fds given back), UDP flows per client forgotten when idle, bind errors by
 * index, and its end with its owner process. Needs the native build, not root; only
 * loopback is contacted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ProxyBindError, startPortProxy, stopPortProxy, type ProxyBinding, type ProxyConfig } from "../../src/network/port-proxy-client.js";
import { isAlive, processStartTime, type ProcessIdentity } from "../../src/linux/process-identity.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-proxy-"));
const cleanups: (() => unknown)[] = [];
let owner: ChildProcess;
let ownerId: ProcessIdentity;
let serial = 0;

beforeAll(async () => {
  owner = spawn("sleep", ["600"], { stdio: "ignore" });
  await new Promise((r) => owner.once("spawn", r));
  ownerId = { pid: owner.pid!, startTime: processStartTime(owner.pid!)! };
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  owner?.kill("SIGKILL");
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A loopback port nothing holds right now (for both families and protocols). */
async function freePort(): Promise<number> {
  for (;;) {
    // Below ports-run.test.ts's picks and the ephemeral range (-P, port 0).
    const port = 10000 + Math.floor(Math.random() * 10000);
    const free = await Promise.all(
      (["127.0.0.1", "::1"] as const).map(
        (host) =>
          new Promise<boolean>((resolve) => {
            const s = net.createServer();
            s.once("error", () => resolve(false));
            s.listen({ host, port, exclusive: true, ipv6Only: host === "::1" }, () => s.close(() => resolve(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return port;
  }
}

/** A TCP server on 127.0.0.1 (the "container"), closed after the test. */
async function server(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {}); // a client the test destroys: not this helper's failure
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen({ host: "127.0.0.1", port: 0 }, r));
  cleanups.push(() => new Promise((r) => srv.close(r)));
  return (srv.address() as net.AddressInfo).port;
}

/** Starts a proxy for the bindings; stopped (and checked gone) after the test. */
async function proxy(bindings: ProxyBinding[], extra: Partial<ProxyConfig> = {}): Promise<{ pid: number; pidFile: string }> {
  const pidFile = path.join(tmp, `proxy-${++serial}.json`);
  cleanups.push(() => stopPortProxy(pidFile));
  await startPortProxy({ containerId: "f".repeat(64), owner: ownerId, pidFile, bindings, ...extra });
  const id = JSON.parse(fs.readFileSync(pidFile, "utf8")) as ProcessIdentity;
  expect(isAlive(id)).toBe(true);
  return { pid: id.pid, pidFile };
}

const tcp = (hostIp: string, hostPort: number, targetPort: number): ProxyBinding => ({ proto: "tcp", hostIp, hostPort, targetIp: "127.0.0.1", targetPort });

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Everything the socket receives until its peer's FIN. */
function readAll(s: net.Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once("end", () => resolve(Buffer.concat(parts)));
    s.once("error", reject);
  });
}

const fdCount = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]);

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("tsrun-proxy", () => {
  it("relays TCP both ways from 127.0.0.1 and [::1], half-closes included", async () => {
    // The server greets first, and answers with the byte count once the client has finished
    // sending: each direction ends on its own.
    const echo = await server((s) => {
      s.write("hello ");
      let n = 0;
      s.on("data", (d: Buffer) => (n += d.length));
      s.once("end", () => s.end(`got ${n}`));
    });
    const port = await freePort();
    await proxy([tcp("127.0.0.1", port, echo), tcp("::1", port, echo)]);
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    for (const host of ["127.0.0.1", "::1"]) {
      const c = await connect(host, port);
      const answer = readAll(c);
      c.end(payload);
      expect((await answer).toString()).toBe(`hello got ${payload.length}`);
      c.destroy();
    }

    // The server closes its side first; the client can still send, and the server still reads.
    const received: Promise<string>[] = [];
    const first = await server((s) => {
      s.end("bye");
      received.push(readAll(s).then((b) => b.toString()));
    });
    const port2 = await freePort();
    await proxy([tcp("127.0.0.1", port2, first)]);
    const c = await connect("127.0.0.1", port2);
    expect((await readAll(c)).toString()).toBe("bye");
    c.end("still here");
    await until("the server's connection", () => received.length === 1);
    expect(await received[0]).toBe("still here");
    c.destroy();
  });

  it("holds a slow reader's data in TCP's buffers, not its own memory", async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const target = await server((s) => {
      const chunk = Buffer.alloc(1024 * 1024, 1);
      const more = () => {
        while (written < total) {
          written += chunk.length;
          if (!s.write(chunk)) return void s.once("drain", more);
        }
        s.end();
      };
      more();
    });
    const port = await freePort();
    const { pid } = await proxy([tcp("127.0.0.1", port, target)]);
    const before = rssKb(pid);
    const c = await connect("127.0.0.1", port);
    c.pause();
    // The writer is held back once the kernel's buffers (autotuned, so they grow for a while)
    // and the proxy's one pending read are full: far short of the total, nothing in the proxy.
    await until("the writer to start", () => written > 0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(written).toBeLessThan(total / 2);
    expect(rssKb(pid) - before).toBeLessThan(2048);
    const all = readAll(c);
    c.resume();
    expect((await all).length).toBe(total);
    c.destroy();
  });

  it("serves many connections at once and gives their fds back", async () => {
    const target = await server((s) => s.pipe(s));
    const port = await freePort();
    const { pid } = await proxy([tcp("127.0.0.1", port, target)]);
    const idle = fdCount(pid);
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const c = await connect("127.0.0.1", port);
        const body = Buffer.alloc(20000 + i, i % 251);
        const back = readAll(c);
        c.end(body);
        const got = await back;
        c.destroy();
        return got.equals(body);
      }),
    );
    expect(results.filter((x) => !x).length).toBe(0);
    await until("the connections' fds to close", () => fdCount(pid) === idle);
  });

  it("relays UDP with one flow per client, from IPv4 and IPv6 loopback, forgotten when idle", async () => {
    const srv = dgram.createSocket("udp4");
    await new Promise<void>((r) => srv.bind(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => srv.close(() => r(undefined))));
    srv.on("message", (m, from) => srv.send(`echo:${m.toString()} ${from.port}`, from.port, from.address));
    const target = srv.address().port;
    const port = await freePort();
    const udp = (hostIp: string): ProxyBinding => ({ proto: "udp", hostIp, hostPort: port, targetIp: "127.0.0.1", targetPort: target });
    const { pid } = await proxy([udp("127.0.0.1"), udp("::1")], { udpIdleMs: 400 });
    const idle = fdCount(pid);

    const client = async (host: string) => {
      const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
      await new Promise<void>((r) => s.bind(0, host, r));
      cleanups.push(() => s.close());
      return (msg: string) =>
        new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer to ${msg}`)), 2000);
          s.once("message", (m) => {
            clearTimeout(timer);
            resolve(m.toString());
          });
          s.send(msg, port, host);
        });
    };
    const a = await client("127.0.0.1");
    const b = await client("::1");
    const a1 = (await a("one")).split(" ");
    const a2 = (await a("two")).split(" ");
    const b1 = (await b("three")).split(" ");
    expect([a1[0], a2[0], b1[0]]).toEqual(["echo:one", "echo:two", "echo:three"]);
    // The same client keeps its flow (one upstream port); another client has its own.
    expect(a2[1]).toBe(a1[1]);
    expect(b1[1]).not.toBe(a1[1]);
    expect(fdCount(pid)).toBe(idle + 2);
    await until("idle flows to be forgotten", () => fdCount(pid) === idle);
    expect((await a("four")).startsWith("echo:four ")).toBe(true);
  });

  it("reports the binding it could not take, and leaves nothing behind", async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen({ host: "127.0.0.1", port }, r));
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const free = await freePort();
    const pidFile = path.join(tmp, "refused.json");
    const err = await startPortProxy({ containerId: "e".repeat(64), owner: ownerId, pidFile, bindings: [tcp("::1", free, 1), tcp("127.0.0.1", port, 1)] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyBindError);
    expect([(err as ProxyBindError).index, (err as ProxyBindError).code]).toEqual([1, "EADDRINUSE"]);
    expect(fs.existsSync(pidFile)).toBe(false);
    // What it bound before the failure is free again.
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer().once("error", reject);
      s.listen({ host: "::1", port: free, exclusive: true }, () => s.close(() => resolve()));
    });

    const gone = await startPortProxy({ containerId: "e".repeat(64), owner: { pid: ownerId.pid, startTime: ownerId.startTime + 1 }, pidFile, bindings: [tcp("127.0.0.1", free, 1)] }).catch((e: unknown) => e);
    expect([(gone as ProxyBindError).index, (gone as ProxyBindError).code]).toEqual([-1, "ESRCH"]);
    await expect(startPortProxy({ containerId: "e", owner: ownerId, pidFile, bindings: [tcp("127.0.0.1", 1, 1), { ...tcp("127.0.0.1", 2, 2), targetIp: "127.0.0.2" }] })).rejects.toThrow(
      'port proxy: bindings target both "127.0.0.1" and "127.0.0.2"',
    );
  });

  it("holds nothing of its launcher's, and exits with its owner", async () => {
    const own = spawn("sleep", ["600"], { stdio: "ignore" });
    cleanups.push(() => own.kill("SIGKILL"));
    await new Promise((r) => own.once("spawn", r));
    const port = await freePort();
    const { pid, pidFile } = await proxy([tcp("127.0.0.1", port, 1)], { owner: { pid: own.pid!, startTime: processStartTime(own.pid!)! } });
    // Its command line, as `ps` shows it, is what it was given.
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(`tcp,127.0.0.1,${port},1`);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    expect(fds.filter((l) => l !== "/dev/null" && !/^(socket|anon_inode):/.test(l))).toEqual([]);
    own.kill("SIGKILL");
    await until("the proxy to exit", () => !fs.existsSync(`/proc/${pid}`) || /State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, "utf8")));
    expect(fs.existsSync(pidFile)).toBe(false);
  });
});

/**
 * The userland proxy of one container's published ports, as Docker's docker-proxy: it holds
 * each published host port's socket (so the port is the container's, and another process
 * asking for it gets "address already in use") and relays what reaches that socket to the
 * container's address. What reaches it is loopback traffic (127.0.0.1, [::1]: the kernel
 * will not DNAT it to a bridge without route_localnet, which tsrun leaves alone), IPv6, and
 * traffic from containers (DNAT skips traffic coming from tsrun's bridges, whose replies
 * would otherwise bypass the host); everything else is DNAT'ed by nftables before it gets
 * here (port-rules.ts).
 *
 * Run as `node port-proxy.js CONFIG-JSON` by port-proxy-client.ts, detached. One process per
 * container (not per port). Protocol: it first writes its identity (pid, start time) to
 * `pidFile` — before it holds anything, so whoever removes the container can always find
 * and stop it — then binds every port and writes one line on stdout: `{"ready":true}`, or
 * `{"error":{"index":N,"code":"EADDRINUSE"}}` (binding N failed; it then exits 1). It exits
 * when the container's PID 1 is gone (checked twice a second), and on SIGTERM.
 *
 * Standalone on purpose: it imports only Node's modules, so it starts in Node's own time.
 */
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";

export interface ProxyBinding {
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

export interface ProxyConfig {
  containerId: string;
  /** The container's PID 1: the proxy lives as long as it. */
  owner: { pid: number; startTime: number };
  pidFile: string;
  bindings: ProxyBinding[];
}

/** A UDP "connection" is forgotten after this long without a datagram (docker-proxy's 90 s). */
const UDP_IDLE_MS = 90_000;
const OWNER_POLL_MS = 500;

function startTimeOf(pid: number | "self"): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

function writePidFile(file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, startTime: startTimeOf("self") ?? 0 }) + "\n", { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Removes the pid file if it still names this process (a new proxy may have replaced it). */
function removePidFile(file: string): void {
  try {
    const rec = JSON.parse(fs.readFileSync(file, "utf8")) as { pid?: number };
    if (rec.pid === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // gone or unreadable: not ours to judge
  }
}

/** Relays TCP connections: each accepted one is paired with a connection to the target, half-closes included. */
function listenTcp(b: ProxyBinding): Promise<void> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const upstream = net.connect({ host: b.targetIp, port: b.targetPort, allowHalfOpen: true });
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    upstream.once("connect", () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    // A side that is gone for good takes the other with it (each has ended both ways by then).
    client.once("close", () => upstream.destroySoon());
    upstream.once("close", () => client.destroySoon());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: b.hostIp, port: b.hostPort, exclusive: true, ipv6Only: b.hostIp.includes(":") }, () => {
      server.off("error", reject);
      server.on("error", () => {}); // accept errors (EMFILE…) only drop that connection
      resolve();
    });
  });
}

/** Relays UDP: one socket towards the target per client address, forgotten when idle. */
function listenUdp(b: ProxyBinding): Promise<void> {
  const v6 = b.hostIp.includes(":");
  const sock = dgram.createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6 });
  const flows = new Map<string, { up: dgram.Socket; timer: NodeJS.Timeout }>();
  sock.on("message", (msg, rinfo) => {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const up = dgram.createSocket("udp4");
      up.on("message", (reply, from) => {
        if (from.address === b.targetIp && from.port === b.targetPort) sock.send(reply, rinfo.port, rinfo.address);
      });
      up.on("error", () => forget());
      const forget = () => {
        flows.delete(key);
        up.close();
      };
      flow = { up, timer: setTimeout(forget, UDP_IDLE_MS) };
      flows.set(key, flow);
    }
    flow.timer.refresh();
    flow.up.send(msg, b.targetPort, b.targetIp);
  });
  return new Promise((resolve, reject) => {
    sock.once("error", reject);
    sock.bind({ address: b.hostIp, port: b.hostPort, exclusive: true }, () => {
      sock.off("error", reject);
      sock.on("error", () => {});
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? "") as ProxyConfig;
  process.stdout.on("error", () => {}); // the launcher stops reading after the first line
  const ownerAlive = () => startTimeOf(cfg.owner.pid) === cfg.owner.startTime;
  const exit = (code: number) => {
    removePidFile(cfg.pidFile);
    process.exit(code);
  };
  writePidFile(cfg.pidFile);
  for (const [index, b] of cfg.bindings.entries()) {
    try {
      await (b.proto === "udp" ? listenUdp(b) : listenTcp(b));
    } catch (e) {
      process.stdout.write(JSON.stringify({ error: { index, code: (e as NodeJS.ErrnoException).code ?? String(e) } }) + "\n");
      exit(1);
    }
  }
  if (!ownerAlive()) exit(0);
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  setInterval(() => {
    if (!ownerAlive()) exit(0);
  }, OWNER_POLL_MS);
  process.on("SIGTERM", () => exit(0));
}

void main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: { index: -1, code: String((e as Error)?.message ?? e) } }) + "\n");
  process.exit(1);
});

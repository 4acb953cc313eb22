/**
 * Starting and stopping a container's port proxy, native/build/tsrun-proxy (the protocol is
 * written down in native/src/proxy-main.c): started detached (its own session, stdio on
 * /dev/null but for the one line it reports on), found again through the pid file it writes
 * before it binds anything, stopped by pid and start time only. It exits by itself when the
 * container's PID 1 does.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { systemError } from "../common/errors.js";
import { readJsonIfExists } from "../common/fsutil.js";
import { logger } from "../common/log.js";
import { nativeBinary } from "../common/paths.js";
import { isAlive, signalProcess, type ProcessIdentity } from "../linux/process-identity.js";

const log = logger("network");

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
  owner: ProcessIdentity;
  pidFile: string;
  bindings: ProxyBinding[];
  /** How long a UDP flow lives without a datagram (default: docker-proxy's 90 s). */
  udpIdleMs?: number;
}

/** A binding the proxy could not take: its index in the config and the errno code. */
export class ProxyBindError extends Error {
  constructor(
    readonly index: number,
    readonly code: string,
  ) {
    super(`port proxy: binding ${index} failed: ${code}`);
  }
}

export function proxyBinary(): string {
  return nativeBinary("tsrun-proxy");
}

/**
 * The proxy's command line. It relays to one address, the container's: a config whose
 * bindings name several is refused here rather than half served.
 */
export function proxyArgs(cfg: ProxyConfig): string[] {
  const target = cfg.bindings[0]?.targetIp;
  if (target === undefined) throw new Error("port proxy: no binding to serve");
  const other = cfg.bindings.find((b) => b.targetIp !== target);
  if (other) throw new Error(`port proxy: bindings target both "${target}" and "${other.targetIp}"`);
  const args = ["--pid-file", cfg.pidFile, "--owner", `${cfg.owner.pid}:${cfg.owner.startTime}`, "--target", target];
  if (cfg.udpIdleMs !== undefined) args.push("--udp-idle-ms", String(cfg.udpIdleMs));
  return [...args, ...cfg.bindings.map((b) => `${b.proto},${b.hostIp},${b.hostPort},${b.targetPort}`)];
}

/** Starts the proxy and waits until it holds every port (or says which one it could not take). */
export async function startPortProxy(cfg: ProxyConfig): Promise<void> {
  const t0 = performance.now();
  const child = spawn(proxyBinary(), proxyArgs(cfg), { detached: true, cwd: "/", stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    child.once("error", (e) => reject(systemError(`Cannot start the port proxy "${proxyBinary()}": ${e.message}`, e)));
    // "close", not "exit": a proxy that reports and exits at once may be seen gone before its
    // line is read; "close" comes after its stdout is read to the end.
    child.once("close", (code, signal) => resolve(text || `{"error":{"index":-1,"code":"exited ${signal ?? code}"}}`));
  });
  child.stdout!.destroy();
  child.unref();
  let msg: { ready?: boolean; error?: { index: number; code: string } };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    msg = { error: { index: -1, code: line } };
  }
  if (!msg.ready) {
    await stopPortProxy(cfg.pidFile);
    throw new ProxyBindError(msg.error?.index ?? -1, msg.error?.code ?? "unknown");
  }
  log(`port proxy ${child.pid} of ${cfg.containerId.slice(0, 12)} ready in ${(performance.now() - t0).toFixed(1)} ms`);
}

/** Stops the proxy named by the pid file, if it still runs, and waits until its ports are free. */
export async function stopPortProxy(pidFile: string): Promise<void> {
  let proxy: ProcessIdentity | undefined;
  try {
    proxy = readJsonIfExists<ProcessIdentity>(pidFile);
  } catch {
    proxy = undefined; // torn by a crash mid-write: the proxy exits with its container anyway
  }
  if (proxy && signalProcess(proxy, "SIGTERM")) {
    // Its sockets close when it exits: wait for that, so the ports are free on return.
    let deadline = Date.now() + 2000;
    let killed = false;
    for (let delay = 1; isAlive(proxy); delay = Math.min(delay * 2, 20)) {
      if (Date.now() > deadline) {
        if (killed) throw systemError(`Cannot stop the port proxy ${proxy.pid}: it is still running after SIGKILL`);
        signalProcess(proxy, "SIGKILL");
        killed = true;
        deadline = Date.now() + 2000;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  fs.rmSync(pidFile, { force: true });
}

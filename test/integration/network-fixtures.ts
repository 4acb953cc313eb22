/**
 * Shared by the network and ports tests: running a command inside a running container (its
 * user, mount and network namespaces, by its PID 1), waiting for a server in it, a small UDP
 * tool for containers (Debian's busybox nc has no -u), and what a state root holds on the
 * machine (leases, interfaces, nft tables, port proxies), for the cleanup checks.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { TestRoot } from "../helpers/cli.js";

const MACHINE_NET = "/var/lib/tsrun-machine/net";

export async function pidOf(root: TestRoot, name: string): Promise<number> {
  const r = await root.run(["inspect", "-f", "{{.State.Pid}}", name]);
  const pid = Number(r.stdout.trim());
  if (!(pid > 0)) throw new Error(`${name} is not running: ${r.stdout}${r.stderr}`);
  return pid;
}

export async function idOf(root: TestRoot, name: string): Promise<string> {
  return (await root.run(["inspect", "-f", "{{.Id}}", name])).stdout.trim();
}

/** Runs a command inside a running container (as its root); timeout(1) bounds what could hang. */
export async function inside(root: TestRoot, name: string, args: string[], timeoutS = 5): Promise<{ code: number | null; out: string }> {
  const pid = await pidOf(root, name);
  const r = spawnSync("nsenter", ["-t", String(pid), "-U", "-m", "-n", "-p", "timeout", String(timeoutS), ...args], { encoding: "utf8" });
  return { code: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** wget inside a container: the body, or undefined when the peer cannot be resolved or reached. */
export async function fetchFrom(root: TestRoot, name: string, url: string): Promise<string | undefined> {
  // No -T: Debian's busybox 1.35 wget crashes with it; timeout(1) bounds a dropped connection.
  const r = await inside(root, name, ["wget", "-q", "-O", "-", url], 3);
  return r.code === 0 ? r.out : undefined;
}

/** Waits until a TCP port listens inside the container. */
export async function listening(root: TestRoot, name: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await inside(root, name, ["sh", "-c", `netstat -ltn | grep -q ':${port} '`]);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`nothing listens on ${port} in ${name}`);
}

/** The args of a detached busybox httpd answering `body` on `port`. */
export function httpd(body: string, port = 80): string[] {
  return ["busybox", "sh", "-c", `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p ${port} -h /www`];
}

const UDP_TOOL_C = String.raw`
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
/* udptool serve PORT: answers every datagram with "echo:" + it + " " + the sender's address.
   udptool send HOST PORT MSG: sends MSG to HOST (a name is resolved as the libc resolves it)
   and prints the answer; exit 1 without one within 2 s. */
int main(int argc, char **argv) {
  char buf[2048];
  if (argc == 3 && !strcmp(argv[1], "serve")) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    printf("ready\n"); fflush(stdout);
    for (;;) {
      struct sockaddr_storage from; socklen_t fl = sizeof from;
      ssize_t n = recvfrom(s, buf + 5, sizeof buf - 64, 0, (struct sockaddr *)&from, &fl);
      if (n < 0) continue;
      memcpy(buf, "echo:", 5);
      buf[5 + n] = ' ';
      inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, buf + 6 + n, 32);
      sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&from, fl);
    }
  }
  if (argc == 5 && !strcmp(argv[1], "send")) {
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *ai;
    if (getaddrinfo(argv[2], argv[3], &hints, &ai) != 0) { fprintf(stderr, "cannot resolve %s\n", argv[2]); return 2; }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sendto(s, argv[4], strlen(argv[4]), 0, ai->ai_addr, ai->ai_addrlen);
    ssize_t n = recv(s, buf, sizeof buf - 1, 0);
    if (n < 0) { fprintf(stderr, "no answer\n"); return 1; }
    buf[n] = 0; printf("%s\n", buf); return 0;
  }
  fprintf(stderr, "usage: udptool serve PORT | send HOST PORT MSG\n");
  return 64;
}
`;

/** Builds the static UDP tool into `dir` (once) and returns its path, for `-v PATH:/udptool:ro`. */
export function udpTool(dir: string): string {
  const bin = path.join(dir, "udptool");
  if (fs.existsSync(bin)) return bin;
  const src = path.join(dir, "udptool.c");
  fs.writeFileSync(src, UDP_TOOL_C);
  execFileSync("cc", ["-static", "-O2", "-o", bin, src], { stdio: "pipe" });
  return bin;
}

function leasesOf(table: string, root: string): string[] {
  const dir = path.join(MACHINE_NET, table);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => !n.startsWith("."));
  } catch {
    return [];
  }
  return names.filter((n) => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(dir, n), "utf8")) as { root?: string }).root === root;
    } catch {
      return false;
    }
  });
}

/** Address leases naming the root. */
export const addressLeases = (root: TestRoot) => leasesOf("addresses", root.dir);
/** Host-port leases naming the root. */
export const portLeases = (root: TestRoot) => leasesOf("ports", root.dir);

/** nft tables of the host (names only). */
export function nftTables(): string[] {
  const out = execFileSync("nft", ["list", "tables"], { encoding: "utf8" });
  return out.split("\n").flatMap((l) => /^table \S+ (\S+)/.exec(l)?.[1] ?? []);
}

/** Port proxies serving containers of the root. */
export function proxiesOf(root: TestRoot): number[] {
  const pids: number[] = [];
  for (const p of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, "utf8");
      if (cmd.split("\0")[0]!.endsWith("/tsrun-proxy") && cmd.includes(root.dir)) pids.push(Number(p));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Host ends of veths whose address lease names the root. */
export function vethsOf(root: TestRoot): string[] {
  const dir = path.join(MACHINE_NET, "addresses");
  return addressLeases(root).flatMap((n) => {
    try {
      const l = JSON.parse(fs.readFileSync(path.join(dir, n), "utf8")) as { hostIfName: string };
      return fs.existsSync(`/sys/class/net/${l.hostIfName}`) ? [l.hostIfName] : [];
    } catch {
      return [];
    }
  });
}

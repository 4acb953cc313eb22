#!/usr/bin/env node
// Benchmark: `tsrun run --rm busybox true` side by side, in one run, with crun and runc on an
// equivalent bundle, podman (crun), `node -e 0` (the floor any Node CLI pays) and `unshare …
// true` (the kernel's floor). Prints each median and the ratios. Three pairs are compared:
// without a network (tsrun and podman with --network none) and on each one's default bridge
// (issue 5: tsrun's default bridge against podman's netavark bridge), and on that bridge with
// a port published on 127.0.0.1 (tsrun's C port proxy and DNAT against podman's).
//
//   npm run bench [-- --runs N]
//
// Needs root, and the Debian packages runc, crun, podman (installed when missing). Every
// command runs against its own private state; everything is removed at the end: tsrun's
// bridge with its root, podman's bridge and firewall rules with the network namespace
// podman runs in here (created for the benchmark, deleted after it).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 30;
const cli = path.join(repo, "dist", "bin", "tsrun.cjs");
const tar = path.join(repo, "rootfs", "out", "busybox.tar");

if (process.getuid() !== 0) {
  console.error("bench-run: must run as root");
  process.exit(1);
}
const need = ["runc", "crun", "podman"].filter((p) => spawnSync("sh", ["-c", `command -v ${p}`]).status !== 0);
if (need.length) {
  console.error(`bench-run: installing ${need.join(" ")}`);
  execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need.join(" ")} >/dev/null`], { stdio: "inherit" });
}
execFileSync(process.execPath, [path.join(repo, "rootfs", "build-busybox.mjs")], { stdio: "ignore" });

const work = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-bench-"));
const cleanups = [() => fs.rmSync(work, { recursive: true, force: true })];
try {
  // tsrun, on its own root.
  const tsrunRoot = path.join(work, "tsrun");
  execFileSync(process.execPath, [cli, "--root", tsrunRoot, "load", "-i", tar], { stdio: "ignore" });

  // An OCI bundle for runc and crun, from the same image: its one layer unpacked.
  const bundle = path.join(work, "bundle");
  const rootfs = path.join(bundle, "rootfs");
  fs.mkdirSync(rootfs, { recursive: true });
  const layerDir = path.join(work, "image");
  fs.mkdirSync(layerDir);
  execFileSync("tar", ["-xf", tar, "-C", layerDir]);
  const manifest = JSON.parse(fs.readFileSync(path.join(layerDir, "manifest.json"), "utf8"));
  for (const layer of manifest[0].Layers) execFileSync("tar", ["-xf", path.join(layerDir, layer), "-C", rootfs]);
  execFileSync("runc", ["spec", "--rootless=false"], { cwd: bundle });
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, "config.json"), "utf8"));
  spec.process.terminal = false;
  spec.process.args = ["true"];
  spec.root.readonly = false;
  fs.writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec, null, 2));

  // podman, with its own storage, the same image.
  const podmanRoot = path.join(work, "podman");
  const podman = ["--root", path.join(podmanRoot, "root"), "--runroot", path.join(podmanRoot, "run"), "--runtime", "crun", "--cgroup-manager", "cgroupfs", "--events-backend", "none"];
  execFileSync("podman", [...podman, "load", "-i", tar], { stdio: "ignore" });
  cleanups.unshift(() => spawnSync("podman", [...podman, "system", "reset", "-f"], { stdio: "ignore" }));
  // podman's bridge (netavark: bridge, iptables rules, ip_forward) lives in a network namespace
  // of its own, so nothing of it touches the host's; nsenter, not `ip netns exec`, which would
  // remount /sys and hide the cgroup hierarchies.
  const podmanNetns = `tsrun-bench-podman-${process.pid}`;
  execFileSync("ip", ["netns", "add", podmanNetns]);
  // Its loopback up, for the run that publishes a port on 127.0.0.1 there.
  execFileSync("ip", ["-n", podmanNetns, "link", "set", "lo", "up"]);
  cleanups.unshift(() => spawnSync("ip", ["netns", "del", podmanNetns], { stdio: "ignore" }));
  // tsrun's default bridge (and its nft table, leases) go with its root.
  cleanups.unshift(() =>
    spawnSync(process.execPath, ["--input-type=module", "-e", `import { Networks } from ${JSON.stringify(path.join(repo, "dist", "network", "index.js"))}; await new Networks(${JSON.stringify(tsrunRoot)}).destroyAll();`], { stdio: "ignore" }),
  );

  // A loopback port free now, for the runs that publish one (each run frees it on exit).
  const port = await new Promise((resolve, reject) => {
    const srv = net.createServer().once("error", reject);
    srv.listen({ host: "127.0.0.1", port: 0 }, () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });

  // crun refuses this host's hybrid cgroup layout unless cgroup2 is out of its sight.
  const hideUnified = "umount /sys/fs/cgroup/unified 2>/dev/null;";
  let n = 0;
  const commands = {
    "tsrun run --rm": [process.execPath, cli, "--root", tsrunRoot, "run", "--rm", "--network", "none", "busybox", "true"],
    "tsrun run --rm (bridge)": [process.execPath, cli, "--root", tsrunRoot, "run", "--rm", "busybox", "true"],
    "tsrun run --rm -p": [process.execPath, cli, "--root", tsrunRoot, "run", "--rm", "-p", `127.0.0.1:${port}:80`, "busybox", "true"],
    "crun run": ["unshare", "-m", "sh", "-c", `${hideUnified} exec crun --root ${work}/crun-state run -b ${bundle} bench-crun-$1`, "x"],
    "runc run": ["sh", "-c", `exec runc --root ${work}/runc-state run -b ${bundle} bench-runc-$1`, "x"],
    "podman run --rm": ["unshare", "-m", "sh", "-c", `${hideUnified} exec podman ${podman.join(" ")} run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 busybox true`],
    "podman run --rm (bridge)": ["nsenter", `--net=/run/netns/${podmanNetns}`, "unshare", "-m", "sh", "-c", `${hideUnified} exec podman ${podman.join(" ")} run --rm --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 busybox true`],
    "podman run --rm -p": ["nsenter", `--net=/run/netns/${podmanNetns}`, "unshare", "-m", "sh", "-c", `${hideUnified} exec podman ${podman.join(" ")} run --rm -p 127.0.0.1:${port}:80 --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 busybox true`],
    "node -e 0": [process.execPath, "-e", "0"],
    "unshare (kernel floor)": ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "true"],
  };
  const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = -2; i < runs; i++) {
    for (const [name, argv] of Object.entries(commands)) {
      const args = argv.map((a) => a);
      if (args[args.length - 1] === "x") args[args.length - 1] = String(n++);
      const t0 = process.hrtime.bigint();
      const r = spawnSync(args[0], args.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${name} failed (${r.status}): ${r.stderr}`);
      if (i >= 0) times[name].push(ms);
    }
  }
  const median = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)];
  };
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  console.log(`${runs} runs each, interleaved; medians in ms (min-max)`);
  for (const [k, v] of Object.entries(times)) {
    console.log(`  ${k.padEnd(26)} ${med[k].toFixed(1).padStart(7)}   (${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)})`);
  }
  const tsrun = med["tsrun run --rm"];
  console.log(`tsrun / podman, no network:     ${(tsrun / med["podman run --rm"]).toFixed(2)}  (target <= 0.5)`);
  console.log(`tsrun / podman, default bridge: ${(med["tsrun run --rm (bridge)"] / med["podman run --rm (bridge)"]).toFixed(2)}  (target <= 0.5)`);
  console.log(`tsrun / podman, bridge and -p:   ${(med["tsrun run --rm -p"] / med["podman run --rm -p"]).toFixed(2)}`);
  console.log(`the bridge costs tsrun ${(med["tsrun run --rm (bridge)"] - tsrun).toFixed(1)} ms, podman ${(med["podman run --rm (bridge)"] - med["podman run --rm"]).toFixed(1)} ms`);
  console.log(`tsrun - node -e 0:              ${(tsrun - med["node -e 0"]).toFixed(1)} ms; crun run: ${med["crun run"].toFixed(1)} ms (target: not above crun)`);
  console.log(`tsrun / crun: ${(tsrun / med["crun run"]).toFixed(2)}   tsrun / runc: ${(tsrun / med["runc run"]).toFixed(2)}`);
} finally {
  for (const c of cleanups) c();
}

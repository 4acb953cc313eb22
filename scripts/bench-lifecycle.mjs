#!/usr/bin/env node
// Benchmark: detached containers under tsrun's monitor against podman + conmon (crun), side
// by side in one run, on the same busybox image:
//   - RSS and PSS of one idle monitor (tsrun-monitor vs conmon), from /proc/PID/smaps_rollup,
//     alone and on average over 50 detached `sleep` containers;
//   - the time to start 50 detached containers one `run -d` after another, and to remove
//     them (one `rm -f` of all 50).
// Rounds alternate tsrun and podman; medians and ratios are printed.
//
//   npm run bench:lifecycle [-- --rounds N --count N]
//
// Needs root and the Debian package podman (installed when missing). Each side has its own
// private state (podman: its own --root/--runroot, reset at the end); everything is removed.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const rounds = arg("--rounds", 3);
const count = arg("--count", 50);
const cli = path.join(repo, "dist", "bin", "tsrun.cjs");
const tar = path.join(repo, "rootfs", "out", "busybox.tar");

if (process.getuid() !== 0) {
  console.error("bench-lifecycle: must run as root");
  process.exit(1);
}
if (spawnSync("sh", ["-c", "command -v podman && command -v conmon && command -v crun"]).status !== 0) {
  console.error("bench-lifecycle: installing podman");
  execFileSync("sh", ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman conmon crun >/dev/null"], { stdio: "inherit" });
}
execFileSync(process.execPath, [path.join(repo, "rootfs", "build-busybox.mjs")], { stdio: "ignore" });

const work = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-bench-lifecycle-"));
const cleanups = [() => fs.rmSync(work, { recursive: true, force: true })];

/** Runs a command, returns its stdout; throws with its stderr on failure. */
function run(argv, what) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Wall time of `fn` in ms. */
function timed(fn) {
  const t0 = process.hrtime.bigint();
  const out = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, out };
}

/** RSS and PSS (kB) of every process named `comm` whose command line mentions `marker`. */
function monitors(comm, marker) {
  const out = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== comm) continue;
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)) continue;
      const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0);
      out.push({ pid: Number(pid), rss: kb("Rss"), pss: kb("Pss") });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const sum = (list, key) => list.reduce((s, m) => s + m[key], 0);

// The two engines, each a start and a remove command on its own private state.
const tsrunRoot = path.join(work, "tsrun");
const tsrun = {
  name: "tsrun",
  monitor: "tsrun-monitor",
  marker: tsrunRoot,
  // Like for like: podman below runs with --network none too.
  start: () => run([process.execPath, cli, "--root", tsrunRoot, "run", "-d", "--network", "none", "busybox", "sleep", "100000"], "tsrun run -d").trim(),
  removeAll: (ids) => run([process.execPath, cli, "--root", tsrunRoot, "rm", "-f", ...ids], "tsrun rm -f"),
};
run([process.execPath, cli, "--root", tsrunRoot, "load", "-i", tar], "tsrun load");
cleanups.unshift(() => {
  const left = run([process.execPath, cli, "--root", tsrunRoot, "ps", "-aq", "--no-trunc"], "tsrun ps").split("\n").filter(Boolean);
  if (left.length > 0) tsrun.removeAll(left);
});

const podmanRoot = path.join(work, "podman");
const podmanOpts = [
  "--root", path.join(podmanRoot, "root"),
  "--runroot", path.join(podmanRoot, "run"),
  "--runtime", "crun",
  "--cgroup-manager", "cgroupfs",
  "--events-backend", "none",
];
// crun refuses this host's hybrid cgroup layout unless cgroup2 is out of its sight: each
// podman command runs in a private mount namespace without /sys/fs/cgroup/unified.
const podmanCmd = (args) => ["unshare", "-m", "sh", "-c", 'umount /sys/fs/cgroup/unified 2>/dev/null; exec podman "$@"', "podman", ...podmanOpts, ...args];
const podman = {
  name: "podman",
  monitor: "conmon",
  marker: podmanRoot,
  start: () =>
    run(podmanCmd(["run", "-d", "--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", "busybox", "sleep", "100000"]), "podman run -d").trim(),
  // -t 0: kill at once, as Docker's and tsrun's rm -f do (sleep as PID 1 ignores SIGTERM).
  removeAll: (ids) => run(podmanCmd(["rm", "-f", "-t", "0", ...ids]), "podman rm -f"),
};
run(podmanCmd(["load", "-i", tar]), "podman load");
cleanups.unshift(() => spawnSync(podmanCmd(["system", "reset", "-f"])[0], podmanCmd(["system", "reset", "-f"]).slice(1), { stdio: "ignore" }));

const results = { tsrun: [], podman: [] };

function round(engine) {
  const ids = [];
  try {
    // One idle monitor, alone.
    ids.push(engine.start());
    const one = monitors(engine.monitor, engine.marker);
    if (one.length !== 1) throw new Error(`${engine.name}: expected 1 monitor, found ${one.length}`);
    engine.removeAll(ids.splice(0));
    // `count` detached containers, started one after another.
    const start = timed(() => {
      for (let i = 0; i < count; i++) ids.push(engine.start());
    });
    const many = monitors(engine.monitor, engine.marker);
    if (many.length !== count) throw new Error(`${engine.name}: expected ${count} monitors, found ${many.length}`);
    const remove = timed(() => engine.removeAll(ids));
    ids.length = 0;
    return {
      oneRss: one[0].rss,
      onePss: one[0].pss,
      manyRss: sum(many, "rss") / count,
      manyPss: sum(many, "pss") / count,
      startMs: start.ms,
      removeMs: remove.ms,
    };
  } finally {
    if (ids.length > 0) engine.removeAll(ids);
  }
}

try {
  for (let i = 0; i < rounds; i++) {
    for (const engine of i % 2 === 0 ? [tsrun, podman] : [podman, tsrun]) {
      const r = round(engine);
      results[engine.name].push(r);
      console.error(`round ${i + 1} ${engine.name}: start ${r.startMs.toFixed(0)} ms, rm ${r.removeMs.toFixed(0)} ms, monitor PSS ${r.manyPss.toFixed(0)} kB`);
    }
  }
  const median = (list, key) => {
    const s = list.map((r) => r[key]).sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  };
  const med = (engine, key) => median(results[engine], key);
  const row = (label, key, unit, digits = 0) => {
    const t = med("tsrun", key);
    const p = med("podman", key);
    console.log(`  ${label.padEnd(34)} ${t.toFixed(digits).padStart(9)} ${p.toFixed(digits).padStart(9)}   ${(t / p).toFixed(2)}  ${unit}`);
  };
  console.log(`${rounds} rounds, ${count} containers; medians (tsrun, podman+conmon, tsrun/podman)`);
  console.log(`  ${"".padEnd(34)} ${"tsrun".padStart(9)} ${"podman".padStart(9)}   ratio`);
  row("one idle monitor RSS", "oneRss", "kB");
  row("one idle monitor PSS", "onePss", "kB");
  row(`monitor RSS, ${count} running (each)`, "manyRss", "kB");
  row(`monitor PSS, ${count} running (each)`, "manyPss", "kB");
  row(`start ${count} detached (total)`, "startMs", "ms");
  row(`remove ${count} (one rm -f)`, "removeMs", "ms");
  const perStart = (e) => med(e, "startMs") / count;
  console.log(`  start per container: tsrun ${perStart("tsrun").toFixed(1)} ms, podman ${perStart("podman").toFixed(1)} ms`);
  console.log(
    `targets: monitor PSS no heavier than conmon (${(med("tsrun", "manyPss") / med("podman", "manyPss")).toFixed(2)} <= 1), ` +
      `start and remove at least 2x faster (${(med("podman", "startMs") / med("tsrun", "startMs")).toFixed(2)}x, ${(med("podman", "removeMs") / med("tsrun", "removeMs")).toFixed(2)}x)`,
  );
} finally {
  for (const c of cleanups) {
    try {
      c();
    } catch (e) {
      console.error(`cleanup: ${e.message}`);
    }
  }
}

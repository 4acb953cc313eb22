/**
 * Crash points: named steps at which a test makes tsrun die with SIGKILL, to prove that a
 * `kill -9` at any step leaves a state the next command repairs (test/integration/chaos-*).
 *
 *   TSRUN_CRASH_AT=rm:after-name tsrun rm -f web      # dies by SIGKILL right after the name goes
 *   TSRUN_CRASH_LOG=/tmp/log                           # each crash appends "<point> <pid> <argv>" first
 *
 * The variable is read once, when this module loads; an unset one makes `crashPoint()` a
 * comparison with undefined. It is inherited like any environment variable, so the
 * monitor's exit and restart commands crash at the point too (they are tsrun processes a
 * kill -9 can hit as well). Every point is registered in CRASH_POINTS, with the state it
 * leaves, so the chaos test can check that it exercised each one.
 */
import fs from "node:fs";

export const CRASH_POINTS = {
  // Engine: create (src/engine/create.ts)
  "create:after-dir": "the container's directory is in place and locked by its creator; nothing in it",
  "create:after-name": "the name is claimed",
  "create:after-idrange": "the user-namespace range is leased",
  "create:after-files": "the writable layer and the /etc files are written",
  "create:after-bundle": "bundle/config.json is written; no record yet",
  "create:after-record": "container.json is written; the creator still holds the lock",
  // Engine: start and launch (start.ts, launch.ts)
  "start:locked": "start holds the container's lock; nothing changed yet",
  "launch:before-networks": "the runtime created the container (monitor waiting for START); no network connected",
  "launch:created": "networks connected, the record updated; the monitor waits for START",
  "launch:started": "START was answered; the container runs; the lock is still held",
  // Runtime: create and start (src/runtime/runtime.ts)
  "runtime:create:after-mkdir": "the runtime state dir exists without state.json",
  "runtime:create:after-state": "state.json says creating; no cgroup yet",
  "runtime:create:after-cgroups": "the container's and the monitor's cgroups exist; no monitor",
  "runtime:create:after-monitor": "the monitor and the init wait for START; state.json still says creating",
  "runtime:start:locked": "runtime start holds the runtime lock; START not sent",
  "runtime:start:after-start": "START was answered; the runtime lock is still held",
  // Engine: stop and restart (stop.ts)
  "stop:after-mark": "the record says stopped on purpose; nothing signalled",
  "stop:after-signal": "the stop signal was sent; nobody waits for the exit",
  "stop:before-kill": "the stop timeout passed; the lock is held and SIGKILL not sent",
  "restart:after-stop": "restart stopped the container and did not start it again",
  // Engine: settling an exit (settle.ts)
  "settle:after-record": "the exit is in the record; the runtime state is still there",
  "settle:after-delete": "the runtime state is gone; no restart or --rm removal done yet",
  // Engine: removal (engine.ts, remove-tree.ts)
  "rm:locked": "rm holds the container's lock; nothing changed yet",
  "rm:after-mark": "the record says removing",
  "rm:after-runtime-delete": "the runtime state, the processes and the cgroups are gone",
  "rm:after-lease": "the id range is released; the name is still claimed",
  "rm:after-name": "the name is released; the directory is still in place",
  "remove-tree:after-rename": "a directory was renamed into tmp/ and not yet deleted",
  // Runtime: delete (runtime.ts)
  "runtime:delete:locked": "runtime delete holds the runtime lock; nothing changed yet",
  "runtime:delete:after-kill": "the container's cgroup is emptied and removed; the monitor lives",
  "runtime:delete:after-monitor": "the monitor is killed; its cgroup is still there",
  "runtime:delete:after-cgroups": "every cgroup is removed; the state dir is still there",
  // CLI: foreground run (src/cli/commands/run.ts)
  "run:after-exit": "a foreground run saw its container exit and has not cleaned up",
} as const;

export type CrashPointName = keyof typeof CRASH_POINTS;

const target = process.env.TSRUN_CRASH_AT || undefined;

/** Dies by SIGKILL here if TSRUN_CRASH_AT names this point; otherwise does nothing. */
export function crashPoint(name: CrashPointName): void {
  if (name === target) crash(name);
}

function crash(name: string): never {
  const log = process.env.TSRUN_CRASH_LOG;
  if (log) fs.appendFileSync(log, `${name} ${process.pid} ${process.argv.slice(2).join(" ")}\n`);
  process.kill(process.pid, "SIGKILL");
  // SIGKILL of oneself is delivered before kill() returns; this is never reached.
  throw new Error(`crash point ${name}: still alive after SIGKILL`);
}

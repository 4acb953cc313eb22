/**
 * Docker's restart policies (`--restart no|on-failure[:N]|always|unless-stopped`): parsing
 * with Docker's messages, the decision whether an exit restarts the container, and the
 * back-off between restarts. Pure; the monitor waits out the back-off, the engine rebuilds.
 */
import { invalidArgument } from "../common/index.js";

export type RestartPolicyName = "no" | "on-failure" | "always" | "unless-stopped";

/** HostConfig.RestartPolicy as Docker's inspect shows it. */
export interface RestartPolicy {
  Name: RestartPolicyName;
  MaximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { Name: "no", MaximumRetryCount: 0 };

/** Docker's back-off: 100 ms, doubled after each restart, at most a minute. */
export const FIRST_DELAY_MS = 100;
export const MAX_DELAY_MS = 60_000;
/** A container up this long before it exited starts the back-off again from 100 ms. */
export const RESET_AFTER_MS = 10_000;

const NAMES: readonly RestartPolicyName[] = ["no", "always", "on-failure", "unless-stopped"];

/** `--restart` as docker/cli parses it and the daemon validates it. */
export function parseRestartPolicy(value: string | undefined): RestartPolicy {
  if (value === undefined || value === "") return { ...NO_RESTART };
  const colon = value.indexOf(":");
  const name = colon === -1 ? value : value.slice(0, colon);
  const count = colon === -1 ? "" : value.slice(colon + 1);
  if (colon !== -1 && name === "") throw invalidArgument("invalid restart policy format: no policy provided before colon");
  let max = 0;
  if (count !== "") {
    if (!/^[+-]?\d+$/.test(count)) throw invalidArgument("invalid restart policy format: maximum retry count must be an integer");
    max = Number(count);
  }
  if (!(NAMES as readonly string[]).includes(name)) {
    throw invalidArgument(
      `invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`,
    );
  }
  if (max !== 0 && name !== "on-failure") {
    throw invalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'");
  }
  if (max < 0) throw invalidArgument("invalid restart policy: maximum retry count cannot be negative");
  return { Name: name as RestartPolicyName, MaximumRetryCount: max };
}

/** What is known of one exit, for the restart decision. */
export interface ExitFacts {
  exitCode: number;
  /** Restarts made by the policy since the last start by hand. */
  restartCount: number;
  /** A stop, or a kill with SIGKILL or the stop signal: no restart at all (Docker's ExitOnNext). */
  cancelled: boolean;
  /** Any stop or kill since the last start (Docker's HasBeenManuallyStopped): unless-stopped does not restart. */
  manuallyStopped: boolean;
}

/**
 * Whether an exit restarts the container (Docker's restart manager): never after a
 * cancelling stop or kill; always after any exit; unless-stopped unless stopped or killed
 * by hand; on-failure after a non-zero exit while fewer than MaximumRetryCount restarts
 * were made (0: no limit).
 */
export function shouldRestart(policy: RestartPolicy, exit: ExitFacts): boolean {
  if (exit.cancelled) return false;
  switch (policy.Name) {
    case "always":
      return true;
    case "unless-stopped":
      return !exit.manuallyStopped;
    case "on-failure":
      return exit.exitCode !== 0 && (policy.MaximumRetryCount === 0 || exit.restartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}

/**
 * The back-off actually waited before a restart, given the one planned and how long the
 * container had been up: Docker resets to 100 ms after 10 s up (the monitor applies the
 * same rule while it waits).
 */
export function waitedDelay(plannedMs: number, upMs: number): number {
  return upMs >= RESET_AFTER_MS ? FIRST_DELAY_MS : plannedMs;
}

/** The back-off to plan for the restart after the one that waited `waitedMs`. */
export function nextDelay(waitedMs: number | undefined): number {
  if (waitedMs === undefined || waitedMs <= 0) return FIRST_DELAY_MS;
  return Math.min(waitedMs * 2, MAX_DELAY_MS);
}

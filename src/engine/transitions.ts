/**
 * A container's lifecycle as a state machine: which operation is valid in which Docker
 * state, what a valid one does, and the named error (in Docker's words) for an invalid one.
 * Pure, so every pair is unit-tested; the engine asks before it acts, under the
 * container's lock.
 *
 *   created ──start──▶ running ──pause──▶ paused ──unpause──▶ running
 *      ▲                 │  ▲                │
 *      │              exit  └──restart (policy, after a back-off: "restarting")
 *      │                 ▼                   │ stop / kill
 *      └──(start)──── exited ◀───────────────┘
 *   any ──rm──▶ removing ──▶ (gone);  a container whose monitor died: exited (255), repaired
 */
import { conflict, invalidArgument } from "../common/index.js";
import type { DockerStatus } from "./status.js";

export type Operation = "start" | "attach" | "stop" | "kill" | "pause" | "unpause" | "remove" | "rename";

/**
 * What to do: "proceed" with the operation, "noop" (Docker answers success and does nothing,
 * e.g. starting a running container), or "cancel-restart" (stop/kill of a container waiting
 * out its restart back-off: cancel the restart, there is no process to signal).
 */
export type Decision = "proceed" | "noop" | "cancel-restart";

export interface TransitionContext {
  /** The container's full id. */
  id: string;
  /** The name or id as the user gave it. */
  ref: string;
  /** rm -f. */
  force?: boolean;
}

const notRunning = (id: string) => `Container ${id} is not running`;

/** The decision for `op` in `status`, or the Docker error that refuses it. */
export function decide(op: Operation, status: DockerStatus, c: TransitionContext): Decision {
  if (status === "removing" && op !== "remove") {
    throw conflict(`removal of container ${c.id} is already in progress`);
  }
  switch (op) {
    case "start":
      if (status === "paused") throw conflict("cannot start a paused container, try unpause instead");
      if (status === "dead") throw conflict(`Container ${c.id} is marked for removal and cannot be started`);
      return status === "created" || status === "exited" ? "proceed" : "noop";
    case "attach":
      if (status === "exited" || status === "dead") throw conflict("You cannot attach to a stopped container, start it first");
      if (status === "paused") throw conflict("You cannot attach to a paused container, unpause it first");
      if (status === "restarting") throw conflict("You cannot attach to a restarting container, wait until it is running");
      return "proceed";
    case "stop":
      if (status === "restarting") return "cancel-restart";
      return status === "running" || status === "paused" ? "proceed" : "noop";
    case "kill":
      if (status === "restarting") return "cancel-restart";
      if (status === "running" || status === "paused") return "proceed";
      throw conflict(`Cannot kill container: ${c.ref}: ${notRunning(c.id)}`);
    case "pause":
      if (status === "paused") throw conflict(`Container ${c.id} is already paused`);
      if (status === "restarting") throw conflict(`Container ${c.id} is restarting, wait until the container is running`);
      if (status !== "running") throw conflict(`Cannot pause container ${c.id}: ${notRunning(c.id)}`);
      return "proceed";
    case "unpause":
      if (status !== "paused") throw conflict(`Container ${c.id} is not paused`);
      return "proceed";
    case "remove":
      // Under the lock, "removing" is a removal that crashed or failed: rm resumes it.
      if (status === "removing" || c.force) return "proceed";
      if (status === "paused") {
        throw conflict(
          `You cannot remove a paused container ${c.id}. Unpause and then stop the container before attempting removal or force remove`,
        );
      }
      if (status === "running" || status === "restarting") {
        throw conflict(
          `You cannot remove a ${status} container ${c.id}. Stop the container before attempting removal or force remove`,
        );
      }
      return "proceed";
    case "rename":
      return "proceed";
  }
}

/** `rename OLD NEW`'s argument checks, before anything is looked up. */
export function checkRename(oldName: string, newName: string, currentName?: string): void {
  if (oldName.trim().replace(/^\//, "") === "" || newName.trim().replace(/^\//, "") === "") {
    throw invalidArgument("Neither old nor new names may be empty");
  }
  if (currentName !== undefined && currentName.replace(/^\//, "") === newName.trim().replace(/^\//, "")) {
    throw invalidArgument("Renaming a container with the same name as its current name");
  }
}

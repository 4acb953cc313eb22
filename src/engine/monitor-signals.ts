/**
 * Signals that say "this exit is wanted": sent through the container's monitor with STOP,
 * so that it does not restart the container (and cancels a restart it is waiting for).
 * The record's restartCancelled, written first, keeps the engine from restarting it too.
 */
import type { Runtime } from "../runtime/index.js";
import { MonitorConnection } from "../runtime/monitor-client.js";

/**
 * Sends `signo` (0: none) to PID 1 through the monitor as a stop on purpose, and with
 * `killAfterMs` has the monitor send SIGKILL if PID 1 outlives it. False when the monitor
 * did not take it (gone, or already committed to its exit or restart command).
 */
export async function stopOnPurpose(runtime: Runtime, id: string, signo: number, killAfterMs?: number): Promise<boolean> {
  let conn: MonitorConnection;
  try {
    conn = await MonitorConnection.connect(runtime.stateDir(id), {});
  } catch {
    return false;
  }
  try {
    return (await conn.stop(signo, killAfterMs)) !== undefined;
  } finally {
    conn.close();
  }
}

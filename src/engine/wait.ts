/**
 * Docker's wait (condition "not-running"): a container that is not running answers its
 * last exit code at once; a running one is waited for, through its monitor (whose EXITED
 * carries the code even if an --rm container is removed right after). A container waiting
 * out a restart back-off is waited for until its next exit, as Docker's counts as running.
 */
import type { Engine } from "./engine.js";
import { MonitorConnection } from "../runtime/monitor-client.js";

const POLL_MS = 25;

export async function waitContainer(engine: Engine, ref: string): Promise<number> {
  const id = engine.resolve(ref).Id;
  for (;;) {
    const rec = engine.reread(id, ref);
    const { rt, status } = await engine.observe(rec);
    const live = status.Status === "running" || status.Status === "paused";
    const between = status.Status === "restarting" || rt?.status === "creating" || (rt?.status === "stopped" && !rt.exit && rt.monitorAlive);
    if (!live && !between) return status.ExitCode;
    if (live) {
      const code = await exitThroughMonitor(engine, id);
      if (code !== undefined) return code;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The exit code from the monitor's EXITED, or undefined when the monitor could not tell. */
async function exitThroughMonitor(engine: Engine, id: string): Promise<number | undefined> {
  let conn: MonitorConnection;
  try {
    conn = await MonitorConnection.connect((await engine.runtime()).stateDir(id), {});
  } catch {
    return undefined;
  }
  try {
    return (await conn.waitExit()).exitCode;
  } catch {
    return undefined;
  } finally {
    conn.close();
  }
}

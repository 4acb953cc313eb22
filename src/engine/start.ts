/** Docker's start (and the start half of run): under the container's lock, decided by the state machine. */
import type { AttachOptions, MonitorConnection } from "../runtime/index.js";
import { crashPoint } from "../common/crash-points.js";
import { withContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { launch } from "./launch.js";
import { connectNetworks } from "./network-wiring.js";
import { processStartTime } from "../linux/process-identity.js";
import { settle } from "./settle.js";
import { decide } from "./transitions.js";
import { notFound } from "../common/index.js";

export async function startContainer(engine: Engine, ref: string, attach?: AttachOptions): Promise<MonitorConnection | undefined> {
  const id = engine.resolve(ref).Id;
  return withContainerLock(engine.root, id, ref, async () => {
    crashPoint("start:locked");
    // Forced: a new start replaces the last one's monitor even while it hands out its last output.
    const rec = await settle(engine, engine.reread(id, ref), { force: true });
    if (!rec) throw notFound(`No such container: ${ref}`);
    const { rt, status } = await engine.observe(rec);
    const runtime = await engine.runtime();
    // start -a of a running container attaches to it (START is then a no-op).
    if (attach && (status.Status === "running" || status.Status === "restarting")) {
      decide("attach", status.Status, { id, ref });
      return runtime.attach(id, attach);
    }
    if (decide("start", status.Status, { id, ref }) === "noop") return undefined;
    if (rt?.status === "created") {
      // A start that died between the runtime's create and START: its monitor still waits,
      // its network wiring may be half done (it is done again).
      const pid = rt.pid ?? 0;
      await connectNetworks(engine, rec, { pid, startTime: processStartTime(pid) ?? 0 });
      if (attach) return runtime.attach(id, attach);
      await runtime.start(id);
      return undefined;
    }
    return launch(engine, rec, attach, { manual: true });
  });
}

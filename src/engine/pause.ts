/** Docker's pause and unpause: the runtime freezes and thaws the container's cgroup. */
import { withContainerLock } from "./container-lock.js";
import type { Engine } from "./engine.js";
import { settle } from "./settle.js";
import { decide } from "./transitions.js";
import { notFound } from "../common/index.js";

export async function pauseContainer(engine: Engine, ref: string): Promise<void> {
  await transition(engine, ref, "pause", async (id) => (await engine.runtime()).pause(id));
}

export async function unpauseContainer(engine: Engine, ref: string): Promise<void> {
  await transition(engine, ref, "unpause", async (id) => (await engine.runtime()).resume(id));
}

async function transition(engine: Engine, ref: string, op: "pause" | "unpause", act: (id: string) => Promise<void>): Promise<void> {
  const id = engine.resolve(ref).Id;
  await withContainerLock(engine.root, id, ref, async () => {
    const rec = await settle(engine, engine.reread(id, ref));
    if (!rec) throw notFound(`No such container: ${ref}`);
    const { status } = await engine.observe(rec);
    if (decide(op, status.Status, { id, ref }) === "proceed") await act(id);
  });
}

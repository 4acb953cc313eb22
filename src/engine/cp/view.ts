/**
 * A container's view of its files, for `cp`. The rootfs and the volumes are mounted only in
 * the container's own mount namespace (nothing of them is on the host), so the copy helper
 * enters that namespace through a process that is in it:
 *
 * - a container with a live first process (running, paused, or created and waiting for
 *   START): that process. The container's lock is taken only to decide, not for the copy:
 *   a long copy must not hold up stop or kill, and a helper that has entered keeps the
 *   namespace alive even if the container exits meanwhile;
 * - any other (created, exited, restarting): a stand-in, made by the runtime from the
 *   container's own bundle, whose init sets up the rootfs and every mount and then waits
 *   for a START that never comes; the copy goes through it, then it is deleted. It has its
 *   own runtime id and cgroup, no network, no process of the container, and the copy holds
 *   the container's lock throughout, so a start waits for it to finish.
 *
 * A stand-in whose copy was killed (kill -9) is a leftover: its scratch dir in tmp/ names
 * the copy's process, and the next `cp` on this root deletes it (sweepStandIns).
 */
import fs from "node:fs";
import path from "node:path";
import { conflict, errnoCode, logger, notFound, randomHex, readJsonIfExists, removeTreeSync, writeJsonAtomic } from "../../common/index.js";
import { isAlive, processStartTime } from "../../linux/process-identity.js";
import type { Spec } from "../../runtime/index.js";
import { withContainerLock } from "../container-lock.js";
import type { Engine } from "../engine.js";
import { joinedContainer } from "../namespace-modes.js";
import { ContainerFiles, type ContainerRecord } from "../record.js";
import { cgroupsPathFor } from "../spec-builder.js";
import type { ViewTarget } from "./helper.js";

const log = logger("cp");

export interface ContainerView {
  record: ContainerRecord;
  target: ViewTarget;
}

/** tmp/cp-<stand-in id>-<pid>-<start>: the stand-in's bundle, named for the copy that made it. */
const SCRATCH = /^cp-([0-9a-f]{64}-cp-[0-9a-f]{8})-(\d+)-(\d+)$/;

/** Runs body with a view of the container `ref` (see above). */
export async function withContainerView<T>(engine: Engine, ref: string, body: (view: ContainerView) => Promise<T>): Promise<T> {
  await sweepStandIns(engine);
  const id = engine.resolve(ref).Id;
  let live: ContainerView | undefined;
  const viaStandIn = await withContainerLock(engine.root, id, ref, async () => {
    const record = engine.reread(id, ref);
    if (record.State.Status === "removing") throw notFound(`No such container: ${ref}`);
    const target = await liveProcess(engine, record);
    if (target) {
      live = { record, target };
      return undefined;
    }
    return { value: await withStandIn(engine, record, (target) => body({ record, target })) };
  });
  return viaStandIn ? viaStandIn.value : body(live!);
}

/**
 * The container's first process while it has one that holds its mounts, with its start
 * time: read between two looks of the runtime, which checks its recorded identity, so it is
 * the recorded process's (a pid reused in between would fail the second look).
 */
async function liveProcess(engine: Engine, record: ContainerRecord): Promise<ViewTarget | undefined> {
  const livePid = async () => {
    const { rt } = await engine.observe(record);
    return rt?.pid && ["created", "running", "paused"].includes(rt.status) ? rt.pid : undefined;
  };
  const pid = await livePid();
  const startTime = pid ? processStartTime(pid) : undefined;
  if (!pid || startTime === undefined || (await livePid()) !== pid) return undefined;
  return { pid, startTime };
}

async function withStandIn<T>(engine: Engine, record: ContainerRecord, body: (target: ViewTarget) => Promise<T>): Promise<T> {
  const standIn = `${record.Id}-cp-${randomHex(4)}`;
  const scratch = path.join(engine.root.tmp, `cp-${standIn}-${process.pid}-${processStartTime(process.pid) ?? 0}`);
  fs.mkdirSync(engine.root.tmp, { recursive: true, mode: 0o700 });
  fs.mkdirSync(scratch, { mode: 0o700 });
  const runtime = await engine.runtime();
  try {
    const spec = readJsonIfExists<Spec>(path.join(new ContainerFiles(engine.root, record.Id).bundle, "config.json"));
    if (!spec) throw notFound(`No such container: ${record.Id}`);
    writeJsonAtomic(path.join(scratch, "config.json"), standInSpec(engine, record, spec, standIn), 0o600);
    log.withId(record.Id)(`stand-in ${standIn} for a stopped container`);
    const state = await runtime.create(standIn, { bundle: scratch });
    const startTime = state.pid ? processStartTime(state.pid) : undefined;
    if (!state.pid || startTime === undefined) throw conflict(`The stand-in of container ${record.Id} exited before the copy`);
    return await body({ pid: state.pid, startTime });
  } finally {
    try {
      if (fs.existsSync(runtime.stateDir(standIn))) await runtime.delete(standIn, { force: true });
    } finally {
      removeTreeSync(scratch);
    }
  }
}

/**
 * The container's spec for a stand-in: its rootfs, mounts and user namespace as they are,
 * but its own cgroup and no limits, no terminal, "/" as working directory (the init makes a
 * missing one, which must not happen for a copy), and a command that exists in every
 * container — it is only looked up, never run. Namespaces the container joins (another
 * container's, at its last start) become new ones; a joined user namespace becomes a new
 * one with the same id maps (the donor's range).
 */
function standInSpec(engine: Engine, record: ContainerRecord, spec: Spec, standIn: string): Spec {
  const s = structuredClone(spec);
  if (s.process) {
    s.process.terminal = false;
    delete s.process.consoleSize;
    s.process.args = ["/proc/self/exe"];
    s.process.cwd = "/";
  }
  const linux = (s.linux ??= {});
  linux.cgroupsPath = cgroupsPathFor(standIn);
  delete linux.resources;
  const joinedUser = linux.namespaces?.some((n) => n.type === "user" && n.path !== undefined);
  linux.namespaces = linux.namespaces?.map((n) => ({ type: n.type }));
  if (joinedUser) {
    const donorRef = joinedContainer(record.HostConfig.PidMode) ?? joinedContainer(record.HostConfig.IpcMode);
    const range = donorRef ? lookupRange(engine, donorRef) : undefined;
    if (!range) throw conflict(`Cannot copy: container ${record.Id} shares the user namespace of ${donorRef ?? "a container"}, which is gone`);
    linux.uidMappings = [{ containerID: 0, hostID: range.uid, size: range.size }];
    linux.gidMappings = [{ containerID: 0, hostID: range.gid, size: range.size }];
  }
  return s;
}

function lookupRange(engine: Engine, ref: string): ContainerRecord["Tsrun"]["idRange"] {
  try {
    return engine.resolve(ref).Tsrun.idRange;
  } catch {
    return undefined;
  }
}

/** Deletes the stand-ins (and their scratch dirs) of copies whose process is dead. */
export async function sweepStandIns(engine: Engine): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(engine.root.tmp);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  for (const name of names) {
    const m = SCRATCH.exec(name);
    if (!m || isAlive({ pid: Number(m[2]), startTime: Number(m[3]) })) continue;
    const runtime = await engine.runtime();
    const standIn = m[1]!;
    try {
      if (fs.existsSync(runtime.stateDir(standIn))) await runtime.delete(standIn, { force: true });
      removeTreeSync(path.join(engine.root.tmp, name));
      log(`removed stand-in ${standIn}, left by dead process ${m[2]}`);
    } catch (e) {
      log(`cannot remove stand-in ${standIn}: ${(e as Error).message}`);
    }
  }
}

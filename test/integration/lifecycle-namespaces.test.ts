/**
 * `--pid` and `--ipc` (host, shareable, private, container:X) and `--init`, from inside
 * real containers: which processes and IPC objects a container sees, who is PID 1.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { eventually, idOf, record } from "./lifecycle-helpers.js";

if (!isRoot) console.warn("lifecycle-namespaces.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("shared namespaces and --init", () => {
  let root: TestRoot;
  const inside = (flags: string[], script: string) => root.run(["run", "--rm", ...flags, "busybox", "sh", "-c", script]);

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    // The donor: a shareable IPC namespace holding a message queue, and a recognisable process.
    const r = await root.run(["run", "-d", "--name", "donor", "--ipc", "shareable", "busybox", "sh", "-c", "touch /dev/mqueue/donorq; echo from-donor > /dev/shm/donorshm; exec sleep 1234"]);
    if (r.code !== 0) throw new Error(`donor: ${r.stderr}`);
    await eventually("the donor's queue", async () => {
      const ls = await root.run(["run", "--rm", "--ipc", "container:donor", "busybox", "ls", "/dev/mqueue"]);
      return ls.stdout.includes("donorq") ? true : undefined;
    });
    await root.run(["run", "-d", "--name", "private", "busybox", "sleep", "1234"]);
  });
  afterAll(() => root?.destroy());

  it("--pid container:X sees X's processes, in X's user namespace", async () => {
    const r = await inside(["--pid", "container:donor"], "ps -o pid,args; readlink /proc/1/ns/user; readlink /proc/self/ns/user; stat -c '%u:%g' /bin/busybox");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\s*1 sleep 1234$/m);
    const [nsOfDonor, nsOfSelf, owner] = r.stdout.trim().split("\n").slice(-3);
    expect(nsOfSelf).toBe(nsOfDonor);
    expect(owner).toBe("0:0"); // the image still looks root-owned through the donor's mapping
    const id = await idOf(root, "donor");
    const donorUserns = fs.readlinkSync(`/proc/${pidOf(root, id)}/ns/user`);
    expect(nsOfSelf).toBe(donorUserns);
  });

  it("--ipc container:X shares X's IPC namespace (its message queues)", async () => {
    const r = await inside(["--ipc", "container:donor"], "ls /dev/mqueue; readlink /proc/self/ns/ipc");
    expect(r.code).toBe(0);
    const [queue, ns] = r.stdout.trim().split("\n");
    expect(queue).toBe("donorq");
    expect(ns).toBe(fs.readlinkSync(`/proc/${pidOf(root, await idOf(root, "donor"))}/ns/ipc`));
  });

  it("--ipc container:X shares X's /dev/shm (POSIX shared memory), both ways", async () => {
    const r = await inside(["--ipc", "container:donor"], "cat /dev/shm/donorshm; echo from-joiner > /dev/shm/joinershm");
    expect(r).toMatchObject({ code: 0, stdout: "from-donor\n", stderr: "" });
    const donorPid = pidOf(root, await idOf(root, "donor"));
    expect(fs.readFileSync(`/proc/${donorPid}/root/dev/shm/joinershm`, "utf8")).toBe("from-joiner\n");
    // A container with its own IPC namespace has its own, empty /dev/shm.
    expect((await inside([], "ls /dev/shm")).stdout).toBe("");
  });

  it("keeps private IPC namespaces private and refuses to join them", async () => {
    const own = await inside([], "ls /dev/mqueue | wc -l");
    expect(own.stdout.trim()).toBe("0");
    const r = await root.run(["run", "--rm", "--ipc", "container:private", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("container private: non-shareable IPC (hint: use IpcMode:shareable for the donor container)");
  });

  it("refuses to join a container that is not running", async () => {
    await root.run(["create", "--name", "idle", "busybox", "true"]);
    const r = await root.run(["run", "--rm", "--pid", "container:idle", "busybox", "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("Container idle is not running");
  });

  it("--pid host and --ipc host use the host's namespaces, without a user namespace", async () => {
    const pid = await inside(["--pid", "host"], "readlink /proc/self/ns/pid; cat /proc/self/uid_map");
    expect(pid.code).toBe(0);
    const [pidns, uidMap] = pid.stdout.trim().split("\n");
    expect(pidns).toBe(fs.readlinkSync("/proc/self/ns/pid"));
    expect(uidMap!.trim().split(/\s+/)).toEqual(["0", "0", "4294967295"]);
    const ipc = await inside(["--ipc", "host"], "readlink /proc/self/ns/ipc");
    expect(ipc.stdout.trim()).toBe(fs.readlinkSync("/proc/self/ns/ipc"));
  });

  it("records the modes in HostConfig", async () => {
    await root.run(["create", "--name", "modes", "--pid", "container:donor", "--ipc", "shareable", "--init", "busybox", "true"]);
    const rec = record(root, await idOf(root, "modes"));
    expect(rec.HostConfig).toMatchObject({ PidMode: "container:donor", IpcMode: "shareable", Init: true });
    expect(rec.Path).toBe("true");
  });

  it("--init runs tsrun's init as PID 1, which reaps orphans and passes signals on", async () => {
    // PID 1 ends up as `sleep`, which never waits: an orphan's exit leaves a zombie unless an
    // init reaps it. The second background job reports what it sees.
    const orphans = "(sleep 0.1 &); (sleep 0.6; ps -o stat | grep -c '^Z') & exec sleep 1";
    const r = await inside(["--init"], `tr '\\0' ' ' < /proc/1/cmdline; echo; ${orphans}`);
    expect(r.code).toBe(0);
    const [cmdline, zombies] = r.stdout.trim().split("\n");
    expect(cmdline).toMatch(/^\/dev\/init -- sh -c /);
    expect(zombies).toBe("0");
    const bare = await inside([], orphans);
    expect(bare.stdout.trim()).toBe("1");
    // SIGTERM reaches the command (PID 1 itself would ignore it, and the stop would end in
    // SIGKILL: 137): it dies of it, 143.
    await root.run(["run", "-d", "--name", "inited", "--init", "busybox", "sleep", "60"]);
    expect((await root.run(["stop", "-t", "20", "inited"])).code).toBe(0);
    expect(record(root, await idOf(root, "inited")).State.ExitCode).toBe(143);
  });
});

/** PID 1 of a running container, on the host, from the runtime's state. */
function pidOf(root: TestRoot, id: string): number {
  const file = path.join(root.dir, "runtime", id, "state.json");
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { init: { pid: number } }).init.pid;
}

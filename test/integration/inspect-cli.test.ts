/**
 * `inspect`, `top`, `ps/images --format`, `info` and `version` end to end, on real
 * containers: Docker's field names and shapes, Go templates, and Docker's messages.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";

if (!isRoot) console.warn("inspect-cli.test.ts: skipped, integration tests need root");

describe.skipIf(!isRoot)("tsrun inspect, top, info, version", () => {
  let root: TestRoot;
  let id: string;

  beforeAll(async () => {
    root = new TestRoot();
    root.loadBusybox();
    const r = await root.run(["run", "-d", "--name", "web", "-l", "app=demo", "-l", "tier=front", "busybox", "sh", "-c", "sleep 300 & sleep 301"]);
    expect(r.code).toBe(0);
    id = r.stdout.trim();
  });
  afterAll(() => root?.destroy());

  it("prints a running container as Docker's JSON array, 4-space indented", async () => {
    const r = await root.run(["inspect", "web"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('[\n    {\n        "Id": "' + id + '",\n')).toBe(true);
    const [doc] = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual([
      "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Name",
      "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig",
      "GraphDriver", "Mounts", "Config", "NetworkSettings",
    ]);
    expect(Object.keys(doc.State)).toEqual([
      "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error", "StartedAt", "FinishedAt",
    ]);
    expect(doc.State).toMatchObject({ Status: "running", Running: true, Paused: false, OOMKilled: false, ExitCode: 0, FinishedAt: "0001-01-01T00:00:00Z" });
    expect(doc.State.Pid).toBeGreaterThan(1);
    expect(doc).toMatchObject({ Name: "/web", Path: "sh", Args: ["-c", "sleep 300 & sleep 301"], Driver: "overlay2", Platform: "linux", Mounts: [] });
    expect(doc.Image).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(doc.LogPath).toBe(`${root.dir}/containers/${id}/${id}-json.log`);
    expect(doc.HostConfig).toMatchObject({
      NetworkMode: "bridge",
      RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
      AutoRemove: false,
      IpcMode: "private",
      PidMode: "",
      ShmSize: 67108864,
      Memory: 0,
      NanoCpus: 0,
      CpuShares: 0,
      CpusetCpus: "",
      PidsLimit: null,
      LogConfig: { Type: "json-file", Config: {} },
    });
    expect(Object.keys(doc.HostConfig.LogConfig)).toEqual(["Type", "Config"]);
    expect(doc.Config).toMatchObject({ Image: "busybox", Cmd: ["sh", "-c", "sleep 300 & sleep 301"], Labels: { app: "demo", tier: "front" }, OnBuild: null });
    expect(doc.GraphDriver.Name).toBe("overlay2");
    expect(doc.GraphDriver.Data.UpperDir).toBe(`${root.dir}/containers/${id}/fs/upper`);
    expect(Object.keys(doc.NetworkSettings.Networks)).toEqual(["bridge"]);
    expect(doc.NetworkSettings.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(doc.NetworkSettings.Networks.bridge.IPAddress).toBe(doc.NetworkSettings.IPAddress);
    // Go's encoder escapes & < > in strings.
    expect(r.stdout).toContain('"sleep 300 \\u0026 sleep 301"');
  });

  it("formats with Go templates", async () => {
    const f = async (t: string) => (await root.run(["inspect", "-f", t, "web"])).stdout;
    expect(await f("{{.State.Status}}")).toBe("running\n");
    expect(await f("{{.Name}} {{.State.Running}}")).toBe("/web true\n");
    expect(await f("{{json .Config.Labels}}")).toBe('{"app":"demo","tier":"front"}\n');
    expect(await f('{{index .Config.Labels "tier"}}')).toBe("front\n");
    expect(await f("{{range .Args}}[{{.}}]{{end}}")).toBe("[-c][sleep 300 & sleep 301]\n");
    expect(await f('{{if eq .State.Status "running"}}up{{else}}down{{end}}')).toBe("up\n");
    expect(await f("{{upper .Config.Image}} {{join .Config.Cmd \",\"}}")).toBe("BUSYBOX sh,-c,sleep 300 & sleep 301\n");
    expect(await f("{{.State.Pid}}")).toMatch(/^\d+\n$/);
    expect(await f("{{println .Id}}")).toBe(`${id}\n\n`);
  });

  it("reports template errors as Docker does, exit 1", async () => {
    const nope = await root.run(["inspect", "-f", "{{.Nope}}", "web"]);
    expect(nope.code).toBe(1);
    expect(nope.stderr).toBe('template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n');
    const nested = await root.run(["inspect", "-f", "{{json .State.Nope}}", "web"]);
    expect(nested.stderr).toBe('template parsing error: template: :1:7: executing "" at <.State.Nope>: map has no entry for key "Nope"\n');
    const parse = await root.run(["inspect", "-f", "{{.Name", "web"]);
    expect(parse.code).toBe(1);
    expect(parse.stderr).toBe("template parsing error: template: :1: unclosed action\n");
  });

  it("says which names are not found, and still prints the others", async () => {
    const r = await root.run(["inspect", "-f", "{{.Name}}", "nosuch", "web"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("/web\n");
    expect(r.stderr).toBe("Error: No such object: nosuch\n");
    const none = await root.run(["inspect", "nosuch"]);
    expect(none.stdout).toBe("[]\n");
    expect((await root.run(["inspect", "--type", "container", "busybox"])).stderr).toBe("Error: No such container: busybox\n");
    expect((await root.run(["inspect", "--type", "volume", "x"])).stderr).toBe('"volume" is not a valid value for --type\n');
  });

  it("inspects images: by name without --type, or with --type image", async () => {
    const r = await root.run(["inspect", "busybox"]);
    expect(r.code).toBe(0);
    const [img] = JSON.parse(r.stdout);
    expect(img).toMatchObject({ RepoTags: ["busybox:latest"], RepoDigests: [], Os: "linux", RootFS: { Type: "layers" } });
    expect(img.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.Config.Cmd).toEqual(["sh"]);
    expect(img.Size).toBeGreaterThan(0);
    expect(img.RootFS.Layers.length).toBeGreaterThan(0);
    expect((await root.run(["inspect", "--type", "image", "-f", "{{.Os}}/{{.Architecture}}", "busybox"])).stdout).toMatch(/^linux\/\w+\n$/);
    expect((await root.run(["inspect", "--type", "image", "nosuch"])).stderr).toBe("Error: No such image: nosuch\n");
  });

  it("top lists the container's processes with ps -ef's columns, or with ps options", async () => {
    const r = await root.run(["top", "web"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]!.split(/\s+/)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    const cmds = lines.slice(1).map((l) => l.split(/\s{3,}/).pop());
    expect(cmds.sort()).toEqual(["sleep 300", "sleep 301"]);
    const pid = (await root.run(["inspect", "-f", "{{.State.Pid}}", "web"])).stdout.trim();
    expect(lines.slice(1).some((l) => l.split(/\s+/)[1] === pid)).toBe(true);
    const custom = await root.run(["top", "web", "-o", "pid,comm"]);
    expect(custom.stdout.split("\n")[0]!.split(/\s+/)).toEqual(["PID", "COMMAND"]);
    expect(custom.stdout.trim().split("\n")).toHaveLength(3);
  });

  it("top refuses a container that is not running", async () => {
    const done = await root.run(["run", "--name", "done", "busybox", "true"]);
    expect(done.code).toBe(0);
    const doneId = (await root.run(["inspect", "-f", "{{.Id}}", "done"])).stdout.trim();
    const r = await root.run(["top", "done"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error response from daemon: Container ${doneId} is not running\n`);
    const exited = JSON.parse((await root.run(["inspect", "done"])).stdout)[0];
    expect(exited.State).toMatchObject({ Status: "exited", Running: false, Pid: 0, ExitCode: 0 });
    expect(exited.State.FinishedAt).not.toBe("0001-01-01T00:00:00Z");
  });

  it("ps and images take Go templates, table templates and json", async () => {
    const table = await root.run(["ps", "--format", "table {{.Names}}\\t{{.Label \"app\"}}\\t{{.State}}"]);
    // docker/cli keeps what the header row wrote before {{.Label}} failed on it.
    expect(table.stdout).toBe("NAMES     \nweb       demo      running\n");
    const raw = await root.run(["ps", "--no-trunc", "--format", "{{.ID}}:{{.Names}}"]);
    expect(raw.stdout).toBe(`${id}:web\n`);
    const json = JSON.parse((await root.run(["ps", "--format", "json"])).stdout);
    expect(json).toMatchObject({ ID: id.slice(0, 12), Names: "web", State: "running", Labels: "app=demo,tier=front" });
    const bad = await root.run(["ps", "--format", "{{.Nope}}"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext\n');
    const images = await root.run(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(images.stdout).toBe("busybox:latest\n");
    expect((await root.run(["images", "--format", "table {{.Repository}}\\t{{.Tag}}"])).stdout).toBe("REPOSITORY   TAG\nbusybox      latest\n");
  });

  it("version and info, with --format", async () => {
    const v = await root.run(["version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^Client:\n Version: +\d+\.\d+\.\d+\n Node version: +v\d+/);
    expect(v.stdout).toMatch(/\nServer: tsrun\n Engine:\n  Version: +\d/);
    expect(v.stdout).toMatch(/Monitor protocol: +\d+\n/);
    expect((await root.run(["version", "-f", "{{.Server.KernelVersion}}"])).stdout.trim()).toBe((await import("node:os")).release());
    expect((await root.run(["version", "-f", "{{.Nope"])).code).toBe(64);
    const info = await root.run(["info"]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n/);
    expect(info.stdout).toContain("\n Storage Driver: overlay2\n");
    expect(info.stdout).toContain("\n Cgroup Driver: cgroupfs\n");
    expect(info.stdout).toContain(`\n Docker Root Dir: ${root.dir}\n`);
    expect(info.stdout).toMatch(/\n Cgroup Version: [12]\n/);
    expect((await root.run(["info", "--format", "{{.ContainersRunning}} {{.Driver}} {{.DockerRootDir}}"])).stdout).toBe(`1 overlay2 ${root.dir}\n`);
    expect(JSON.parse((await root.run(["info", "--format", "json"])).stdout)).toMatchObject({ Containers: 2, Images: 1, OSType: "linux" });
  });
});

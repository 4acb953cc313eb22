/**
 * Every malformed mount flag of run/create: Docker's message (docker/cli's flag and spec
 * errors, moby's mount checks), exit 125, and nothing left behind — no container, name,
 * volume, bind source or runtime state — even when the failure comes after volumes were made.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestRoot, isRoot } from "../helpers/cli.js";
import { rootContents } from "./volumes-fixtures.js";

if (!isRoot) console.warn("volumes-flags.test.ts: skipped, integration tests need root");

const NAME_RULE =
  'includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path';

describe.skipIf(!isRoot)("malformed mount flags", () => {
  let root: TestRoot;
  let hostDir: string;
  let missing: string;

  beforeAll(() => {
    root = new TestRoot();
    root.loadBusybox();
    hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-vol-flags-"));
    missing = path.join(hostDir, "missing");
  });
  afterAll(() => {
    root?.destroy();
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
  });

  it("are refused with Docker's message and 125, leaving nothing", async () => {
    const cases: [string[], string][] = [
      [["--mount", ""], 'invalid argument "" for "--mount" flag: value is empty'],
      [["--mount", "foo=bar"], `invalid argument "foo=bar" for "--mount" flag: unknown option 'foo' in 'foo=bar'`],
      [["--mount", "type=volume,dst=/x,tmpfs-size=1m"], `invalid argument "type=volume,dst=/x,tmpfs-size=1m" for "--mount" flag: cannot mix 'tmpfs-*' options with mount type 'volume'`],
      [["--mount", "readonly=maybe,dst=/x"], `invalid argument "readonly=maybe,dst=/x" for "--mount" flag: invalid value for 'readonly': invalid boolean value ("maybe"): must be one of "true", "1", "false", or "0" (default "true")`],
      [["--mount", "type=tmpfs,dst=/t,tmpfs-size=abc"], `invalid argument "type=tmpfs,dst=/t,tmpfs-size=abc" for "--mount" flag: invalid value for tmpfs-size: abc`],
      [["--mount", "type=foo,dst=/x"], 'invalid mount config for type "foo": mount type unknown'],
      [["--mount", "src=v"], 'invalid mount config for type "volume": field Target must not be empty'],
      [["--mount", "dst=/"], `invalid mount config for type "volume": invalid specification: destination can't be '/'`],
      [["--mount", "type=bind,src=rel,dst=/x"], `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
      [["--mount", `type=bind,src=${missing},dst=/x`], `invalid mount config for type "bind": bind source path does not exist: ${missing}`],
      [["--mount", "type=tmpfs,src=x,dst=/x"], 'invalid mount config for type "tmpfs": field Source must not be specified'],
      [["--mount", "type=volume,src=a/b,dst=/x"], `create a/b: "a/b" ${NAME_RULE}`],
      [["-v", ""], "invalid empty volume spec"],
      [["-v", "a:b:c:d"], "invalid spec: a:b:c:d: too many colons"],
      [["-v", "::/x"], "invalid spec: ::/x: empty section between colons"],
      [["-v", `${missing}:/y:bogus`], "invalid mode: bogus"],
      [["-v", "bad/name:/y"], `create bad/name: "bad/name" ${NAME_RULE}`],
      [["-v", `${missing}:relative`], `invalid volume specification: '${missing}:relative': invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`],
      [["-v", `${missing}:/`], `invalid volume specification: '${missing}:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
      [["-v", "v1:/x", "-v", `${missing}:/x`], "Duplicate mount point: /x"],
      [["--tmpfs", "/x", "--mount", "type=tmpfs,dst=/x"], "Duplicate mount point: /x"],
      [["--tmpfs", "relative"], "invalid mount path: 'relative' mount path must be absolute"],
      [["--tmpfs", "/t:bogus=1"], 'invalid tmpfs option "bogus"'],
      [["--tmpfs", "/"], "invalid specification: destination can't be '/'"],
      [["--volumes-from", ""], "volumes-from specification cannot be an empty string"],
      [["--volumes-from", "nosuch"], "No such container: nosuch"],
      [["--volumes-from", "c:bogus"], "invalid mode: bogus"],
      // Found once the container's directory exists; the second after its volume was made, which goes again.
      [["-v", "never-made:/data", "-v", "/etc/passwd"], "cannot mount volume over existing file, file exists /etc/passwd"],
      [
        ["--mount", "type=volume,src=made-then-undone,dst=/x,volume-opt=type=nfs,volume-opt=device=:/exports,volume-opt=o=addr=127.0.0.1"],
        `Cannot mount volume "made-then-undone": the local driver's option type=nfs (device=:/exports) is not supported by tsrun`,
      ],
    ];
    const before = rootContents(root);
    const results = await Promise.all(
      cases.map(async ([flags, message], i) => ({ flags, message, r: await root.run([i % 2 ? "run" : "create", ...flags, "busybox", "true"]) })),
    );
    for (const { flags, message, r } of results) {
      expect({ flags, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ flags, code: 125, stderr: `tsrun: ${message}\n`, stdout: "" });
    }
    expect(rootContents(root)).toEqual(before);
    expect(fs.existsSync(missing)).toBe(false);
    expect((await root.run(["volume", "ls", "-q"])).stdout).toBe("");
  });
});

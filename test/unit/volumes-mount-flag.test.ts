/**
 * `--mount`: docker/cli's syntax errors (flag errors) and moby's checks (invalid mount
 * config), with their exact wording, and the typed requests that come out.
 */
import { describe, expect, it } from "vitest";
import { isTsrunError } from "../../src/common/errors.js";
import { readCsvRecord } from "../../src/engine/volumes/csv-record.js";
import { mountSpecToRequest, parseMountFlag } from "../../src/engine/volumes/mount-flag.js";

const exists = (p: string) => p === "/host" || p === "/var/run";
const parse = (v: string) => mountSpecToRequest(parseMountFlag(v, "/work"), exists);
const flagError = (v: string, msg: string) => `invalid argument ${JSON.stringify(v)} for "--mount" flag: ${msg}`;

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isTsrunError(e, "invalid-argument")).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

describe("--mount syntax (docker/cli)", () => {
  it.each([
    ["", "value is empty"],
    ["   ", "value is empty"],
    ["type=volume,target=/foo,bogus=foo", "unknown option 'bogus' in 'bogus=foo'"],
    ["type=volume, src=/foo,target=/foo", "invalid option 'src' in ' src=/foo': option should not have whitespace"],
    ["type=volume,src =/foo,target=/foo", "invalid option 'src' in 'src =/foo': option should not have whitespace"],
    ["type=volume,src=,target=/foo", "invalid value for 'src': value is empty"],
    ["type=volume,src= /foo,target=/foo", "invalid value for 'src' in 'src= /foo': value should not have whitespace"],
    ["type=volume,src=/foo ,target=/foo", "invalid value for 'src' in 'src=/foo ': value should not have whitespace"],
    ["type=volume,target=/foo,bogus", "invalid field 'bogus' must be a key=value pair"],
    ["type=tmpfs,target=/foo,tmpfs-size=foo", "invalid value for tmpfs-size: foo"],
    ["type=tmpfs,target=/foo,tmpfs-mode=foo", "invalid value for tmpfs-mode: foo"],
    ["type=tmpfs,target=/foo,tmpfs-mode=789", "invalid value for tmpfs-mode: 789"],
    ["type=volume,target=/foo,source=/foo,bind-propagation=rprivate", "cannot mix 'bind-*' options with mount type 'volume'"],
    ["type=bind,target=/foo,source=/foo,volume-nocopy=true", "cannot mix 'volume-*' options with mount type 'bind'"],
    ["type=bind,target=/foo,source=/foo,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"],
    ["type=tmpfs,target=/foo,image-subpath=x", "cannot mix 'image-*' options with mount type 'tmpfs'"],
    ["type=bind,src=/host,dst=/x,readonly=no", `invalid value for 'readonly': invalid boolean value ("no"): must be one of "true", "1", "false", or "0" (default "true")`],
    ["type=bind,src=/host,dst=/x,readonly=", "invalid value for 'readonly': value is empty"],
    ["type=volume,dst=/x,volume-nocopy=yes", `invalid value for 'volume-nocopy': invalid boolean value ("yes"): must be one of "true", "1", "false", or "0" (default "true")`],
    ["type=bind,src=/host,dst=/x,bind-nonrecursive", "bind-nonrecursive is deprecated, use bind-recursive=disabled instead"],
    ["type=bind,src=/host,dst=/x,bind-recursive=maybe", 'invalid value for bind-recursive: maybe (must be "enabled", "disabled", "writable", or "readonly")'],
    ["type=bind,src=/host,dst=/x,bind-recursive=writable", "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"],
    ["type=bind,src=/host,dst=/x,bind-recursive=readonly", "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"],
    [
      "type=bind,src=/host,dst=/x,bind-recursive=readonly,ro",
      "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
    ],
  ])("%j → %s", (value, message) => {
    expect(errorOf(() => parseMountFlag(value))).toBe(flagError(value, message));
  });

  it("reports quoting errors as Go's csv reader does", () => {
    expect(errorOf(() => parseMountFlag('type=bind,"src=/ho"st,dst=/x'))).toMatch(
      /flag: parse error on line 1, column \d+: extraneous or missing " in quoted-field$/,
    );
    expect(errorOf(() => parseMountFlag('type=bind,src=/ho"st,dst=/x'))).toMatch(/flag: parse error on line 1, column 18: bare " in non-quoted-field$/);
  });

  it("accepts readonly and ro with every boolean spelling", () => {
    for (const [opt, ro] of [
      ["", false],
      ["readonly", true],
      ["readonly=1", true],
      ["readonly=true", true],
      ["readonly=0", false],
      ["readonly=false", false],
      ["ro", true],
      ["ro=1", true],
      ["ro=true", true],
      ["ro=0", false],
      ["ro=false", false],
    ] as const) {
      const r = parse(`type=bind,src=/host,dst=/x${opt ? "," + opt : ""}`);
      expect(r.readonly, opt).toBe(ro);
    }
  });

  it("takes source|src and target|destination|dst, keys in any case, type lower-cased", () => {
    for (const v of ["type=bind,src=/host,dst=/t", "TYPE=BIND,Source=/host,Target=/t", "type=bind,source=/host,destination=/t"]) {
      expect(parse(v)).toMatchObject({ kind: "bind", source: "/host", target: "/t" });
    }
  });

  it("defaults to a volume; no source means anonymous", () => {
    expect(parse("target=/data")).toEqual({
      kind: "volume",
      anonymous: true,
      target: "/data",
      readonly: false,
      nocopy: false,
      origin: "mount",
      mode: "z",
    });
    expect(parse("type=volume,src=myvol,dst=/data/,ro,volume-nocopy")).toMatchObject({
      kind: "volume",
      name: "myvol",
      anonymous: false,
      target: "/data",
      readonly: true,
      nocopy: true,
    });
  });

  it("keeps volume-opt and volume-label for creating the volume", () => {
    const r = parse('type=volume,src=v1,dst=/d,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=1m,uid=5",volume-label=a=b,volume-driver=local');
    expect(r).toMatchObject({
      kind: "volume",
      createOptions: { type: "tmpfs", device: "tmpfs", o: "size=1m,uid=5" },
      createLabels: { a: "b" },
    });
  });

  it("makes a relative bind source absolute (from the current directory) only when it starts with a dot", () => {
    expect(parseMountFlag("type=bind,src=./data,dst=/d", "/work").Source).toBe("/work/data");
    expect(parseMountFlag("type=bind,src=..,dst=/d", "/work/x").Source).toBe("/work");
    expect(parseMountFlag("type=bind,src=data,dst=/d", "/work").Source).toBe("data");
  });

  it("reads bind options", () => {
    expect(parse("type=bind,src=/host,dst=/x,bind-propagation=RSHARED,bind-recursive=disabled")).toEqual({
      kind: "bind",
      source: "/host",
      target: "/x",
      readonly: false,
      propagation: "rshared",
      recursive: false,
      createSource: false,
      origin: "mount",
      mode: "",
    });
    expect(parse("type=bind,src=/host,dst=/x,bind-recursive=enabled")).toMatchObject({ recursive: true, propagation: "rprivate" });
  });

  it("reads tmpfs size (binary units) and mode (octal)", () => {
    expect(parse("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770")).toEqual({
      kind: "tmpfs",
      target: "/t",
      readonly: false,
      size: 64 * 1024 * 1024,
      mode: 0o1770,
      options: [],
      origin: "mount",
    });
    expect(parse("type=tmpfs,dst=/t,tmpfs-size=1.5k")).toMatchObject({ size: 1536 });
  });
});

describe("--mount checks (moby's linux parser)", () => {
  const config = (type: string, msg: string) => `invalid mount config for type "${type}": ${msg}`;
  it.each([
    ["type=bind,src=/host", config("bind", "field Target must not be empty")],
    ["type=tmpfs", config("tmpfs", "field Target must not be empty")],
    ["type=volume,source=foo", config("volume", "field Target must not be empty")],
    ["type=bind,src=/host,dst=/", config("bind", "invalid specification: destination can't be '/'")],
    ["type=bind,src=/host,dst=/x/..", config("bind", "invalid specification: destination can't be '/'")],
    ["type=bind,src=/host,dst=../foo", config("bind", "invalid mount path: '../foo' mount path must be absolute")],
    ["type=volume,dst=data", config("volume", "invalid mount path: 'data' mount path must be absolute")],
    ["type=bind,dst=/x", config("bind", "field Source must not be empty")],
    ["type=bind,src=/host,dst=/x,bind-propagation=bogus", config("bind", "invalid propagation mode: bogus")],
    ["type=bind,src=data,dst=/x", config("bind", "invalid mount path: 'data' mount path must be absolute")],
    ["type=bind,src=/nonexistent,dst=/x", config("bind", "bind source path does not exist: /nonexistent")],
    ["type=tmpfs,src=foo,dst=/x", config("tmpfs", "field Source must not be specified")],
    ["type=volume,dst=/x,volume-subpath=a", config("volume", "must not set Subpath when using anonymous volumes")],
    ["type=volume,src=v1,dst=/x,volume-subpath=../a", config("volume", "subpath must be a relative path within the volume")],
    ["type=volume,src=v1,dst=/x,volume-subpath=/a", config("volume", "subpath must be a relative path within the volume")],
    ["type=volume,src=v1,dst=/x,volume-subpath=a", config("volume", "volume-subpath is not supported by tsrun")],
    ["type=image,dst=/x", config("image", "field Source must not be empty")],
    ["type=npipe,dst=/x", config("npipe", "mount type unknown")],
    ["type=volume,src=a/b,dst=/x", `create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`],
    // The CLI makes "." sources absolute whatever the type: ".." from /work is "/", no volume name.
    ["type=volume,src=..,dst=/x", "create /: volume name is too short, names should be at least two alphanumeric characters"],
    ["type=volume,src=.v,dst=/x", `create /work/.v: "/work/.v" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`],
    ["type=volume,src=a,dst=/x", "create a: volume name is too short, names should be at least two alphanumeric characters"],
    ["type=volume,src=v1,dst=/x,volume-driver=nfs", `create v1: error looking up volume plugin nfs: plugin "nfs" not found`],
    ["type=volume,src=v1,dst=/x,volume-opt=bogus=1", `create v1: invalid option: "bogus"`],
    ["type=volume,src=v1,dst=/x,volume-opt=device=/dev/sda", `create v1: missing required option: "type"`],
    ["type=volume,src=v1,dst=/x,volume-opt=size=10m", "create v1: quota size requested but no quota support"],
  ])("%j → %s", (value, message) => {
    expect(errorOf(() => parse(value))).toBe(message);
  });

  it("lets a missing bind source through with bind-create-src", () => {
    expect(parse("type=bind,src=/nonexistent,dst=/x,bind-create-src")).toMatchObject({ createSource: true, source: "/nonexistent" });
  });
});

describe("readCsvRecord", () => {
  it("splits at commas, honours quotes and doubled quotes, stops at the end of the line", () => {
    expect(readCsvRecord("a,b=c,,d")).toEqual(["a", "b=c", "", "d"]);
    expect(readCsvRecord('"a,b","say ""hi"""')).toEqual(["a,b", 'say "hi"']);
    expect(readCsvRecord("a,b\nc,d")).toEqual(["a", "b"]);
    expect(readCsvRecord("a\r")).toEqual(["a"]);
  });
});

/** `-v/--volume`, `--tmpfs` and `--volumes-from`: Docker's forms, errors and the requests they give. */
import { describe, expect, it } from "vitest";
import { isTsrunError } from "../../src/common/errors.js";
import { mergeTmpfsOptions, parseTmpfsFlag, tmpfsMountOptions, tmpfsSizeOption } from "../../src/engine/volumes/tmpfs.js";
import { parseVolumeFlag, parseVolumesFrom, validMountMode } from "../../src/engine/volumes/volume-flag.js";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isTsrunError(e, "invalid-argument")).toBe(true);
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

const NAME_CHARS = `only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;

describe("-v", () => {
  it("gives a named volume, with Docker's Mode (z unless given)", () => {
    expect(parseVolumeFlag("data:/var/lib/data")).toEqual({
      kind: "volume",
      name: "data",
      anonymous: false,
      target: "/var/lib/data",
      readonly: false,
      nocopy: false,
      origin: "volume-flag",
      mode: "z",
    });
    expect(parseVolumeFlag("data:/d/:ro,nocopy")).toMatchObject({ name: "data", target: "/d", readonly: true, nocopy: true, mode: "ro,nocopy" });
  });

  it("gives a bind for an absolute source, created when missing, rprivate unless told", () => {
    expect(parseVolumeFlag("/srv/www:/www")).toEqual({
      kind: "bind",
      source: "/srv/www",
      target: "/www",
      readonly: false,
      propagation: "rprivate",
      recursive: true,
      createSource: true,
      origin: "volume-flag",
      mode: "",
    });
    expect(parseVolumeFlag("/srv//www/:/www:ro,rslave,Z")).toMatchObject({ source: "/srv/www", readonly: true, propagation: "rslave", mode: "ro,rslave,Z" });
    expect(parseVolumeFlag("/a:/b:rw,cached")).toMatchObject({ readonly: false });
  });

  it("takes a host path starting with a dot from the current directory", () => {
    expect(parseVolumeFlag("./site:/www", "/home/me")).toMatchObject({ kind: "bind", source: "/home/me/site" });
    expect(parseVolumeFlag("../x:/www:ro", "/home/me")).toMatchObject({ kind: "bind", source: "/home/x", readonly: true });
  });

  it("gives an anonymous volume for a path alone", () => {
    expect(parseVolumeFlag("/data")).toEqual({ kind: "anonymous", target: "/data", raw: "/data" });
    expect(parseVolumeFlag("/a")).toEqual({ kind: "anonymous", target: "/a", raw: "/a" });
    expect(parseVolumeFlag("/data/../cache/")).toMatchObject({ target: "/cache" });
  });

  it.each([
    ["", "invalid empty volume spec"],
    ["a::b", "invalid spec: a::b: empty section between colons"],
    [":/x", "invalid spec: :/x: empty section between colons"],
    ["/a:", "invalid spec: /a:: empty section between colons"],
    ["/a:/b:", "invalid spec: /a:/b:: empty section between colons"],
    ["/a:/b:ro:x", "invalid spec: /a:/b:ro:x: too many colons"],
    ["/a:/b:ro:", "invalid spec: /a:/b:ro:: too many colons"],
    ["/a:ro", "invalid volume specification: '/a:ro'"],
    ["data:rw", "invalid volume specification: 'data:rw'"],
    ["/a:/b:bogus", "invalid mode: bogus"],
    ["/a:/b:ro,rw", "invalid mode: ro,rw"],
    ["/a:/b:ro,", "invalid mode: ro,"],
    ["/a:/b:z,Z", "invalid mode: z,Z"],
    ["/a:/", `invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
    ["/a:b", `invalid volume specification: '/a:b': invalid mount config for type "bind": invalid mount path: 'b' mount path must be absolute`],
    ["v1:rel", `invalid volume specification: 'v1:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`],
    ["/a:/b:nocopy", `invalid volume specification: '/a:/b:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`],
    ["v1:/b:rshared", `invalid volume specification: 'v1:/b:rshared': invalid mount config for type "volume": field BindOptions must not be specified`],
    ["ab", `invalid volume specification: 'ab': invalid mount config for type "volume": invalid mount path: 'ab' mount path must be absolute`],
    ["data", `invalid volume specification: 'data': invalid mount config for type "volume": invalid mount path: 'data' mount path must be absolute`],
    ["/", `invalid volume specification: '/': invalid mount config for type "volume": invalid specification: destination can't be '/'`],
    ["my vol:/x", `create my vol: "my vol" includes invalid characters for a local volume name, ${NAME_CHARS}`],
    ["~/x:/y", `create ~/x: "~/x" includes invalid characters for a local volume name, ${NAME_CHARS}`],
    ["_x:/y", `create _x: "_x" includes invalid characters for a local volume name, ${NAME_CHARS}`],
    ["x:/y", "create x: volume name is too short, names should be at least two alphanumeric characters"],
  ])("%j → %s", (value, message) => {
    expect(errorOf(() => parseVolumeFlag(value))).toBe(message);
  });

  it("knows moby's mount modes", () => {
    for (const ok of ["", "ro", "rw", "z", "Z", "ro,z", "rprivate", "shared,ro", "nocopy", "consistent", "cached,ro,Z,rslave,nocopy"]) {
      expect(validMountMode(ok), ok).toBe(true);
    }
    for (const bad of ["bogus", "ro,rw", "private,shared", "cached,delegated", "nocopy,nocopy", "RO", ","]) {
      expect(validMountMode(bad), bad).toBe(false);
    }
  });
});

describe("--volumes-from", () => {
  it("defaults to rw and reads ro", () => {
    expect(parseVolumesFrom("data")).toEqual({ container: "data", mode: "rw", readonly: false });
    expect(parseVolumesFrom("data:ro")).toEqual({ container: "data", mode: "ro", readonly: true });
    expect(parseVolumesFrom("data:rw,z")).toEqual({ container: "data", mode: "rw,z", readonly: false });
  });

  it.each([
    ["", "volumes-from specification cannot be an empty string"],
    ["data:bogus", "invalid mode: bogus"],
    ["data:rshared", "invalid mode: rshared"],
    ["data:ro,nocopy", "invalid mode: ro,nocopy"],
  ])("%j → %s", (value, message) => {
    expect(errorOf(() => parseVolumesFrom(value))).toBe(message);
  });
});

describe("--tmpfs", () => {
  it("takes a destination and options", () => {
    expect(parseTmpfsFlag("/run")).toEqual({ kind: "tmpfs", target: "/run", readonly: false, options: [], origin: "volume-flag" });
    expect(parseTmpfsFlag("/run/:rw,exec,size=64m,mode=1777")).toMatchObject({ target: "/run", options: ["rw", "exec", "size=64m", "mode=1777"] });
  });

  it.each([
    ["run", "invalid mount path: 'run' mount path must be absolute"],
    ["/", "invalid specification: destination can't be '/'"],
    ["/x:bogus", 'invalid tmpfs option "bogus"'],
    ["/x:size", 'invalid tmpfs option "size"'],
    ["/x:color=red", 'invalid tmpfs option "color"'],
  ])("%j → %s", (value, message) => {
    expect(errorOf(() => parseTmpfsFlag(value))).toBe(message);
  });

  it("merges options as moby does: Docker's defaults first, the last word on each flag wins", () => {
    expect(mergeTmpfsOptions(["noexec", "nosuid", "nodev", "rprivate", "exec", "size=1m", "size=2m", "shared"])).toEqual([
      "nosuid",
      "nodev",
      "exec",
      "size=2m",
      "shared",
    ]);
    expect(tmpfsMountOptions({ kind: "tmpfs", target: "/t", readonly: true, size: 64 * 2 ** 20, mode: 0o1770, options: [], origin: "mount" })).toEqual([
      "noexec",
      "nosuid",
      "nodev",
      "rprivate",
      "ro",
      "mode=1770",
      "size=64m",
    ]);
  });

  it("writes sizes in the largest unit that divides them", () => {
    expect(tmpfsSizeOption(2 ** 30)).toBe("size=1g");
    expect(tmpfsSizeOption(3 * 2 ** 20)).toBe("size=3m");
    expect(tmpfsSizeOption(1536)).toBe("size=1536");
    expect(tmpfsSizeOption(3072)).toBe("size=3k");
    expect(tmpfsSizeOption(1000)).toBe("size=1000");
  });
});

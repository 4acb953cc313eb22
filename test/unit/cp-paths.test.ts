/**
 * `cp`'s path rules and decisions, as docker/cli and moby's go-archive make them: Go's
 * filepath semantics, the trailing "/" and "/.", CONTAINER:PATH splitting, what an archive
 * must be renamed to, and the summary line's sizes.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyInfoDestinationPath, prepareArchiveCopy, type CopyInfo } from "../../src/engine/cp/copy-info.js";
import {
  archiveName,
  base,
  clean,
  containerPath,
  getRebaseName,
  join,
  preserveTrailingDotOrSeparator,
  splitCpArg,
  splitPathDirEntry,
} from "../../src/engine/cp/paths.js";
import { copySummary } from "../../src/cli/commands/cp.js";
import { goFormatG, humanSizeWithPrecision } from "../../src/cli/units.js";

describe("Go path semantics", () => {
  it("cleans, joins and takes bases as filepath does", () => {
    expect(clean("")).toBe(".");
    expect(clean("/a/b/")).toBe("/a/b");
    expect(clean("/../a/./b/..")).toBe("/a");
    expect(join("/", "")).toBe("/");
    expect(join("/", "etc/")).toBe("/etc");
    expect(join("", "")).toBe("");
    expect(base("/a/b/")).toBe("b");
    expect(base("/")).toBe("/");
    expect(base("")).toBe(".");
    expect(base("a/.")).toBe(".");
  });

  it("keeps a trailing slash or slash-dot through cleaning", () => {
    expect(preserveTrailingDotOrSeparator("/a/b", "/a//b/")).toBe("/a/b/");
    expect(preserveTrailingDotOrSeparator("/a/b", "/a/b/.")).toBe("/a/b/.");
    expect(preserveTrailingDotOrSeparator("/", "/.")).toBe("/.");
    expect(containerPath("tmp/")).toBe("/tmp/");
    expect(containerPath("")).toBe("/."); // Go's Base("") is "."
    expect(containerPath("/etc/../root/.")).toBe("/root/.");
  });

  it("splits a path into its directory and the entry it names", () => {
    expect(splitPathDirEntry("/a/b/")).toEqual({ dir: "/a", base: "b" });
    expect(splitPathDirEntry("/a/b/.")).toEqual({ dir: "/a/b", base: "." });
    expect(splitPathDirEntry("/")).toEqual({ dir: "/", base: "/" });
    expect(archiveName("/")).toBe(".");
    expect(archiveName("/a/b/.")).toBe(".");
    expect(archiveName("/a/b/")).toBe("b");
  });

  it("renames a copy whose last element was a symlink", () => {
    expect(getRebaseName("/a/link", "/a/target")).toEqual({ resolved: "/a/target", rebaseName: "link" });
    expect(getRebaseName("/a/link/", "/a/target")).toEqual({ resolved: "/a/target/", rebaseName: "link" });
    expect(getRebaseName("/a/link/.", "/a/target")).toEqual({ resolved: "/a/target/." });
    expect(getRebaseName("/a/same", "/b/same")).toEqual({ resolved: "/b/same" });
  });

  it("tells CONTAINER:PATH from local paths as docker/cli does", () => {
    expect(splitCpArg("c1:/etc/passwd")).toEqual({ container: "c1", path: "/etc/passwd" });
    expect(splitCpArg("c1:")).toEqual({ container: "c1", path: "" });
    expect(splitCpArg("/tmp/a:b")).toEqual({ path: "/tmp/a:b" });
    expect(splitCpArg("./a:b")).toEqual({ path: "./a:b" });
    expect(splitCpArg("file")).toEqual({ path: "file" });
    expect(splitCpArg("-")).toEqual({ path: "-" });
  });
});

describe("where an archive goes (PrepareArchiveCopy)", () => {
  const file = (p: string, exists: boolean, isDir = false): CopyInfo => ({ path: p, exists, isDir });

  it("extracts into an existing directory as it is", () => {
    expect(prepareArchiveCopy(file("/src/a", true), file("/dst", true, true))).toEqual({ dstDir: "/dst" });
    expect(prepareArchiveCopy(file("/src/d", true, true), file("/dst/", true, true))).toEqual({ dstDir: "/dst/" });
  });

  it("renames the top entry to a destination that is a file or does not exist", () => {
    expect(prepareArchiveCopy(file("/src/a", true), file("/dst/b", true))).toEqual({ dstDir: "/dst", renameTo: "b" });
    expect(prepareArchiveCopy(file("/src/d", true, true), file("/dst/new", false))).toEqual({ dstDir: "/dst", renameTo: "new" });
    expect(prepareArchiveCopy(file("/src/d/.", true, true), file("/dst/new", false))).toEqual({ dstDir: "/dst", renameTo: "new" });
    expect(prepareArchiveCopy(file("/src/a", true), file("/dst/new", false))).toEqual({ dstDir: "/dst", renameTo: "new" });
  });

  it("refuses a directory onto a file, and a file onto a directory that does not exist", () => {
    expect(() => prepareArchiveCopy(file("/src/d", true, true), file("/dst/f", true))).toThrow(/^cannot copy directory$/);
    expect(() => prepareArchiveCopy(file("/src/a", true), file("/dst/new/", false))).toThrow(/^no such directory$/);
  });
});

describe("a local destination (CopyInfoDestinationPath)", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-cp-unit-"));
    fs.mkdirSync(path.join(dir, "d"));
    fs.writeFileSync(path.join(dir, "f"), "x");
    fs.symlinkSync("d", path.join(dir, "to-d"));
    fs.symlinkSync("missing", path.join(dir, "dangling"));
    fs.symlinkSync("loop", path.join(dir, "loop"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("follows a final symlink, even a dangling one", () => {
    expect(copyInfoDestinationPath(path.join(dir, "to-d"))).toEqual({ path: path.join(dir, "d"), exists: true, isDir: true });
    expect(copyInfoDestinationPath(path.join(dir, "dangling"))).toEqual({ path: path.join(dir, "missing"), exists: false, isDir: false });
    expect(copyInfoDestinationPath(path.join(dir, "new"))).toEqual({ path: path.join(dir, "new"), exists: false, isDir: false });
  });

  it("says why it cannot be one", () => {
    expect(() => copyInfoDestinationPath(path.join(dir, "loop"))).toThrow(`too many symlinks in ${path.join(dir, "loop")}`);
    expect(() => copyInfoDestinationPath(path.join(dir, "f", "x"))).toThrow(`lstat ${path.join(dir, "f", "x")}: not a directory`);
    expect(() => copyInfoDestinationPath(path.join(dir, "nope", "x"))).toThrow(`stat ${path.join(dir, "nope")}: no such file or directory`);
  });
});

describe("the summary line", () => {
  it("formats sizes as go-units' HumanSizeWithPrecision(n, 3)", () => {
    expect(humanSizeWithPrecision(0, 3)).toBe("0B");
    expect(humanSizeWithPrecision(6, 3)).toBe("6B");
    expect(humanSizeWithPrecision(2048, 3)).toBe("2.05kB");
    expect(humanSizeWithPrecision(1_234_567, 3)).toBe("1.23MB");
    expect(humanSizeWithPrecision(999.9, 3)).toBe("1e+03B");
    expect(goFormatG(0.00001234, 3)).toBe("1.23e-05");
    expect(goFormatG(12, 3)).toBe("12");
  });

  it("shows the transferred size only when it differs", () => {
    expect(copySummary(2048, 2048, "/tmp/x")).toBe("Successfully copied 2.05kB to /tmp/x\n");
    expect(copySummary(6, 2048, "c1:/tmp/")).toBe("Successfully copied 6B (transferred 2.05kB) to c1:/tmp/\n");
  });
});

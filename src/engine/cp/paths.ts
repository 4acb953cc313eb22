/**
 * The path rules of `docker cp` (moby go-archive copy.go, docker/cli cp.go), on POSIX paths
 * with Go's filepath semantics: a trailing "/" or "/." says "a directory, and its content",
 * and survives cleaning where Docker keeps it. Pure functions.
 */
import path from "node:path";

/** Go's filepath.Clean: "" is ".", no trailing separator but on the root. */
export function clean(p: string): string {
  if (p === "") return ".";
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** Go's filepath.Join: the non-empty elements joined and cleaned; "" when all are empty. */
export function join(...parts: string[]): string {
  const kept = parts.filter((p) => p !== "");
  return kept.length === 0 ? "" : clean(kept.join("/"));
}

/** Go's filepath.Base. */
export function base(p: string): string {
  if (p === "") return ".";
  const trimmed = p.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Go's filepath.Dir. */
export function dir(p: string): string {
  return clean(p.slice(0, p.lastIndexOf("/") + 1));
}

/** Go's filepath.Split: everything up to and including the last "/", and the rest. */
export function split(p: string): [string, string] {
  const i = p.lastIndexOf("/");
  return [p.slice(0, i + 1), p.slice(i + 1)];
}

export const hasTrailingSeparator = (p: string) => p.endsWith("/");
export const specifiesCurrentDir = (p: string) => base(p) === ".";
/** A path that says it is a directory: it ends in "/" or "/.". */
export const assertsDirectory = (p: string) => hasTrailingSeparator(p) || specifiesCurrentDir(p);

/** The cleaned path with the original's trailing "/." or "/" put back. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let out = cleaned;
  if (!specifiesCurrentDir(out) && specifiesCurrentDir(original)) {
    if (!hasTrailingSeparator(out)) out += "/";
    out += ".";
  }
  if (!hasTrailingSeparator(out) && hasTrailingSeparator(original)) out += "/";
  return out;
}

/** The directory and the entry a copy names, keeping a final "." ("a/." → "a", "."). */
export function splitPathDirEntry(p: string): { dir: string; base: string } {
  let cleaned = clean(p);
  if (specifiesCurrentDir(p)) cleaned += "/.";
  return { dir: dir(cleaned), base: base(cleaned) };
}

/**
 * After following a symlink to `resolved`: the path to copy (with the original's trailing
 * "/." or "/") and the name the copy must take, when the link changed the last element.
 */
export function getRebaseName(original: string, resolved: string): { resolved: string; rebaseName?: string } {
  let out = resolved;
  if (specifiesCurrentDir(original) && !specifiesCurrentDir(out)) out += "/.";
  if (hasTrailingSeparator(original) && !hasTrailingSeparator(out)) out += "/";
  return base(original) !== base(out) ? { resolved: out, rebaseName: base(original) } : { resolved: out };
}

/** A path inside the container as the daemon takes it: absolute, trailing "/" or "/." kept. */
export function containerPath(p: string): string {
  return preserveTrailingDotOrSeparator(join("/", p), p);
}

/**
 * The name the top entry of an archive of p gets: its last element ("." for "dir/." and
 * for the root, whose content is what a copy of "/" takes).
 */
export function archiveName(p: string): string {
  const b = splitPathDirEntry(p).base;
  return b === "/" ? "." : b;
}

/** `CONTAINER:PATH` or a local path (docker/cli's splitCpArg): "./a:b" and "/a:b" are local. */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith("/")) return { path: arg };
  const colon = arg.indexOf(":");
  if (colon < 0 || arg.startsWith(".")) return { path: arg };
  if (colon === 0) return { path: arg.slice(1) }; // no container named: docker/cli takes the rest as local
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** Checks and normal forms of mount paths, with moby's linux_parser messages. */
import path from "node:path";

/** Go's path.Clean for slash paths: no "." or "..", no doubled or trailing slash. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

export const TARGET_IS_ROOT = "invalid specification: destination can't be '/'";

export const notAbsolute = (p: string) => `invalid mount path: '${p}' mount path must be absolute`;

/** Why `target` cannot be a mount destination, or undefined (moby's order: root first, then absolute). */
export function targetProblem(target: string): string | undefined {
  const slashed = target.replace(/\\/g, "/");
  if (cleanPath(slashed) === "/") return TARGET_IS_ROOT;
  if (!slashed.startsWith("/")) return notAbsolute(slashed);
  return undefined;
}

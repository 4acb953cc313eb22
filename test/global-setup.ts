/**
 * Runs once before the suite: the tests drive the built CLI and load the busybox image
 * built from rootfs/, so both must exist.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export default function setup(): void {
  const repo = path.resolve(import.meta.dirname, "..");
  if (!fs.existsSync(path.join(repo, "dist", "bin", "tsrun.cjs"))) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it) first");
  }
  if (process.getuid?.() !== 0) return; // integration tests skip; unit tests need no image
  const r = spawnSync(process.execPath, [path.join(repo, "rootfs", "build-busybox.mjs")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the busybox image failed:\n${r.stderr}`);
}

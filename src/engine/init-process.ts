/**
 * `--init`: tsrun's small init (native/build/tsrun-init, static) as PID 1, reaping zombies
 * and forwarding signals to the command, as Docker does with docker-init: bound read-only
 * at /dev/init and run as `/dev/init -- CMD…`. Path and Args in the record stay the
 * command's own (inspect and ps show the command, as Docker's do).
 */
import fs from "node:fs";
import { invalidArgument, nativeBinary } from "../common/index.js";
import type { Spec } from "../runtime/spec.js";

export const INIT_PATH_IN_CONTAINER = "/dev/init";

/** The host's init binary; an error naming it when it was not built. */
export function initBinary(): string {
  const file = nativeBinary("tsrun-init");
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw invalidArgument(`--init: the init binary "${file}" is missing (run "make -C native")`);
  }
  return file;
}

export function applyInit(spec: Spec, hostInit: string): void {
  const p = spec.process;
  if (!p) return;
  p.args = [INIT_PATH_IN_CONTAINER, "--", ...(p.args ?? [])];
  (spec.mounts ??= []).push({
    destination: INIT_PATH_IN_CONTAINER,
    type: "bind",
    source: hostInit,
    options: ["bind", "ro", "nosuid", "nodev"],
  });
}

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where tsrun keeps images, containers and their runtime state unless told otherwise. */
export const DEFAULT_ROOT = "/var/lib/tsrun";

/**
 * Machine-wide tables shared by every state root (the user-namespace id pool; later IP
 * addresses and host ports). One place per machine, so two roots never hand out the same
 * range. Not configurable on purpose: tests on private roots must still share it.
 */
export const MACHINE_DIR = "/var/lib/tsrun-machine";

/** The state root chosen by `--root`, else TSRUN_ROOT, else /var/lib/tsrun. */
export function resolveRoot(flag?: string): string {
  return path.resolve(flag || process.env.TSRUN_ROOT || DEFAULT_ROOT);
}

let cachedPackageRoot: string | undefined;

/**
 * The installed package's top directory (where native/build and rootfs live): the nearest
 * directory above this module with tsrun's package.json. The same code runs from src/ (tests),
 * dist/common/ (the library) and dist/bin/tsrun.cjs (the bundled CLI).
 */
export function packageRoot(): string {
  if (cachedPackageRoot) return cachedPackageRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "tsrun") return (cachedPackageRoot = dir);
    } catch {
      // no package.json here
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error("Cannot find the tsrun package directory");
    dir = up;
  }
}

export function nativeBinary(name: "tsrun-monitor" | "tsrun-probe" | string): string {
  return path.join(packageRoot(), "native", "build", name);
}

/**
 * The layout of one state root. Every path tsrun writes under a root comes from here.
 *
 *   images/            OCI image layout: oci-layout, index.json, blobs/sha256/…
 *   layers/<diffid>/   one unpacked layer (its content in diff/), shared by images
 *   containers/<id>/   engine record (container.json), bundle/, fs/{upper,work}, logs, etc files
 *   runtime/<id>/      runtime state (state.json, plan, monitor socket, exit record)
 *   volumes/<name>/    a local volume: its data in _data/, its metadata in volume.json
 *   networks/          <name>.json per network; <network id>/<container id>.json per attachment
 *   locks/             lock files for shared tables of this root (names…)
 *   tmp/               scratch on the same filesystem, so renames into place are atomic
 */
export class StateRoot {
  constructor(readonly root: string) {}

  get images(): string {
    return path.join(this.root, "images");
  }
  get layers(): string {
    return path.join(this.root, "layers");
  }
  layer(diffIdHex: string): string {
    return path.join(this.root, "layers", diffIdHex);
  }
  get containers(): string {
    return path.join(this.root, "containers");
  }
  container(id: string): string {
    return path.join(this.root, "containers", id);
  }
  get runtime(): string {
    return path.join(this.root, "runtime");
  }
  runtimeState(id: string): string {
    return path.join(this.root, "runtime", id);
  }
  get locks(): string {
    return path.join(this.root, "locks");
  }
  get volumes(): string {
    return path.join(this.root, "volumes");
  }
  get networks(): string {
    return path.join(this.root, "networks");
  }
  get tmp(): string {
    return path.join(this.root, "tmp");
  }
}

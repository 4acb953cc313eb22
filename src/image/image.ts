/** One image of the store, as `run`, `inspect` and `history` need it. */
import { corrupt, shortId } from "../common/index.js";
import type { LayerStore } from "./layers.js";
import type { OciLayout } from "./layout.js";
import type { ImageConfig, OciManifest } from "./oci-types.js";
import { familiarize } from "./reference.js";

/** A row of `images`: one per image (the CLI prints one line per name, `<none>` for none). */
export interface ImageSummary {
  /** "sha256:<hex>", the config digest. */
  id: string;
  /** Full references: "docker.io/library/busybox:latest". */
  names: string[];
  /** As Docker shows them: "busybox:latest". */
  repoTags: string[];
  /** The config's created time (RFC 3339), if it has one. */
  created?: string;
  /** Content size in bytes (Docker's SIZE). */
  size: number;
}

export class Image {
  constructor(
    /** "sha256:<hex>", the config digest. */
    readonly id: string,
    /** Full references: "docker.io/library/busybox:latest". */
    readonly names: string[],
    readonly manifestDigest: string,
    readonly manifest: OciManifest,
    /** The image config: `config.config` holds Env, Cmd, Entrypoint, WorkingDir, User… */
    readonly config: ImageConfig,
    /** Content size in bytes (Docker's SIZE). */
    readonly size: number,
    private readonly layout: OciLayout,
    private readonly layers: LayerStore,
  ) {}

  get shortId(): string {
    return shortId(this.id);
  }

  /** Names as Docker shows them: "busybox:latest". */
  get repoTags(): string[] {
    return this.names.map(familiarize);
  }

  /** Uncompressed layer digests, bottom-most first (the config's order). */
  get diffIds(): string[] {
    return this.config.rootfs.diff_ids;
  }

  /**
   * The unpacked content dirs of the image's layers, top-most first (overlay lowerdir
   * order). Layers not unpacked yet are unpacked now, once, whoever else asks at the same time.
   */
  async layerDirs(): Promise<string[]> {
    const dirs = await Promise.all(
      this.diffIds.map((diffId, i) => {
        const blob = this.manifest.layers[i];
        if (!blob) throw corrupt(`Image ${this.shortId} has no layer blob for ${diffId}`);
        return this.layers.ensure(diffId, this.layout.blobPath(blob.digest));
      }),
    );
    return dirs.reverse();
  }
}

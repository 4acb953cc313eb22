/**
 * The image store of one state root: an OCI image layout at `<root>/images` (layout.ts),
 * unpacked layers at `<root>/layers` (layers.ts), names as index.json entries (catalog.ts).
 *
 * Readers (list, resolve) take no lock: index.json is replaced atomically. Writers (load,
 * tag, remove) hold `<root>/locks/images.lock` while they read, change and write index.json,
 * and garbage-collect blobs and unpacked layers no image needs any more under that lock.
 */
import fs from "node:fs";
import { isTsrunError, notFound, type StateRoot } from "../common/index.js";
import { withLock as withFileLock } from "../linux/index.js";
import { Catalog, type ImageRecord } from "./catalog.js";
import { collectGarbage } from "./gc.js";
import { Image, type ImageSummary } from "./image.js";
import { LayerStore } from "./layers.js";
import { OciLayout } from "./layout.js";
import type { Descriptor, ImageConfig, OciManifest } from "./oci-types.js";
import type { LoadResult } from "./load.js";
import { familiarize, familiarString, formatReference, parseReference, parseTagReference, repositoryName, withDefaultTag } from "./reference.js";
import { planRemoval, type ImageUser, type RemoveRecord } from "./remove.js";

export interface RemoveOptions {
  force?: boolean;
  /** The containers (any state) whose image is `imageId`; running ones make removal a hard conflict. */
  inUse?: (imageId: string) => ImageUser[];
  /**
   * Layer dirs (as layerDirs() returned them) that containers still use, whatever their
   * image: never garbage-collected. Needed when a stopped container's image is force-removed.
   */
  layersInUse?: () => Iterable<string>;
}

export interface ResolveOptions {
  /** Word a miss as `run` does: "Unable to find image 'x:latest' locally". */
  forRun?: boolean;
}

const ID_RE = /^(?:sha256:)?([a-f0-9]{64})$/;
const ID_PREFIX_RE = /^(?:sha256:)?([a-f0-9]{1,64})$/;

export class ImageStore {
  readonly layout: OciLayout;
  readonly layers: LayerStore;

  constructor(readonly root: StateRoot) {
    this.layout = new OciLayout(root);
    this.layers = new LayerStore(root);
  }

  private catalog(): Catalog {
    return Catalog.fromIndex(this.layout.readIndex(), (m) => this.layout.readJsonBlob<OciManifest>(m.digest).config.digest);
  }

  /** Every image, newest first (Docker's order for `images`). */
  list(): ImageSummary[] {
    const summaries = this.catalog()
      .all()
      .map((rec) => {
        const s: ImageSummary = { id: rec.id, names: [...rec.names], repoTags: rec.names.map(familiarize), size: rec.size ?? 0 };
        if (rec.created !== undefined) s.created = rec.created;
        return s;
      });
    const time = (s: ImageSummary) => Date.parse(s.created ?? "") || 0;
    return summaries.sort((a, b) => time(b) - time(a));
  }

  /**
   * An image by name ("busybox", "busybox:1", "localhost:5000/a/b@sha256:…"), full id
   * ("sha256:<hex>" or 64 hex), or unique id prefix, in Docker's order: a name first, then
   * an id prefix. A miss is TsrunError "not-found" in Docker's words.
   */
  resolve(refOrId: string, opts: ResolveOptions = {}): Image {
    const rec = findRecord(this.catalog(), refOrId);
    if (!rec) throw notFoundError(refOrId, opts);
    return this.imageOf(rec);
  }

  /** resolve() for `run`/`create`: a miss reads "Unable to find image 'x:latest' locally". */
  resolveForRun(ref: string): Image {
    return this.resolve(ref, { forRun: true });
  }

  /** Like resolve(), but undefined when there is no such image (a bad reference still throws). */
  find(refOrId: string): Image | undefined {
    const rec = findRecord(this.catalog(), refOrId);
    return rec ? this.imageOf(rec) : undefined;
  }

  private imageOf(rec: ImageRecord): Image {
    const manifest = this.layout.readJsonBlob<OciManifest>(rec.manifest.digest);
    const config = this.layout.readJsonBlob<ImageConfig>(manifest.config.digest);
    const size = rec.size ?? manifest.layers.reduce((sum: number, l: Descriptor) => sum + l.size, 0);
    return new Image(rec.id, [...rec.names], rec.manifest.digest, manifest, config, size, this.layout, this.layers);
  }

  /** `docker tag SOURCE TARGET`: the target name moves to the source's image. */
  async tag(source: string, target: string): Promise<void> {
    const name = formatReference(parseTagReference(target));
    await this.locked(() => {
      const catalog = this.catalog();
      const rec = findRecord(catalog, source);
      if (!rec) throw notFoundError(source, {});
      catalog.setName(rec.id, name);
      this.layout.writeIndex(catalog.toIndex());
    });
  }

  /**
   * `docker rmi IMAGE`: untags or deletes, with Docker's conflicts and Docker's report
   * (`Untagged: busybox:latest`, `Deleted: sha256:…`), then collects garbage.
   */
  async remove(refOrId: string, opts: RemoveOptions = {}): Promise<RemoveRecord[]> {
    const { chainIds } = await import("./digest.js");
    return this.locked(async () => {
      const catalog = this.catalog();
      const rec = findRecord(catalog, refOrId);
      if (!rec) throw notFoundError(refOrId, {});
      const configs = new Map(catalog.all().map((r) => [r.id, this.diffIdsOf(r)]));
      const { records, deletedIds } = planRemoval(catalog, rec, refOrId, {
        force: opts.force ?? false,
        users: opts.inUse?.(rec.id) ?? [],
      });
      this.layout.writeIndex(catalog.toIndex());
      const gc = collectGarbage(this.layout, this.layers, catalog, (r) => this.diffIdsOf(r), opts.layersInUse?.() ?? []);
      // Docker reports each layer it releases (none a container keeps) by chain id, top-most first.
      for (const id of deletedIds) {
        const diffIds = configs.get(id) ?? [];
        const chain = chainIds(diffIds);
        for (let i = diffIds.length - 1; i >= 0; i--) {
          if (!gc.keptDiffIds.has(diffIds[i]!)) records.push({ deleted: chain[i]! });
        }
      }
      return records;
    });
  }

  /**
   * `docker load`: a docker-archive or oci-archive (plain or gzip'd), from a file or a
   * stream. All or nothing: a bad archive is one TsrunError and the store is unchanged.
   */
  async load(input: string | NodeJS.ReadableStream): Promise<LoadResult> {
    const { loadArchive } = await import("./load.js");
    return loadArchive(input, this.root, this.layout, (commit) => this.locked(() => commit(this.catalog())));
  }

  /**
   * Repairs and trims the store: removes blobs and unpacked layers no image references and
   * scratch dirs of processes that died (a load or an unpack killed midway).
   */
  async collectGarbage(layersInUse: Iterable<string> = []): Promise<void> {
    await this.locked(() => {
      collectGarbage(this.layout, this.layers, this.catalog(), (r) => this.diffIdsOf(r), layersInUse);
    });
  }

  private diffIdsOf(rec: ImageRecord): string[] {
    try {
      const manifest = this.layout.readJsonBlob<OciManifest>(rec.manifest.digest);
      return this.layout.readJsonBlob<ImageConfig>(manifest.config.digest).rootfs.diff_ids;
    } catch (e) {
      // A damaged image must not stop the others' garbage collection; it keeps nothing alive.
      if (isTsrunError(e, "corrupt")) return [];
      throw e;
    }
  }

  private async locked<T>(body: () => T | Promise<T>): Promise<T> {
    fs.mkdirSync(this.root.locks, { recursive: true, mode: 0o700 });
    return withFileLock(this.layout.lockPath, body);
  }
}

/** Docker's lookup order: a full id is only an id; otherwise a name, then a unique id prefix. */
export function findRecord(catalog: Catalog, refOrId: string): ImageRecord | undefined {
  const full = ID_RE.exec(refOrId);
  if (full) return catalog.get(`sha256:${full[1]}`);
  const byName = findByName(catalog, refOrId);
  if (byName) return byName;
  const prefix = ID_PREFIX_RE.exec(refOrId);
  if (prefix) {
    const matches = catalog.byIdPrefix(prefix[1]!);
    if (matches.length === 1) return matches[0];
  }
  return undefined;
}

function findByName(catalog: Catalog, s: string): ImageRecord | undefined {
  const ref = withDefaultTag(parseReference(s));
  if (ref.digest !== undefined) {
    const repo = repositoryName(ref);
    return catalog
      .all()
      .find((rec) => rec.manifest.digest === ref.digest && rec.names.some((n) => repositoryName(parseReference(n)) === repo));
  }
  return catalog.byName(formatReference(ref));
}

/** "No such image: busybox:latest" (or, for run, "Unable to find image 'busybox:latest' locally"). */
function notFoundError(refOrId: string, opts: ResolveOptions): Error {
  let shown = refOrId;
  if (!ID_RE.test(refOrId) && !refOrId.startsWith("sha256:")) {
    try {
      shown = familiarString(withDefaultTag(parseReference(refOrId)));
    } catch {
      // Unparseable input was reported by the lookup already; keep it as typed.
    }
  }
  return notFound(opts.forRun ? `Unable to find image '${shown}' locally` : `No such image: ${shown}`);
}


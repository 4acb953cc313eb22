/**
 * The store's table of images, as index.json holds it: one entry per image name, each a
 * manifest descriptor annotated with the full reference (io.containerd.image.name) and its
 * tag (org.opencontainers.image.ref.name); an image with no name keeps one entry without
 * them (a dangling `<none>` image). The image id is the config digest, as in Docker.
 *
 * Pure data: reading and writing index.json is layout.ts's job; locking is the store's.
 */
import { parseReference } from "./reference.js";
import { ANNOTATION, MEDIA_TYPE, type Descriptor, type OciIndex } from "./oci-types.js";

export interface ImageRecord {
  /** "sha256:<hex>" of the config blob. */
  id: string;
  /** The manifest descriptor (without annotations). */
  manifest: Descriptor;
  /** Full normalized references, "docker.io/library/busybox:latest". */
  names: string[];
  /** The config's `created`, if any (kept here so listing needs no config read). */
  created?: string;
  /** Content size of the image's layers in bytes (Docker's SIZE). */
  size?: number;
}

export class Catalog {
  private readonly images = new Map<string, ImageRecord>();

  /**
   * @param idOf finds the image id of a manifest when an entry lacks tsrun's annotation
   *   (an index.json written by another tool)
   */
  static fromIndex(index: OciIndex, idOf: (manifest: Descriptor) => string): Catalog {
    const catalog = new Catalog();
    for (const entry of index.manifests) {
      const a = entry.annotations ?? {};
      const id = a[ANNOTATION.imageId] ?? idOf(entry);
      let rec = catalog.images.get(id);
      if (!rec) {
        rec = { id, manifest: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size }, names: [] };
        if (a[ANNOTATION.created] !== undefined) rec.created = a[ANNOTATION.created];
        const size = Number(a[ANNOTATION.imageSize]);
        if (a[ANNOTATION.imageSize] !== undefined && Number.isFinite(size)) rec.size = size;
        catalog.images.set(id, rec);
      }
      const name = a[ANNOTATION.imageName];
      if (name !== undefined && !rec.names.includes(name)) rec.names.push(name);
    }
    return catalog;
  }

  toIndex(): OciIndex {
    const manifests: Descriptor[] = [];
    for (const rec of this.images.values()) {
      const common: Record<string, string> = { [ANNOTATION.imageId]: rec.id };
      if (rec.created !== undefined) common[ANNOTATION.created] = rec.created;
      if (rec.size !== undefined) common[ANNOTATION.imageSize] = String(rec.size);
      const entry = (extra: Record<string, string>): Descriptor => ({
        mediaType: rec.manifest.mediaType || MEDIA_TYPE.ociManifest,
        digest: rec.manifest.digest,
        size: rec.manifest.size,
        annotations: { ...extra, ...common },
      });
      if (rec.names.length === 0) manifests.push(entry({}));
      for (const name of rec.names) {
        const tag = parseReference(name).tag;
        manifests.push(entry(tag !== undefined ? { [ANNOTATION.imageName]: name, [ANNOTATION.refName]: tag } : { [ANNOTATION.imageName]: name }));
      }
    }
    return { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests };
  }

  all(): ImageRecord[] {
    return [...this.images.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.images.get(id);
  }

  byName(name: string): ImageRecord | undefined {
    for (const rec of this.images.values()) if (rec.names.includes(name)) return rec;
    return undefined;
  }

  /** Images whose id (hex, without "sha256:") starts with `hexPrefix`. */
  byIdPrefix(hexPrefix: string): ImageRecord[] {
    return this.all().filter((rec) => rec.id.slice("sha256:".length).startsWith(hexPrefix));
  }

  /** Adds an image unless one with the same id exists (then the existing record stays). */
  add(rec: ImageRecord): ImageRecord {
    const existing = this.images.get(rec.id);
    if (existing) return existing;
    const copy = { ...rec, names: [] as string[] };
    this.images.set(rec.id, copy);
    for (const name of rec.names) this.setName(rec.id, name);
    return copy;
  }

  /**
   * Points `name` at image `id`, taking it from whichever image had it (which stays, as a
   * dangling image if that was its last name). Returns the id that lost the name, if any.
   */
  setName(id: string, name: string): string | undefined {
    const target = this.images.get(id);
    if (!target) throw new Error(`No image ${id} in the catalog`);
    const previous = this.byName(name);
    if (previous === target) return undefined;
    if (previous) previous.names = previous.names.filter((n) => n !== name);
    target.names.push(name);
    return previous?.id;
  }

  /** Removes a name; the image stays (dangling if it was its last name). */
  removeName(name: string): ImageRecord | undefined {
    const rec = this.byName(name);
    if (rec) rec.names = rec.names.filter((n) => n !== name);
    return rec;
  }

  delete(id: string): void {
    this.images.delete(id);
  }
}

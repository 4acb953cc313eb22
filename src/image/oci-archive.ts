/**
 * oci-archive, what `podman save --format oci-archive` (and `docker save` since 25, beside
 * its manifest.json) writes: an OCI image layout in a tar. index.json lists manifests or
 * nested indexes; names come from each top-level entry's annotations. From a nested
 * (multi-platform) index the manifest for this host is taken. The manifest blobs are kept
 * as they are, so their digests survive the trip.
 */
import { corrupt, isTsrunError, logger } from "../common/index.js";
import { isDigest } from "./digest.js";
import { checkLayers, LayerChecks, readConfig, type LoadCandidate } from "./load-candidate.js";
import { ANNOTATION, MEDIA_TYPE, type Descriptor, type OciIndex, type OciManifest } from "./oci-types.js";
import { hostPlatform, matchesHost } from "./platform.js";
import { normalizeReference } from "./reference.js";
import type { SpooledArchive, SpooledFile } from "./spool.js";

const log = logger("image");
const MAX_INDEX_DEPTH = 4;

const INDEX_TYPES = new Set<string>([MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerManifest]);

/**
 * The names an index entry gives its image. io.containerd.image.name is a full reference;
 * org.opencontainers.image.ref.name is, per the spec, usually a bare tag (no repository
 * to attach it to, so it names nothing here) but podman writes a full reference there.
 */
export function namesFromAnnotations(annotations: Record<string, string> | undefined): string[] {
  const candidates = [annotations?.[ANNOTATION.imageName], annotations?.[ANNOTATION.refName]];
  for (const candidate of candidates) {
    if (candidate === undefined || !/[/:@]/.test(candidate)) continue;
    try {
      return [normalizeReference(candidate)];
    } catch (e) {
      if (!isTsrunError(e)) throw e;
      log(`ignoring image name ${JSON.stringify(candidate)}: ${e.message}`);
    }
  }
  return [];
}

class OciArchiveReader {
  private readonly checks = new LayerChecks();
  private readonly byId = new Map<string, LoadCandidate>();

  constructor(private readonly spool: SpooledArchive) {}

  /** The blob a descriptor names, checked against its digest and size. */
  private blob(desc: Descriptor, what: string): SpooledFile {
    if (!isDigest(desc?.digest)) throw corrupt(`Cannot load image: ${what} has an unsupported digest "${desc?.digest}"`);
    const file = this.spool.require(`blobs/sha256/${desc.digest.slice("sha256:".length)}`, what);
    if (file.digest !== desc.digest) {
      throw corrupt(`Cannot load image: ${what} ${desc.digest} does not match its digest (content has ${file.digest})`);
    }
    if (typeof desc.size === "number" && desc.size !== file.size) {
      throw corrupt(`Cannot load image: ${what} ${desc.digest} has ${file.size} bytes, its descriptor says ${desc.size}`);
    }
    return file;
  }

  async read(): Promise<LoadCandidate[]> {
    const index = this.spool.readJson<OciIndex>("index.json", "index");
    if (!Array.isArray(index?.manifests)) throw corrupt("Cannot load image: index.json has no manifests list");
    for (const desc of index.manifests) await this.visit(desc, namesFromAnnotations(desc.annotations), 0);
    return [...this.byId.values()];
  }

  private async visit(desc: Descriptor, names: string[], depth: number): Promise<void> {
    const mediaType = desc.mediaType ?? this.mediaTypeOf(desc);
    if (INDEX_TYPES.has(mediaType)) return this.visitIndex(desc, names, depth);
    if (MANIFEST_TYPES.has(mediaType)) return this.visitManifest({ ...desc, mediaType }, names);
    log(`skipping index entry ${desc.digest} of media type ${JSON.stringify(mediaType)}`);
  }

  /** For descriptors that omit their media type: the document's own, or its shape. */
  private mediaTypeOf(desc: Descriptor): string {
    const file = this.blob(desc, "manifest");
    const doc = this.spool.readJson<{ mediaType?: string; manifests?: unknown; layers?: unknown }>(file.member, "manifest");
    if (typeof doc?.mediaType === "string") return doc.mediaType;
    if (Array.isArray(doc?.manifests)) return MEDIA_TYPE.ociIndex;
    return Array.isArray(doc?.layers) ? MEDIA_TYPE.ociManifest : "";
  }

  private async visitIndex(desc: Descriptor, names: string[], depth: number): Promise<void> {
    if (depth >= MAX_INDEX_DEPTH) throw corrupt("Cannot load image: indexes nested too deep");
    const file = this.blob(desc, "index");
    const index = this.spool.readJson<OciIndex>(file.member, "index");
    if (!Array.isArray(index?.manifests)) throw corrupt(`Cannot load image: index ${desc.digest} has no manifests list`);
    const runnable = index.manifests.filter(
      (m) => m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest" && matchesHost(m.platform),
    );
    const chosen = runnable.find((m) => m.platform) ?? runnable[0];
    if (!chosen) {
      const { os, architecture } = hostPlatform();
      throw corrupt(`Cannot load image: index ${desc.digest} has no image for ${os}/${architecture}`);
    }
    await this.visit(chosen, [...names, ...namesFromAnnotations(chosen.annotations)], depth + 1);
  }

  private async visitManifest(desc: Descriptor, names: string[]): Promise<void> {
    const manifestFile = this.blob(desc, "manifest");
    const manifest = this.spool.readJson<OciManifest>(manifestFile.member, "manifest");
    if (!manifest?.config || !Array.isArray(manifest.layers)) {
      throw corrupt(`Cannot load image: manifest ${desc.digest} has no config or layers`);
    }
    const configFile = this.blob(manifest.config, "config");
    const known = this.byId.get(configFile.digest);
    if (known) {
      for (const name of names) if (!known.names.includes(name)) known.names.push(name);
      return;
    }
    const config = readConfig(this.spool, configFile);
    const layerFiles = manifest.layers.map((l) => this.blob(l, "layer"));
    const scans = await checkLayers(config, layerFiles, this.checks);
    const blobs = new Map<string, string>([
      [desc.digest, manifestFile.file],
      [configFile.digest, configFile.file],
    ]);
    for (const f of layerFiles) blobs.set(f.digest, f.file);
    const candidate: LoadCandidate = {
      id: configFile.digest,
      names: [...new Set(names)],
      manifest: { mediaType: desc.mediaType, digest: desc.digest, size: manifestFile.size },
      blobs,
      size: scans.reduce((sum, s) => sum + s.contentSize, 0),
    };
    if (typeof config.created === "string") candidate.created = config.created;
    this.byId.set(candidate.id, candidate);
  }
}

export function ociArchiveImages(spool: SpooledArchive): Promise<LoadCandidate[]> {
  return new OciArchiveReader(spool).read();
}

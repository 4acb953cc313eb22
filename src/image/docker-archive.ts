/**
 * docker-archive, what `docker save` writes: manifest.json lists each image's config file,
 * its layer tars (plain or gzip'd; legacy `<id>/layer.tar` or, since Docker 25,
 * `blobs/sha256/<hex>`) and its RepoTags. There is no manifest blob in the OCI sense, so
 * one is written for the store, in a fixed form so the same archive always gives the same
 * manifest digest.
 */
import fs from "node:fs";
import path from "node:path";
import { corrupt, isTsrunError } from "../common/index.js";
import { sha256Digest } from "./digest.js";
import { checkLayers, LayerChecks, readConfig, type LoadCandidate } from "./load-candidate.js";
import { MEDIA_TYPE, type OciManifest } from "./oci-types.js";
import { formatReference, parseTagReference } from "./reference.js";
import type { SpooledArchive } from "./spool.js";

interface DockerManifestItem {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function parseRepoTag(tag: string): string {
  try {
    return formatReference(parseTagReference(tag));
  } catch (e) {
    if (isTsrunError(e)) throw corrupt(`Cannot load image: invalid tag "${tag}" in manifest.json: ${e.message}`, e);
    throw e;
  }
}

export async function dockerArchiveImages(spool: SpooledArchive, workDir: string): Promise<LoadCandidate[]> {
  const items = spool.readJson<DockerManifestItem[]>("manifest.json", "manifest");
  if (!Array.isArray(items) || items.some((i) => typeof i?.Config !== "string" || !Array.isArray(i.Layers))) {
    throw corrupt(`Cannot load image: manifest.json is not a docker-archive manifest`);
  }
  const checks = new LayerChecks();
  const candidates: LoadCandidate[] = [];
  for (const [n, item] of items.entries()) {
    const configFile = spool.require(item.Config, "image config");
    // Docker names the config after its digest: a mismatch means it was altered.
    const named = /([a-f0-9]{64})(\.json)?$/.exec(path.posix.basename(item.Config));
    if (named && `sha256:${named[1]}` !== configFile.digest) {
      throw corrupt(`Cannot load image: "${item.Config}" does not match its digest (content has ${configFile.digest})`);
    }
    const config = readConfig(spool, configFile);
    const layerFiles = item.Layers.map((l) => spool.require(l, "layer"));
    const scans = await checkLayers(config, layerFiles, checks);

    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: MEDIA_TYPE.ociConfig, digest: configFile.digest, size: configFile.size },
      layers: layerFiles.map((f, i) => ({
        mediaType: scans[i]!.compression === "gzip" ? MEDIA_TYPE.ociLayerGzip : MEDIA_TYPE.ociLayer,
        digest: f.digest,
        size: f.size,
      })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(bytes);
    const manifestFile = path.join(workDir, `manifest-${n}.json`);
    fs.writeFileSync(manifestFile, bytes, { mode: 0o600 });

    const blobs = new Map<string, string>([
      [manifestDigest, manifestFile],
      [configFile.digest, configFile.file],
    ]);
    for (const f of layerFiles) blobs.set(f.digest, f.file);
    const candidate: LoadCandidate = {
      id: configFile.digest,
      names: (item.RepoTags ?? []).map(parseRepoTag),
      manifest: { mediaType: MEDIA_TYPE.ociManifest, digest: manifestDigest, size: bytes.length },
      blobs,
      size: scans.reduce((sum, s) => sum + s.contentSize, 0),
    };
    if (typeof config.created === "string") candidate.created = config.created;
    candidates.push(candidate);
  }
  return candidates;
}

/**
 * Shared by the volume tests: images derived from the bundled busybox (one more layer, a
 * VOLUME list), loaded into a test root, and a look at what a root holds (to prove that a
 * refused command left nothing behind).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { extract } from "tar-stream";
import { BUSYBOX_TAR, CLI, type TestRoot } from "../helpers/cli.js";
import { sha256, tarOf, type FixtureEntry } from "../unit/image-fixtures.js";

async function members(tar: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const x = extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        out.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    x.on("finish", resolve);
    x.on("error", reject);
  });
  x.end(tar);
  await done;
  return out;
}

export interface DerivedImage {
  tag: string;
  /** Entries of the layer added on top of busybox. */
  files: FixtureEntry[];
  /** The config's Volumes. */
  volumes?: string[];
}

/** Loads busybox plus one layer (and VOLUMEs) into the root as `tag`. */
export async function loadDerivedImage(root: TestRoot, img: DerivedImage): Promise<void> {
  const base = await members(fs.readFileSync(BUSYBOX_TAR));
  const [manifest] = JSON.parse(base.get("manifest.json")!.toString()) as { Config: string; Layers: string[] }[];
  const config = JSON.parse(base.get(manifest!.Config)!.toString());
  const layer = await tarOf(img.files);
  const diffId = sha256(layer);
  config.rootfs.diff_ids.push(diffId);
  config.history.push({ created: "2024-01-02T00:00:00Z", created_by: "volume test layer" });
  if (img.volumes) config.config.Volumes = Object.fromEntries(img.volumes.map((v) => [v, {}]));
  const configBlob = Buffer.from(JSON.stringify(config));
  const configName = `${sha256(configBlob).slice(7)}.json`;
  const layerName = `${diffId.slice(7)}/layer.tar`;
  const archive = await tarOf([
    ...manifest!.Layers.map((l) => ({ name: l, body: base.get(l)! })),
    { name: layerName, body: layer },
    { name: configName, body: configBlob },
    { name: "manifest.json", body: JSON.stringify([{ Config: configName, RepoTags: [img.tag], Layers: [...manifest!.Layers, layerName] }]) },
  ]);
  const r = spawnSync(process.execPath, ["--", CLI, "--root", root.dir, "load"], { input: archive, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`loading ${img.tag} failed: ${r.stderr}`);
}

/** What a root holds that a container or volume would leave: containers, names, volumes. */
export function rootContents(root: TestRoot): string[] {
  const list = (sub: string) => {
    try {
      return fs.readdirSync(path.join(root.dir, sub)).filter((n) => !n.startsWith(".")).map((n) => `${sub}/${n}`);
    } catch {
      return [];
    }
  };
  return [...list("containers"), ...list("names"), ...list("volumes"), ...list("runtime")];
}

/**
 * Builders for the image tests: tar archives (with raw binary PAX records, which tar-stream
 * cannot write), docker-archive and oci-archive images, private state roots, and a listing
 * of a directory tree to compare a store before and after a failed operation.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { pack } from "tar-stream";
import { StateRoot } from "../../src/common/index.js";

export interface FixtureEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device" | "block-device";
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  body?: Buffer | string;
  devmajor?: number;
  devminor?: number;
  /** PAX records written raw before the entry (values may be binary). */
  pax?: Record<string, Buffer | string>;
}

const EPOCH = new Date("2020-01-02T03:04:05Z");

export const sha256 = (data: Buffer | string): string => "sha256:" + createHash("sha256").update(data).digest("hex");

/** One tar member as tar-stream writes it, without the end-of-archive blocks. */
async function packOne(header: Parameters<ReturnType<typeof pack>["entry"]>[0], body?: Buffer): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  await new Promise<void>((resolve, reject) => {
    const cb = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) p.entry(header, body, cb);
    else p.entry(header, cb);
  });
  p.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 1024);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Rewrites a ustar header block's type flag and checksum (tar-stream refuses to write 'x' with a body). */
function setTypeFlag(block: Buffer, flag: string): void {
  block[156] = flag.charCodeAt(0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
}

export async function tarOf(entries: FixtureEntry[], opts: { endBlocks?: boolean } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const records = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, Buffer.isBuffer(v) ? v : Buffer.from(v))));
      const block = await packOne({ name: "PaxHeaders/entry", type: "file", mode: 0o644, mtime: EPOCH }, records);
      setTypeFlag(block, "x");
      parts.push(block);
    }
    const type = e.type ?? "file";
    const body = e.body === undefined ? undefined : Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body);
    const header: Parameters<ReturnType<typeof pack>["entry"]>[0] = {
      name: e.name,
      type,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? EPOCH,
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.devmajor !== undefined) header.devmajor = e.devmajor;
    if (e.devminor !== undefined) header.devminor = e.devminor;
    parts.push(await packOne(header, type === "file" ? (body ?? Buffer.alloc(0)) : undefined));
  }
  if (opts.endBlocks !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const gzip = (data: Buffer): Buffer => zlib.gzipSync(data);

export interface FixtureImage {
  /** Uncompressed layer tars, bottom-most first. */
  layers: Buffer[];
  /** Store these layers gzip'd (by index); default none. */
  gzipped?: boolean[];
  tags?: string[];
  created?: string;
  cmd?: string[];
}

export interface BuiltImage {
  id: string;
  diffIds: string[];
  config: Buffer;
  blobs: Buffer[];
}

function imageParts(img: FixtureImage): BuiltImage {
  const diffIds = img.layers.map((l) => sha256(l));
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: img.created ?? "2021-01-01T00:00:00Z",
      config: { Cmd: img.cmd ?? ["sh"], Env: ["PATH=/bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: img.layers.map(() => ({ created_by: "fixture" })),
    }),
  );
  const blobs = img.layers.map((l, i) => (img.gzipped?.[i] ? gzip(l) : l));
  return { id: sha256(config), diffIds, config, blobs };
}

const hex = (digest: string) => digest.slice("sha256:".length);

/** A docker-archive as `docker save` writes it (legacy layout: <id>/layer.tar, <config>.json). */
export async function dockerArchive(images: FixtureImage[]): Promise<{ tar: Buffer; images: BuiltImage[] }> {
  const built = images.map(imageParts);
  const entries: FixtureEntry[] = [];
  const manifest = built.map((b, i) => {
    const layerPaths = b.blobs.map((blob) => `${hex(sha256(blob))}/layer.tar`);
    b.blobs.forEach((blob, j) => {
      if (!entries.some((e) => e.name === layerPaths[j])) entries.push({ name: layerPaths[j]!, body: blob });
    });
    entries.push({ name: `${hex(b.id)}.json`, body: b.config });
    return { Config: `${hex(b.id)}.json`, RepoTags: images[i]!.tags ?? null, Layers: layerPaths };
  });
  entries.push({ name: "manifest.json", body: JSON.stringify(manifest) });
  return { tar: await tarOf(entries), images: built };
}

export interface OciFixtureOptions {
  /** Wrap each image's manifest in a nested multi-platform index (with a foreign platform first). */
  nested?: boolean;
  /** Annotations per image entry of index.json; default from tags. */
  annotate?: "containerd" | "podman";
}

/** An oci-archive as `podman save --format oci-archive` writes it. */
export async function ociArchive(images: FixtureImage[], opts: OciFixtureOptions = {}): Promise<{ tar: Buffer; images: BuiltImage[]; manifests: string[] }> {
  const built = images.map(imageParts);
  const blobs = new Map<string, Buffer>();
  const add = (data: Buffer) => {
    const d = sha256(data);
    blobs.set(d, data);
    return { digest: d, size: data.length };
  };
  const indexEntries: object[] = [];
  const manifests: string[] = [];
  built.forEach((b, i) => {
    const config = add(b.config);
    const layers = b.blobs.map((blob, j) => ({
      mediaType: images[i]!.gzipped?.[j] ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar",
      ...add(blob),
    }));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers }),
    );
    const m = add(manifest);
    manifests.push(m.digest);
    let top = { mediaType: "application/vnd.oci.image.manifest.v1+json", ...m } as Record<string, unknown>;
    if (opts.nested) {
      const foreign = add(Buffer.from(JSON.stringify({ schemaVersion: 2, config: config, layers: [] })));
      const nested = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.index.v1+json",
          manifests: [
            { mediaType: "application/vnd.oci.image.manifest.v1+json", ...foreign, platform: { architecture: "s390x", os: "linux" } },
            { mediaType: "application/vnd.oci.image.manifest.v1+json", ...m, platform: { architecture: "amd64", os: "linux" } },
          ],
        }),
      );
      top = { mediaType: "application/vnd.oci.image.index.v1+json", ...add(nested) };
    }
    const tags = images[i]!.tags ?? [];
    if (tags.length === 0) indexEntries.push(top);
    for (const tag of tags) {
      const annotations =
        opts.annotate === "podman"
          ? { "org.opencontainers.image.ref.name": tag }
          : { "io.containerd.image.name": tag, "org.opencontainers.image.ref.name": tag.split(":").pop()! };
      indexEntries.push({ ...top, annotations });
    }
  });
  const entries: FixtureEntry[] = [
    { name: "oci-layout", body: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
    { name: "index.json", body: JSON.stringify({ schemaVersion: 2, manifests: indexEntries }) },
    { name: "blobs/", type: "directory" },
    { name: "blobs/sha256/", type: "directory" },
    ...[...blobs].map(([d, data]) => ({ name: `blobs/sha256/${hex(d)}`, body: data })),
  ];
  return { tar: await tarOf(entries), images: built, manifests };
}

/** A private state root under the OS temp dir; remove() deletes it whatever happened. */
export function tempRoot(): { dir: string; root: StateRoot; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-image-test-"));
  return { dir, root: new StateRoot(dir), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Every path under `dir` with its type and size: equal listings mean nothing was added or removed. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, r));
      const what = st.isDirectory() ? "dir" : st.isFile() ? sha256(fs.readFileSync(path.join(dir, r))) : "other";
      out.push(`${r} ${what}`);
      if (st.isDirectory()) walk(r);
    }
  };
  if (fs.existsSync(dir)) walk("");
  return out;
}

export function writeTemp(dir: string, name: string, data: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

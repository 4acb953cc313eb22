#!/usr/bin/env node
/**
 * Makes the bundled `busybox:latest` image from the host's static busybox (Debian's
 * busybox-static) and the description in busybox.json, as a docker-archive tar (what
 * `docker save` writes), so that `tsrun load -i rootfs/out/busybox.tar` takes the normal
 * load path.
 *
 *   node rootfs/build-busybox.mjs [--out FILE] [--busybox PATH]
 *
 * One layer: /bin/busybox, its applets as hard links at the paths `busybox --list-full`
 * gives, the directories and /etc files of busybox.json. Deterministic: fixed mtimes and
 * owners, entries in a fixed order, so the same busybox always gives the same image id.
 * Runs with plain node (no build step); tests import buildBusyboxArchive().
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pack } from "tar-stream";

const here = path.dirname(fileURLToPath(import.meta.url));
export const MANIFEST_PATH = path.join(here, "busybox.json");
export const DEFAULT_OUT = path.join(here, "out", "busybox.tar");

const GOARCH = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
const PT_INTERP = 3;

/** Throws unless `file` is an ELF executable without a program interpreter (statically linked). */
export function assertStaticElf(file) {
  let head;
  try {
    head = fs.readFileSync(file);
  } catch (e) {
    if (e.code === "ENOENT") throw new Error(`Cannot find "${file}": install Debian's busybox-static (apt-get install busybox-static)`);
    throw e;
  }
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`"${file}" is not an ELF executable`);
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  const u16 = (o) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === PT_INTERP) {
      throw new Error(`"${file}" is dynamically linked: install Debian's busybox-static, which provides a static /bin/busybox`);
    }
  }
}

function octal(mode) {
  return Number.parseInt(mode, 8);
}

/** Applet paths (relative, e.g. "usr/bin/awk") as this busybox installs them. */
function appletPaths(busybox) {
  const out = execFileSync(busybox, ["--list-full"], { encoding: "utf8" });
  return [...new Set(out.split("\n").map((l) => l.trim().replace(/^\/+/, "")).filter(Boolean))].sort();
}

function busyboxVersion(busybox) {
  const out = execFileSync(busybox, ["--help"], { encoding: "utf8" });
  const m = /^BusyBox (v\S+(?: \([^)]*\))?)/m.exec(out);
  return m ? m[1] : "unknown version";
}

async function tarBuffer(entries) {
  const p = pack();
  const chunks = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c);
  })();
  for (const { header, body } of entries) {
    await new Promise((resolve, reject) => {
      p.entry(header, body ?? undefined, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

/** The layer tar: directories, then regular files, then hard links (their targets exist by then). */
async function buildLayer(manifest, busybox, mtime) {
  const base = { uid: 0, gid: 0, mtime };
  const applets = appletPaths(busybox).filter((p) => p !== "bin/busybox");
  const dirModes = new Map(manifest.directories.map((d) => [d.path, octal(d.mode)]));
  for (const p of [...applets, ...manifest.files.map((f) => f.path)]) {
    for (let d = path.posix.dirname(p); d !== "."; d = path.posix.dirname(d)) if (!dirModes.has(d)) dirModes.set(d, 0o755);
  }
  const files = [
    { path: "bin/busybox", mode: 0o755, body: fs.readFileSync(busybox) },
    ...manifest.files.map((f) => ({ path: f.path, mode: octal(f.mode), body: Buffer.from(f.lines.join("\n") + "\n") })),
  ].sort((a, b) => (a.path < b.path ? -1 : 1));
  const entries = [
    ...[...dirModes.keys()].sort().map((d) => ({ header: { ...base, name: d + "/", type: "directory", mode: dirModes.get(d) } })),
    ...files.map((f) => ({ header: { ...base, name: f.path, type: "file", mode: f.mode }, body: f.body })),
    ...applets.map((a) => ({ header: { ...base, name: a, type: "link", mode: 0o755, linkname: "bin/busybox" } })),
  ];
  return tarBuffer(entries);
}

/**
 * Builds the image archive. Returns the file written, the image id (config digest), the
 * layer's diff id and the tag.
 */
export async function buildBusyboxArchive(options = {}) {
  const manifest = JSON.parse(fs.readFileSync(options.manifest ?? MANIFEST_PATH, "utf8"));
  const busybox = options.busybox ?? manifest.busybox;
  const out = options.out ?? DEFAULT_OUT;
  assertStaticElf(busybox);
  const mtime = new Date(manifest.created);

  const layer = await buildLayer(manifest, busybox, mtime);
  const layerHex = sha256(layer);
  const arch = GOARCH[process.arch] ?? process.arch;
  const config = {
    architecture: arch,
    config: manifest.config,
    created: manifest.created,
    history: [
      { created: manifest.created, created_by: `ADD busybox ${busyboxVersion(busybox)} with its applets and /etc files in / # rootfs/build-busybox.mjs` },
      { created: manifest.created, created_by: `CMD ${JSON.stringify(manifest.config.Cmd)}`, empty_layer: true },
    ],
    os: "linux",
    rootfs: { type: "layers", diff_ids: [`sha256:${layerHex}`] },
  };
  const configJson = Buffer.from(JSON.stringify(config));
  const configHex = sha256(configJson);
  const [repo, tag] = manifest.tag.split(":");

  const base = { uid: 0, gid: 0, mtime, mode: 0o644 };
  const archive = await tarBuffer([
    { header: { ...base, name: `${layerHex}/`, type: "directory", mode: 0o755 } },
    { header: { ...base, name: `${layerHex}/VERSION`, type: "file" }, body: Buffer.from("1.0") },
    { header: { ...base, name: `${layerHex}/layer.tar`, type: "file" }, body: layer },
    { header: { ...base, name: `${configHex}.json`, type: "file" }, body: configJson },
    {
      header: { ...base, name: "manifest.json", type: "file" },
      body: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [manifest.tag], Layers: [`${layerHex}/layer.tar`] }])),
    },
    { header: { ...base, name: "repositories", type: "file" }, body: Buffer.from(JSON.stringify({ [repo]: { [tag]: layerHex } })) },
  ]);

  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, archive);
  fs.renameSync(tmp, out);
  return { file: out, imageId: `sha256:${configHex}`, diffId: `sha256:${layerHex}`, tag: manifest.tag };
}

function parseArgs(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if ((a === "--out" || a === "--busybox") && argv[i + 1] !== undefined) opts[a.slice(2)] = path.resolve(argv[++i]);
    else throw new Error(`Unknown argument "${a}" (usage: build-busybox.mjs [--out FILE] [--busybox PATH])`);
  }
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const result = await buildBusyboxArchive(parseArgs(process.argv.slice(2)));
    process.stdout.write(`Wrote ${result.file} (${result.tag}, ${result.imageId})\n`);
  } catch (e) {
    process.stderr.write(`build-busybox: ${e.message}\n`);
    process.exit(1);
  }
}

#!/usr/bin/env node
// Builds the `tsrun` command: dist/bin/tsrun-bundle.<hash>.cjs (the whole CLI in one
// CommonJS file) and dist/bin/tsrun.cjs (a small loader that runs it from V8's code cache).
//
// Why: on this class of machine Node itself needs ~100 ms to start, and compiling ~100
// ES modules costs `tsrun run` another ~60 ms. One file with lazily initialised modules
// (esbuild turns each `await import()` into a lazy init, so node:crypto or node:zlib load
// only when the code that needs them runs) plus a code cache per subcommand removes most
// of that. The library entry (dist/index.js, from tsc) stays unbundled for embedders.
//
// A rebuild never disturbs a tsrun that is running (monitors run `tsrun _exit-hook` at any
// time): the bundle's name carries its content hash, so a new one is a new file, and the
// loader is replaced by rename. The code caches carry the same hash: V8 checks little more
// than the source's length before trusting a cache, so a cache must never outlive its bundle.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const out = path.join(repo, "dist", "bin");
const scratch = path.join(repo, "dist", `.bin-${process.pid}`);
fs.rmSync(scratch, { recursive: true, force: true });
try {
  await build({
    entryPoints: [path.join(repo, "src/cli/main.ts")],
    outfile: path.join(scratch, "bundle.cjs"),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // koffi is a native addon: loaded from node_modules, never inlined.
    external: ["koffi"],
    // The sources are ES modules; in one CommonJS file import.meta.url is this file's URL.
    define: { "import.meta.url": "__tsrunUrl" },
    banner: { js: 'const __tsrunUrl = require("node:url").pathToFileURL(__filename).href;' },
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    logLevel: "warning",
  });
  // The hashbang belongs to the loader; the bundle is compiled as a function body.
  let code = fs.readFileSync(path.join(scratch, "bundle.cjs"), "utf8").replace(/^#!.*\n/, "");
  // The loader runs the bundle with vm.Script, which has no loader for import(): esbuild
  // inlines every import() of our own modules, so one left means `await import("node:…")`
  // somewhere; import builtins statically in a module that is itself imported lazily.
  const dynamic = code.match(/\bimport\(\s*["'][^"']+["']\s*\)/g);
  if (dynamic) throw new Error(`The CLI bundle must not contain import(): ${[...new Set(dynamic)].join(", ")}`);
  // esbuild wraps every `import x from "node:fs"` of every module in __toESM, which copies
  // all of the builtin's properties each time (~10 ms of `tsrun run` for ~100 import
  // sites); one wrapper per module object is all any of them needs.
  const toEsm = "var __toESM=(mod,isNodeMode,target2)=>(";
  if (!code.includes(toEsm)) throw new Error("esbuild's __toESM helper changed: update scripts/bundle.mjs");
  code = code.replace(
    toEsm,
    "var __toESMCache=new WeakMap(),__toESM=(mod,isNodeMode)=>{if(mod==null||typeof mod!=\"object\"&&typeof mod!=\"function\")return __toESMOnce(mod,isNodeMode);const k=isNodeMode?1:0;let c=__toESMCache.get(mod);c||__toESMCache.set(mod,c=[]);return c[k]??=__toESMOnce(mod,isNodeMode)},__toESMOnce=(mod,isNodeMode,target2)=>(",
  );
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
  const bundleName = `tsrun-bundle.${hash}.cjs`;
  const loader = fs
    .readFileSync(path.join(repo, "scripts", "tsrun-loader.cjs"), "utf8")
    .replace('"@BUNDLE_HASH@"', JSON.stringify(hash));
  if (!loader.includes(JSON.stringify(hash))) throw new Error("scripts/tsrun-loader.cjs lacks the @BUNDLE_HASH@ placeholder");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(scratch, bundleName), code);
  fs.renameSync(path.join(scratch, bundleName), path.join(out, bundleName));
  fs.writeFileSync(path.join(scratch, "tsrun.cjs"), loader, { mode: 0o755 });
  fs.renameSync(path.join(scratch, "tsrun.cjs"), path.join(out, "tsrun.cjs"));
  // Older bundles and caches: the previous one stays (a process may have read the old loader
  // a moment ago), anything older goes.
  const olds = fs
    .readdirSync(out)
    .filter((f) => /^tsrun-bundle\.[0-9a-f]{16}\.cjs$/.test(f) && f !== bundleName)
    .map((f) => ({ f, t: fs.statSync(path.join(out, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  const keep = new Set([hash, ...olds.slice(0, 1).map((o) => o.f.split(".")[1])]);
  for (const f of fs.readdirSync(out)) {
    if (f === "tsrun.cjs") continue;
    const m = /^tsrun(?:-bundle)?\.(?:[a-z_][a-z0-9_-]*\.)?([0-9a-f]{16})\.(?:cjs|v8cache)$/.exec(f);
    if (!m || !keep.has(m[1])) fs.rmSync(path.join(out, f), { recursive: true, force: true });
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

#!/usr/bin/env node
// Builds the `tsrun` command: dist/bin/tsrun-bundle.cjs (the whole CLI in one CommonJS file)
// and dist/bin/tsrun.cjs (a small loader that runs it from V8's code cache).
//
// Why: on this class of machine Node itself needs ~100 ms to start, and compiling ~100
// ES modules costs `tsrun run` another ~60 ms. One file with lazily initialised modules
// (esbuild turns each `await import()` into a lazy init, so node:crypto or node:zlib load
// only when the code that needs them runs) plus a code cache per subcommand removes most
// of that. The library entry (dist/index.js, from tsc) stays unbundled for embedders.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "..");
const out = path.join(repo, "dist", "bin");
fs.rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [path.join(repo, "src/cli/main.ts")],
  outfile: path.join(out, "tsrun-bundle.cjs"),
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
  sourcemap: "linked",
  logLevel: "warning",
});
// The hashbang belongs to the loader; the bundle is compiled as a function body.
const bundle = path.join(out, "tsrun-bundle.cjs");
const code = fs.readFileSync(bundle, "utf8").replace(/^#!.*\n/, "");
// The loader runs the bundle with vm.Script, which has no loader for import(): esbuild
// inlines every import() of our own modules, so one left means `await import("node:…")`
// somewhere; import builtins statically in a module that is itself imported lazily.
const dynamic = code.match(/\bimport\(\s*["'][^"']+["']\s*\)/g);
if (dynamic) throw new Error(`The CLI bundle must not contain import(): ${[...new Set(dynamic)].join(", ")}`);
fs.writeFileSync(bundle, code);
fs.copyFileSync(path.join(repo, "scripts", "tsrun-loader.cjs"), path.join(out, "tsrun.cjs"));
fs.chmodSync(path.join(out, "tsrun.cjs"), 0o755);

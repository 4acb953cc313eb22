#!/usr/bin/env -S node --
// The `tsrun` command: runs dist/bin/tsrun-bundle.<hash>.cjs (built by scripts/bundle.mjs) through V8's
// code cache, one cache file per subcommand, so that `tsrun run` does not compile its code
// again on every start. A cache V8 rejects (another Node version) or a missing one is
// written anew when the process exits. The `--` in the hashbang keeps Node 20 from reading
// our own flags (--env-file) as its options.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const Module = require("node:module");

// Replaced by scripts/bundle.mjs with the bundle's content hash.
const hash = "@BUNDLE_HASH@";
const bundle = path.join(__dirname, `tsrun-bundle.${hash}.cjs`);
const command = process.argv.slice(2).find((a, i, all) => /^[a-z_][a-z0-9_-]*$/.test(a) && all[i - 1] !== "--root") ?? "none";
const cacheFile = path.join(__dirname, `tsrun.${command.slice(0, 40)}.${hash}.v8cache`);
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  // first run of this subcommand
}
// The bundle has no import() left (scripts/bundle.mjs checks): vm.Script would refuse one.
const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, "utf8")), { filename: bundle, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // At exit the functions this run compiled are in the cache too.
  process.once("exit", () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      fs.rmSync(tmp, { force: true });
    }
  });
}
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, __dirname);

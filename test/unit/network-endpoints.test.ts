/**
 * What a writer killed mid-write leaves in a root's network records: endpoint records'
 * temp files (src/network/endpoints.ts) and writeFileAtomic's (network records).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeDeadWritersTemps, writeFileAtomic } from "../../src/common/fsutil.js";
import { EndpointStore } from "../../src/network/endpoints.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-endpoints-unit-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("EndpointStore", () => {
  it("removes the temp files of dead writers, one container's or all, and never a live writer's", () => {
    const store = new EndpointStore(tmp);
    const net = "a".repeat(64);
    const [c1, c2] = ["1".repeat(64), "2".repeat(64)];
    fs.mkdirSync(path.join(tmp, net));
    // A pid that existed and is gone: the exited, reaped child's.
    const dead = spawnSync("true").pid!;
    const temp = (c: string, pid: number) => path.join(tmp, net, `${c}.json.${pid}.0.tmp`);
    for (const f of [temp(c1, dead), temp(c2, dead), temp(c1, process.pid)]) fs.writeFileSync(f, "{");
    fs.writeFileSync(path.join(tmp, net, `${c1}.json`), "{}");

    expect(store.removeStaleTemps(c1)).toEqual([temp(c1, dead)]);
    expect(fs.existsSync(temp(c2, dead))).toBe(true);
    expect(store.removeStaleTemps()).toEqual([temp(c2, dead)]);
    // A writer that lives is mid-write, and a record is not a temp file.
    expect(fs.readdirSync(path.join(tmp, net)).sort()).toEqual([`${c1}.json`, `${c1}.json.${process.pid}.0.tmp`]);
  });
});

describe("writeFileAtomic's temp files", () => {
  it("name their writer, and only those of dead writers are removed", () => {
    const dir = path.join(tmp, "records");
    fs.mkdirSync(dir);
    writeFileAtomic(path.join(dir, "bridge.json"), "{}");
    expect(fs.readdirSync(dir)).toEqual(["bridge.json"]);
    const dead = spawnSync("true").pid!;
    const left = `.bridge.json.${dead}-0a1b2c3d4e5f.tmp`;
    const writing = `.bridge.json.${process.pid}-0a1b2c3d4e5f.tmp`;
    for (const f of [left, writing, ".unrelated.tmp"]) fs.writeFileSync(path.join(dir, f), "{");
    expect(removeDeadWritersTemps(dir)).toEqual([path.join(dir, left)]);
    expect(fs.readdirSync(dir).sort()).toEqual([writing, ".unrelated.tmp", "bridge.json"].sort());
  });
});

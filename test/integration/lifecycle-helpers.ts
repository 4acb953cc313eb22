/** Shared by the lifecycle tests: reading a container's record, waiting for a condition. */
import fs from "node:fs";
import path from "node:path";
import type { ContainerRecord } from "../../src/engine/record.js";
import type { TestRoot } from "../helpers/cli.js";

/** The engine's record of a container (by full id) on a test root. */
export function record(root: TestRoot, id: string): ContainerRecord {
  return JSON.parse(fs.readFileSync(path.join(root.dir, "containers", id, "container.json"), "utf8")) as ContainerRecord;
}

/** The full id of a container by name, from `ps -a`. */
export async function idOf(root: TestRoot, name: string): Promise<string> {
  const r = await root.run(["ps", "-aq", "--no-trunc", "-f", `name=${name}`]);
  const ids = r.stdout.trim().split("\n").filter(Boolean);
  const exact = [];
  for (const id of ids) if (record(root, id).Name === `/${name}`) exact.push(id);
  if (exact.length !== 1) throw new Error(`expected one container named ${name}, found ${exact.length}`);
  return exact[0]!;
}

/** The STATUS column of `ps -a` for one container name. */
export async function psStatus(root: TestRoot, name: string): Promise<string> {
  const r = await root.run(["ps", "-a", "--format", "json"]);
  for (const line of r.stdout.trim().split("\n").filter(Boolean)) {
    const row = JSON.parse(line) as { Names: string; Status: string };
    if (row.Names === name) return row.Status;
  }
  return "";
}

/** Polls `check` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

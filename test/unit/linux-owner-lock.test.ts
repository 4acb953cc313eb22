import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OwnerLock } from "../../src/linux/owner-lock.js";
import { processStartTime } from "../../src/linux/process-identity.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tsrun-lock-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("OwnerLock", () => {
  it("is exclusive while its owner holds it, and free after release", async () => {
    const file = path.join(dir, "a");
    const first = await OwnerLock.tryAcquire(file);
    expect(first).toBeDefined();
    expect(OwnerLock.holder(file)).toEqual({ pid: process.pid, startTime: processStartTime(process.pid) });
    expect(await OwnerLock.tryAcquire(file)).toBeUndefined();
    first!.release();
    expect(fs.existsSync(file)).toBe(false);
    const second = await OwnerLock.tryAcquire(file);
    expect(second).toBeDefined();
    second!.release();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("a."))).toEqual([]); // no temp files left
  });

  it("with() makes the lock's directory, holds the lock while fn runs, and releases it even when fn throws", async () => {
    const file = path.join(dir, "nested", "deeper", "w");
    const me = { pid: process.pid, startTime: processStartTime(process.pid) };
    expect(await OwnerLock.with(file, () => OwnerLock.holder(file))).toEqual(me);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.existsSync(file)).toBe(false);
    await expect(
      OwnerLock.with(file, async () => {
        throw new Error("inside");
      }),
    ).rejects.toThrow("inside");
    expect(fs.existsSync(file)).toBe(false);
  });

  it("breaks a lock whose owner died, and one it cannot read", async () => {
    const file = path.join(dir, "b");
    fs.writeFileSync(file, JSON.stringify({ pid: 4194000, startTime: 1 })); // no such process
    expect(OwnerLock.holder(file)).toBeUndefined();
    const lock = await OwnerLock.tryAcquire(file);
    expect(lock).toBeDefined();
    lock!.release();
    fs.writeFileSync(file, "garbage");
    const again = await OwnerLock.tryAcquire(file);
    expect(again).toBeDefined();
    again!.release();
  });

  it("never releases a lock someone else holds now", async () => {
    const file = path.join(dir, "c");
    const mine = (await OwnerLock.tryAcquire(file))!;
    fs.writeFileSync(file, JSON.stringify({ pid: 1, startTime: processStartTime(1) }));
    mine.release();
    expect(fs.existsSync(file)).toBe(true);
  });

  it("waits for a holder to let go", async () => {
    const file = path.join(dir, "d");
    const held = (await OwnerLock.tryAcquire(file))!;
    setTimeout(() => held.release(), 30);
    const t0 = Date.now();
    const next = await OwnerLock.acquire(file, 5_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(20);
    next.release();
  });
});

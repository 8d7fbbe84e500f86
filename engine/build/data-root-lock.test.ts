import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { lockDataRoot } from "./data-root-lock.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function root(): string {
  const d = mkdtempSync(join(tmpdir(), "htk-lock-"));
  dirs.push(d);
  return d;
}

describe("lockDataRoot", () => {
  it("refuses a data root that a live engine serves (HTK-BUILD-0006), leaving no build.lock", async () => {
    const dir = root();
    writeFileSync(join(dir, "engine.pid"), "1\n"); // pid 1 is alive and is not this process
    const err = await lockDataRoot(dir, new AbortController().signal, () => undefined).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-BUILD-0006")).toBe(true);
    expect(existsSync(join(dir, "build.lock"))).toBe(false);
    // A stale engine.pid (no such process) does not stand in the way.
    writeFileSync(join(dir, "engine.pid"), "2147483646\n");
    await (await lockDataRoot(dir, new AbortController().signal, () => undefined))();
  });

  it("makes a second build wait (saying so once) until the first ends", async () => {
    const dir = root();
    const signal = new AbortController().signal;
    const first = await lockDataRoot(dir, signal, () => undefined);
    // Another process's lock: this process's pid would be taken as stale, so fake a live owner (pid 1).
    await first();
    writeFileSync(join(dir, "build.lock"), "1");
    const notices: string[] = [];
    let got = false;
    const second = lockDataRoot(dir, signal, (l) => notices.push(l)).then((u) => {
      got = true;
      return u;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBe(false);
    expect(notices).toEqual([`hatake build: waiting for another build on ${dir} (pid 1)`]);
    rmSync(join(dir, "build.lock"));
    await (await second)();
    expect(got).toBe(true);
  });

  it("takes over the lock of a process that is gone, and gives up waiting on abort", async () => {
    const dir = root();
    writeFileSync(join(dir, "build.lock"), "999999999");
    const unlock = await lockDataRoot(dir, new AbortController().signal, () => undefined);
    await unlock();
    writeFileSync(join(dir, "build.lock"), "1");
    const ac = new AbortController();
    const waiting = lockDataRoot(dir, ac.signal, () => undefined);
    ac.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow();
  });
});

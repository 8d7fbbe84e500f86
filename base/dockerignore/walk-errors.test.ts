import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as Fs from "node:fs";
import { afterAll, describe, expect, it, vi } from "vitest";

// Tests run as root here, so permissions cannot make a directory unreadable: fake the failure instead.
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  return {
    ...real,
    readdirSync: ((path: string, opts: unknown) => {
      if (String(path).endsWith("locked")) throw Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), { code: "EACCES" });
      return (real.readdirSync as (p: string, o: unknown) => unknown)(path, opts);
    }) as typeof real.readdirSync,
  };
});

const { walkContext } = await import("./walk.ts");
const { compile } = await import("./patterns.ts");
const { isHtkError } = await import("../errors/index.ts");

const root = mkdtempSync(join(tmpdir(), "htk-walk-err-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "locked"));
writeFileSync(join(root, "ok"), "x");

describe("walkContext on unreadable directories", () => {
  it("ignores one that is excluded anyway (BuildKit skips permission errors there)", async () => {
    const out: string[] = [];
    // The glob exception forces the walker into the excluded directory.
    for await (const e of walkContext(root, compile(["locked", "!**/x"]))) out.push(e.path);
    expect(out).toEqual(["ok"]);
  });

  it("fails with HTK-DOCKERFILE-0112 for one that would be sent", async () => {
    const out: string[] = [];
    let err: unknown;
    try {
      for await (const e of walkContext(root, undefined)) out.push(e.path);
    } catch (e) {
      err = e;
    }
    expect(out).toEqual(["locked"]);
    expect(isHtkError(err, "HTK-DOCKERFILE-0112")).toBe(true);
    expect((err as Error).message).toContain('"locked"');
  });
});

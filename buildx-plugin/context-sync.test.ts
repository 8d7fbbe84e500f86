import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { manifestDigest } from "../wire/index.ts";
import { scanContext } from "./context-sync.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("the context scan", () => {
  it("digests what its manifest says, made only on demand, and a touch changes the digest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-scan-"));
    dirs.push(dir);
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\n");
    mkdirSync(join(dir, "src", "empty"), { recursive: true });
    writeFileSync(join(dir, "src", "a.txt"), "a");
    writeFileSync(join(dir, "src", "b.log"), "excluded");
    symlinkSync("a.txt", join(dir, "src", "link"));
    const signal = new AbortController().signal;
    const scan = await scanContext(dir, ["**/*.log"], signal);
    const entries = scan.entries();
    expect(entries.map((e) => [e.path, e.linkTarget, e.size])).toEqual([
      ["Dockerfile", "", 13n],
      ["src", "", 0n],
      ["src/a.txt", "", 1n],
      ["src/empty", "", 0n],
      ["src/link", "a.txt", 0n],
    ]);
    expect(scan.entries()).toBe(entries);
    expect(scan.digest).toBe(manifestDigest(entries));
    expect([scan.count, scan.contextBytes]).toEqual([5, 14]);
    expect((await scanContext(dir, ["**/*.log"], signal)).digest).toBe(scan.digest);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, "src", "a.txt"), later, later);
    const touched = await scanContext(dir, ["**/*.log"], signal);
    expect(touched.digest).not.toBe(scan.digest);
    expect(touched.digest).toBe(manifestDigest(touched.entries()));
  });
});

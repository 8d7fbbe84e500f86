import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LocalMirrors, type MirrorSpec } from "./local-mirror.ts";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
const never = new AbortController().signal;

function setup(): { src: string; mirrors: LocalMirrors; spec: MirrorSpec } {
  const root = mkdtempSync(join(tmpdir(), "htk-mirror-"));
  roots.push(root);
  const src = join(root, "src");
  mkdirSync(join(src, "d/e"), { recursive: true });
  writeFileSync(join(src, "a"), "1");
  writeFileSync(join(src, "d/e/b"), "2");
  return { src, mirrors: new LocalMirrors(join(root, "locals")), spec: { sessionId: "s", name: "context", dir: src, include: [], exclude: [] } };
}

describe("local-context mirrors", () => {
  it("copies once, then a no-op sync writes nothing, then only changes and removals", async () => {
    const { src, mirrors, spec } = setup();
    const first = await mirrors.sync(spec, never);
    expect(first.stats).toMatchObject({ copied: 2, changed: true });
    const index = join(first.path, "..", "index.json");
    const indexTime = statSync(index).mtimeMs;
    const noop = await mirrors.sync(spec, never);
    expect(noop.stats).toEqual({ copied: 0, removed: 0, unchanged: 2, changed: false });
    expect(statSync(index).mtimeMs).toBe(indexTime);
    // A fresh LocalMirrors (a restarted engine) reads the index from disk and agrees.
    expect((await new LocalMirrors(join(first.path, "..", "..")).sync(spec, never)).stats.changed).toBe(false);
    rmSync(join(src, "d"), { recursive: true });
    writeFileSync(join(src, "a"), "11");
    const third = await mirrors.sync(spec, never);
    expect(third.stats).toMatchObject({ copied: 1, removed: 1, changed: true });
    expect(readdirSync(third.path)).toEqual(["a"]);
    expect(readFileSync(join(third.path, "a"), "utf8")).toBe("11");
  });

  it("skips the walk when the source's owner vouches for the same content version, and walks on a new version or a pruned mirror", async () => {
    const { src, mirrors, spec } = setup();
    expect((await mirrors.sync(spec, never, "v1")).stats).toMatchObject({ copied: 2, changed: true });
    // Changed behind the owner's back (the owner would have given a new version): not looked at.
    writeFileSync(join(src, "a"), "changed");
    const skipped = await mirrors.sync(spec, never, "v1");
    expect(skipped.stats).toEqual({ copied: 0, removed: 0, unchanged: 2, changed: false });
    expect(readFileSync(join(skipped.path, "a"), "utf8")).toBe("1");
    const walked = await mirrors.sync(spec, never, "v2");
    expect(walked.stats).toMatchObject({ copied: 1, changed: true });
    expect(readFileSync(join(walked.path, "a"), "utf8")).toBe("changed");
    // Without a version, every sync walks.
    writeFileSync(join(src, "a"), "again");
    expect((await mirrors.sync(spec, never)).stats).toMatchObject({ copied: 1 });
    expect((await mirrors.sync(spec, never, "v3")).stats.changed).toBe(false);
    // A prune removed the mirror: the same version walks (and copies) again.
    rmSync(join(walked.path, ".."), { recursive: true, force: true });
    expect((await mirrors.sync(spec, never, "v3")).stats).toMatchObject({ copied: 2, changed: true });
  });

  it("rebuilds a mirror whose last sync was interrupted", async () => {
    const { mirrors, spec } = setup();
    const first = await mirrors.sync(spec, never);
    const base = join(first.path, "..");
    writeFileSync(join(first.path, "stray"), "left by a crash");
    writeFileSync(join(base, "syncing"), "");
    const again = await new LocalMirrors(join(base, "..")).sync(spec, never);
    expect(again.stats).toMatchObject({ copied: 2, changed: true });
    expect(existsSync(join(first.path, "stray"))).toBe(false);
    expect(existsSync(join(base, "syncing"))).toBe(false);
  });

  it("copies again after a prune removed the mirror behind it", async () => {
    const { mirrors, spec } = setup();
    const first = await mirrors.sync(spec, never);
    rmSync(join(first.path, ".."), { recursive: true, force: true });
    const again = await mirrors.sync(spec, never);
    expect(again.stats).toMatchObject({ copied: 2, changed: true });
    expect(readFileSync(join(again.path, "a"), "utf8")).toBe("1");
  });
});

import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCancellation, isHtkError } from "../base/errors/index.ts";
import { ContextHasher, diffChecksums, type HashFs } from "./context-hash.ts";
import { sha256Of } from "../base/oci/digest.ts";

let ctx: string;
let cacheDir: string;

beforeEach(async () => {
  ctx = await fsp.mkdtemp(join(tmpdir(), "htk-ctx-"));
  cacheDir = await fsp.mkdtemp(join(tmpdir(), "htk-ctx-cache-"));
  await fsp.mkdir(join(ctx, "src", "lib"), { recursive: true });
  await fsp.writeFile(join(ctx, "src", "a.txt"), "alpha\n");
  await fsp.writeFile(join(ctx, "src", "b.txt"), "bravo\n");
  await fsp.writeFile(join(ctx, "src", "lib", "c.js"), "module.exports = 1;\n");
  await fsp.writeFile(join(ctx, "README.md"), "# readme\n");
  await fsp.symlink("src/a.txt", join(ctx, "link-to-a"));
});
afterEach(async () => {
  await fsp.rm(ctx, { recursive: true, force: true });
  await fsp.rm(cacheDir, { recursive: true, force: true });
});

/** Lets the coarse file-system clock move past the files just written, so cache entries are trusted. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));

function hasher(): ContextHasher {
  return new ContextHasher({ cacheDir, racyWindowMs: 0 });
}

describe("context checksums", () => {
  it("ignore mtime: touch keeps every digest", async () => {
    const h = hasher();
    const before = [await h.checksum(ctx, "."), await h.checksum(ctx, "src/a.txt"), await h.checksum(ctx, "src")];
    const later = new Date(Date.now() + 3_600_000);
    await fsp.utimes(join(ctx, "src", "a.txt"), later, later);
    await fsp.utimes(join(ctx, "src"), later, later);
    const fresh = new ContextHasher();
    expect([await fresh.checksum(ctx, "."), await fresh.checksum(ctx, "src/a.txt"), await fresh.checksum(ctx, "src")]).toEqual(before);
    expect([await h.checksum(ctx, "."), await h.checksum(ctx, "src/a.txt"), await h.checksum(ctx, "src")]).toEqual(before);
  });

  it("change on an edit, even one of the same size", async () => {
    const h = hasher();
    const file = await h.checksum(ctx, "src/a.txt");
    const root = await h.checksum(ctx, ".");
    await fsp.writeFile(join(ctx, "src", "a.txt"), "alphA\n");
    expect(await h.checksum(ctx, "src/a.txt")).not.toBe(file);
    expect(await h.checksum(ctx, ".")).not.toBe(root);
  });

  it("change on chmod, chown and chgrp, of a file and of a sub-directory", async () => {
    const h = hasher();
    const a = join(ctx, "src", "a.txt");
    const seen = new Set([await h.checksum(ctx, ".")]);
    await fsp.chmod(a, 0o600);
    seen.add(await h.checksum(ctx, "."));
    await fsp.chown(a, 1234, 0);
    seen.add(await h.checksum(ctx, "."));
    await fsp.chown(a, 1234, 4321);
    seen.add(await h.checksum(ctx, "."));
    await fsp.chmod(join(ctx, "src", "lib"), 0o700);
    seen.add(await h.checksum(ctx, "."));
    expect(seen.size).toBe(5);
  });

  it("leave the context root's own mode out", async () => {
    const h = hasher();
    const before = await h.checksum(ctx, ".");
    await fsp.chmod(ctx, 0o711);
    expect(await h.checksum(ctx, ".")).toBe(before);
  });

  it("change when a symlink's target changes, and follow links on request", async () => {
    const h = hasher();
    const link = await h.checksum(ctx, "link-to-a");
    expect(await h.checksum(ctx, "link-to-a", { followLinks: true })).toBe(await h.checksum(ctx, "src/a.txt"));
    await fsp.unlink(join(ctx, "link-to-a"));
    await fsp.symlink("src/b.txt", join(ctx, "link-to-a"));
    expect(await h.checksum(ctx, "link-to-a")).not.toBe(link);
    expect(await h.checksum(ctx, "link-to-a", { followLinks: true })).toBe(await h.checksum(ctx, "src/b.txt"));
  });

  it("change the parent directory on a rename, not the renamed file", async () => {
    const h = hasher();
    const src = await h.checksum(ctx, "src");
    const file = await h.checksum(ctx, "src/b.txt");
    await fsp.rename(join(ctx, "src", "b.txt"), join(ctx, "src", "b2.txt"));
    expect(await h.checksum(ctx, "src")).not.toBe(src);
    expect(await h.checksum(ctx, "src/b2.txt")).toBe(file);
  });

  it("keep symlinks inside the context: an absolute target means the context root", async () => {
    const h = hasher();
    await fsp.symlink("/src", join(ctx, "abs-link"));
    await fsp.symlink("../../../../etc", join(ctx, "src", "escape"));
    expect(await h.checksum(ctx, "abs-link/a.txt")).toBe(await h.checksum(ctx, "src/a.txt"));
    expect(await h.checksum(ctx, "abs-link", { followLinks: true })).toBe(await h.checksum(ctx, "src"));
    const err = await h.checksum(ctx, "src/escape/passwd").catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0006")).toBe(true);
  });

  it("report a missing source as HTK-CACHE-0006 and a symlink loop as HTK-CACHE-0007", async () => {
    const h = hasher();
    const missing = await h.checksum(ctx, "src/nope.txt").catch((e: unknown) => e);
    expect(isHtkError(missing, "HTK-CACHE-0006")).toBe(true);
    expect((missing as Error).message).toContain('"src/nope.txt"');
    await fsp.symlink("loop-b", join(ctx, "loop-a"));
    await fsp.symlink("loop-a", join(ctx, "loop-b"));
    const loop = await h.checksum(ctx, "loop-a", { followLinks: true }).catch((e: unknown) => e);
    expect(isHtkError(loop, "HTK-CACHE-0007")).toBe(true);
  });

  it("report an unreadable file as HTK-CACHE-0008", async () => {
    const denied: Partial<HashFs> = {
      open: (p) => (p.endsWith("b.txt") ? Promise.reject(Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" })) : fsp.open(p, "r")),
    };
    const err = await new ContextHasher({ fs: denied }).checksum(ctx, ".").catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0008")).toBe(true);
    expect((err as Error).message).toContain('"src/b.txt"');
  });

  it("come out the same with asynchronous-only stat calls", async () => {
    const sync = await hasher().checksumTree(ctx, ".");
    const asyncOnly = await new ContextHasher({ syncStat: false }).checksumTree(ctx, ".");
    expect(asyncOnly).toEqual(sync);
  });

  it("stop on cancellation, before and during a walk", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await hasher().checksum(ctx, ".", { signal: ac.signal }).catch((e: unknown) => e);
    expect(isCancellation(err)).toBe(true);

    const mid = new AbortController();
    let opened = 0;
    const aborting: Partial<HashFs> = {
      open: (p) => {
        opened++;
        mid.abort();
        return fsp.open(p, "r");
      },
    };
    const h = new ContextHasher({ fs: aborting, concurrency: 1 });
    const during = await h.checksum(ctx, ".", { signal: mid.signal }).catch((e: unknown) => e);
    expect(isCancellation(during)).toBe(true);
    expect(opened).toBeLessThan(4);
  });
});

describe("wildcard sources", () => {
  it("combine the matches, and key a literal single match like a plain path", async () => {
    const h = hasher();
    const a = await h.checksum(ctx, "src/a.txt");
    const both = await h.checksum(ctx, "src/*.txt", { wildcard: true });
    expect(both).not.toBe(a);
    expect(await h.checksum(ctx, "src/[a-b].txt", { wildcard: true })).toBe(both);
    expect(await h.checksum(ctx, "src/?.txt", { wildcard: true })).toBe(both);
    expect(await h.checksum(ctx, "src/a.tx[t]", { wildcard: true })).not.toBe(a);
    expect(await h.checksum(ctx, "s*/a.txt", { wildcard: true })).toBe(a);
    expect(await h.checksum(ctx, "src/[^b].txt", { wildcard: true })).not.toBe(both);
    // `*` does not cross a slash.
    expect(await h.checksum(ctx, "*/c.js", { wildcard: true }).catch((e: unknown) => e)).toSatisfy((e) => isHtkError(e, "HTK-CACHE-0006"));
    expect(await h.checksum(ctx, "src/*/c.js", { wildcard: true })).toBe(await h.checksum(ctx, "src/lib/c.js"));
  });

  it("change when a file joins the pattern", async () => {
    const h = hasher();
    const before = await h.checksum(ctx, "src/*.txt", { wildcard: true });
    await fsp.writeFile(join(ctx, "src", "c.txt"), "charlie\n");
    expect(await h.checksum(ctx, "src/*.txt", { wildcard: true })).not.toBe(before);
  });

  it("fail on no match unless empty matches are allowed", async () => {
    const h = hasher();
    const err = await h.checksum(ctx, "*.none", { wildcard: true }).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CACHE-0006")).toBe(true);
    expect(await h.checksum(ctx, "*.none", { wildcard: true, allowEmptyWildcard: true })).toBe(sha256Of(""));
  });
});

describe("the metadata cache", () => {
  it("makes an unchanged re-hash stat-only, also after a restart", async () => {
    await settle();
    const cold = hasher();
    const digest = await cold.checksum(ctx, ".");
    expect(cold.stats().filesRead).toBe(4);
    expect(await cold.checksum(ctx, ".")).toBe(digest);
    expect(cold.stats().filesRead).toBe(4);
    await cold.flush();

    const restarted = hasher();
    expect(await restarted.checksum(ctx, ".")).toBe(digest);
    expect(restarted.stats().filesRead).toBe(0);
    expect(restarted.stats().cacheHits).toBe(5);
  });

  it("re-reads a touched file and keeps its digest", async () => {
    await settle();
    const h = hasher();
    const digest = await h.checksum(ctx, ".");
    const later = new Date(Date.now() + 60_000);
    await fsp.utimes(join(ctx, "README.md"), later, later);
    expect(await h.checksum(ctx, ".")).toBe(digest);
    expect(h.stats().filesRead).toBe(5);
  });

  it("catches a same-size edit that keeps the mtime, by ctime", async () => {
    await settle();
    const h = hasher();
    const file = join(ctx, "src", "a.txt");
    const digest = await h.checksum(ctx, ".");
    const { atime, mtime } = await fsp.stat(file);
    await fsp.writeFile(file, "alphZ\n");
    await fsp.utimes(file, atime, mtime);
    expect(await h.checksum(ctx, ".")).not.toBe(digest);
  });

  it("does not trust entries for files changed just before they were read", async () => {
    const h = new ContextHasher({ cacheDir, racyWindowMs: 60_000 });
    await h.checksum(ctx, ".");
    await h.checksum(ctx, ".");
    expect(h.stats().filesRead).toBe(8);
  });

  it("survives a damaged cache file by starting empty", async () => {
    await settle();
    const h = hasher();
    const digest = await h.checksum(ctx, ".");
    await h.flush();
    const dir = join(cacheDir, "contenthash");
    for (const f of await fsp.readdir(dir)) await fsp.writeFile(join(dir, f), "{not json");
    const again = hasher();
    expect(await again.checksum(ctx, ".")).toBe(digest);
    expect(again.stats().filesRead).toBe(4);
  });
});

describe("diffChecksums", () => {
  it("names each changed path and what changed", async () => {
    const h = hasher();
    const before = await h.checksumTree(ctx, ".");
    await fsp.writeFile(join(ctx, "src", "a.txt"), "alpha, edited\n");
    await fsp.chmod(join(ctx, "src", "b.txt"), 0o755);
    await fsp.chown(join(ctx, "README.md"), 0, 99);
    await fsp.unlink(join(ctx, "link-to-a"));
    await fsp.symlink("src/b.txt", join(ctx, "link-to-a"));
    await fsp.rm(join(ctx, "src", "lib"), { recursive: true });
    await fsp.mkdir(join(ctx, "docs", "img"), { recursive: true });
    await fsp.writeFile(join(ctx, "docs", "img", "x.png"), "png");
    const after = await h.checksumTree(ctx, ".");

    const summary = diffChecksums(before, after).map((c) =>
      c.kind === "modified" ? `${c.path}: ${c.fields.join(",")}` : `${c.path}: ${c.kind} (+${c.descendants})`,
    );
    expect(summary).toEqual([
      "/README.md: gid",
      "/docs: added (+2)",
      "/link-to-a: link-target",
      "/src/a.txt: content",
      "/src/b.txt: mode",
      "/src/lib: removed (+1)",
    ]);
    expect(diffChecksums(after, after)).toEqual([]);
  });

  it("reports a file replaced by a directory as a type change", async () => {
    const h = hasher();
    const before = await h.checksumTree(ctx, "src");
    await fsp.rm(join(ctx, "src", "a.txt"));
    await fsp.mkdir(join(ctx, "src", "a.txt"));
    await fsp.writeFile(join(ctx, "src", "a.txt", "inner"), "i");
    const changes = diffChecksums(before, await h.checksumTree(ctx, "src"));
    expect(changes.map((c) => [c.path, c.kind])).toEqual([["/src/a.txt", "modified"]]);
  });
});

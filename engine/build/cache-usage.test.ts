import { spawn } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheUsage, humanAgo, pruneCache, type PruneOptions } from "./cache-usage.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const NOW = new Date("2026-11-29T12:00:00Z");

/** A data root laid out as the workers leave it, with step records `hoursAgo` old. */
function dataRoot(): { root: string; snapshot(id: string, bytes: number, hoursAgo: number, name: string, opts?: { local?: boolean }): void; mount(hash: string, id: string, bytes: number): void } {
  const root = mkdtempSync(join(tmpdir(), "htk-du-"));
  dirs.push(root);
  mkdirSync(join(root, "worker", "snapshots"), { recursive: true });
  writeFileSync(join(root, "cache-keys.jsonl"), "");
  let n = 0;
  return {
    root,
    snapshot(id, bytes, hoursAgo, name, opts = {}) {
      const dir = join(root, "worker", "snapshots", id);
      mkdirSync(join(dir, "fs"), { recursive: true });
      writeFileSync(join(dir, "fs", "data"), Buffer.alloc(bytes, 1));
      writeFileSync(join(dir, "committed"), "");
      if (opts.local === true) writeFileSync(join(dir, "tree.json"), "{}");
      const record = { key: `sha256:${String(++n).padStart(64, "0")}`, outputs: [id], createdAt: new Date(NOW.getTime() - hoursAgo * HOUR).toISOString(), vertexName: name };
      writeFileSync(join(root, "cache-keys.jsonl"), `${JSON.stringify({ op: "put", record })}\n`, { flag: "a" });
    },
    mount(hash, id, bytes) {
      const dir = join(root, "worker", "cache-mounts", hash);
      mkdirSync(join(dir, "data"), { recursive: true });
      writeFileSync(join(dir, "data", "pkg"), Buffer.alloc(bytes, 2));
      writeFileSync(join(dir, "id"), id);
    },
  };
}

const id = (c: string): string => c.repeat(32);
const opts = (o: Partial<PruneOptions> = {}): PruneOptions => ({ all: false, signal: new AbortController().signal, notice: () => undefined, now: NOW, ...o });

describe("cacheUsage", () => {
  it("lists records by type with their sizes, step names and times; hard links count once", async () => {
    const d = dataRoot();
    d.snapshot(id("a"), 100_000, 3, "[2/3] COPY app.txt ./");
    d.snapshot(id("b"), 50_000, 1, "[internal] load build context", { local: true });
    linkSync(join(d.root, "worker", "snapshots", id("a"), "fs", "data"), join(d.root, "worker", "snapshots", id("a"), "fs", "again"));
    d.mount("c".repeat(32), "npm-cache", 20_000);
    const u = await cacheUsage(d.root);
    const byId = new Map(u.records.map((r) => [r.id, r]));
    expect(byId.get(id("a"))).toMatchObject({ type: "regular", description: "[2/3] COPY app.txt ./", reclaimable: true, inUse: false, usageCount: 1 });
    expect(byId.get(id("b"))).toMatchObject({ type: "source.local" });
    expect(byId.get("c".repeat(32))).toMatchObject({ type: "exec.cachemount", description: "cached mount npm-cache" });
    // Allocated blocks: at least the bytes written, and the hard link is not a second 100 kB.
    const a = byId.get(id("a"))?.size ?? 0;
    expect(a).toBeGreaterThanOrEqual(100_000);
    expect(a).toBeLessThan(150_000);
    expect(byId.get(id("a"))?.lastUsed.toISOString()).toBe(new Date(NOW.getTime() - 3 * HOUR).toISOString());
    expect(u.total).toBe(u.records.reduce((s, r) => s + r.size, 0));
    expect(u.reclaimable).toBe(u.total);
  });

  it("reports HTK-CACHE-0103 for a data root that does not exist", async () => {
    await expect(cacheUsage("/nonexistent/htk-data-root")).rejects.toMatchObject({ id: "HTK-CACHE-0103" });
    await expect(pruneCache("/nonexistent/htk-data-root", opts())).rejects.toMatchObject({ id: "HTK-CACHE-0103" });
  });

  it("reads overlay snapshots with their chain, and removes a parent only after its children", async () => {
    const d = dataRoot();
    for (const [n, sid, parent] of [["1", "sha256:" + "1".repeat(64), null], ["2", "sha256:" + "2".repeat(64), "sha256:" + "1".repeat(64)]] as const) {
      mkdirSync(join(d.root, "snapshots", "layers", n, "fs"), { recursive: true });
      mkdirSync(join(d.root, "snapshots", "staging"), { recursive: true });
      writeFileSync(join(d.root, "snapshots", "layers", n, "fs", "f"), "x");
      writeFileSync(join(d.root, "snapshots", "layers", n, "meta.json"), JSON.stringify({ id: sid, parent, kind: parent === null ? "layer" : "commit", diffId: null }));
    }
    const u = await cacheUsage(d.root);
    const base = u.records.find((r) => r.id.startsWith("sha256:1"));
    expect(base).toMatchObject({ type: "regular", description: "pulled layer", children: ["sha256:" + "2".repeat(64)] });
    // Only the base is old enough to match: it stays, since its child needs it.
    utimesSync(join(d.root, "snapshots", "layers", "1"), new Date(NOW.getTime() - 10 * HOUR), new Date(NOW.getTime() - 10 * HOUR));
    utimesSync(join(d.root, "snapshots", "layers", "2"), NOW, NOW);
    expect((await pruneCache(d.root, opts({ untilMs: 5 * HOUR }))).removed).toEqual([]);
    const all = await pruneCache(d.root, opts({ all: true }));
    expect(all.removed.map((r) => r.id.slice(7, 8))).toEqual(["2", "1"]);
    expect(readdirSync(join(d.root, "snapshots", "layers"))).toEqual([]);
    expect(readdirSync(join(d.root, "snapshots", "staging"))).toEqual([]);
  });
});

describe("pruneCache", () => {
  it("without -a removes step results and local sources, keeps cache mounts, and drops their key records", async () => {
    const d = dataRoot();
    d.snapshot(id("a"), 10_000, 3, "step a");
    d.snapshot(id("b"), 10_000, 1, "context", { local: true });
    d.mount("c".repeat(32), "apt", 10_000);
    const r = await pruneCache(d.root, opts());
    expect(r.removed.map((x) => x.id).sort()).toEqual([id("a"), id("b")]);
    expect(r.total).toBe(r.removed.reduce((s, x) => s + x.size, 0));
    expect(readdirSync(join(d.root, "worker", "snapshots"))).toEqual([]);
    expect(readdirSync(join(d.root, "worker", "cache-mounts"))).toEqual(["c".repeat(32)]);
    expect((await cacheUsage(d.root)).records.map((x) => x.type)).toEqual(["exec.cachemount"]);
    const keys = readFileSync(join(d.root, "cache-keys.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { op: string });
    expect(keys.filter((k) => k.op === "del")).toHaveLength(2);
  });

  it("type=exec.cachemount removes only cache mounts (without -a); -a removes everything", async () => {
    const d = dataRoot();
    d.snapshot(id("a"), 1000, 3, "step a");
    d.mount("c".repeat(32), "apt", 1000);
    d.mount("d".repeat(32), "npm", 1000);
    const r = await pruneCache(d.root, opts({ types: ["exec.cachemount"] }));
    expect(r.removed.map((x) => x.description).sort()).toEqual(["cached mount apt", "cached mount npm"]);
    expect(readdirSync(join(d.root, "worker", "cache-mounts"))).toEqual([]);
    expect(readdirSync(join(d.root, "worker", "snapshots"))).toEqual([id("a")]);
    d.mount("e".repeat(32), "go", 1000);
    await pruneCache(d.root, opts({ all: true }));
    expect((await cacheUsage(d.root)).records).toEqual([]);
    expect(readdirSync(join(d.root, "worker", "tmp"))).toEqual([]);
  });

  it("lists local mirrors as source.local and the context hasher's cache as internal (pruned only with -a)", async () => {
    const d = dataRoot();
    mkdirSync(join(d.root, "worker", "locals", "f".repeat(32), "fs"), { recursive: true });
    writeFileSync(join(d.root, "worker", "locals", "f".repeat(32), "index.json"), "{}");
    mkdirSync(join(d.root, "worker", "contenthash"), { recursive: true });
    writeFileSync(join(d.root, "worker", "contenthash", "cache"), "x");
    expect((await cacheUsage(d.root)).records.map((r) => `${r.type} ${r.description}`).sort()).toEqual(["internal context checksum cache", "source.local local source mirror"]);
    expect((await pruneCache(d.root, opts())).removed.map((r) => r.type)).toEqual(["source.local"]);
    expect((await pruneCache(d.root, opts({ all: true }))).removed.map((r) => r.type)).toEqual(["internal"]);
    expect(readdirSync(join(d.root, "worker"))).not.toContain("contenthash");
  });

  it("--keep-storage removes the least recently used until the cache fits, keeping the most recent", async () => {
    const d = dataRoot();
    d.snapshot(id("1"), 40_000, 5, "oldest");
    d.snapshot(id("2"), 40_000, 3, "older");
    d.snapshot(id("3"), 40_000, 1, "newest");
    const before = await cacheUsage(d.root);
    const newest = before.records.find((r) => r.description === "newest")?.size ?? 0;
    const r = await pruneCache(d.root, opts({ keepStorage: before.total - newest }));
    expect(r.removed.map((x) => x.description)).toEqual(["oldest"]);
    const r2 = await pruneCache(d.root, opts({ keepStorage: newest + 1000 }));
    expect(r2.removed.map((x) => x.description)).toEqual(["older"]);
    expect((await cacheUsage(d.root)).records.map((x) => x.description)).toEqual(["newest"]);
  });

  it("until= keeps what was used within the duration", async () => {
    const d = dataRoot();
    d.snapshot(id("1"), 1000, 30, "a day old");
    d.snapshot(id("2"), 1000, 2, "recent");
    const r = await pruneCache(d.root, opts({ untilMs: 24 * HOUR }));
    expect(r.removed.map((x) => x.description)).toEqual(["a day old"]);
    expect((await cacheUsage(d.root)).records.map((x) => x.description)).toEqual(["recent"]);
  });

  it("a running build's lock: du marks everything in use, prune waits until the build ends (or is aborted)", async () => {
    const d = dataRoot();
    d.snapshot(id("a"), 1000, 1, "step");
    const build = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      writeFileSync(join(d.root, "build.lock"), String(build.pid));
      const u = await cacheUsage(d.root);
      expect(u.lockedBy).toBe(build.pid);
      expect(u.records[0]).toMatchObject({ inUse: true, reclaimable: false });
      expect(u.reclaimable).toBe(0);
      await expect(pruneCache(d.root, opts({ all: true, signal: AbortSignal.timeout(300) }))).rejects.toBeDefined();
      expect(readdirSync(join(d.root, "worker", "snapshots"))).toEqual([id("a")]);
      const notices: string[] = [];
      const waiting = pruneCache(d.root, opts({ all: true, notice: (l) => notices.push(l) }));
      await new Promise((r) => setTimeout(r, 300));
      expect(readdirSync(join(d.root, "worker", "snapshots"))).toEqual([id("a")]);
      build.kill();
      const r = await waiting;
      expect(r.removed).toHaveLength(1);
      expect(notices.join("\n")).toMatch(/^hatake prune: waiting for another build on .* \(pid \d+\)$/);
    } finally {
      build.kill();
    }
  });
});

describe("formatting and parsing", () => {
  it("prints ages as buildx does", () => {
    expect(humanAgo(new Date(NOW.getTime() - 3 * HOUR), NOW)).toBe("3 hours ago");
    expect(humanAgo(NOW, NOW)).toBe("Less than a second ago");
  });
});

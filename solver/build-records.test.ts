import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ChecksumTree } from "../cache/index.ts";
import { BuildRecordStore } from "./build-records.ts";
import type { BuildRecord, Digest } from "./types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Trees as a sweep finds them long after they were written (a sweep spares fresh ones). */
function ageTrees(dir: string): void {
  const old = new Date(Date.now() - 3600_000);
  for (const f of readdirSync(join(dir, ".trees"))) utimesSync(join(dir, ".trees", f), old, old);
}

const D = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;

function tree(c: string, files: number): ChecksumTree {
  const entries: Record<string, { type: "file"; mode: number; uid: number; gid: number; contentDigest: Digest; digest: Digest }> = {};
  for (let i = 0; i < files; i++) entries[`/f${i}`] = { type: "file", mode: 0o644, uid: 0, gid: 0, contentDigest: D(c), digest: D(c) };
  return { source: "/", digest: D(c), entries } as unknown as ChecksumTree;
}

function record(id: string, t: ChecksumTree, copied?: ChecksumTree): BuildRecord {
  return {
    id,
    target: "Dockerfile",
    status: "completed",
    started: `2026-01-01T00:00:0${id.length % 10}.000Z`,
    completed: "2026-01-01T00:00:09.000Z",
    worker: "fake",
    vertices: [
      {
        digest: D("1"),
        index: 1,
        name: "[internal] load build context",
        opKind: "source",
        inputs: [],
        key: { key: D("2"), op: D("1"), name: "[internal] load build context", opKind: "source", fields: {}, parts: [{ kind: "source-content", what: "local", name: "[internal] load build context", digest: t.digest, tree: t }] },
        outcome: { status: "cached" },
        logBytes: 0,
      },
      {
        digest: D("3"),
        index: 2,
        name: "[2/2] COPY . .",
        opKind: "file",
        inputs: [D("1")],
        key: {
          key: D("4"),
          op: D("3"),
          name: "[2/2] COPY . .",
          opKind: "file",
          fields: {},
          parts: [{ kind: "content", index: 0, from: D("1"), output: 0, name: "[internal] load build context", selectors: ["/"], digest: t.digest, trees: copied === undefined ? [undefined] : [copied] }],
        },
        outcome: { status: "cached" },
        logBytes: 0,
      },
    ],
  } as unknown as BuildRecord;
}

describe("build records keep checksum trees apart", () => {
  it("writes each tree once, gives records back without them, and loads them for the builds a new one is compared with", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "htk-records-")), "records");
    dirs.push(join(dir, ".."));
    const store = new BuildRecordStore(dir);
    const big = tree("a", 2000);
    for (const id of ["b1", "b22"]) {
      const w = await store.begin({ ...record(id, big), status: "running", vertices: [] });
      await w.close();
      await w.save(record(id, big, tree("c", 3)));
    }
    // Two builds of the same context: two trees stored (the context's, the copied directory's), small records.
    expect(readdirSync(join(dir, ".trees")).sort()).toHaveLength(2);
    const text = readFileSync(join(dir, "b1", "record.json"), "utf8");
    expect(text.length).toBeLessThan(4096);
    expect(text).not.toContain("/f1999");

    const plain = await store.get("b1");
    expect(plain?.vertices[0]?.key?.parts[0]).not.toHaveProperty("tree");
    expect(plain?.vertices[0]?.key?.parts[0]).toMatchObject({ kind: "source-content", digest: big.digest });
    const [latest] = await store.recent("Dockerfile");
    const parts = latest?.vertices.map((v) => v.key?.parts[0]);
    expect(parts?.[0]).toEqual({ kind: "source-content", what: "local", name: "[internal] load build context", digest: big.digest, tree: big });
    expect(parts?.[1]).toMatchObject({ kind: "content", trees: [tree("c", 3)] });

    // A tree goes when the last record naming it goes.
    ageTrees(dir);
    await store.remove("b1");
    expect(readdirSync(join(dir, ".trees"))).toHaveLength(2);
    await store.remove("b22");
    expect(readdirSync(join(dir, ".trees"))).toEqual([]);
  });

  it("reads records written with their trees inline, and a record whose stored tree is gone", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "htk-records-")), "records");
    dirs.push(join(dir, ".."));
    const store = new BuildRecordStore(dir);
    const t = tree("e", 5);
    const old = record("old1", t);
    await store.begin(old).then((w) => w.close());
    // As an engine before stored trees apart wrote it.
    writeFileSync(join(dir, "old1", "record.json"), `${JSON.stringify(old)}\n`);
    expect((await store.get("old1"))?.vertices[0]?.key?.parts[0]).toMatchObject({ tree: t });

    const w = await store.begin(record("new22", tree("f", 5)));
    await w.close();
    await w.save(record("new22", tree("f", 5)));
    for (const f of readdirSync(join(dir, ".trees"))) rmSync(join(dir, ".trees", f));
    const [latest] = await store.recent("Dockerfile");
    expect(latest?.id).toBe("new22");
    expect(latest?.vertices[0]?.key?.parts[0]).not.toHaveProperty("tree");
    expect(existsSync(join(dir, "new22", "summary.json"))).toBe(true);
  });

  it("removes several records with one sweep, and a sweep spares the trees a running build has just stored", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "htk-records-")), "records");
    dirs.push(join(dir, ".."));
    const store = new BuildRecordStore(dir);
    for (const id of ["r1", "r22", "r333"]) await store.begin(record(id, tree(id.length.toString(), 3))).then((w) => w.close());
    // A running build between storing its tree and renaming the record that names it.
    const running = await store.begin({ ...record("run1", tree("9", 3)), status: "running" });
    writeFileSync(join(dir, "run1", "record.json"), `${JSON.stringify({ ...record("run1", tree("9", 3)), status: "running", vertices: [] })}\n`);
    ageTrees(dir);
    const fresh = new Date();
    for (const f of readdirSync(join(dir, ".trees"))) if (readFileSync(join(dir, ".trees", f), "utf8").includes(D("9"))) utimesSync(join(dir, ".trees", f), fresh, fresh);

    expect([...(await store.removeMany(["r1", "r22", "r333", "nope"]))].sort()).toEqual(["r1", "r22", "r333"]);
    expect(readdirSync(dir).sort()).toEqual([".trees", "run1"]);
    expect(readdirSync(join(dir, ".trees"))).toHaveLength(1);
    await running.save(record("run1", tree("9", 3)));
    await running.close();
    expect((await store.get("run1", { withTrees: true }))?.vertices[0]?.key?.parts[0]).toMatchObject({ tree: tree("9", 3) });
  });

  it("stores a tree again at the final save when a concurrent removal swept it after the first", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "htk-records-")), "records");
    dirs.push(join(dir, ".."));
    const store = new BuildRecordStore(dir);
    const t = tree("7", 4);
    const w = await store.begin({ ...record("run22", t), status: "running" });
    expect(readdirSync(join(dir, ".trees"))).toHaveLength(1);
    // What a sweep that missed the running record would have done.
    for (const f of readdirSync(join(dir, ".trees"))) rmSync(join(dir, ".trees", f));
    await w.save(record("run22", t));
    await w.close();
    const [latest] = await store.recent("Dockerfile");
    expect(latest?.vertices[0]?.key?.parts[0]).toMatchObject({ tree: t });
  });
});

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
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
});

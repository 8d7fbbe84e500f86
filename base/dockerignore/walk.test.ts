import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { isCancellation, isHtkError } from "../errors/index.ts";
import { compile, readDockerignore } from "./patterns.ts";
import { resolveContextRoot, walkContext, walkContextSync, type WalkOptions } from "./walk.ts";

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Builds a context: paths ending in "/" are directories, "x -> y" is a symlink, others are files. */
function fixture(entries: readonly string[]): string {
  const root = mkdtempSync(join(tmpdir(), "htk-walk-"));
  roots.push(root);
  for (const e of entries) {
    const link = e.split(" -> ");
    if (link.length === 2) symlinkSync(link[1] ?? "", join(root, link[0] ?? ""));
    else if (e.endsWith("/")) mkdirSync(join(root, e), { recursive: true });
    else {
      mkdirSync(join(root, e, ".."), { recursive: true });
      writeFileSync(join(root, e), e);
    }
  }
  return root;
}

async function list(root: string, ignore: string, options: WalkOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const matcher = ignore === "" ? undefined : compile(readDockerignore(ignore));
  const name = (e: { path: string; kind: string }): string => (e.kind === "dir" ? `${e.path}/` : e.kind === "symlink" ? `${e.path}@` : e.path);
  for await (const e of walkContext(root, matcher, options)) out.push(name(e));
  // The synchronous walk (the buildx plugin's manifest) sends the same entries in the same order.
  expect([...walkContextSync(await resolveContextRoot(root), matcher, options.signal === undefined ? {} : { signal: options.signal })].map(name)).toEqual(out);
  return out;
}

describe("walkContext", () => {
  it("walks depth first with names in byte order, sends empty dirs and does not follow symlinks", async () => {
    const root = fixture(["a/x", "a-b", "B", "empty/", "link -> a", "dangling -> nowhere", "é", "z/y/w"]);
    expect(await list(root, "")).toEqual(["B", "a/", "a/x", "a-b", "dangling@", "empty/", "link@", "z/", "z/y/", "z/y/w", "é"]);
  });

  it("sends an excluded directory only when an exception re-includes something inside it", async () => {
    const root = fixture(["build/keep.txt", "build/drop.txt", "build/sub/x", "src/main.go"]);
    expect(await list(root, "build\n!build/keep.txt\n")).toEqual(["build/", "build/keep.txt", "src/", "src/main.go"]);
    expect(await list(root, "build\n!build/nothing-here\n")).toEqual(["src/", "src/main.go"]);
  });

  it("does not read an excluded directory no exception could reach", async () => {
    const root = fixture(["node_modules/p/index.js", "build/keep", "src/a.md", "node_modules/p/README.md"]);
    const read: string[] = [];
    const got = await list(root, "node_modules\nbuild\n!build/keep\n", { onDirectoryRead: (d) => read.push(d) });
    expect(got).toEqual(["build/", "build/keep", "src/", "src/a.md"]);
    expect(read).toEqual(["", "build", "src"]);
    // With a glob in an exception BuildKit has to look everywhere, and re-includes deep matches.
    const read2: string[] = [];
    const got2 = await list(root, "node_modules\n!**/*.md\n", { onDirectoryRead: (d) => read2.push(d) });
    expect(got2).toEqual(["build/", "build/keep", "node_modules/", "node_modules/p/", "node_modules/p/README.md", "src/", "src/a.md"]);
    expect(read2).toContain("node_modules/p");
  });

  it("differs from gitignore: patterns are anchored at the context root", async () => {
    const root = fixture(["main.go", "pkg/util.go", "pkg/README"]);
    expect(await list(root, "*.go\n")).toEqual(["pkg/", "pkg/README", "pkg/util.go"]);
    expect(await list(root, "**/*.go\n")).toEqual(["pkg/", "pkg/README"]);
  });

  it("yields lstat information", async () => {
    const root = fixture(["f", "l -> f"]);
    const entries = [];
    for await (const e of walkContext(root, undefined)) entries.push(e);
    expect(entries.map((e) => [e.path, e.kind, e.stats.isSymbolicLink()])).toEqual([["f", "file", false], ["l", "symlink", true]]);
    expect(entries[0]?.stats.size).toBe(1);
  });

  it("stops with a cancellation when the signal is aborted", async () => {
    const root = fixture(["a", "b", "c"]);
    const ac = new AbortController();
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const e of walkContext(root, undefined, { signal: ac.signal })) {
        seen.push(e.path);
        ac.abort();
      }
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(["a"]);
    expect(isCancellation(err)).toBe(true);
  });

  it("reports a missing or non-directory context as HTK-DOCKERFILE-0111", async () => {
    const root = fixture(["file"]);
    for (const bad of [join(root, "missing"), join(root, "file")]) {
      let err: unknown;
      try {
        for await (const _ of walkContext(bad, undefined)) void _;
      } catch (e) {
        err = e;
      }
      expect(isHtkError(err, "HTK-DOCKERFILE-0111")).toBe(true);
    }
  });
});

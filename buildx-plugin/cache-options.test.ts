import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkedExports, parseCacheEntries, usableImports } from "./cache-options.ts";

const usage = (m: string): Error => new Error(`usage: ${m}`);
const root = mkdtempSync(join(tmpdir(), "htk-cache-opts-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("--cache-from / --cache-to as buildx parses them", () => {
  it("reads CSV entries; a bare value is a registry ref; the type is required otherwise", () => {
    expect(parseCacheEntries("--cache-from", ["user/app:cache", "type=local,src=dir,tag=t", ""], usage)).toEqual([
      { type: "registry", attrs: { ref: "user/app:cache" } },
      { type: "local", attrs: { src: "dir", tag: "t" } },
    ]);
    expect(parseCacheEntries("--cache-to", ['type=registry,"ref=r:1",Mode=max'], usage)).toEqual([{ type: "registry", attrs: { ref: "r:1", mode: "max" } }]);
    expect(() => parseCacheEntries("--cache-to", ["ref=r,mode=max"], usage)).toThrow('usage: type required form> "ref=r,mode=max"');
    expect(() => parseCacheEntries("--cache-to", ["type=registry,oops"], usage)).toThrow("usage: invalid value oops");
  });

  it("refuses BuildKit backends this builder lacks, naming what works (HTK-BUILDX-0050)", () => {
    for (const type of ["gha", "s3", "azblob"]) expect(() => parseCacheEntries("--cache-to", [`type=${type}`], usage)).toThrow(/HTK-BUILDX-0050/);
  });

  it("skips a local import without a cache with BuildKit's warning; checks local paths (HTK-BUILDX-0051)", () => {
    mkdirSync(join(root, "cache"));
    writeFileSync(join(root, "cache", "index.json"), "{}");
    writeFileSync(join(root, "file"), "");
    const warnings: string[] = [];
    const kept = usableImports(
      [
        { type: "local", attrs: { src: "cache" } },
        { type: "local", attrs: { src: "missing" } },
        { type: "registry", attrs: { ref: "r" } },
      ],
      root,
      (l) => warnings.push(l),
    );
    expect(kept).toEqual([
      { type: "local", attrs: { src: join(root, "cache") } },
      { type: "registry", attrs: { ref: "r" } },
    ]);
    expect(warnings).toEqual([`WARNING: local cache import at ${join(root, "missing")} not found due to err: open ${join(root, "missing", "index.json")}: no such file or directory`]);
    expect(() => usableImports([{ type: "local", attrs: {} }], root, () => undefined)).toThrow(/HTK-BUILDX-0051/);
    expect(() => checkedExports([{ type: "local", attrs: { dest: "file" } }], root)).toThrow(/HTK-BUILDX-0051/);
    expect(checkedExports([{ type: "local", attrs: { dest: "out" } }], root)).toEqual([{ type: "local", attrs: { dest: join(root, "out") } }]);
  });
});

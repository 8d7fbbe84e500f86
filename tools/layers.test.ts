import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { checkLayers, importsOf, LAYERS } from "./layers.ts";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "htk-layers-"));
  made.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("the layer checker", () => {
  it("passes on this repository", () => {
    const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
    expect(checkLayers(repo)).toEqual([]);
  });

  it("fails when llb imports engine", () => {
    const root = tree({
      "engine/daemon.ts": "export const daemon = 1;\n",
      "llb/state.ts": 'import { daemon } from "../engine/daemon.ts";\nexport const s = daemon;\n',
    });
    const v = checkLayers(root);
    expect(v).toHaveLength(1);
    expect(v[0]?.kind).toBe("forbidden-import");
    expect(v[0]?.message).toContain('llb/state.ts:1: "llb" may not import "engine"');
  });

  it("follows re-exports, dynamic imports and import() types", () => {
    const root = tree({
      "engine/x.ts": "export type X = 1;\n",
      "llb/a.ts": 'export { type X } from "../engine/x.ts";\n',
      "llb/b.ts": 'export const load = () => import("../engine/x.ts");\n',
      "llb/c.ts": 'export type Y = import("../engine/x.ts").X;\n',
    });
    expect(checkLayers(root).map((v) => v.file)).toEqual(["llb/a.ts", "llb/b.ts", "llb/c.ts"]);
  });

  it("allows the listed directions and keeps the test harness for tests", () => {
    const root = tree({
      "llb/index.ts": "export const op = 1;\n",
      "base/errors.ts": "export const e = 1;\n",
      "frontend-dockerfile/compile.ts": 'import { op } from "../llb/index.ts";\nimport { e } from "../base/errors.ts";\nexport const c = op + e;\n',
      "testing/fixture.ts": "export const f = 1;\n",
      "cache/store.test.ts": 'import { f } from "../testing/fixture.ts";\nexport const t = f;\n',
      "cache/store.ts": 'import { f } from "../testing/fixture.ts";\nexport const t = f;\n',
    });
    const v = checkLayers(root);
    expect(v.map((x) => x.file)).toEqual(["cache/store.ts"]);
  });

  it("reports folders missing from the table", () => {
    const root = tree({ "misc/thing.ts": "export const a = 1;\n" });
    expect(checkLayers(root)[0]?.kind).toBe("unknown-folder");
  });

  it("reports value-import cycles but not type-only ones", () => {
    const root = tree({
      "solver/a.ts": 'import { b } from "./b.ts";\nexport const a = () => b;\n',
      "solver/b.ts": 'import { a } from "./a.ts";\nexport const b = () => a;\n',
      "solver/c.ts": 'import type { D } from "./d.ts";\nexport type C = D;\n',
      "solver/d.ts": 'import type { C } from "./c.ts";\nexport type D = C | 1;\n',
    });
    const v = checkLayers(root);
    expect(v).toHaveLength(1);
    expect(v[0]?.message).toBe("import cycle: solver/a.ts → solver/b.ts → solver/a.ts");
  });

  it("reads import kinds", () => {
    const refs = importsOf("x.ts", 'import type { A } from "./a.ts";\nimport { type B } from "./b.ts";\nimport { c, type D } from "./c.ts";\n');
    expect(refs.map((r) => [r.specifier, r.typeOnly])).toEqual([
      ["./a.ts", true],
      ["./b.ts", true],
      ["./c.ts", false],
    ]);
  });

  it("has an entry for every layer named as a dependency", () => {
    for (const deps of Object.values(LAYERS)) for (const d of deps) expect(LAYERS).toHaveProperty(d);
  });
});

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { catalogue } from "./catalogue.ts";
import { renderErrorsDoc } from "./render-doc.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const AREAS = ["CORE", "CLI", "DOCKERFILE", "LLB", "SOLVER", "CACHE", "BUILD", "REGISTRY", "RUNTIME", "ENGINE", "API", "PLUGIN", "BUILDX", "TEST", "BENCH"];

function testFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) testFiles(full, out);
    else if (/\.test\.tsx?$/.test(name) && full !== fileURLToPath(import.meta.url)) out.push(full);
  }
  return out;
}

describe("the diagnostic catalogue", () => {
  const entries = Object.entries(catalogue);

  it("uses well-formed IDs in known areas", () => {
    for (const [id] of entries) {
      const m = /^HTK-([A-Z]+)-(\d{4})$/.exec(id);
      expect(m, id).not.toBeNull();
      expect(AREAS, id).toContain(m?.[1]);
    }
  });

  it("writes causes and next steps as sentences, without blaming anyone", () => {
    for (const [id, spec] of entries) {
      const docker = "dockerText" in spec && spec.dockerText === true;
      for (const text of [spec.cause, spec.next]) {
        expect(text.length, id).toBeGreaterThan(10);
        // A cause that reproduces Docker's (or buildx's) exact text keeps its casing and punctuation.
        if (!(docker && text === spec.cause)) {
          expect(text[0], `${id}: sentence case`).toMatch(/[A-Z"{\d]/);
          expect(text, `${id}: ends a sentence`).toMatch(/[.?!"}]$/);
        }
        expect(text, `${id}: no blame`).not.toMatch(/\b(you (did|made|broke)|your fault|user error|stupid|illegal)\b/i);
      }
      expect(spec.title.length, id).toBeGreaterThan(3);
    }
  });

  it("has a test that produces every ID", () => {
    const corpus = testFiles(repo).map((f) => readFileSync(f, "utf8")).join("\n");
    const missing = entries.map(([id]) => id).filter((id) => !corpus.includes(id));
    expect(missing, "IDs no test names (write a test that produces each)").toEqual([]);
  });

  it("is rendered into docs/errors.md (run npm run docs:errors)", () => {
    expect(readFileSync(join(repo, "docs", "errors.md"), "utf8")).toBe(renderErrorsDoc());
  });
});

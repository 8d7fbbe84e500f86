import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dumpDockerfile, parseDockerfile } from "./index.ts";

/**
 * Golden (baseline) tests in BuildKit's layout, `<case>/{Dockerfile,result}`:
 * - `testdata/`: our own cases (heredocs, backtick escape, ENV/LABEL edges, flags with quotes …).
 *   Regenerate with `ACCEPT=1 npx vitest run --project unit frontend-dockerfile/golden.test.ts` and
 *   review the diff.
 * - the shared conformance cases (HATAKE_SHARED_DIR, default ../shared), which must all pass.
 */
const here = dirname(fileURLToPath(import.meta.url));
const testdata = join(here, "testdata");
const shared = join(process.env["HATAKE_SHARED_DIR"] ?? join(here, "..", "..", "shared"), "conformance", "dockerfile-parser");
const accept = process.env["ACCEPT"] === "1";

describe("golden: frontend-dockerfile/testdata", () => {
  const cases = readdirSync(testdata, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  it("has cases", () => expect(cases.length).toBeGreaterThan(5));
  for (const c of cases) {
    it(c, () => {
      const input = readFileSync(join(testdata, c, "Dockerfile"));
      const { result, diagnostics } = parseDockerfile(input);
      const got = result === undefined ? `error ${diagnostics.find((d) => d.severity === "error")?.id ?? "?"}\n` : `${dumpDockerfile(result)}\n`;
      const file = join(testdata, c, "result");
      if (accept || !existsSync(file)) writeFileSync(file, got);
      expect(got).toBe(readFileSync(file, "utf8"));
    });
  }
});

describe.skipIf(!existsSync(shared))("golden: shared dockerfile-parser conformance cases", () => {
  const list = (sub: string): string[] =>
    existsSync(join(shared, sub)) ? readdirSync(join(shared, sub), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
  for (const c of list("testfiles")) {
    it(`testfiles/${c}`, () => {
      const { result } = parseDockerfile(readFileSync(join(shared, "testfiles", c, "Dockerfile")));
      expect(result === undefined ? "rejected" : `${dumpDockerfile(result)}\n`).toBe(readFileSync(join(shared, "testfiles", c, "result"), "utf8"));
    });
  }
  for (const c of list("testfiles-negative")) {
    it(`testfiles-negative/${c} is rejected`, () => {
      const { result, diagnostics } = parseDockerfile(readFileSync(join(shared, "testfiles-negative", c, "Dockerfile")));
      expect(result).toBeUndefined();
      expect(diagnostics.some((d) => d.severity === "error" && d.id.startsWith("HTK-DOCKERFILE-"))).toBe(true);
    });
  }
});

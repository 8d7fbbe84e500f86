import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dumpJson } from "../../llb/index.ts";
import type { CompileOptions } from "./compile.ts";
import { compile } from "./test-support.ts";

/**
 * Golden (baseline) tests of compiled definitions: `testdata/<case>/Dockerfile` (with an optional
 * `.dockerignore` and `options.json` holding CompileOptions) → `testdata/<case>/result`: the
 * diagnostics, the image config and `llb dumpJson` of the definition. Images come from the fake
 * resolver in test-support.ts. Regenerate with
 * `ACCEPT=1 npx vitest run --project unit frontend-dockerfile/compile/golden.test.ts` and review the diff.
 */
const here = dirname(fileURLToPath(import.meta.url));
const testdata = join(here, "testdata");
const accept = process.env["ACCEPT"] === "1";

async function render(dir: string): Promise<string> {
  const text = readFileSync(join(dir, "Dockerfile"), "utf8");
  const opts: CompileOptions = existsSync(join(dir, "options.json")) ? (JSON.parse(readFileSync(join(dir, "options.json"), "utf8")) as CompileOptions) : {};
  const ignore = join(dir, ".dockerignore");
  const r = await compile(text, { ...opts, ...(existsSync(ignore) ? { dockerignore: readFileSync(ignore, "utf8") } : {}) });
  const diags = r.diagnostics.map((d) => `${d.severity} ${d.id} ${d.range.start.line}:${d.range.start.column} ${d.buildkitMessage ?? d.message}`);
  if (r.result === undefined) return `# diagnostics\n${diags.join("\n")}\n`;
  return [
    "# diagnostics",
    ...(diags.length === 0 ? ["(none)"] : diags),
    `# target ${r.result.target}`,
    "# image",
    JSON.stringify(r.result.image, null, 2),
    "# definition",
    dumpJson(r.result.definition),
  ].join("\n");
}

describe("golden: compiled Dockerfiles", () => {
  const cases = readdirSync(testdata, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(10));
  for (const c of cases) {
    it(c, async () => {
      const got = await render(join(testdata, c));
      const file = join(testdata, c, "result");
      if (accept || !existsSync(file)) writeFileSync(file, got);
      expect(got).toBe(readFileSync(file, "utf8"));
    });
  }
});

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dumpDockerfile, parseDockerfile } from "../frontend-dockerfile/index.ts";

/**
 * The Dockerfile parser conformance suite: BuildKit's parser test data in the layout of
 * /work/shared/conformance/dockerfile-parser/FORMAT.md. A positive case passes when the dump plus one
 * `\n` equals `result` byte for byte; a negative case passes when parsing reports an error.
 */
export interface SuiteResult {
  passed: number;
  failed: number;
  failures: string[];
}

export function runDockerfileParserCases(dir: string): SuiteResult {
  const out: SuiteResult = { passed: 0, failed: 0, failures: [] };
  for (const c of cases(join(dir, "testfiles"))) {
    const where = `testfiles/${c}`;
    const input = readFileSync(join(dir, "testfiles", c, "Dockerfile"));
    const expected = readFileSync(join(dir, "testfiles", c, "result"), "utf8");
    const { result, diagnostics } = parseDockerfile(input);
    if (result === undefined) {
      const err = diagnostics.find((d) => d.severity === "error");
      fail(out, `${where}: rejected: ${err === undefined ? "no result" : `${err.id}: ${err.message}`}`);
      continue;
    }
    const got = `${dumpDockerfile(result)}\n`;
    if (got === expected) out.passed++;
    else fail(out, `${where}: dump differs: ${firstDifference(got, expected)}`);
  }
  for (const c of cases(join(dir, "testfiles-negative"))) {
    const where = `testfiles-negative/${c}`;
    const { result, diagnostics } = parseDockerfile(readFileSync(join(dir, "testfiles-negative", c, "Dockerfile")));
    if (result === undefined && diagnostics.some((d) => d.severity === "error")) out.passed++;
    else fail(out, `${where}: accepted, but the parser must reject it`);
  }
  return out;
}

function cases(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function fail(out: SuiteResult, line: string): void {
  out.failed++;
  out.failures.push(line);
}

function firstDifference(got: string, expected: string): string {
  const g = got.split("\n");
  const e = expected.split("\n");
  for (let i = 0; i < Math.max(g.length, e.length); i++) {
    if (g[i] !== e[i]) return `line ${i + 1}: expected ${JSON.stringify(e[i] ?? "<end>")}, got ${JSON.stringify(g[i] ?? "<end>")}`;
  }
  return "same lines, different bytes";
}

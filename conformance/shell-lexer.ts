import { readFileSync } from "node:fs";
import { join } from "node:path";
import { envFromList, processWord, processWords } from "../frontend-dockerfile/shell/lex.ts";
import type { LexOptions, LexResult, ShellEnv } from "../frontend-dockerfile/shell/types.ts";

/**
 * The shell-lexer conformance suite: BuildKit's `envVarTest` and `wordsTest` data in the format of
 * /work/shared/conformance/shell-lexer/FORMAT.md. Every case runs twice, once with the environment as a
 * `NAME=value` list and once as a map, as upstream's harness does; a case passes only if both agree.
 *
 * `envVarTest` platform tags: `A` lines must hold on both platforms, so they run in Linux and in Windows
 * mode; `U` lines run in Linux mode and `W` lines in Windows mode (case-insensitive names).
 */
export interface SuiteResult {
  passed: number;
  failed: number;
  failures: string[];
}

const ENV_VAR_TEST_ENV = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="];

export function runShellLexerCases(dir: string): SuiteResult {
  const out: SuiteResult = { passed: 0, failed: 0, failures: [] };
  runEnvVarTest(join(dir, "envVarTest"), out);
  runWordsTest(join(dir, "wordsTest"), out);
  return out;
}

/** Go's bufio.ScanLines: split on \n and drop one trailing \r; no empty last line after a final \n. */
function lines(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const parts = text.split("\n");
  if (parts.at(-1) === "") parts.pop();
  return parts.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

function bothForms(list: readonly string[]): ShellEnv[] {
  return [list, envFromList(list)];
}

function show<T>(r: LexResult<T>): string {
  return r.ok ? JSON.stringify(r.value) : `error (${r.error.id}: ${r.error.plainCause})`;
}

function runEnvVarTest(file: string, out: SuiteResult): void {
  const all = lines(file);
  all.forEach((raw, idx) => {
    const where = `envVarTest:${idx + 1}`;
    if (raw.startsWith("#")) return;
    const line = raw.trim();
    if (line === "") return;
    const fields = line.split("|");
    if (fields.length !== 3) {
      out.failed++;
      out.failures.push(`${where}: malformed line (expected PLATFORM | INPUT | EXPECTED): ${JSON.stringify(raw)}`);
      return;
    }
    const [platform, input, expected] = fields.map((f) => f.trim()) as [string, string, string];
    const modes: LexOptions[] =
      platform === "A"
        ? [{ platform: "linux" }, { platform: "windows" }]
        : platform === "U"
          ? [{ platform: "linux" }]
          : platform === "W"
            ? [{ platform: "windows" }]
            : [];
    if (modes.length === 0) {
      out.failed++;
      out.failures.push(`${where}: invalid platform tag ${JSON.stringify(platform)} (must be A, U or W)`);
      return;
    }
    const problems: string[] = [];
    for (const opts of modes) {
      for (const env of bothForms(ENV_VAR_TEST_ENV)) {
        const r = processWord(input, env, opts);
        const good = expected === "error" ? !r.ok : r.ok && r.value === expected;
        if (!good) {
          const form = Array.isArray(env) ? "list" : "map";
          problems.push(`${opts.platform ?? "linux"}/${form}: got ${show(r)}`);
        }
      }
    }
    if (problems.length === 0) out.passed++;
    else {
      out.failed++;
      out.failures.push(`${where}: ${JSON.stringify(input)} expected ${JSON.stringify(expected)}; ${problems.join("; ")}`);
    }
  });
}

function runWordsTest(file: string, out: SuiteResult): void {
  const env: string[] = [];
  lines(file).forEach((line, idx) => {
    const where = `wordsTest:${idx + 1}`;
    if (line.startsWith("#")) return;
    if (line.startsWith("ENV ")) {
      // The value runs to the end of the line: trailing spaces are part of it.
      env.push(line.slice(3).replace(/^ +/, ""));
      return;
    }
    const fields = line.split("|");
    if (fields.length !== 2) {
      out.failed++;
      out.failures.push(`${where}: malformed line (expected exactly one |): ${JSON.stringify(line)}`);
      return;
    }
    const input = (fields[0] ?? "").trim();
    const expected = (fields[1] ?? "").replace(/^ +/, "").split(",");
    const problems: string[] = [];
    for (const e of bothForms(env)) {
      const r = processWords(input, e);
      const got = r.ok ? r.value : ["error"];
      if (got.length !== expected.length || got.some((w, i) => w !== expected[i])) {
        problems.push(`${Array.isArray(e) ? "list" : "map"}: got ${show(r)}`);
      }
    }
    if (problems.length === 0) out.passed++;
    else {
      out.failed++;
      out.failures.push(`${where}: ${JSON.stringify(input)} expected ${JSON.stringify(expected)}; ${problems.join("; ")}`);
    }
  });
}

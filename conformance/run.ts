import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { runDockerfileParserCases } from "./dockerfile-parser.ts";
import { engineSuites } from "./engine-suites.ts";
import { runShellLexerCases } from "./shell-lexer.ts";

/**
 * `npx tsx conformance/run.ts SUITE DIR`: runs one offline conformance suite over the shared case
 * directory, prints one line per failure and `N passed, M failed` as the last line, and exits non-zero
 * on any failure. Add a suite by adding an entry to `suites`. The suites that talk to an engine
 * (`api`, `flows`: `run.ts SUITE [--docker-host URL]`) are in `engineSuites` (engine-suites.ts).
 */
export interface SuiteResult {
  passed: number;
  failed: number;
  failures: string[];
}

export const suites: Readonly<Record<string, (dir: string) => SuiteResult>> = {
  "dockerfile-parser": runDockerfileParserCases,
  "shell-lexer": runShellLexerCases,
};

export function runSuite(name: string, dir: string, write: (line: string) => void): number {
  const suite = suites[name];
  if (suite === undefined) {
    write(`unknown suite ${JSON.stringify(name)}; suites: ${Object.keys(suites).join(", ")}`);
    write("0 passed, 1 failed");
    return 2;
  }
  const r = suite(dir);
  for (const f of r.failures) write(f);
  write(`${r.passed} passed, ${r.failed} failed`);
  return r.failed === 0 ? 0 : 1;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const [name, dir] = process.argv.slice(2);
  const engineSuite = name === undefined ? undefined : engineSuites[name];
  if (engineSuite !== undefined) {
    process.exitCode = await engineSuite(process.argv.slice(3), (l) => console.log(l));
  } else if (name === undefined || dir === undefined) {
    console.log(`usage: tsx conformance/run.ts SUITE DIR (suites: ${Object.keys(suites).join(", ")}) | SUITE [--docker-host URL] (suites: ${Object.keys(engineSuites).join(", ")})`);
    console.log("0 passed, 1 failed");
    process.exitCode = 2;
  } else {
    process.exitCode = runSuite(name, dir, (l) => console.log(l));
  }
}

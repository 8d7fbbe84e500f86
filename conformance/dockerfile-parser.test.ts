import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runDockerfileParserCases } from "./dockerfile-parser.ts";
import { runSuite, suites } from "./run.ts";

describe("dockerfile-parser conformance runner", () => {
  const dir = mkdtempSync(join(tmpdir(), "htk-dfp-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, content: string): void => {
    const parts = rel.split("/");
    mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
    writeFileSync(join(dir, ...parts), content);
  };
  write("testfiles/good/Dockerfile", "FROM a\nRUN echo \\\n  b\n");
  write("testfiles/good/result", '(from "a")\n(run "echo   b")\n');
  write("testfiles/bad/Dockerfile", "FROM a\n");
  write("testfiles/bad/result", '(from "b")\n');
  write("testfiles-negative/env/Dockerfile", "FROM a\nENV NAME\n");
  write("testfiles-negative/accepted/Dockerfile", "FROM a\n");

  it("counts passes and reports each failure", () => {
    const r = runDockerfileParserCases(dir);
    expect(r.passed).toBe(2);
    expect(r.failed).toBe(2);
    expect(r.failures).toEqual([
      'testfiles/bad: dump differs: line 1: expected "(from \\"b\\")", got "(from \\"a\\")"',
      "testfiles-negative/accepted: accepted, but the parser must reject it",
    ]);
  });

  it("prints one line per failure and the totals last, exit code 1 on failure", () => {
    const lines: string[] = [];
    expect(runSuite("dockerfile-parser", dir, (l) => lines.push(l))).toBe(1);
    expect(lines.at(-1)).toBe("2 passed, 2 failed");
    expect(lines).toHaveLength(3);
  });

  it("dispatches over a suites map", () => {
    expect(Object.keys(suites)).toContain("dockerfile-parser");
    const lines: string[] = [];
    expect(runSuite("no-such-suite", dir, (l) => lines.push(l))).not.toBe(0);
    expect(lines.at(-1)).toBe("0 passed, 1 failed");
  });
});

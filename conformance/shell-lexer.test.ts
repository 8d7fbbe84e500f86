import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runShellLexerCases } from "./shell-lexer.ts";

const SHARED = "/work/shared/conformance/shell-lexer";

describe("shell-lexer conformance suite", () => {
  it("passes every line of the shared BuildKit case files", () => {
    const r = runShellLexerCases(SHARED);
    expect(r.failures).toEqual([]);
    expect(r.passed).toBe(127);
  });

  it("reports failures with the file and line", () => {
    const dir = mkdtempSync(join(tmpdir(), "shell-lexer-"));
    writeFileSync(join(dir, "envVarTest"), "A|$X|wrong\nW|$pwd|/home\nQ|x|x\n");
    writeFileSync(join(dir, "wordsTest"), "ENV X=a b  \n$X | a,b\n\"$X\" | a b  \nbad line\n");
    const r = runShellLexerCases(dir);
    // The W line runs in Windows mode, where $pwd finds PWD.
    expect(r.passed).toBe(3);
    expect(r.failed).toBe(3);
    expect(r.failures[0]).toMatch(/^envVarTest:1: "\$X" expected "wrong"/);
    expect(r.failures[1]).toMatch(/^envVarTest:3: invalid platform tag/);
    expect(r.failures[2]).toMatch(/^wordsTest:4: malformed line/);
  });
});

import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { runChecks, type CheckOptions } from "./index.ts";

/** Findings as BuildKit's integration tests compare them: rule, detail and line. */
function lint(text: string, opts: CheckOptions = {}): { rule: string; detail: string; line: number }[] {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, opts).findings.map((f) => ({ rule: f.rule, detail: f.message, line: f.lines.start }));
}

describe("StageNameCasing and FromAsCasing", () => {
  it("warns about an upper-case stage name and an 'as' that does not match FROM", () => {
    const text = "\n# warning: stage name should be lowercase\nFROM scratch AS BadStageName\n\nFROM scratch as base2\n\nFROM scratch AS base3\n";
    expect(lint(text)).toEqual([
      { rule: "StageNameCasing", detail: "Stage name 'BadStageName' should be lowercase", line: 3 },
      { rule: "FromAsCasing", detail: "'as' and 'FROM' keywords' casing do not match", line: 5 },
    ]);
  });

  it("compares 'AS' with a lower-case 'from'", () => {
    expect(lint("\nfrom scratch AS base\n\nfrom scratch as base2\n")).toEqual([
      { rule: "FromAsCasing", detail: "'AS' and 'from' keywords' casing do not match", line: 2 },
    ]);
  });

  it("leaves a mixed-case FROM keyword to ConsistentInstructionCasing", () => {
    const rules = lint("From scratch as base\nFROM scratch AS base2\n").map((f) => f.rule);
    expect(rules).toEqual(["ConsistentInstructionCasing"]);
  });

  it("stays silent for lower-case names, unnamed stages and matching keywords", () => {
    expect(lint("FROM alpine\nFROM alpine AS build\nfrom alpine as run\n").filter((f) => f.rule !== "ConsistentInstructionCasing")).toEqual([]);
  });

  it("still warns on a FROM that BuildKit then rejects, and stops there", () => {
    const { result } = parseDockerfile("FROM alpine AS Bad_Name!\nRUN x\n");
    const r = runChecks(result!, {});
    expect(r.findings.map((f) => f.rule)).toEqual(["StageNameCasing"]);
    expect(r.stopped?.message).toMatch(/^dockerfile parse error on line 1: invalid name for build stage/);
  });
});

describe("ConsistentInstructionCasing", () => {
  it("names the command that breaks the majority casing", () => {
    expect(lint("\nFROM scratch\n# warning\ncopy Dockerfile /foo\nCOPY Dockerfile /bar\n")).toEqual([
      { rule: "ConsistentInstructionCasing", detail: "Command 'copy' should match the case of the command majority (uppercase)", line: 4 },
    ]);
    expect(lint("\nfrom scratch\nCOPY Dockerfile /foo\ncopy Dockerfile /bar\n")).toEqual([
      { rule: "ConsistentInstructionCasing", detail: "Command 'COPY' should match the case of the command majority (lowercase)", line: 3 },
    ]);
    expect(lint("\nfrOM scratch as base\nfrom scratch as base2\n")).toEqual([
      { rule: "ConsistentInstructionCasing", detail: "Command 'frOM' should match the case of the command majority (lowercase)", line: 2 },
    ]);
  });

  it("takes uppercase as the majority on a tie", () => {
    expect(lint("from scratch\nCOPY a /a\n")).toEqual([
      { rule: "ConsistentInstructionCasing", detail: "Command 'from' should match the case of the command majority (uppercase)", line: 1 },
    ]);
  });

  it("does not count or check global ARGs before the first FROM", () => {
    expect(lint("arg X=1\nFROM scratch\nCOPY a /a\n")).toEqual([]);
  });

  it("is silent when every instruction has the same casing (heredoc bodies are not instructions)", () => {
    expect(lint("from scratch\ncopy Dockerfile /foo\ncopy Dockerfile /bar\n")).toEqual([]);
    expect(lint("FROM alpine\nRUN <<'EOT'\nenv\nEOT\n")).toEqual([]);
  });
});

describe("MaintainerDeprecated", () => {
  it("warns about MAINTAINER and not about the label that replaces it", () => {
    expect(lint("\nFROM scratch\nMAINTAINER me@example.org\n")).toEqual([
      { rule: "MaintainerDeprecated", detail: "Maintainer instruction is deprecated in favor of using label", line: 3 },
    ]);
    expect(lint('FROM scratch\nLABEL org.opencontainers.image.authors="me@example.org"\n')).toEqual([]);
  });

  it("reports the warnings found before an unknown instruction, then stops like BuildKit", () => {
    const { result } = parseDockerfile("\nFROM scratch AS BadStageName\nMAINTAINER me@example.org\nBADCMD\n");
    const r = runChecks(result!, {});
    expect(r.findings.map((f) => [f.rule, f.lines.start])).toEqual([
      ["StageNameCasing", 2],
      ["MaintainerDeprecated", 3],
    ]);
    expect(r.stopped?.message).toBe("dockerfile parse error on line 4: unknown instruction: BADCMD");
  });
});

describe("NoEmptyContinuation", () => {
  it("warns once per instruction, at its last line", () => {
    const text = "\nFROM scratch\n# warning: empty continuation line\nCOPY Dockerfile \\\n\n.\nCOPY Dockerfile \\\n.\n";
    expect(lint(text)).toEqual([{ rule: "NoEmptyContinuation", detail: "Empty continuation line", line: 6 }]);
  });

  it("counts blank lines of spaces, not comment lines", () => {
    expect(lint("FROM scratch\nRUN a \\\n   \n  b \\\n\n  c\n").map((f) => [f.rule, f.line])).toEqual([["NoEmptyContinuation", 6]]);
    expect(lint("FROM scratch\nRUN a \\\n# comment\n  b\n")).toEqual([]);
  });
});

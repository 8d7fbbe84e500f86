import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import {
  checkDiagnostics,
  findingToDiagnostic,
  formatBuildErrorText,
  formatChecksJson,
  formatChecksText,
  formatFindingShort,
  runChecks,
  sourceFrame,
  type CheckResult,
} from "./index.ts";

function check(text: string): CheckResult {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, {});
}

const text = "FROM alpine AS BuilD\nRUN true\n";
const source = { fileName: "Dockerfile", text };

describe("docker build --check text", () => {
  it("prints the count, then each warning with its rule, URL, message and BuildKit's source frame", () => {
    expect(formatChecksText(check(text), source)).toBe(
      [
        "Check complete, 1 warning has been found!",
        "",
        "WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
        "Stage name 'BuilD' should be lowercase",
        "Dockerfile:1",
        "--------------------",
        "   1 | >>> FROM alpine AS BuilD",
        "   2 |     RUN true",
        "   3 |     ",
        "--------------------",
        "",
      ].join("\n"),
    );
  });

  it("says so when there is nothing to report", () => {
    const clean = "FROM alpine\n";
    expect(formatChecksText(check(clean), { fileName: "Dockerfile", text: clean })).toBe("Check complete, no warnings found.\n");
  });

  it("counts in the plural and sorts by line", () => {
    const t = "FROM alpine AS A\nMAINTAINER x\n";
    const out = formatChecksText(check(t), { fileName: "Dockerfile", text: t });
    expect(out.startsWith("Check complete, 2 warnings have been found!\n")).toBe(true);
    expect(out.indexOf("StageNameCasing")).toBeLessThan(out.indexOf("MaintainerDeprecated"));
  });

  it("prints the error=true failure as docker does, after the warnings", () => {
    const t = "# check=error=true\nFROM alpine AS A\n";
    const r = check(t);
    const src = { fileName: "Dockerfile", text: t };
    expect(formatChecksText(r, src).endsWith("--------------------\n\n")).toBe(true);
    expect(formatBuildErrorText(r, src)?.split("\n")[0]).toBe("ERROR: lint violation found for rules: StageNameCasing");
    expect(formatBuildErrorText(check(text), source)).toBeUndefined();
  });
});

describe("BuildKit's source frame", () => {
  const ten = Array.from({ length: 10 }, (_, i) => `L${i + 1}`).join("\n");
  it("shows two lines of context around one line and one around a range", () => {
    expect(sourceFrame({ fileName: "f", text: ten }, [{ start: 5, end: 5 }]).split("\n").slice(2, -2)).toEqual([
      "   3 |     L3",
      "   4 |     L4",
      "   5 | >>> L5",
      "   6 |     L6",
      "   7 |     L7",
    ]);
    expect(sourceFrame({ fileName: "f", text: ten }, [{ start: 5, end: 6 }]).split("\n").slice(2, -2)).toEqual([
      "   4 |     L4",
      "   5 | >>> L5",
      "   6 | >>> L6",
      "   7 |     L7",
    ]);
  });

  it("widens one side only at the edges of the file", () => {
    expect(sourceFrame({ fileName: "f", text: ten }, [{ start: 1, end: 1 }]).split("\n")[0]).toBe("f:1");
    expect(sourceFrame({ fileName: "f", text: ten }, [{ start: 1, end: 1 }]).split("\n").slice(2, -2)).toEqual([
      "   1 | >>> L1",
      "   2 |     L2",
      "   3 |     L3",
    ]);
  });
});

describe("--call=check,format=json", () => {
  it("prints BuildKit's lint result: warnings with line locations, and the source", () => {
    const json = JSON.parse(formatChecksJson(check(text), source)) as Record<string, unknown>;
    expect(json).toEqual({
      warnings: [
        {
          ruleName: "StageNameCasing",
          description: "Stage names should be lowercase",
          url: "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
          detail: "Stage name 'BuilD' should be lowercase",
          location: { ranges: [{ start: { line: 1 }, end: { line: 1 } }] },
        },
      ],
      sources: [{ filename: "Dockerfile", data: Buffer.from(text).toString("base64"), language: "Dockerfile" }],
    });
  });

  it("adds buildError when the checks fail the build, and escapes HTML characters like Go", () => {
    const t = "# check=error=true\nFROM alpine\nCOPY <<EOF $x\nhi\nEOF\n";
    const out = formatChecksJson(check(t), { fileName: "Dockerfile", text: t });
    expect(out).not.toContain("<");
    const json = JSON.parse(out) as { buildError: unknown };
    expect(json.buildError).toEqual({
      message: "lint violation found for rules: UndefinedVar",
      location: { ranges: [{ start: { line: 3 }, end: { line: 5 } }] },
    });
  });
});

describe("diagnostics", () => {
  it("maps a finding to HTK-DOCKERFILE-0300 with the rule as a parameter and BuildKit's short form", () => {
    const f = check(text).findings[0];
    if (f === undefined) throw new Error("expected a finding");
    expect(formatFindingShort(f)).toBe("StageNameCasing: Stage name 'BuilD' should be lowercase (line 1)");
    const d = findingToDiagnostic(f, "Dockerfile");
    expect(d.id).toBe("HTK-DOCKERFILE-0300");
    expect(d.severity).toBe("warning");
    expect(d.params).toMatchObject({ rule: "StageNameCasing", url: f.url });
    expect(d.message).toBe("Build check StageNameCasing: Stage name 'BuilD' should be lowercase.");
    expect(d.range).toEqual(f.range);
    expect(d.file).toBe("Dockerfile");
  });
});

describe("checkDiagnostics", () => {
  it("gives a build its warnings, and the error that stops it under error=true", () => {
    expect(checkDiagnostics(check(text)).map((d) => [d.id, d.severity])).toEqual([["HTK-DOCKERFILE-0300", "warning"]]);
    const strict = check("# check=error=true\nFROM alpine AS A\nMAINTAINER x\n");
    expect(checkDiagnostics(strict, "Dockerfile").map((d) => [d.id, d.severity, d.file])).toEqual([
      ["HTK-DOCKERFILE-0300", "error", "Dockerfile"],
      ["HTK-DOCKERFILE-0300", "error", "Dockerfile"],
      ["HTK-DOCKERFILE-0301", "error", "Dockerfile"],
    ]);
    expect(checkDiagnostics(check("# check=error=maybe\nFROM alpine\n")).map((d) => d.id)).toEqual(["HTK-DOCKERFILE-0302"]);
  });
});

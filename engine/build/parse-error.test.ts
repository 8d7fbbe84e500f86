import { describe, expect, it } from "vitest";
import { checkInstructionName, parseDockerfile } from "../../frontend-dockerfile/index.ts";
import { buildkitErrorText, dockerfileFailure } from "./parse-error.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("Dockerfile failures in BuildKit's words", () => {
  it("wraps instructions.Parse errors as 'dockerfile parse error on line N', with the lines to frame and our diagnostic", () => {
    const text = enc("FROM scratch\nFOO bar\n");
    const unknown = checkInstructionName("FOO", { start: { line: 2, column: 1 }, end: { line: 2, column: 4 } });
    const f = dockerfileFailure(unknown === undefined ? [] : [unknown], "Dockerfile", text);
    expect(f).toMatchObject({ message: "dockerfile parse error on line 2: unknown instruction: FOO", diagnosticId: "HTK-DOCKERFILE-0011", lines: { start: 2, end: 2 }, fileName: "Dockerfile" });
    expect(f?.nextStep).toMatch(/^Use one of the Dockerfile instructions: ADD, /);
    const typo = checkInstructionName("COPPY", { start: { line: 3, column: 1 }, end: { line: 3, column: 6 } });
    expect(typo === undefined ? "" : buildkitErrorText(typo)).toBe("dockerfile parse error on line 3: unknown instruction: COPPY (did you mean COPY?)");
  });

  it("keeps the parser's own errors bare, as BuildKit's parser reports them", () => {
    const parsed = parseDockerfile(enc("# just a comment\n"), { fileName: "Dockerfile" });
    const f = dockerfileFailure(parsed.diagnostics, "Dockerfile", enc(""));
    expect(f?.message).toBe("file with no instructions");
    expect(dockerfileFailure([], "Dockerfile", enc(""))).toBeUndefined();
  });
});

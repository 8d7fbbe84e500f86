import type { Diagnostic } from "../../frontend-dockerfile/index.ts";

/**
 * A Dockerfile that could not be built, as BuildKit reports it: its message (BuildKit's words), the
 * lines its code frame marks, and HATAKE's diagnostic beside it.
 */
export interface DockerfileFailure {
  readonly message: string;
  readonly diagnosticId: string;
  readonly nextStep: string;
  /** 1-based, inclusive. */
  readonly lines: { readonly start: number; readonly end: number };
  /** The Dockerfile that was parsed (from the client, or read from a git context) and its name. */
  readonly fileName: string;
  readonly source: Uint8Array;
}

/**
 * The diagnostics that BuildKit's `instructions.Parse` reports (unknown instruction, flags, arguments,
 * RUN --mount, stage names, ONBUILD triggers): it wraps them as "dockerfile parse error on line N: …"
 * (its parseError), with the line where the instruction starts. The parser's own errors (no
 * instructions, a line too long, heredocs, directives) keep their bare text, as there.
 */
const INSTRUCTION_PARSE_ERRORS: ReadonlySet<string> = new Set([
  "HTK-DOCKERFILE-0011",
  "HTK-DOCKERFILE-0200",
  "HTK-DOCKERFILE-0201",
  "HTK-DOCKERFILE-0202",
  "HTK-DOCKERFILE-0203",
  "HTK-DOCKERFILE-0204",
  "HTK-DOCKERFILE-0206",
  "HTK-DOCKERFILE-0209",
]);

/** BuildKit's text for a diagnostic that stops the build (its `buildkitMessage`, wrapped as instructions.Parse does). */
export function buildkitErrorText(d: Diagnostic): string {
  const text = d.buildkitMessage ?? d.message;
  return INSTRUCTION_PARSE_ERRORS.has(d.id) ? `dockerfile parse error on line ${d.range.start.line}: ${text}` : text;
}

/** The first error among diagnostics as a {@link DockerfileFailure}; undefined when there is none. */
export function dockerfileFailure(ds: readonly Diagnostic[], fileName: string, source: Uint8Array): DockerfileFailure | undefined {
  const d = ds.find((x) => x.severity === "error");
  if (d === undefined) return undefined;
  // A diagnostic in another file (a named context's) has no frame in this Dockerfile.
  const framed = d.file === undefined || d.file === fileName;
  return {
    message: buildkitErrorText(d),
    diagnosticId: d.id,
    nextStep: d.next,
    lines: framed ? { start: d.range.start.line, end: Math.max(d.range.start.line, d.range.end.line) } : { start: 0, end: 0 },
    fileName,
    source,
  };
}

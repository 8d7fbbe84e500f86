import { diagnostic } from "../diagnostics.ts";
import type { Diagnostic } from "../types.ts";
import type { CheckResult, Finding, LineRange } from "./types.ts";

/**
 * How check results reach users: the `docker build --check` text and `--call=check,format=json` JSON
 * (buildx `printResult` over BuildKit's `frontend/subrequests/lint` results), the short line a build
 * prints per warning, and the project's diagnostics (HTK-DOCKERFILE-0300/0301).
 */

export interface SourceFile {
  /** As BuildKit names it in its frame header: the Dockerfile's base name, `Dockerfile` by default. */
  readonly fileName: string;
  readonly text: string;
}

/** BuildKit's lint result JSON (`lint.LintResults`), as `--call=check,format=json` prints it. */
export interface LintResultsJson {
  /** `null` when there are none: BuildKit marshals an empty Go slice. */
  readonly warnings: readonly LintWarningJson[] | null;
  readonly sources: readonly { readonly filename: string; readonly data: string; readonly language: string }[];
  readonly buildError?: { readonly message: string; readonly location: LocationJson };
}

export interface LintWarningJson {
  readonly ruleName: string;
  readonly description: string;
  readonly url: string;
  readonly detail: string;
  readonly location: LocationJson;
}

/** pb.Location: `sourceIndex` 0 and columns 0 are omitted by Go's `omitempty`. */
export interface LocationJson {
  readonly ranges: readonly { readonly start: { readonly line: number }; readonly end: { readonly line: number } }[];
}

/** BuildKit's `LintFormatShort`, the one-line form a build prints: `Rule: detail (line N)`. */
export function formatFindingShort(f: Finding): string {
  return `${f.rule}: ${f.message}${f.lines.start > 0 ? ` (line ${f.lines.start})` : ""}`;
}

/** linter.Error(): the rule names that fired, each once, in the order they first fired. */
export function checksFailedMessage(findings: readonly Finding[]): string {
  return `lint violation found for rules: ${[...new Set(findings.map((f) => f.rule))].join(", ")}`;
}

/** The error that ends the check or the build: error=true with findings, else where the conversion stopped. */
export function buildErrorOf(result: CheckResult): { message: string; lines: LineRange } | undefined {
  if (result.configError !== undefined) {
    const line = result.configError.range.start.line;
    return { message: result.configError.buildkitMessage ?? result.configError.message, lines: { start: line, end: line } };
  }
  if (result.stopped !== undefined) {
    return { message: result.stopped.message, lines: { start: result.stopped.range.start.line, end: result.stopped.range.end.line } };
  }
  const first = result.findings[0];
  if (result.asErrors && first !== undefined) return { message: checksFailedMessage(result.findings), lines: first.lines };
  return undefined;
}

/**
 * The text `docker build --check` prints on standard output: a count, then per finding
 * `WARNING: Rule - URL`, the message and BuildKit's source frame; "no warnings found" when clean.
 * The build error, if any, is not part of it (buildx prints it as `ERROR: …` on standard error, see
 * `formatBuildErrorText`).
 */
export function formatChecksText(result: CheckResult, source: SourceFile): string {
  const { findings } = result;
  let out = "";
  if (findings.length > 0) {
    out += `Check complete, ${findings.length === 1 ? "1 warning has" : `${findings.length} warnings have`} been found!\n`;
  }
  for (const f of findings) {
    out += `\nWARNING: ${f.rule} - ${f.url}\n${f.message}\n`;
    out += sourceFrame(source, [f.lines]);
  }
  const error = buildErrorOf(result);
  if (error !== undefined) {
    if (findings.length > 0) out += "\n";
  } else if (findings.length === 0) {
    out += "Check complete, no warnings found.\n";
  }
  return out;
}

/** The build error as docker prints it: `ERROR: message`, then the source frame. */
export function formatBuildErrorText(result: CheckResult, source: SourceFile): string | undefined {
  const error = buildErrorOf(result);
  if (error === undefined) return undefined;
  return `ERROR: ${error.message}\n${sourceFrame(source, [error.lines])}`;
}

export function checksJson(result: CheckResult, source: SourceFile): LintResultsJson {
  const error = buildErrorOf(result);
  return {
    warnings:
      result.findings.length === 0
        ? null
        : result.findings.map((f) => ({
            ruleName: f.rule,
            description: f.description,
            url: f.url,
            detail: f.message,
            location: locationJson(f.lines),
          })),
    sources: [{ filename: source.fileName, data: Buffer.from(source.text, "utf8").toString("base64"), language: "Dockerfile" }],
    ...(error === undefined ? {} : { buildError: { message: error.message, location: locationJson(error.lines) } }),
  };
}

/** Go's json.MarshalIndent(…, "", "  "), which also escapes <, > and & inside strings. */
export function formatChecksJson(result: CheckResult, source: SourceFile): string {
  return JSON.stringify(checksJson(result, source), null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function locationJson(lines: LineRange): LocationJson {
  return { ranges: [{ start: { line: lines.start }, end: { line: lines.end } }] };
}

/**
 * BuildKit's `errdefs.Source.Print`: the file name and first marked line, then the marked lines with
 * `>>>`, padded with context (4 lines around a single line, 2 around a range), between dashed rules.
 */
export function sourceFrame(source: SourceFile, ranges: readonly LineRange[]): string {
  const lines = source.text.replace(/^\uFEFF/, "").split("\n").map((l) => l.replace(/\r$/, ""));
  if (ranges.length === 0) return "";
  let start = Math.min(...ranges.map((r) => r.start));
  let end = Math.max(...ranges.map((r) => Math.max(r.end, r.start)));
  if (start > lines.length || start < 1) return "";
  if (end > lines.length) end = lines.length;
  const pad = end === start ? 4 : 2;
  const firstMarked = start;
  // The same loop as BuildKit: each round widens both sides and counts one extra, so the context is uneven.
  for (let p = 0; p < pad; p++) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
  }
  const marked = (l: number): boolean => ranges.some((r) => r.start <= l && Math.max(r.end, r.start) >= l);
  let out = `${source.fileName}:${firstMarked}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    out += ` ${String(i).padStart(3)} | ${marked(i) ? ">>>" : "   "} ${lines[i - 1] ?? ""}\n`;
  }
  return `${out}--------------------\n`;
}

/** A finding as a project diagnostic (HTK-DOCKERFILE-0300), for build output and the GUI. */
export function findingToDiagnostic(f: Finding, file?: string): Diagnostic {
  return diagnostic("HTK-DOCKERFILE-0300", { rule: f.rule, detail: f.message, url: f.url }, f.severity, f.range, {
    buildkitMessage: formatFindingShort(f),
    ...(file === undefined ? {} : { file }),
  });
}

/** The build-stopping error of error=true (HTK-DOCKERFILE-0301); undefined when the checks pass. */
export function checksFailedDiagnostic(result: CheckResult, file?: string): Diagnostic | undefined {
  const first = result.findings[0];
  if (!result.asErrors || first === undefined) return undefined;
  const rules = [...new Set(result.findings.map((f) => f.rule))].join(", ");
  return diagnostic("HTK-DOCKERFILE-0301", { rules }, "error", first.range, {
    buildkitMessage: checksFailedMessage(result.findings),
    ...(file === undefined ? {} : { file }),
  });
}

/**
 * Everything a build shows the user from the checks, as diagnostics: a 0300 per finding (warnings, or
 * errors under error=true), then the 0301 that stops the build, or the 0302 of an unusable configuration.
 * A build fails when any of them has severity "error".
 */
export function checkDiagnostics(result: CheckResult, file?: string): Diagnostic[] {
  if (result.configError !== undefined) return [file === undefined ? result.configError : { ...result.configError, file }];
  const out = result.findings.map((f) => findingToDiagnostic(f, file));
  const failed = checksFailedDiagnostic(result, file);
  if (failed !== undefined) out.push(failed);
  return out;
}

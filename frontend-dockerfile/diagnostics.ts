import { catalogue, didYouMean, htkError, type Catalogue, type KnownDiagnosticId, type ParamsOf } from "../base/errors/index.ts";
import { INSTRUCTION_NAMES, isInstructionName } from "./arguments.ts";
import type { Diagnostic, Range, Severity } from "./types.ts";

/** A diagnostic from the catalogue: the parameters are checked against the entry at compile time. */
export function diagnostic<Id extends KnownDiagnosticId>(
  id: Id,
  params: ParamsOf<Catalogue[Id]>,
  severity: Severity,
  range: Range,
  extra: { buildkitMessage?: string; suggestion?: string; file?: string } = {},
): Diagnostic {
  const err = htkError(id, params);
  return {
    id,
    severity,
    message: err.plainCause,
    next: err.nextStep,
    range,
    params: err.params,
    ...(extra.buildkitMessage === undefined ? {} : { buildkitMessage: extra.buildkitMessage }),
    ...(extra.suggestion === undefined ? {} : { suggestion: extra.suggestion }),
    ...(extra.file === undefined ? {} : { file: extra.file }),
  };
}

/** True when BuildKit's parser has a rule for the word (case-insensitive): FROM, RUN, … ONBUILD. */
export function knownInstruction(word: string): boolean {
  return isInstructionName(word.toLowerCase());
}

/**
 * The compile stage's check for an instruction word: `undefined` for a known instruction, else
 * HTK-DOCKERFILE-0011 with BuildKit's text, e.g. "unknown instruction: COPPY (did you mean COPY?)".
 */
export function checkInstructionName(word: string, range: Range): Diagnostic | undefined {
  if (knownInstruction(word)) return undefined;
  const upper = INSTRUCTION_NAMES.map((n) => n.toUpperCase());
  const guess = didYouMean(word, upper);
  const suggestion = guess === undefined ? "" : ` (did you mean ${guess}?)`;
  return diagnostic(
    "HTK-DOCKERFILE-0011",
    { instruction: word, suggestion, known: upper.join(", ") },
    "error",
    range,
    guess === undefined ? { buildkitMessage: `unknown instruction: ${word}` } : { buildkitMessage: `unknown instruction: ${word}${suggestion}`, suggestion: guess },
  );
}

/**
 * A code frame for a terminal (the first line styled like base/errors' `renderError`):
 *
 *     ERROR HTK-DOCKERFILE-0005: ENV NAME gives a name but no value; …
 *      --> Dockerfile:3:5
 *       |
 *     3 | ENV NAME
 *       |     ^^^^
 *       = next step: Write ENV NAME=value …
 */
export function renderDiagnostic(diag: Diagnostic, sourceText: string, fileName: string = diag.file ?? "Dockerfile"): string {
  const { start, end } = diag.range;
  const lines = sourceText.split("\n");
  const out = [`${diag.severity.toUpperCase()} ${diag.id}: ${diag.message}`, ` --> ${fileName}:${start.line}:${start.column}`];
  const lastLine = Math.min(end.line, start.line + 4, lines.length);
  const gutter = String(Math.max(lastLine, start.line)).length;
  const pad = " ".repeat(gutter);
  out.push(`${pad} |`);
  for (let ln = start.line; ln <= Math.max(lastLine, start.line); ln++) {
    let text = (lines[ln - 1] ?? "").replace(/\r+$/, "");
    const bom = ln === 1 && text.charCodeAt(0) === 0xfeff ? 1 : 0;
    text = text.slice(bom);
    const from = ln === start.line ? start.column : firstNonBlank(text);
    const to = ln === end.line ? end.column : text.length + 1;
    // Long lines (up to 64 KiB) are shown as a window around the start of the range.
    const winStart = text.length > FRAME_WIDTH ? Math.max(0, Math.min(from - 1 - FRAME_CONTEXT, text.length - FRAME_WIDTH)) : 0;
    const winEnd = Math.min(text.length, winStart + FRAME_WIDTH);
    const lead = winStart > 0 ? "…" : "";
    out.push(`${String(ln).padStart(gutter)} | ${lead}${visible(text.slice(winStart, winEnd))}${winEnd < text.length ? "…" : ""}`);
    const caretFrom = Math.max(winStart, from - 1);
    const width = Math.max(1, Math.min(to - 1, winEnd + 1) - caretFrom);
    out.push(`${pad} | ${lead.replace("…", " ")}${visible(text.slice(winStart, caretFrom)).replace(/[^\t]/g, " ")}${"^".repeat(width)}`);
  }
  if (end.line > lastLine && end.line > start.line) out.push(`${pad} | …`);
  out.push(`${pad} = next step: ${diag.next}`);
  return out.join("\n");
}

const FRAME_WIDTH = 120;
const FRAME_CONTEXT = 40;

/** Control characters would garble the frame; tabs stay so that carets line up. */
function visible(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "?");
}

function firstNonBlank(s: string): number {
  let i = 0;
  while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  return i + 1;
}

/** Every ID this layer can produce (for docs and tests). */
export const PARSER_DIAGNOSTIC_IDS = (Object.keys(catalogue) as KnownDiagnosticId[]).filter((id) => /^HTK-DOCKERFILE-00\d\d$/.test(id));

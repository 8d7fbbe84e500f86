import { isAsciiBlank, isByteSpace } from "./chars.ts";
import { parseJsonArray } from "./json-args.ts";
import type { LogicalLine } from "./source.ts";
import type {
  EscapeToken,
  ExecFormArguments,
  InstructionArguments,
  InstructionName,
  KeyValuePair,
  NoArguments,
  Range,
  ShellFormArguments,
  Word,
} from "./types.ts";
import { parseWords, splitAsciiBlank, type RawWord } from "./words.ts";

/**
 * The per-instruction argument rules: BuildKit's dispatch table (`line_parsers.go`). Each rule gets the
 * text after the flags (trimmed) and its offset in the logical line, and returns the arguments or a
 * rejection. ONBUILD is handled by the parser, which owns recursion into whole instructions.
 */

export interface ArgContext {
  readonly line: LogicalLine;
  readonly escape: EscapeToken;
  /** The instruction keyword as written (for messages: `ENV must have two arguments`). */
  readonly keywordText: string;
}

export type ArgRejection =
  | { readonly kind: "env-missing-value"; readonly instruction: string; readonly name: string; readonly start: number; readonly end: number }
  | { readonly kind: "env-missing-equals"; readonly instruction: string; readonly word: string; readonly start: number; readonly end: number }
  | { readonly kind: "json-not-strings"; readonly elementType: string; readonly start: number; readonly end: number };

export type ArgOutcome = { readonly ok: true; readonly args: InstructionArguments } | { readonly ok: false; readonly rejection: ArgRejection };

type Rule = (rest: string, restStart: number, ctx: ArgContext) => ArgOutcome;

const NONE: NoArguments = { kind: "none" };

function ok(args: InstructionArguments): ArgOutcome {
  return { ok: true, args };
}

function word(ctx: ArgContext, value: string, start: number, end: number): Word {
  return { kind: "word", value, raw: ctx.line.text.slice(start, end), range: ctx.line.rangeOf(start, end) };
}

function span(ctx: ArgContext, rest: string, restStart: number): Range {
  return ctx.line.rangeOf(restStart, restStart + rest.length);
}

function rawWord(ctx: ArgContext, w: RawWord): Word {
  return word(ctx, w.value, w.start, w.end);
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings, or else the whole text as one argument. */
const maybeJson: Rule = (rest, restStart, ctx) => {
  if (rest === "") return ok(NONE);
  const r = execOrShell(rest, restStart, ctx);
  return r.ok ? ok(r.args) : r;
};

function execOrShell(
  rest: string,
  restStart: number,
  ctx: ArgContext,
): { ok: true; args: ExecFormArguments | ShellFormArguments } | { ok: false; rejection: ArgRejection } {
  const json = parseJsonArray(rest);
  switch (json.kind) {
    case "strings":
      return {
        ok: true,
        args: { kind: "exec", words: json.elements.map((e) => word(ctx, e.value, restStart + e.start, restStart + e.end)), range: span(ctx, rest, restStart) },
      };
    case "not-strings":
      return { ok: false, rejection: { kind: "json-not-strings", elementType: json.elementType, start: restStart, end: restStart + rest.length } };
    case "not-json":
      return { ok: true, args: { kind: "shell", text: word(ctx, rest, restStart, restStart + rest.length), range: span(ctx, rest, restStart) } };
  }
}

/** ADD, COPY, VOLUME: a JSON array of strings, or else words split on blanks. */
const maybeJsonList: Rule = (rest, restStart, ctx) => {
  const json = parseJsonArray(rest);
  switch (json.kind) {
    case "strings":
      return ok({
        kind: "exec",
        words: json.elements.map((e) => word(ctx, e.value, restStart + e.start, restStart + e.end)),
        range: span(ctx, rest, restStart),
      });
    case "not-strings":
      return { ok: false, rejection: { kind: "json-not-strings", elementType: json.elementType, start: restStart, end: restStart + rest.length } };
    case "not-json":
      return whitespaceDelimited(rest, restStart, ctx);
  }
};

/** FROM, EXPOSE (and the ADD/COPY/VOLUME fallback): split on runs of `[\t\v\f\r ]`. */
const whitespaceDelimited: Rule = (rest, restStart, ctx) => {
  if (rest === "") return ok(NONE);
  return ok({ kind: "list", words: splitAsciiBlank(rest, restStart).map((w) => rawWord(ctx, w)), range: span(ctx, rest, restStart) });
};

/** USER, WORKDIR, MAINTAINER, STOPSIGNAL: the whole rest, one argument. */
const wholeString: Rule = (rest, restStart, ctx) => {
  if (rest === "") return ok(NONE);
  return ok({ kind: "string", text: word(ctx, rest, restStart, restStart + rest.length), range: span(ctx, rest, restStart) });
};

/** ARG: quote-aware words, `name=value` not split. */
const nameOrNameValue: Rule = (rest, restStart, ctx) => {
  const words = parseWords(rest, ctx.escape, restStart);
  if (words.length === 0) return ok(NONE);
  return ok({ kind: "list", words: words.map((w) => rawWord(ctx, w)), range: span(ctx, rest, restStart) });
};

/**
 * ENV, LABEL. The first word decides the form: without `=` it is the legacy `KEY value…` form, where
 * the key is the first blank-delimited token and the value the rest verbatim; with `=` every word must
 * be `key=value`, split at the first `=`, quotes and escapes kept raw.
 */
const nameValue: Rule = (rest, restStart, ctx) => {
  const words = parseWords(rest, ctx.escape, restStart);
  const first = words[0];
  if (first === undefined) return ok(NONE);
  if (!first.value.includes("=")) {
    const parts = splitFirstBlankRun(rest);
    if (parts === undefined) {
      return {
        ok: false,
        rejection: { kind: "env-missing-value", instruction: ctx.keywordText.toUpperCase(), name: rest, start: restStart, end: restStart + rest.length },
      };
    }
    const key = word(ctx, rest.slice(0, parts.keyEnd), restStart, restStart + parts.keyEnd);
    const value = word(ctx, rest.slice(parts.valueStart), restStart + parts.valueStart, restStart + rest.length);
    const pair: KeyValuePair = { kind: "key-value-pair", key, value, range: ctx.line.rangeOf(restStart, restStart + rest.length) };
    return ok({ kind: "key-value", form: "legacy", pairs: [pair], range: span(ctx, rest, restStart) });
  }
  const pairs: KeyValuePair[] = [];
  for (const w of words) {
    const eq = w.value.indexOf("=");
    if (eq < 0) {
      return {
        ok: false,
        rejection: { kind: "env-missing-equals", instruction: ctx.keywordText.toUpperCase(), word: w.value, start: w.start, end: w.end },
      };
    }
    // The word's characters map one to one onto the source (only a final lone escape is ever dropped).
    const key = word(ctx, w.value.slice(0, eq), w.start, w.start + eq);
    const value = word(ctx, w.value.slice(eq + 1), w.start + eq + 1, Math.max(w.start + eq + 1, w.end));
    pairs.push({ kind: "key-value-pair", key, value, range: ctx.line.rangeOf(w.start, w.end) });
  }
  return ok({ kind: "key-value", form: "equals", pairs, range: span(ctx, rest, restStart) });
};

/** BuildKit `reWhitespace.Split(rest, 2)`: key before the first `[\t\v\f\r ]` run, value after it. */
function splitFirstBlankRun(rest: string): { keyEnd: number; valueStart: number } | undefined {
  for (let i = 0; i < rest.length; i++) {
    if (isAsciiBlank(rest.charCodeAt(i))) {
      let j = i;
      while (j < rest.length && isAsciiBlank(rest.charCodeAt(j))) j++;
      return { keyEnd: i, valueStart: j };
    }
  }
  return undefined;
}

/**
 * HEALTHCHECK: the first word is the type (`CMD`, `NONE` …), the remainder is maybe-JSON like CMD.
 * BuildKit finds the word's end byte by byte, so only ASCII spaces end it.
 */
const healthcheck: Rule = (rest, restStart, ctx) => {
  let sep = 0;
  while (sep < rest.length && !isByteSpace(rest.charCodeAt(sep))) sep++;
  if (sep === 0) return ok(NONE);
  let next = sep;
  while (next < rest.length && isByteSpace(rest.charCodeAt(next))) next++;
  const type = word(ctx, rest.slice(0, sep), restStart, restStart + sep);
  const cmdText = rest.slice(next);
  if (cmdText === "") return ok({ kind: "healthcheck", type, command: NONE, range: span(ctx, rest, restStart) });
  const r = execOrShell(cmdText, restStart + next, ctx);
  return r.ok ? ok({ kind: "healthcheck", type, command: r.args, range: span(ctx, rest, restStart) }) : r;
};

/** BuildKit's dispatch table, minus ONBUILD (see the parser). */
export const ARGUMENT_RULES: Readonly<Record<Exclude<InstructionName, "onbuild">, Rule>> = {
  add: maybeJsonList,
  arg: nameOrNameValue,
  cmd: maybeJson,
  copy: maybeJsonList,
  entrypoint: maybeJson,
  env: nameValue,
  expose: whitespaceDelimited,
  from: whitespaceDelimited,
  healthcheck,
  label: nameValue,
  maintainer: wholeString,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: wholeString,
  user: wholeString,
  volume: maybeJsonList,
  workdir: wholeString,
};

export const INSTRUCTION_NAMES: readonly InstructionName[] = ([...Object.keys(ARGUMENT_RULES), "onbuild"] as InstructionName[]).sort();

export function isInstructionName(word: string): word is InstructionName {
  return word === "onbuild" || Object.prototype.hasOwnProperty.call(ARGUMENT_RULES, word);
}

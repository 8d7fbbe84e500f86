import nearley from "nearley";
import type moo from "moo";
import { trimSpaceBounds } from "./chars.ts";
import instructionLineGrammar from "./gen/instruction-line.ts";

/**
 * BuildKit `splitCommand` + `extractBuilderFlags` on one logical line, through the nearley grammar in
 * `grammar/instruction-line.ne`. Offsets are relative to the line given.
 */

const compiled = nearley.Grammar.fromCompiled(instructionLineGrammar);

interface Cons<T> {
  readonly head: T;
  readonly tail: Cons<T> | null;
}

interface LineParse {
  readonly keyword: moo.Token;
  readonly items: Cons<moo.Token> | null;
}

export interface FlagWord {
  /** Quotes removed, backslash escapes applied. */
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

export interface SplitLine {
  /** Empty for an empty line (BuildKit then dispatches the empty command name). */
  readonly keyword: string;
  readonly keywordStart: number;
  readonly keywordEnd: number;
  readonly flags: readonly FlagWord[];
  /** The arguments after the flags, trimmed (BuildKit `strings.TrimSpace(args)`). */
  readonly rest: string;
  readonly restStart: number;
}

export function splitInstructionLine(line: string): SplitLine {
  const [a, b] = trimSpaceBounds(line);
  if (a === b) return { keyword: "", keywordStart: a, keywordEnd: a, flags: [], rest: "", restStart: a };
  const parser = new nearley.Parser(compiled);
  parser.feed(line.slice(a, b));
  const parsed = parser.results[0] as LineParse | undefined;
  if (parsed === undefined) throw new Error(`BUG: instruction line grammar rejected ${JSON.stringify(line)}`);
  const tokens = toArray(parsed.items);
  const flags: FlagWord[] = [];
  let restStart = b;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok === undefined) break;
    if (tok.type !== "flag") {
      restStart = a + tok.offset;
      break;
    }
    const value = flagValue(tok.text);
    // A word that reads "--" ends the flags and is dropped; the rest starts at the next word.
    if (value === "--") {
      const next = tokens[i + 1];
      restStart = next === undefined ? b : a + next.offset;
      break;
    }
    flags.push({ value, start: a + tok.offset, end: a + tok.offset + tok.text.length });
  }
  const [ra, rb] = trimSpaceBounds(line, restStart, b);
  return {
    keyword: parsed.keyword.text,
    keywordStart: a,
    keywordEnd: a + parsed.keyword.text.length,
    flags,
    rest: line.slice(ra, rb),
    restStart: ra,
  };
}

function toArray<T>(list: Cons<T> | null): T[] {
  const out: T[] = [];
  for (let c = list; c !== null; c = c.tail) out.push(c.head);
  return out.reverse();
}

/**
 * The flag word as BuildKit keeps it: quote characters removed (spaces inside quotes kept), a
 * backslash makes the next character literal, inside quotes too, whatever the escape directive says;
 * a backslash at the very end is dropped.
 */
export function flagValue(raw: string): string {
  let out = "";
  let quote = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? "";
    if (quote === "" && (ch === "'" || ch === '"')) {
      quote = ch;
      continue;
    }
    if (quote !== "" && ch === quote) {
      quote = "";
      continue;
    }
    if (ch === "\\") {
      if (i + 1 === raw.length) continue;
      i++;
      out += raw[i] ?? "";
      continue;
    }
    out += ch;
  }
  return out;
}

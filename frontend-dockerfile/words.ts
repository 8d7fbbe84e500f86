import { isAsciiBlank, isGoSpace } from "./chars.ts";
import type { EscapeToken } from "./types.ts";

/** A word with its offsets `[start, end)` in the text it was read from. */
export interface RawWord {
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

const SPACES = 0;
const WORD = 1;
const QUOTE = 2;

/**
 * BuildKit `parseWords` (ARG, and ENV/LABEL in `name=value` form): words split on `unicode.IsSpace`
 * outside quotes. Quote characters stay in the word; the escape character keeps itself and the next
 * character (even a quote, which then opens nothing); inside single quotes it has no special meaning;
 * an escape character at the very end is dropped. Offsets are relative to `offset`.
 */
export function parseWords(text: string, escape: EscapeToken, offset = 0): RawWord[] {
  const words: RawWord[] = [];
  const n = text.length;
  let phase = SPACES;
  let quote = "";
  let blankOK = false;
  let word = "";
  let wordStart = 0;
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? (text[pos] ?? "") : "";
    if (phase === SPACES) {
      if (pos === n) break;
      if (isGoSpace(text.charCodeAt(pos))) continue;
      phase = WORD;
      wordStart = pos;
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push({ value: word, start: offset + wordStart, end: offset + n });
      break;
    }
    if (phase === WORD) {
      if (isGoSpace(text.charCodeAt(pos))) {
        phase = SPACES;
        if (blankOK || word.length > 0) words.push({ value: word, start: offset + wordStart, end: offset + pos });
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
      }
      if (ch === escape) {
        if (pos + 1 === n) continue;
        word += ch;
        pos++;
        ch = text[pos] ?? "";
      }
      word += ch;
      continue;
    }
    // phase === QUOTE
    if (ch === quote) phase = WORD;
    if (ch === escape && quote !== "'") {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      pos++;
      word += ch;
      ch = text[pos] ?? "";
    }
    word += ch;
  }
  return words;
}

/**
 * BuildKit `reWhitespace.Split(text, -1)`: fields between runs of `[\t\v\f\r ]` (ASCII only; other
 * Unicode spaces stay inside words).
 */
export function splitAsciiBlank(text: string, offset = 0): RawWord[] {
  const out: RawWord[] = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i <= n) {
    if (i === n || isAsciiBlank(text.charCodeAt(i))) {
      out.push({ value: text.slice(start, i), start: offset + start, end: offset + i });
      if (i === n) break;
      while (i < n && isAsciiBlank(text.charCodeAt(i))) i++;
      start = i;
      continue;
    }
    i++;
  }
  return out;
}

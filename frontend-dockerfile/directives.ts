import { isRe2Space } from "./chars.ts";
import type { DirectiveName } from "./types.ts";

/**
 * Parser directives (BuildKit `possibleParserDirective`): only the lines at the very top of the file
 * of the form `# name = value`, tested with BuildKit's regexp `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
 * (RE2 `\s`) on the line with its indentation removed. The first line that is not such a directive with a
 * known name — a blank line, another comment, an instruction — ends the block for good.
 *
 * `check` is recognised as BuildKit does from v0.14 (build checks); v0.13 knew `syntax` and `escape`.
 */
export const DIRECTIVE_NAMES: readonly DirectiveName[] = ["syntax", "escape", "check"];

export interface DirectiveMatch {
  /** Lowercased. */
  readonly name: string;
  readonly value: string;
  /** Offsets in the line given. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

/**
 * Hand-written instead of a JavaScript regexp: the lazy `(.+?)\s*$` backtracks quadratically on long runs
 * of blanks, and the semantics (including "an all-blank value is its last blank") must stay RE2's.
 */
export function matchDirective(line: string): DirectiveMatch | undefined {
  if (line.charCodeAt(0) !== 0x23 /* # */) return undefined;
  let i = 1;
  const n = line.length;
  while (i < n && isRe2Space(line.charCodeAt(i))) i++;
  const nameStart = i;
  if (!isAsciiLetter(line.charCodeAt(i))) return undefined;
  i++;
  while (i < n && (isAsciiLetter(line.charCodeAt(i)) || isAsciiDigit(line.charCodeAt(i)))) i++;
  const name = line.slice(nameStart, i).toLowerCase();
  while (i < n && isRe2Space(line.charCodeAt(i))) i++;
  if (line.charCodeAt(i) !== 0x3d /* = */) return undefined;
  i++;
  const afterEq = i;
  while (i < n && isRe2Space(line.charCodeAt(i))) i++;
  let end = n;
  while (end > i && isRe2Space(line.charCodeAt(end - 1))) end--;
  if (end > i) return { name, value: line.slice(i, end), valueStart: i, valueEnd: end };
  // Only blanks after "=": `.+?` must take one character, so RE2 gives it the last blank.
  if (n > afterEq) return { name, value: line.slice(n - 1), valueStart: n - 1, valueEnd: n };
  return undefined;
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isAsciiDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Character classes with Go's meaning, because BuildKit's parser mixes three notions of "space" and the
 * differences are observable: `unicode.IsSpace` (word splitting, trimming), the ASCII class
 * `[\t\v\f\r ]` (keyword split, FROM/EXPOSE split, legacy ENV split) and RE2's `\s` = `[\t\n\f\r ]`
 * (parser directives). JavaScript's `\s` is none of them (it includes U+FEFF and lacks U+0085).
 */

/** Go `unicode.IsSpace` for one UTF-16 unit (no Go space is outside the BMP). */
export function isGoSpace(c: number): boolean {
  if (c <= 0xff) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

/**
 * `unicode.IsSpace(rune(b))` on a single byte `b`, which is what BuildKit's flag and HEALTHCHECK scanners
 * test: on valid UTF-8 text only the ASCII spaces can match a whole character.
 */
export function isByteSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** BuildKit's `reWhitespace` class `[\t\v\f\r ]`. */
export function isAsciiBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d;
}

/** RE2 `\s`: `[\t\n\f\r ]` (no vertical tab). */
export function isRe2Space(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/** Go `strings.TrimSpace` as offsets: `[start, end)` of `s` without leading/trailing Go spaces. */
export function trimSpaceBounds(s: string, from = 0, to = s.length): [number, number] {
  let a = from;
  let b = to;
  while (a < b && isGoSpace(s.charCodeAt(a))) a++;
  while (b > a && isGoSpace(s.charCodeAt(b - 1))) b--;
  return [a, b];
}

/** Go `strings.TrimLeftFunc(s, unicode.IsSpace)` as an offset. */
export function skipGoSpace(s: string, from = 0): number {
  let a = from;
  while (a < s.length && isGoSpace(s.charCodeAt(a))) a++;
  return a;
}

/**
 * Go `strconv.Quote`: `"` and `\` escaped, \a \b \f \n \r \t \v by name, other control characters
 * as `\xNN`, non-printable runes as `\uNNNN` / `\UNNNNNNNN`, printable non-ASCII kept as UTF-8.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    switch (c) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += "\\\\";
        continue;
      case 0x07:
        out += "\\a";
        continue;
      case 0x08:
        out += "\\b";
        continue;
      case 0x0c:
        out += "\\f";
        continue;
      case 0x0a:
        out += "\\n";
        continue;
      case 0x0d:
        out += "\\r";
        continue;
      case 0x09:
        out += "\\t";
        continue;
      case 0x0b:
        out += "\\v";
        continue;
    }
    if (c < 0x20 || c === 0x7f) out += `\\x${hex(c, 2)}`;
    else if (c < 0x7f || isGoPrint(ch)) out += ch;
    else if (c < 0x10000) out += `\\u${hex(c, 4)}`;
    else out += `\\U${hex(c, 8)}`;
  }
  return `${out}"`;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and U+0020. */
function isGoPrint(ch: string): boolean {
  return ch === " " || PRINTABLE.test(ch);
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * The shell-word processor of the Dockerfile frontend, a re-creation of BuildKit's
 * `frontend/dockerfile/shell/lex.go` (behaviour of v0.13 plus the later `${V-w}`, `${V+w}`, `${V?m}`,
 * `#`, `%` and `/` operators, checked against BuildKit's `envVarTest`/`wordsTest` data).
 *
 * - Quotes: `'…'` is literal; `"…"` expands `$` and lets the escape character quote only `$`, `"` and the
 *   escape character itself; unquoted, the escape character quotes any next character.
 * - The escape character is `\` or, under `# escape=\``, a backtick. Pattern escapes inside `#`, `%`
 *   and `/` operators are always backslashes, as in BuildKit.
 * - Two outputs from one pass: the word as one string (`processWord`) and the word list split like a
 *   POSIX shell, where only unquoted expansions are split (`processWords`); plus the names that were
 *   found and not found (`processWordWithMatches`), which the UndefinedVar build check needs.
 * - Bad input never throws: every entry point returns `{ ok: false, error }` with an HtkError
 *   (HTK-DOCKERFILE-0100…0103) whose `details.buildkitMessage` is BuildKit's exact error text.
 */
import { htkError, type HtkError } from "../../base/errors/index.ts";
import type { EnvGetter, EscapeToken, LexOptions, LexResult, ProcessWordResult, ShellEnv } from "./types.ts";

export type { EnvGetter, EscapeToken, LexOptions, LexResult, ProcessWordResult, ShellEnv, ShellPlatform } from "./types.ts";

/** Expands one word into one string (BuildKit `ProcessWord`). */
export function processWord(word: string, env: ShellEnv, options: LexOptions = {}): LexResult<string> {
  const r = processWordWithMatches(word, env, options);
  return r.ok ? { ok: true, value: r.value.result } : r;
}

/** Expands one word into a list of words (BuildKit `ProcessWords`: EXPOSE, VOLUME, ARG lists …). */
export function processWords(word: string, env: ShellEnv, options: LexOptions = {}): LexResult<readonly string[]> {
  const r = processWordWithMatches(word, env, options);
  return r.ok ? { ok: true, value: r.value.words } : r;
}

/** Both outputs plus the variables that were used and not found (BuildKit `ProcessWordWithMatches`). */
export function processWordWithMatches(
  word: string,
  env: ShellEnv,
  options: LexOptions = {},
): LexResult<ProcessWordResult> {
  const sw = new ShellWord(word, resolveEnv(env, options.platform === "windows"), options);
  try {
    const { text, words } = sw.processStopOn(EOF, options.rawEscapes ?? false);
    return { ok: true, value: { result: text, words, matched: sw.matched, unmatched: sw.unmatched } };
  } catch (err) {
    if (err instanceof LexFailure) return { ok: false, error: toHtkError(err, word, options.escapeToken ?? "\\") };
    throw err;
  }
}

/** BuildKit `BuildEnvs`: `NAME=value` list to a map, later entries win, `NAME` alone means empty. */
export function envFromList(list: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of list) {
    const i = entry.indexOf("=");
    if (i < 0) out.set(entry, "");
    else out.set(entry.slice(0, i), entry.slice(i + 1));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Errors

type FailureKind = "unterminated" | "bad-substitution" | "required" | "invalid-pattern";

/** Internal control flow only: converted to an HtkError before it leaves this module. */
class LexFailure {
  constructor(
    readonly kind: FailureKind,
    readonly detail: string,
    readonly variable = "",
  ) {}
}

function toHtkError(f: LexFailure, word: string, escape: EscapeToken): HtkError {
  const quoted = goQuote(word);
  // BuildKit wraps every lexer error the same way; keep the exact text for tools that compare output.
  const details = { buildkitMessage: `failed to process ${quoted}: ${f.detail}` };
  switch (f.kind) {
    case "unterminated":
      return htkError("HTK-DOCKERFILE-0100", { word: quoted, detail: f.detail, escape }, { details });
    case "bad-substitution":
      return htkError("HTK-DOCKERFILE-0101", { word: quoted, detail: f.detail, escape }, { details });
    case "required":
      return htkError("HTK-DOCKERFILE-0102", { word: quoted, detail: f.detail, name: f.variable }, { details });
    case "invalid-pattern":
      return htkError("HTK-DOCKERFILE-0103", { word: quoted, detail: f.detail }, { details });
    default:
      return assertNever(f.kind);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

/** Go's `%q`, so `details.buildkitMessage` reads exactly like BuildKit's error. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case "\\": out += "\\\\"; continue;
      case "\x07": out += "\\a"; continue;
      case "\b": out += "\\b"; continue;
      case "\f": out += "\\f"; continue;
      case "\n": out += "\\n"; continue;
      case "\r": out += "\\r"; continue;
      case "\t": out += "\\t"; continue;
      case "\v": out += "\\v"; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (/[\p{L}\p{M}\p{N}\p{P}\p{S}]|\u0020/u.test(ch)) out += ch;
    else if (cp > 0xffff) out += `\\U${cp.toString(16).padStart(8, "0")}`;
    else out += `\\u${cp.toString(16).padStart(4, "0")}`;
  }
  return out + '"';
}

// ---------------------------------------------------------------------------------------------------
// Environment

interface ResolvedEnv {
  lookup(name: string): string | undefined;
}

function resolveEnv(env: ShellEnv, caseInsensitive: boolean): ResolvedEnv {
  // BuildKit NormalizeEnvKey: upper-case on Windows, identity elsewhere.
  const norm = caseInsensitive ? (k: string) => k.toUpperCase() : (k: string) => k;
  if (isEnvList(env)) {
    const m = new Map<string, string>();
    for (const [k, v] of envFromList(env)) m.set(norm(k), v);
    return { lookup: (name) => m.get(norm(name)) };
  }
  if (caseInsensitive && env.keys !== undefined) {
    const m = new Map<string, string>();
    for (const k of env.keys()) {
      const v = env.get(k);
      if (v !== undefined) m.set(norm(k), v);
    }
    return { lookup: (name) => m.get(norm(name)) };
  }
  return { lookup: (name) => (env as EnvGetter).get(name) };
}

function isEnvList(env: ShellEnv): env is readonly string[] {
  return Array.isArray(env);
}

// ---------------------------------------------------------------------------------------------------
// The scanner: code points, Go text/scanner's Peek/Next contract.

const EOF = -1;

/** Go's unicode.IsSpace (JS `\s` differs: it includes U+FEFF and lacks U+0085). */
function isSpace(cp: number): boolean {
  switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0x85: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200a;
  }
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

function isLetter(cp: number): boolean {
  return cp >= 0 && LETTER.test(String.fromCodePoint(cp));
}

function isDigit(cp: number): boolean {
  return cp >= 0 && DIGIT.test(String.fromCodePoint(cp));
}

/** POSIX special parameters: never set in a Dockerfile, but they are names, so `${#:+x}` is valid. */
function isSpecialParam(cp: number): boolean {
  return cp >= 0 && "@*#?-$!0".includes(String.fromCodePoint(cp));
}

/** Word accumulator for the list mode (BuildKit `wordsStruct`, including its empty-quote behaviour). */
class Words {
  private word = "";
  private inWord = false;
  readonly words: string[] = [];

  addChar(ch: string): void {
    const space = isSpace(ch.codePointAt(0) ?? EOF);
    if (space && this.inWord) {
      // An empty quoted string ("") marks "in a word" but never becomes one.
      if (this.word.length !== 0) {
        this.words.push(this.word);
        this.word = "";
        this.inWord = false;
      }
    } else if (!space) {
      this.addRaw(ch);
    }
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRaw(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = "";
      this.inWord = false;
    }
    return this.words;
  }
}

class ShellWord {
  private readonly chars: number[];
  private pos = 0;
  private readonly escape: number;
  private rawEscapes: boolean;
  private readonly rawQuotes: boolean;
  private readonly skipQuotes: boolean;
  private readonly skipUnset: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: ResolvedEnv,
    options: LexOptions,
  ) {
    this.chars = Array.from(word, (c) => c.codePointAt(0) ?? 0);
    // Go's text/scanner drops a byte-order mark at the very start.
    if (this.chars[0] === 0xfeff) this.pos = 1;
    this.escape = (options.escapeToken ?? "\\").codePointAt(0) ?? 0x5c;
    this.rawEscapes = options.rawEscapes ?? false;
    this.rawQuotes = options.rawQuotes ?? false;
    this.skipQuotes = options.skipProcessQuotes ?? false;
    this.skipUnset = options.skipUnsetEnv ?? false;
  }

  private peek(): number {
    return this.chars[this.pos] ?? EOF;
  }

  private next(): number {
    const c = this.chars[this.pos];
    if (c === undefined) return EOF;
    this.pos++;
    return c;
  }

  /** Reads until `stop` (consumed) or the end; `rawEscapes` applies while inside (BuildKit processStopOn). */
  processStopOn(stop: number, rawEscapes: boolean): { text: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.stopOn(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private stopOn(stop: number): { text: string; words: string[] } {
    let text = "";
    const words = new Words();
    const SQ = 0x27;
    const DQ = 0x22;
    const DOLLAR = 0x24;
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { text, words: words.finish() };
      }
      if (ch === DOLLAR) {
        const v = this.processDollar();
        text += v;
        // Unquoted expansions are split into words; quoted ones below are kept whole.
        words.addString(v);
      } else if (!this.skipQuotes && (ch === SQ || ch === DQ)) {
        const v = ch === SQ ? this.processSingleQuote() : this.processDoubleQuote();
        text += v;
        words.addRaw(v);
      } else {
        let c = this.next();
        if (c === this.escape) {
          if (this.rawEscapes) {
            const e = String.fromCodePoint(c);
            words.addRaw(e);
            text += e;
          }
          c = this.next();
          // A lone escape at the end of the word disappears.
          if (c === EOF) break;
          const s = String.fromCodePoint(c);
          words.addRaw(s);
          text += s;
        } else {
          const s = String.fromCodePoint(c);
          words.addChar(s);
          text += s;
        }
      }
    }
    if (stop !== EOF) {
      throw new LexFailure("unterminated", `unexpected end of statement while looking for matching ${String.fromCodePoint(stop)}`);
    }
    return { text, words: words.finish() };
  }

  private processSingleQuote(): string {
    let out = "";
    const open = this.next();
    if (this.rawQuotes) out += String.fromCodePoint(open);
    for (;;) {
      const c = this.next();
      if (c === EOF) throw new LexFailure("unterminated", "unexpected end of statement while looking for matching single-quote");
      if (c === 0x27) {
        if (this.rawQuotes) out += "'";
        return out;
      }
      out += String.fromCodePoint(c);
    }
  }

  private processDoubleQuote(): string {
    let out = "";
    const open = this.next();
    if (this.rawQuotes) out += String.fromCodePoint(open);
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new LexFailure("unterminated", "unexpected end of statement while looking for matching double-quote");
      if (p === 0x22) {
        this.next();
        if (this.rawQuotes) out += '"';
        return out;
      }
      if (p === 0x24) {
        out += this.processDollar();
        continue;
      }
      let c = this.next();
      if (c === this.escape) {
        if (this.rawEscapes) out += String.fromCodePoint(c);
        const n = this.peek();
        // An escape right before the end is dropped; the missing quote is reported next round.
        if (n === EOF) continue;
        // POSIX: inside double quotes the escape only quotes $, " and itself; otherwise it stays.
        if (n === 0x22 || n === 0x24 || n === this.escape) c = this.next();
      }
      out += String.fromCodePoint(c);
    }
  }

  private processDollar(): string {
    this.next(); // the $
    if (this.peek() !== 0x7b) {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && this.skipUnset) return `$${name}`;
      return value ?? "";
    }
    this.next(); // the {
    const first = this.peek();
    if (first === EOF) throw new LexFailure("unterminated", "syntax error: missing '}'");
    if (first === 0x7b || first === 0x7d || first === 0x3a) {
      throw new LexFailure("bad-substitution", "syntax error: bad substitution");
    }
    const name = this.processName();
    let ch = this.next();
    // BuildKit would report "unsupported modifier (\uFFFD)" here; the missing brace is the real cause.
    if (ch === EOF) throw new LexFailure("unterminated", "syntax error: missing '}'");
    let op = String.fromCodePoint(ch);

    if (ch === 0x7d) {
      const value = this.getEnv(name);
      if (value === undefined && this.skipUnset) return `\${${name}}`;
      return value ?? "";
    }

    if (ch === 0x2f) return this.processReplace(name);

    let nullIsUnset = false;
    if (ch === 0x3a) {
      nullIsUnset = true;
      ch = this.next();
      op += ch === EOF ? "" : String.fromCodePoint(ch);
    } else if (!"+-?#%".includes(op)) {
      throw new LexFailure("bad-substitution", `unsupported modifier (${op}) in substitution`);
    }

    const isPatternOp = ch === 0x23 || ch === 0x25;
    // BuildKit has no ${V:#p} / ${V:%p}; it rejects them before reading the word.
    if (nullIsUnset && isPatternOp) throw new LexFailure("bad-substitution", `unsupported modifier (${op}) in substitution`);
    // Pattern words keep their escapes so that \* stays a literal star for the matcher.
    let arg = this.wordUntilBrace(isPatternOp);

    const value = this.getEnv(name);
    if (this.skipUnset && value === undefined) return `\${${name}${op}${arg}}`;
    const empty = value === undefined || (nullIsUnset && value === "");

    switch (ch) {
      case 0x2d: // -
        return empty ? arg : (value ?? "");
      case 0x2b: // +
        return empty ? "" : arg;
      case 0x3f: // ?
        if (value === undefined) {
          throw new LexFailure("required", `${name}: ${arg !== "" ? arg : "is not allowed to be unset"}`, name);
        }
        if (nullIsUnset && value === "") {
          throw new LexFailure("required", `${name}: ${arg !== "" ? arg : "is not allowed to be empty"}`, name);
        }
        return value;
      case 0x23: // #
      case 0x25: {
        // %
        // ## and %% are the greedy forms; BuildKit decides this on the already-expanded word.
        let greedy = false;
        if (arg.length > 0 && arg.codePointAt(0) === ch) {
          greedy = true;
          arg = arg.slice(1);
        }
        return ch === 0x25 ? trimSuffix(arg, value ?? "", greedy) : trimPrefix(arg, value ?? "", greedy);
      }
      default:
        throw new LexFailure("bad-substitution", `unsupported modifier (${op}) in substitution`);
    }
  }

  private wordUntilBrace(rawEscapes: boolean): string {
    try {
      return this.processStopOn(0x7d, rawEscapes).text;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === EOF) throw new LexFailure("unterminated", "syntax error: missing '}'");
      throw err;
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === 0x2f;
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn(0x2f, true).text;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === EOF) throw new LexFailure("unterminated", "syntax error: missing '/' in ${}");
      throw err;
    }
    const replacement = this.wordUntilBrace(true);
    const value = this.getEnv(name);
    if (this.skipUnset && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
    const re = compilePattern(pattern, true, false);
    const subject = value ?? "";
    if (all) return goReplaceAll(re, subject, replacement);
    re.lastIndex = 0;
    const m = re.exec(subject);
    if (m === null) return subject;
    // The single replacement is literal; only the "all" form goes through Go's $-template expansion.
    return subject.slice(0, m.index) + replacement + subject.slice(m.index + m[0].length);
  }

  private processName(): string {
    let name = "";
    for (;;) {
      const c = this.peek();
      if (c === EOF) break;
      if (name === "" && isDigit(c)) {
        // Positional parameters: $1, $001, ${999} take all the digits.
        while (this.peek() !== EOF && isDigit(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name === "" && isSpecialParam(c)) return String.fromCodePoint(this.next());
      if (!isLetter(c) && !isDigit(c) && c !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.lookup(name);
    if (v === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return v;
  }
}

// ---------------------------------------------------------------------------------------------------
// Patterns for # % and /: BuildKit converts them to a Go regexp; we build the equivalent JS RegExp.

/**
 * `*` (shortest or longest run), `?` (one character), `\` escapes `*`, `?` or `\`; `\}` and `\/` lose
 * the backslash. Everything else, brackets included, is literal: BuildKit has no `[...]` classes here.
 * Go's `.` does not match a newline, so neither do ours.
 */
export function compilePattern(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let src = anchored ? "^" : "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? "";
    if (c === "*") {
      src += greedy ? "[^\\n]*" : "[^\\n]*?";
    } else if (c === "?") {
      src += "[^\\n]";
    } else if (c === "\\") {
      const n = chars[i + 1];
      if (n === "}" || n === "/") continue;
      if (n !== "*" && n !== "?" && n !== "\\") {
        throw new LexFailure(
          "invalid-pattern",
          `invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? "\uFFFD"}'`,
        );
      }
      src += `\\${n}`;
      i++;
    } else {
      src += escapeRegExpChar(c);
    }
  }
  return new RegExp(src, "gu");
}

function escapeRegExpChar(c: string): string {
  return /[\^$\\.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const re = compilePattern(pattern, greedy, true);
  re.lastIndex = 0;
  const m = re.exec(value);
  return m === null ? value : value.slice(m.index + m[0].length);
}

/** Reverses a pattern by code points but keeps each `\x` pair in order (BuildKit reversePattern). */
export function reversePattern(pattern: string): string {
  const p = Array.from(pattern);
  const out: string[] = new Array<string>(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = p[i] ?? "";
    const at = last - i;
    if (tok === "\\" && i !== last) {
      out[at - 1] = tok;
      out[at] = p[i + 1] ?? "";
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  // A regexp finds the leftmost match, not the shortest rightmost one: reverse both and trim a prefix.
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/**
 * Go's Regexp.ReplaceAllString: non-overlapping matches, an empty match right after a previous match is
 * skipped (JS String.replace does not skip it), and `$name`/`${name}` in the replacement is expanded
 * (`$0` is the match, other groups do not exist, `$$` is a dollar).
 */
function goReplaceAll(re: RegExp, src: string, template: string): string {
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(template, m[0]);
    lastMatchEnd = end;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + src.slice(lastMatchEnd);
}

function expandGoTemplate(template: string, match: string): string {
  let out = "";
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf("$", i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    const rest = template.slice(d + 1);
    if (rest.startsWith("$")) {
      out += "$";
      i = d + 2;
      continue;
    }
    let name: string | undefined;
    let consumed = 0;
    if (rest.startsWith("{")) {
      const close = rest.indexOf("}");
      const inner = close < 0 ? "" : rest.slice(1, close);
      if (close > 0 && inner !== "" && /^[\p{L}\p{Nd}_]+$/u.test(inner)) {
        name = inner;
        consumed = close + 1;
      }
    } else {
      const m = /^[\p{L}\p{Nd}_]+/u.exec(rest);
      if (m !== null) {
        name = m[0];
        consumed = m[0].length;
      }
    }
    if (name === undefined) {
      // Malformed reference: Go keeps the dollar as text.
      out += "$";
      i = d + 1;
      continue;
    }
    // Only group 0 exists (the pattern has no capture groups); leading zeros are not a number in Go.
    if (name === "0") out += match;
    i = d + 1 + consumed;
  }
  return out;
}

/**
 * Translates the Go (RE2) regular expressions that moby/patternmatcher builds from `.dockerignore`
 * patterns into equivalent JavaScript RegExps.
 *
 * patternmatcher passes `[`, `]`, `^` and every `\x` escape of a pattern straight into a Go regexp, so
 * Docker's matching depends on RE2 syntax (`[[:alpha:]]`, `\d`, a `]` that is literal at the top level,
 * a `.` that does not match a newline …). Feeding that text to `new RegExp` would be subtly wrong, so
 * this module parses the RE2 subset and emits JS source with the same meaning. What RE2 rejects we
 * reject (a `GoRegexpError`), which Docker reports as "syntax error in pattern".
 */

export class GoRegexpError extends Error {
  override readonly name = "GoRegexpError";
}

/** Compiles RE2 syntax (the subset patternmatcher can produce) to a JS RegExp with the same matches. */
export function compileGoRegexp(source: string): RegExp {
  const p = new Parser(Array.from(source));
  const js = p.parseAlternation(0);
  if (!p.done()) throw new GoRegexpError(`unexpected ) in ${source}`);
  return new RegExp(js, "u");
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: "0-9A-Za-z",
  alpha: "A-Za-z",
  ascii: "\\u{0}-\\u{7f}",
  blank: "\\t ",
  cntrl: "\\u{0}-\\u{1f}\\u{7f}",
  digit: "0-9",
  graph: "!-~",
  lower: "a-z",
  print: " -~",
  punct: "!-\\/:-@\\[-`\\{-~",
  space: "\\t\\n\\v\\f\\r ",
  upper: "A-Z",
  word: "0-9A-Za-z_",
  xdigit: "0-9A-Fa-f",
};

/** Perl classes as RE2 defines them (ASCII only; JS `\s` is much wider, so it is spelled out). */
const PERL_IN_CLASS: Readonly<Record<string, string>> = {
  d: "0-9",
  s: "\\t\\n\\f\\r ",
  w: "0-9A-Za-z_",
};

function lit(ch: string): string {
  return `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
}

class Parser {
  private i = 0;
  constructor(private readonly s: readonly string[]) {}

  done(): boolean {
    return this.i >= this.s.length;
  }

  private peek(k = 0): string | undefined {
    return this.s[this.i + k];
  }

  private take(): string {
    const c = this.s[this.i];
    if (c === undefined) throw new GoRegexpError("unexpected end of expression");
    this.i++;
    return c;
  }

  parseAlternation(depth: number): string {
    const branches = [this.parseConcat(depth)];
    while (this.peek() === "|") {
      this.i++;
      branches.push(this.parseConcat(depth));
    }
    return branches.join("|");
  }

  private parseConcat(depth: number): string {
    let out = "";
    let lastAtom = false;
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === "|" || (c === ")" && depth > 0)) return out;
      if (c === ")") throw new GoRegexpError("unexpected )");
      if (c === "*" || c === "+" || c === "?") {
        if (!lastAtom) throw new GoRegexpError(`missing argument to repetition operator: ${c}`);
        this.i++;
        out += c;
        if (this.peek() === "?") {
          this.i++;
          out += "?";
        }
        // RE2 rejects ** and the like; so do we.
        const n = this.peek();
        if (n === "*" || n === "+" || n === "?") throw new GoRegexpError("invalid nested repetition operator");
        lastAtom = false;
        continue;
      }
      if (c === "{") {
        // patternmatcher always escapes {, so a raw one never reaches here; treat it as RE2 does a
        // brace that is not a repeat: literally.
        this.i++;
        out += lit(c);
        lastAtom = true;
        continue;
      }
      const atom = this.parseAtom(depth);
      out += atom.js;
      lastAtom = atom.repeatable;
    }
  }

  private parseAtom(depth: number): { js: string; repeatable: boolean } {
    const c = this.take();
    switch (c) {
      case "(": {
        // Groups only serve as units here (nobody reads captures), so they become non-capturing.
        if (this.peek() === "?" && this.peek(1) === ":") this.i += 2;
        const inner = this.parseAlternation(depth + 1);
        if (this.peek() !== ")") throw new GoRegexpError("missing closing )");
        this.i++;
        return { js: `(?:${inner})`, repeatable: true };
      }
      case "^":
        return { js: "^", repeatable: false };
      case "$":
        return { js: "$", repeatable: false };
      case ".":
        // RE2 without the s flag: any character but newline (JS . also skips \r, \u2028, \u2029).
        return { js: "[^\\n]", repeatable: true };
      case "[":
        return { js: this.parseClass(), repeatable: true };
      case "\\":
        return this.parseTopEscape();
      default:
        return { js: lit(c), repeatable: true };
    }
  }

  private parseTopEscape(): { js: string; repeatable: boolean } {
    const c = this.peek();
    if (c === undefined) throw new GoRegexpError("trailing backslash at end of expression");
    switch (c) {
      case "A":
        this.i++;
        return { js: "^", repeatable: false };
      case "z":
        this.i++;
        return { js: "$", repeatable: false };
      case "b":
      case "B":
        this.i++;
        return { js: `\\${c}`, repeatable: false };
      case "Q": {
        this.i++;
        let out = "";
        while (!this.done()) {
          if (this.peek() === "\\" && this.peek(1) === "E") {
            this.i += 2;
            break;
          }
          out += lit(this.take());
        }
        return { js: out === "" ? "(?:)" : `(?:${out})`, repeatable: true };
      }
      case "d":
      case "s":
      case "w":
        this.i++;
        return { js: `[${PERL_IN_CLASS[c] ?? ""}]`, repeatable: true };
      case "D":
      case "S":
      case "W":
        this.i++;
        return { js: `[^${PERL_IN_CLASS[c.toLowerCase()] ?? ""}]`, repeatable: true };
      case "p":
      case "P":
        return { js: this.parseUnicodeClass(), repeatable: true };
      default:
        return { js: lit(this.parseCharEscape()), repeatable: true };
    }
  }

  /** `\pL`, `\p{Greek}`, `\PL`: RE2 names are categories or scripts; JS wants `Script=` for scripts. */
  private parseUnicodeClass(): string {
    const kind = this.take() === "P" ? "P" : "p";
    let name: string;
    if (this.peek() === "{") {
      this.i++;
      name = "";
      while (this.peek() !== "}") name += this.take();
      this.i++;
    } else {
      name = this.take();
    }
    let negate = kind === "P";
    if (name.startsWith("^")) {
      negate = !negate;
      name = name.slice(1);
    }
    const k = negate ? "P" : "p";
    for (const candidate of name === "Any" ? [] : [name, `Script=${name}`]) {
      try {
        new RegExp(`\\p{${candidate}}`, "u");
        return `\\${k}{${candidate}}`;
      } catch {
        // try the next spelling
      }
    }
    if (name === "Any") return negate ? "[^\\u{0}-\\u{10ffff}]" : "[\\u{0}-\\u{10ffff}]";
    throw new GoRegexpError(`invalid character class range: \\${kind}{${name}}`);
  }

  /** A single-character escape (after the backslash); returns the character. */
  private parseCharEscape(): string {
    const c = this.take();
    if (c >= "1" && c <= "7") {
      // A lone non-zero digit would be a backreference, which RE2 does not have.
      const n = this.peek();
      if (n === undefined || n < "0" || n > "7") throw new GoRegexpError(`invalid escape sequence: \\${c}`);
    }
    if (c >= "0" && c <= "7") {
      let digits = c;
      for (let k = 0; k < 2; k++) {
        const n = this.peek();
        if (n === undefined || n < "0" || n > "7") break;
        digits += this.take();
      }
      return String.fromCodePoint(parseInt(digits, 8));
    }
    switch (c) {
      case "a": return "\x07";
      case "f": return "\f";
      case "n": return "\n";
      case "r": return "\r";
      case "t": return "\t";
      case "v": return "\v";
      case "x": {
        let hex = "";
        if (this.peek() === "{") {
          this.i++;
          while (this.peek() !== "}") {
            if (this.done()) throw new GoRegexpError("invalid escape sequence: \\x{");
            hex += this.take();
          }
          this.i++;
        } else {
          hex = this.take() + this.take();
        }
        const v = /^[0-9A-Fa-f]+$/.test(hex) ? parseInt(hex, 16) : NaN;
        if (!Number.isFinite(v) || v > 0x10ffff) throw new GoRegexpError(`invalid escape sequence: \\x${hex}`);
        return String.fromCodePoint(v);
      }
    }
    const cp = c.codePointAt(0) ?? 0;
    // RE2: an escaped ASCII punctuation character is itself; escaped letters/digits must be known.
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) return c;
    throw new GoRegexpError(`invalid escape sequence: \\${c}`);
  }

  /** After `[`: RE2 class syntax to a JS class. */
  private parseClass(): string {
    let negated = false;
    if (this.peek() === "^") {
      this.i++;
      negated = true;
    }
    let items = "";
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw new GoRegexpError("missing closing ]");
      if (c === "]" && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === "[" && this.peek(1) === ":") {
        const rest = this.s.slice(this.i).join("");
        const m = /^\[:(\^?)([a-z]+):\]/.exec(rest);
        const set = m === null ? undefined : POSIX_CLASSES[m[2] ?? ""];
        if (m !== null && set !== undefined) {
          if (m[1] === "^") throw new GoRegexpError("negated POSIX classes are not supported here");
          this.i += Array.from(m[0]).length;
          items += set;
          continue;
        }
        if (m !== null) throw new GoRegexpError(`invalid character class range: ${m[0]}`);
      }
      if (c === "\\") {
        const n = this.peek(1);
        if (n === "d" || n === "s" || n === "w") {
          this.i += 2;
          items += PERL_IN_CLASS[n] ?? "";
          continue;
        }
        if (n === "D" || n === "W") {
          this.i += 2;
          items += `\\${n}`;
          continue;
        }
        if (n === "S") {
          this.i += 2;
          items += "\\S";
          continue;
        }
        if (n === "p" || n === "P") {
          this.i++;
          items += this.parseUnicodeClass();
          continue;
        }
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.peek() === "-" && this.peek(1) !== undefined && this.peek(1) !== "]") {
        this.i++;
        hi = this.classChar();
        if ((hi.codePointAt(0) ?? 0) < (lo.codePointAt(0) ?? 0)) throw new GoRegexpError(`invalid character class range: ${lo}-${hi}`);
      }
      items += hi === lo ? lit(lo) : `${lit(lo)}-${lit(hi)}`;
    }
    if (items === "") return negated ? "[^]" : "[]";
    return `[${negated ? "^" : ""}${items}]`;
  }

  private classChar(): string {
    const c = this.take();
    if (c !== "\\") return c;
    if (this.done()) throw new GoRegexpError("trailing backslash at end of expression");
    return this.parseCharEscape();
  }
}

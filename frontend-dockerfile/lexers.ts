import moo from "moo";

/**
 * The moo lexers behind the nearley grammars in `grammar/`. Both work on one logical line (continuations
 * already joined), so no rule ever sees a line break; `lineBreaks` is declared only because the classes
 * could match one.
 *
 * Every rule is a union of alternatives that start with different characters, so matching is linear:
 * no backtracking blow-up on a 64 KiB line.
 */

/**
 * BuildKit's flag scanner tests `unicode.IsSpace(rune(line[pos]))` on single bytes, so for valid UTF-8
 * only the ASCII spaces separate flag words (U+00A0 and friends do not).
 */
const BYTE_SPACE_CLASS = "\\t\\n\\v\\f\\r ";
const SPACE = `[${BYTE_SPACE_CLASS}]`;
const NOT_SPACE = `[^${BYTE_SPACE_CLASS}]`;

/**
 * An instruction line, trimmed. BuildKit splits the keyword off at the first run of `[\t\v\f\r ]`
 * (ASCII only), then reads `--flag` words separated by runs of spaces; a flag word may hold
 * quotes (spaces inside them do not end it) and backslash escapes. The first word that does not start
 * with `--` begins the rest, which runs to the end of the line.
 */
export const instructionLineLexer = moo.states({
  keyword: {
    keyword: { match: /[^\t\v\f\r ]+/, lineBreaks: true, next: "separator" },
  },
  separator: {
    sep: { match: /[\t\v\f\r ]+/, next: "args" },
  },
  args: {
    ws: { match: new RegExp(`${SPACE}+`), lineBreaks: true },
    flag: {
      match: new RegExp(
        `--(?:[^${BYTE_SPACE_CLASS}'"\\\\]|\\\\[^]|\\\\$|'(?:[^'\\\\]|\\\\[^]|\\\\$)*'?|"(?:[^"\\\\]|\\\\[^]|\\\\$)*"?)*`,
      ),
      lineBreaks: true,
    },
    rest: { match: new RegExp(`${NOT_SPACE}[^]*`), lineBreaks: true },
  },
});

/**
 * JSON as Go's `encoding/json` accepts it (strict RFC 8259 tokens). Anything else is an `error` token,
 * which makes the maybe-JSON rule fall back to shell form.
 */
export const jsonTokenLexer = moo.compile({
  ws: { match: /[ \t\n\r]+/, lineBreaks: true },
  lbracket: "[",
  rbracket: "]",
  lbrace: "{",
  rbrace: "}",
  comma: ",",
  colon: ":",
  string: /"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/,
  number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  literal: ["true", "false", "null"],
  error: moo.error,
});

/** Go's decoder refuses nesting deeper than this ("exceeded max depth"), a syntax error like any other. */
export const JSON_MAX_DEPTH = 10000;

/**
 * The JSON lexer as nearley sees it: BuildKit (v0.13) reads only the first JSON value with a streaming
 * decoder, so the token stream ends at the bracket that closes the top-level array and any text after
 * it is never looked at. Invalid characters and excessive nesting end the token stream early and set
 * `failed` (the parse is then incomplete): no exception, so no costly nearley error report.
 */
export const jsonLexer = {
  depth: 0,
  done: false,
  failed: false,
  /**
   * A number beyond float64 range: Go's decoder then fails with an UnmarshalTypeError once the value is
   * read, which BuildKit treats like any non-syntax failure — a fallback to shell form.
   */
  overflow: false,
  reset(chunk: string, _state?: unknown): void {
    jsonTokenLexer.reset(chunk);
    this.depth = 0;
    this.done = false;
    this.failed = false;
    this.overflow = false;
  },
  next(): moo.Token | undefined {
    if (this.done) return undefined;
    const tok = jsonTokenLexer.next();
    if (tok === undefined) return undefined;
    switch (tok.type) {
      case "error":
        this.failed = this.done = true;
        return undefined;
      case "lbracket":
      case "lbrace":
        if (++this.depth > JSON_MAX_DEPTH) {
          this.failed = this.done = true;
          return undefined;
        }
        break;
      case "rbracket":
      case "rbrace":
        if (--this.depth === 0) this.done = true;
        break;
      case "number":
        if (!Number.isFinite(Number(tok.text))) this.overflow = true;
        break;
    }
    return tok;
  },
  save(): unknown {
    return undefined;
  },
  formatError(token: moo.Token): string {
    return `unexpected ${token.type ?? "token"} at offset ${token.offset}`;
  },
  has(type: string): boolean {
    return jsonTokenLexer.has(type);
  },
};

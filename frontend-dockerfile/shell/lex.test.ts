import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { compilePattern, envFromList, goQuote, processWord, processWordWithMatches, processWords, reversePattern } from "./lex.ts";
import type { LexOptions, LexResult, ShellEnv } from "./types.ts";

function ok<T>(r: LexResult<T>): T {
  if (!r.ok) throw new Error(`expected success, got ${r.error.message}`);
  return r.value;
}

function word(input: string, env: ShellEnv = [], opts: LexOptions = {}): string {
  return ok(processWord(input, env, opts));
}

function failure(input: string, env: ShellEnv = [], opts: LexOptions = {}) {
  const r = processWord(input, env, opts);
  if (r.ok) throw new Error(`expected an error for ${input}, got ${JSON.stringify(r.value)}`);
  expect(isHtkError(r.error)).toBe(true);
  return r.error;
}

describe("processWord: quotes and escapes", () => {
  it("applies BuildKit's escape rules inside and outside double quotes", () => {
    expect(word(String.raw`abc\tdef`)).toBe("abctdef");
    expect(word(String.raw`"abc\tdef"`)).toBe(String.raw`abc\tdef`);
    expect(word(String.raw`"a\"b\\c\$d"`)).toBe(String.raw`a"b\c$d`);
    expect(word(String.raw`'a\b$c'`)).toBe(String.raw`a\b$c`);
    expect(word("trailing\\")).toBe("trailing");
  });

  it("uses the backtick as the escape character under # escape=`", () => {
    const opts: LexOptions = { escapeToken: "`" };
    expect(word("C:\\path\\$X", ["X=x"], opts)).toBe("C:\\path\\x");
    expect(word("a`$X", ["X=x"], opts)).toBe("a$X");
    expect(word('"a`"b"', [], opts)).toBe('a"b');
    expect(word('"a\\tb"', [], opts)).toBe("a\\tb");
  });

  it("keeps quotes and escapes in raw modes, and skips quote processing on request", () => {
    expect(word(`'a'"b"`, [], { rawQuotes: true })).toBe(`'a'"b"`);
    expect(word(String.raw`a\ b`, [], { rawEscapes: true })).toBe(String.raw`a\ b`);
    expect(word(`'$X'`, ["X=x"], { skipProcessQuotes: true })).toBe("'x'");
  });

  it("leaves unset references as written with skipUnsetEnv", () => {
    const opts: LexOptions = { skipUnsetEnv: true };
    expect(word("$A ${B} ${C:-d} ${D/x/y} $E", ["E=e"], opts)).toBe("$A ${B} ${C:-d} ${D/x/y} e");
  });

  it("drops a byte-order mark at the start like Go's text/scanner", () => {
    expect(word("\uFEFFabc")).toBe("abc");
  });
});

describe("processWord: operators", () => {
  const env = new Map([
    ["FOO", "xxx"],
    ["BAR", ""],
  ]);

  it.each([
    ["${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc"],
    ["${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc"],
    ["${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb "],
    ["${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  "],
    ["${FOO?aaa}", "xxx"],
    ["${BAR?bbb}", ""],
    ["${FOO:?aaa}", "xxx"],
    ["${A:-${B:-c}}", "c"],
  ])("%s → %s", (input, expected) => {
    expect(word(input, env)).toBe(expected);
  });

  it.each([
    // BuildKit's own pattern cases (lex_test.go TestProcessWithMatches).
    ["${FOO#()[]{\\}^$.\\*\\?|\\\\}", { FOO: "()[]{}^$.*?|\\x" }, "x"],
    ["${FOO%%\\**}", { FOO: "xx**" }, "xx"],
    ["${FOO#*x*y}", { FOO: "xxyy" }, "y"],
    ["${FOO#*}", { FOO: "xxyy" }, "xxyy"],
    ["${FOO#$BAR}", { FOO: "xxyy", BAR: "x" }, "xyy"],
    ["${FOO#}", { FOO: "xxyy" }, "xxyy"],
    ["${FOO##*x}", { FOO: "xxyy" }, "yy"],
    ["${FOO##}", { FOO: "xxyy" }, "xxyy"],
    ["${FOO#?\\?}", { FOO: "???y" }, "?y"],
    ["${ABC:-.}${FOO%x}${ABC:-.}", { FOO: "xxyy" }, ".xxyy."],
    ["${FOO%%\\**\\*}", { FOO: "a***yy*" }, "a"],
    ["${FOO%}", { FOO: "xxyy" }, "xxyy"],
    ["${FOO%y*}", { FOO: "xxyy" }, "xxy"],
    ["${FOO%%y*}", { FOO: "xxyy" }, "xx"],
    ["${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", { FOO: "/foo*/*/*.txt", NEEDLE: "\\*/" }, "/foo.*/*.txt - /foo..*.txt"],
    ["${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", { FOO: "/tmp/tmp/bar.txt", NEEDLE: "/tmp" }, "/tmp/bar.txt - /bar.txt"],
    ["${FOO/$N/$R} - ${FOO//$N/$R}", { FOO: "/a/foo/b/c.txt", N: "/?/", R: "/" }, "/foo/b/c.txt - /foo/c.txt"],
    ["${FOO/$N/$R}", { FOO: "http://google.de", N: "http://", R: "https://" }, "https://google.de"],
    ["${FOO//\\//\\/}", { FOO: "/tmp/foo.txt" }, "\\/tmp\\/foo.txt"],
    ["${FOO/$BAR/ww}", { FOO: "xxyy", BAR: "" }, "wwxxyy"],
    ["${FOO///}", { FOO: "xxyy" }, "xxyy"],
    ["${FOO///}", {}, ""],
    // [...] is literal in BuildKit (no bracket expressions), unlike bash.
    ["${FOO#[ab]}", { FOO: "[ab]c" }, "c"],
    ["${FOO#[ab]}", { FOO: "ac" }, "ac"],
    // Go's . never matches a newline.
    ["${FOO#?}", { FOO: "\nx" }, "\nx"],
    // Go ReplaceAll skips an empty match right after a match (JS replace would give XX).
    ["${FOO//*/X}", { FOO: "abc" }, "X"],
    ["${FOO//$E/-}", { FOO: "한국", E: "" }, "-한-국-"],
    // Replacements keep their escapes, and only the "all" form goes through Go's template expansion
    // ($0 is the match; a $ that starts no name stays).
    ["${FOO//b/<\\$0\\$\\$>}", { FOO: "abc" }, "a<\\b\\$\\$>c"],
    ["${FOO/b/<\\$0>}", { FOO: "abc" }, "a<\\$0>c"],
  ])("%s with %j → %s", (input, vars, expected) => {
    expect(word(input, new Map(Object.entries(vars)))).toBe(expected);
  });
});

describe("processWord: errors carry diagnostic IDs and BuildKit's text", () => {
  it("HTK-DOCKERFILE-0100 for unterminated quotes and references", () => {
    const cases: Array<[string, string]> = [
      ["'hello", "unexpected end of statement while looking for matching single-quote"],
      ['"hello\\"', "unexpected end of statement while looking for matching double-quote"],
      ["he${PWD", "syntax error: missing '}'"],
      ["${aaa:-bbb ${foo}", "syntax error: missing '}'"],
      ["${", "syntax error: missing '}'"],
      ["${FOO//ww}", "syntax error: missing '/' in ${}"],
    ];
    for (const [input, detail] of cases) {
      const e = failure(input, ["PWD=/home"]);
      expect(e.id, input).toBe("HTK-DOCKERFILE-0100");
      expect(e.details["buildkitMessage"], input).toBe(`failed to process ${goQuote(input)}: ${detail}`);
    }
  });

  it("HTK-DOCKERFILE-0101 for bad substitutions", () => {
    const cases: Array<[string, string]> = [
      ["${}", "syntax error: bad substitution"],
      ["${:+x}", "syntax error: bad substitution"],
      ["${{a}", "syntax error: bad substitution"],
      ["he${.}", "unsupported modifier (.) in substitution"],
      ["${XXX:YYY}", "unsupported modifier (:Y) in substitution"],
      ["${PWD:=000}", "unsupported modifier (:=) in substitution"],
      ["${FOO=aaa}", "unsupported modifier (=) in substitution"],
      ["${FOO:#x}", "unsupported modifier (:#) in substitution"],
    ];
    for (const [input, detail] of cases) {
      const e = failure(input);
      expect(e.id, input).toBe("HTK-DOCKERFILE-0101");
      expect(e.details["buildkitMessage"], input).toBe(`failed to process ${goQuote(input)}: ${detail}`);
      expect(e.nextStep).toContain("\\");
    }
  });

  it("HTK-DOCKERFILE-0102 for ${VAR?msg} and ${VAR:?msg}", () => {
    const set = ["VAR=plain", "ARG=x"];
    const empty = ["VAR=", "ARG=x"];
    const unset = ["ARG=x"];
    expect(word("${VAR:?message here$ARG}", set)).toBe("plain");
    expect(failure("${VAR:?message here$ARG}", empty).plainCause).toContain("VAR: message herex");
    expect(failure("${VAR:?message here$ARG}", unset).plainCause).toContain("VAR: message herex");
    expect(word("${VAR?message here$ARG}", empty)).toBe("");
    const e = failure("${VAR?message here$ARG}", unset);
    expect(e.id).toBe("HTK-DOCKERFILE-0102");
    expect(e.nextStep).toContain('"VAR"');
    expect(failure("${VAR:?}", empty).details["buildkitMessage"]).toBe('failed to process "${VAR:?}": VAR: is not allowed to be empty');
    expect(failure("${VAR?}", unset).details["buildkitMessage"]).toBe('failed to process "${VAR?}": VAR: is not allowed to be unset');
  });

  it("HTK-DOCKERFILE-0103 for invalid pattern escapes", () => {
    const e = failure("${FOO#a\\x}", ["FOO=ax"]);
    expect(e.id).toBe("HTK-DOCKERFILE-0103");
    expect(e.details["buildkitMessage"]).toBe("failed to process \"${FOO#a\\\\x}\": invalid pattern (a\\x) in substitution: invalid escape '\\x'");
    expect(failure("${FOO/$P/y}", ["FOO=a", "P=\\"]).id).toBe("HTK-DOCKERFILE-0103");
  });
});

describe("processWords", () => {
  it("splits unquoted expansions and keeps quoted ones whole", () => {
    const env = ["A=  x  y ", "E="];
    // The value's trailing space ends a word too (wordsTest: hello${trailing} → helloab,c).
    expect(ok(processWords("a${A}b", env))).toEqual(["a", "x", "y", "b"]);
    expect(ok(processWords("a${A}b", ["A= x"]))).toEqual(["a", "xb"]);
    expect(ok(processWords('a"${A}"b', env))).toEqual(["a  x  y b"]);
    expect(ok(processWords("80/tcp   443 \t 8080", env))).toEqual(["80/tcp", "443", "8080"]);
    expect(ok(processWords(`'' a "" b`, env))).toEqual(["a", "b"]);
    expect(ok(processWords("$E", env))).toEqual([]);
  });
});

describe("processWordWithMatches", () => {
  it("reports the names found and not found", () => {
    const r = ok(processWordWithMatches("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc} $1", new Map([["FOO", "x"], ["BAR", ""]])));
    expect(r.result).toBe("x bbb ccc ");
    expect([...r.matched].sort()).toEqual(["BAR", "FOO"]);
    expect([...r.unmatched].sort()).toEqual(["1", "BAZ"]);
  });

  it("looks names up case-insensitively for Windows only", () => {
    expect(word("$pwd", ["PWD=/home"])).toBe("");
    expect(word("$pwd", ["PWD=/home"], { platform: "windows" })).toBe("/home");
    expect(word("$pwd", new Map([["PWD", "C:\\"]]), { platform: "windows" })).toBe("C:\\");
  });

  it("lets later list entries win and treats NAME alone as empty", () => {
    expect([...envFromList(["a=1", "b", "a=2"])]).toEqual([["a", "2"], ["b", ""]]);
    expect(ok(processWordWithMatches("${b-unset}", ["b"])).result).toBe("");
  });
});

describe("pattern helpers (BuildKit lex_test.go)", () => {
  it("compiles shell patterns", () => {
    expect(compilePattern("\\*", true, true).source).toBe("^\\*");
    for (const bad of ["\\", "\\x", "\\\\\\"]) expect(() => compilePattern(bad, true, true)).toThrow();
  });

  it("reverses patterns but not escape pairs", () => {
    expect(reversePattern("a\\*c")).toBe("c\\*a");
    expect(reversePattern("\\\\\\ab")).toBe("b\\a\\\\");
    expect(reversePattern("ab\\")).toBe("\\ba");
    expect(reversePattern("👽\\🚀🖖")).toBe("🖖\\🚀👽");
    expect(reversePattern("\\\\b")).toBe("b\\\\");
  });

  it("quotes like Go's %q", () => {
    expect(goQuote('a"b\\c\t한\u0001\u00a0')).toBe('"a\\"b\\\\c\\t한\\x01\\u00a0"');
  });
});

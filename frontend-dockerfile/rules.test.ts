import { describe, expect, it } from "vitest";
import { goQuote, isGoSpace } from "./chars.ts";
import { matchDirective } from "./directives.ts";
import { flagValue, splitInstructionLine } from "./instruction-line.ts";
import { decodeJsonString, parseJsonArray } from "./json-args.ts";
import { parseWords, splitAsciiBlank } from "./words.ts";

describe("goQuote (strconv.Quote)", () => {
  it("escapes like Go", () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote("\x00\x07\b\f\n\r\t\v\x1b\x7f")).toBe('"\\x00\\a\\b\\f\\n\\r\\t\\v\\x1b\\x7f"');
    expect(goQuote("♥ ☃ é 😀")).toBe('"♥ ☃ é 😀"');
    expect(goQuote("\u00a0\u200b\u2028\ue000")).toBe('"\\u00a0\\u200b\\u2028\\ue000"');
    expect(goQuote("\u{e0001}")).toBe('"\\U000e0001"');
  });
});

describe("Go's unicode.IsSpace", () => {
  it("includes U+0085 and U+00A0 but not U+FEFF or U+200B", () => {
    expect([0x20, 0x09, 0x0b, 0x85, 0xa0, 0x2000, 0x3000].every(isGoSpace)).toBe(true);
    expect([0xfeff, 0x200b, 0x41].some(isGoSpace)).toBe(false);
  });
});

describe("matchDirective (RE2 semantics of BuildKit's regexp)", () => {
  it("matches name = value with optional blanks, any case", () => {
    expect(matchDirective("#escape=`")).toMatchObject({ name: "escape", value: "`" });
    expect(matchDirective("#  Syntax  =  docker/dockerfile:1  ")).toMatchObject({ name: "syntax", value: "docker/dockerfile:1" });
    expect(matchDirective("# check=skip=all;error=true")).toMatchObject({ name: "check", value: "skip=all;error=true" });
  });

  it("gives an all-blank value its last blank, as the lazy group must take one character", () => {
    expect(matchDirective("# escape=  ")).toMatchObject({ value: " " });
    expect(matchDirective("# escape=")).toBeUndefined();
  });

  it("rejects other shapes", () => {
    expect(matchDirective("escape=`")).toBeUndefined();
    expect(matchDirective("# esc ape=`")).toBeUndefined();
    expect(matchDirective("# 1escape=`")).toBeUndefined();
    expect(matchDirective("# just a comment")).toBeUndefined();
  });
});

describe("instruction line (keyword, flags, rest)", () => {
  it("splits off the keyword at ASCII blanks only", () => {
    expect(splitInstructionLine("  RUN\t\techo hi  ")).toMatchObject({ keyword: "RUN", rest: "echo hi", restStart: 7 });
    expect(splitInstructionLine("RUN\u00a0x")).toMatchObject({ keyword: "RUN\u00a0x", rest: "" });
  });

  it("collects flags and finds the rest", () => {
    const s = splitInstructionLine('COPY --a=1 --b="x y" -- --c d');
    expect(s.flags.map((f) => f.value)).toEqual(["--a=1", "--b=x y"]);
    expect(s.rest).toBe("--c d");
  });

  it("processes flag words like BuildKit", () => {
    expect(flagValue(`--x="a b"`)).toBe("--x=a b");
    expect(flagValue(`--x='a\\'b'`)).toBe("--x=a'b");
    expect(flagValue("--x=a\\ b")).toBe("--x=a b");
    expect(flagValue("--x\\")).toBe("--x");
    expect(flagValue('--x="open')).toBe("--x=open");
  });
});

describe("JSON arrays", () => {
  it("decodes strings and reports element types", () => {
    expect(parseJsonArray('  ["a", "b\\n"] x')).toMatchObject({ kind: "strings", elements: [{ value: "a", start: 3 }, { value: "b\n" }] });
    expect(parseJsonArray('[{"a": [1, true]}]')).toEqual({ kind: "not-strings", elementType: "object" });
    expect(parseJsonArray("[true]")).toEqual({ kind: "not-strings", elementType: "boolean" });
    expect(parseJsonArray("nope")).toEqual({ kind: "not-json" });
    expect(parseJsonArray('["a",]')).toEqual({ kind: "not-json" });
    expect(parseJsonArray('["\\x"]')).toEqual({ kind: "not-json" });
    expect(parseJsonArray('["tab\there"]')).toEqual({ kind: "not-json" });
  });

  it("decodes surrogates as Go does", () => {
    expect(decodeJsonString('"\\ud83d\\ude00"')).toBe("😀");
    expect(decodeJsonString('"\\ud83dx"')).toBe("\ufffdx");
    expect(decodeJsonString('"\\ude00\\u0041"')).toBe("\ufffdA");
    expect(decodeJsonString('"\\ud83d\\u0041"')).toBe("\ufffdA");
  });
});

describe("word splitting", () => {
  it("parseWords keeps quotes and escapes, with offsets", () => {
    expect(parseWords(`a="b c" d\\ e 'f\\' g`, "\\", 10)).toEqual([
      { value: 'a="b c"', start: 10, end: 17 },
      { value: "d\\ e", start: 18, end: 22 },
      { value: "'f\\'", start: 23, end: 27 },
      { value: "g", start: 28, end: 29 },
    ]);
    expect(parseWords("a\\", "\\").map((w) => w.value)).toEqual(["a"]);
    expect(parseWords('"a\\', "\\").map((w) => w.value)).toEqual(['"a']);
    expect(parseWords("a`\"b", "`").map((w) => w.value)).toEqual(['a`"b']);
    expect(parseWords("a\u00a0b", "\\").map((w) => w.value)).toEqual(["a", "b"]);
  });

  it("splitAsciiBlank splits on [\\t\\v\\f\\r ] runs only", () => {
    expect(splitAsciiBlank("a \t b\u00a0c", 5)).toEqual([
      { value: "a", start: 5, end: 6 },
      { value: "b\u00a0c", start: 9, end: 12 },
    ]);
  });
});

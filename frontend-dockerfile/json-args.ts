import nearley from "nearley";
import type moo from "moo";
import { skipGoSpace } from "./chars.ts";
import jsonArrayGrammar from "./gen/json-array.ts";
import { jsonLexer } from "./lexers.ts";

/**
 * BuildKit `parseJSON` (v0.13): the text must start with `[` and its first JSON value must decode as
 * an array; every element must be a string. Offsets are relative to the text given.
 */

const compiled = nearley.Grammar.fromCompiled(jsonArrayGrammar);

interface Cons<T> {
  readonly head: T;
  readonly tail: Cons<T> | null;
}

type JsonValue = { readonly type: "string"; readonly token: moo.Token } | { readonly type: "number" | "boolean" | "null" | "array" | "object" };

export interface JsonElement {
  readonly value: string;
  readonly raw: string;
  readonly start: number;
  readonly end: number;
}

export type JsonArrayParse =
  /** Not JSON, or not an array: the caller falls back to shell form / word splitting. */
  | { readonly kind: "not-json" }
  /** A valid JSON array with a non-string element: a hard error in BuildKit, not a fallback. */
  | { readonly kind: "not-strings"; readonly elementType: string }
  | { readonly kind: "strings"; readonly elements: readonly JsonElement[] };

export function parseJsonArray(text: string): JsonArrayParse {
  const start = skipGoSpace(text);
  if (text.charCodeAt(start) !== 0x5b /* [ */) return { kind: "not-json" };
  const parser = new nearley.Parser(compiled);
  // nearley's error report walks the whole state stack (recursively): on a syntax error we only need "no".
  Object.assign(parser, { reportError: quietReport, reportLexerError: quietReport });
  try {
    parser.feed(text.slice(start));
  } catch (err) {
    if (err instanceof Error && "token" in err) return { kind: "not-json" };
    throw err;
  }
  if (jsonLexer.failed) return { kind: "not-json" };
  const parsed = parser.results[0] as { type: "array"; items: Cons<JsonValue> | null } | undefined;
  // No complete parse: the input ended inside the array (unterminated), which Go reports as a syntax error.
  if (parsed === undefined) return { kind: "not-json" };
  if (jsonLexer.overflow) return { kind: "not-json" };
  const values: JsonValue[] = [];
  for (let c = parsed.items; c !== null; c = c.tail) values.push(c.head);
  values.reverse();
  const elements: JsonElement[] = [];
  for (const v of values) {
    if (v.type !== "string") return { kind: "not-strings", elementType: v.type };
    elements.push({
      value: decodeJsonString(v.token.text),
      raw: v.token.text,
      start: start + v.token.offset,
      end: start + v.token.offset + v.token.text.length,
    });
  }
  return { kind: "strings", elements };
}

function quietReport(): string {
  return "invalid JSON";
}

/**
 * Decodes a JSON string literal (already validated by the lexer) as Go does: a surrogate pair escape
 * makes one character, a lone surrogate (escaped or not) becomes U+FFFD.
 */
export function decodeJsonString(literal: string): string {
  let out = "";
  const end = literal.length - 1;
  for (let i = 1; i < end; i++) {
    const c = literal.charCodeAt(i);
    if (c !== 0x5c) {
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = literal.charCodeAt(i + 1);
        if (i + 1 < end && d >= 0xdc00 && d <= 0xdfff) {
          out += literal.slice(i, i + 2);
          i++;
        } else out += "\ufffd";
      } else if (c >= 0xdc00 && c <= 0xdfff) out += "\ufffd";
      else out += literal[i] ?? "";
      continue;
    }
    const e = literal[i + 1] ?? "";
    i++;
    switch (e) {
      case "b":
        out += "\b";
        break;
      case "f":
        out += "\f";
        break;
      case "n":
        out += "\n";
        break;
      case "r":
        out += "\r";
        break;
      case "t":
        out += "\t";
        break;
      case "u": {
        const u = parseInt(literal.slice(i + 1, i + 5), 16);
        i += 4;
        if (u >= 0xd800 && u <= 0xdbff && literal[i + 1] === "\\" && literal[i + 2] === "u") {
          const v = parseInt(literal.slice(i + 3, i + 7), 16);
          if (v >= 0xdc00 && v <= 0xdfff) {
            out += String.fromCharCode(u, v);
            i += 6;
            break;
          }
        }
        out += u >= 0xd800 && u <= 0xdfff ? "\ufffd" : String.fromCharCode(u);
        break;
      }
      default:
        // \" \\ \/
        out += e;
    }
  }
  return out;
}

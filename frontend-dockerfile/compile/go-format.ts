import { goQuote } from "../chars.ts";

export { goQuote };

/**
 * Go formatting that ends up in image history and config (BuildKit writes `fmt.Sprintf("CMD %q",
 * args)`, `"%+v"` of a health check …): reproducing it byte for byte keeps `docker history` output
 * identical to a BuildKit-built image.
 */

/** `%q` of a `[]string`: `["/bin/sh" "-c" "echo hi"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(" ")}]`;
}

/** `%v` of a `[]string`: `[/bin/sh -c]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(" ")}]`;
}

/** Go's `%q` of an integer: a quoted character literal (`'\x03'`, `'A'`), as `strconv.QuoteRune`. */
export function goQuoteRune(n: number): string {
  const named: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 0x27: "\\'", 0x5c: "\\\\" };
  const cp = Number.isInteger(n) && n >= 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? n : 0xfffd;
  const esc = named[cp];
  if (esc !== undefined) return `'${esc}'`;
  if (cp < 0x20 || cp === 0x7f) return `'\\x${cp.toString(16).padStart(2, "0")}'`;
  const ch = String.fromCodePoint(cp);
  if (/[\p{L}\p{M}\p{N}\p{P}\p{S}]|\u0020/u.test(ch)) return `'${ch}'`;
  return cp > 0xffff ? `'\\U${cp.toString(16).padStart(8, "0")}'` : `'\\u${cp.toString(16).padStart(4, "0")}'`;
}

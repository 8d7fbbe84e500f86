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

const NS = 1;
const US = 1000 * NS;
const MS = 1000 * US;
const S = 1000 * MS;
const M = 60 * S;
const H = 60 * M;

const UNITS: Readonly<Record<string, number>> = { ns: NS, us: US, "µs": US, "μs": US, ms: MS, s: S, m: M, h: H };

/**
 * Go's `time.ParseDuration` ("1h30m", "300ms", "1.5s", "0"), in nanoseconds; undefined when the text
 * is not a duration. Values beyond 2^53 ns (104 days) lose precision, which health checks never reach.
 */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  while (s !== "") {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const whole = m?.[1] ?? "";
    const frac = m?.[2];
    if (whole === "" && (frac === undefined || frac === "")) return undefined;
    s = s.slice(m?.[0].length ?? 0);
    const u = /^[^\d.]+/.exec(s)?.[0];
    if (u === undefined) return undefined; // Go: "missing unit in duration"
    const unit = UNITS[u];
    if (unit === undefined) return undefined;
    s = s.slice(u.length);
    total += Number(whole === "" ? 0 : whole) * unit + (frac === undefined || frac === "" ? 0 : Math.floor(Number(`0.${frac}`) * unit));
  }
  return sign * total;
}

/** Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `300ms`, `0s`. */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let u = Math.abs(ns);
  let out: string;
  if (u < S) {
    // Sub-second values use the largest unit that keeps a non-zero integer part.
    const [unit, size] = u < US ? ["ns", NS] : u < MS ? ["µs", US] : ["ms", MS];
    out = `${fmtFrac(u, size)}${unit}`;
  } else {
    const h = Math.floor(u / H);
    u -= h * H;
    const m = Math.floor(u / M);
    u -= m * M;
    const sec = `${fmtFrac(u, S)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function fmtFrac(v: number, unit: number): string {
  const whole = Math.floor(v / unit);
  const rest = v - whole * unit;
  if (rest === 0) return String(whole);
  const digits = String(unit).length - 1;
  const frac = String(rest).padStart(digits, "0").replace(/0+$/, "");
  return `${whole}.${frac}`;
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

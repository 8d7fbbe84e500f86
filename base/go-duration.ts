/**
 * Go's time.Duration as text, both ways: `time.ParseDuration` and `Duration.String()`. One copy for
 * what must read or print durations as Go does (Dockerfile HEALTHCHECK flags and image history,
 * health-check messages, buildx's texts).
 */

const NS = 1;
const US = 1000 * NS;
const MS = 1000 * US;
const S = 1000 * MS;
const M = 60 * S;
const H = 60 * M;

const UNITS: Readonly<Record<string, number>> = { ns: NS, us: US, "µs": US, "μs": US, ms: MS, s: S, m: M, h: H };

/**
 * Go's `time.ParseDuration` ("1h30m", "300ms", "1.5s", "0"), in nanoseconds; undefined when the text
 * is not a duration. Values beyond 2^53 ns (104 days) lose precision.
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

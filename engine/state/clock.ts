import { parseGoDuration } from "../../base/go-duration.ts";

/** Nanoseconds since the epoch. Injectable so tests control time (before/since, event windows). */
export type Clock = () => bigint;

let last = 0n;

/**
 * Wall-clock nanoseconds (microsecond resolution), strictly increasing within the process: two events
 * of one transition never share a timeNano, so `since`/`until` windows and ordering are stable.
 */
export const systemClock: Clock = () => {
  const now = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  last = now > last ? now : last + 1n;
  return last;
};

/** Go's time.RFC3339Nano in UTC: the fraction has its trailing zeros removed, and none at all if zero. */
export function rfc3339Nano(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = ns % 1_000_000_000n;
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  if (fraction === 0n) return `${base}Z`;
  return `${base}.${fraction.toString().padStart(9, "0").replace(/0+$/, "")}Z`;
}

/** Parses RFC 3339 (as Docker writes it) to nanoseconds; undefined for Docker's zero time or junk. */
export function parseRfc3339Nano(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (m === null) return undefined;
  const ms = Date.parse(`${m[1] ?? ""}${m[3] ?? "Z"}`);
  if (Number.isNaN(ms) || ms < 0) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0") || "0");
}

/**
 * Docker's timetypes.GetTimestamp for `since`/`until` (events, logs): a Go duration relative to now
 * ("10m", "1h30m"), Unix seconds with an optional fraction ("1700000000.5"), or an RFC 3339 date or
 * date-time (without a zone it is UTC here; Docker uses the daemon's local zone, which is UTC in its
 * containers and on most servers). Undefined when it is none of these.
 */
export function parseDockerTime(value: string, nowNs: bigint): bigint | undefined {
  const v = value.trim();
  if (v === "") return undefined;
  // As GetTimestamp: "0" is the Unix epoch, not a duration.
  const ns = v === "0" ? undefined : parseGoDuration(v);
  if (ns !== undefined) return nowNs - BigInt(Math.round(ns));
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (unix !== null) return BigInt(unix[1] ?? "0") * 1_000_000_000n + BigInt((unix[2] ?? "").padEnd(9, "0") || "0");
  const dt = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/.exec(v);
  if (dt === null) return undefined;
  const time = dt[2] === undefined ? "00:00:00" : dt[2].length === 5 ? `${dt[2]}:00` : dt[2];
  const ms = Date.parse(`${dt[1] ?? ""}T${time}${dt[4] ?? "Z"}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((dt[3] ?? "").padEnd(9, "0") || "0");
}

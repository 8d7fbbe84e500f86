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

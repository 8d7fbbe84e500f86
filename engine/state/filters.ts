import { htkError } from "../../base/errors/index.ts";
import type { Filters } from "./types.ts";

/**
 * Docker's `filters.Args` matching rules (api/types/filters), as pure functions. Values of one key are
 * alternatives (any may match), keys are all required — except `label`, whose values must all match.
 */

/**
 * Parses the `filters` query parameter: `{"status":["running"]}` or the older map form
 * `{"status":{"running":true}}` that Docker still accepts. An empty or absent parameter is no filter.
 */
export function parseFilters(text: string | null | undefined): Filters {
  if (text === null || text === undefined || text.trim() === "") return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw htkError("HTK-ENGINE-0116", { filter: text, accepted: "a JSON object of filter names to value lists" });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw htkError("HTK-ENGINE-0116", { filter: text, accepted: "a JSON object of filter names to value lists" });
  }
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(value)) out[key] = value.map(String);
    else if (value !== null && typeof value === "object") {
      out[key] = Object.entries(value as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    } else throw htkError("HTK-ENGINE-0116", { filter: `${key}=${String(value)}`, accepted: "lists of strings" });
  }
  return out;
}

/** Refuses keys an endpoint does not know, with Docker's "invalid filter" text (HTK-ENGINE-0116). */
export function validateFilterKeys(filters: Filters, accepted: readonly string[]): void {
  for (const key of Object.keys(filters)) {
    if (!accepted.includes(key)) throw htkError("HTK-ENGINE-0116", { filter: key, accepted: accepted.join(", ") });
  }
}

export function values(filters: Filters, key: string): readonly string[] {
  return filters[key] ?? [];
}

/** `Args.Match`: equal, or the value as an (unanchored) regular expression matches. */
export function match(filters: Filters, key: string, source: string): boolean {
  const vs = values(filters, key);
  if (vs.length === 0) return true;
  return vs.some((v) => v === source || regexMatches(v, source));
}

/** `Args.ExactMatch`. */
export function exactMatch(filters: Filters, key: string, source: string): boolean {
  const vs = values(filters, key);
  return vs.length === 0 || vs.includes(source);
}

/** `Args.FuzzyMatch`: equal or a prefix (IDs by their short form). */
export function fuzzyMatch(filters: Filters, key: string, source: string): boolean {
  const vs = values(filters, key);
  return vs.length === 0 || vs.some((v) => source.startsWith(v));
}

/** `Args.MatchKVList`: every `key` or `key=value` must hold on the labels. */
export function matchKeyValues(filters: Filters, key: string, labels: Readonly<Record<string, string>>): boolean {
  const vs = values(filters, key);
  if (vs.length === 0) return true;
  return vs.every((v) => {
    const eq = v.indexOf("=");
    const k = eq < 0 ? v : v.slice(0, eq);
    if (!Object.hasOwn(labels, k)) return false;
    return eq < 0 || labels[k] === v.slice(eq + 1);
  });
}

const regexCache = new Map<string, RegExp | null>();

function regexMatches(pattern: string, source: string): boolean {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern);
    } catch {
      // Go's regexp rejects it too; Docker then treats the filter as not matching.
      re = null;
    }
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re !== null && re.test(source);
}

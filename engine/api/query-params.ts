import { htkError } from "../../base/errors/index.ts";

/** Docker's httputils.BoolValue: anything but "", "0", "no", "false", "none" (any case) is true. */
export function boolParam(query: URLSearchParams, key: string): boolean {
  const v = (query.get(key) ?? "").trim().toLowerCase();
  return !(v === "" || v === "0" || v === "no" || v === "false" || v === "none");
}

/** Docker's BoolValueOrDefault: the default when the parameter is absent. */
export function boolParamOr(query: URLSearchParams, key: string, fallback: boolean): boolean {
  return query.has(key) ? boolParam(query, key) : fallback;
}

/** A whole-number parameter as Go's strconv.Atoi reads it; undefined when absent or empty (HTK-ENGINE-0372 otherwise). */
export function intParam(query: URLSearchParams, key: string): number | undefined {
  const v = query.get(key);
  if (v === null || v === "") return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw htkError("HTK-ENGINE-0372", { value: JSON.stringify(v) });
  return Number(v);
}

/** A request header's value (node gives repeated headers as a list: the first counts). */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

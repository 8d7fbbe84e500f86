import { htkError } from "../../base/errors/index.ts";

/** The API versions served: Docker Engine 26.1's range. */
export const API_VERSION = "1.45";
export const MIN_API_VERSION = "1.24";

/** Compares dotted versions numerically: `1.9` < `1.24`. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Splits `/v1.45/containers/json` into its version and path; unprefixed paths get the default. */
export function splitVersionPrefix(rawPath: string): { version: string; path: string } {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(rawPath);
  if (m === null) return { version: API_VERSION, path: rawPath };
  const version = m[1] ?? API_VERSION;
  if (compareApiVersions(version, API_VERSION) > 0) throw htkError("HTK-API-0002", { requested: version, max: API_VERSION });
  if (compareApiVersions(version, MIN_API_VERSION) < 0) throw htkError("HTK-API-0003", { requested: version, min: MIN_API_VERSION });
  return { version, path: m[2] ?? "/" };
}

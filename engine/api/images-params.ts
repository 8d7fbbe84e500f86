import { htkError } from "../../base/errors/index.ts";
import { familiarName, parseReference } from "../../base/oci/index.ts";
import type { RequestContext } from "./types.ts";

/**
 * Query and body helpers of the image endpoints, with dockerd's parsing rules (`httputils`).
 */

/** `httputils.BoolValue`: anything but "", "0", "no", "false", "none" (any case) is true. */
export function boolQuery(query: URLSearchParams, key: string): boolean {
  const v = (query.get(key) ?? "").trim().toLowerCase();
  return !(v === "" || v === "0" || v === "no" || v === "false" || v === "none");
}

/** `httputils.BoolValueOrDefault`: the default when the key is absent. */
export function boolQueryOr(query: URLSearchParams, key: string, fallback: boolean): boolean {
  return query.has(key) ? boolQuery(query, key) : fallback;
}

/** `strconv.Atoi` of a query value; undefined when absent or empty. */
export function intQuery(query: URLSearchParams, key: string): number | undefined {
  const v = query.get(key);
  if (v === null || v === "") return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw htkError("HTK-ENGINE-0320", { value: v, name: key });
  return Number(v);
}

/** The request body as JSON, bounded (an auth config or a small object, never a stream). */
export async function readJsonBody(ctx: RequestContext, maxBytes = 1 << 20): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const b = chunk as Buffer;
    size += b.byteLength;
    if (size > maxBytes) throw htkError("HTK-ENGINE-0319", { detail: `it is larger than ${maxBytes} bytes` });
    parts.push(b);
  }
  const text = Buffer.concat(parts).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw htkError("HTK-ENGINE-0319", { detail: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * `httputils.RepoTagReference` for `POST /images/{name}/tag` (and import's repo/tag): the new name
 * with ":latest" added, refused when it carries a digest or names the digest algorithm.
 */
export function tagTarget(repo: string, tag: string): string {
  if (repo === "") throw htkError("HTK-ENGINE-0317", {});
  const parsed = parseReference(repo);
  if (parsed.ok && parsed.value.digest !== undefined) throw htkError("HTK-ENGINE-0315", {});
  if (tag !== "" && !/^[\w][\w.-]{0,127}$/.test(tag)) throw htkError("HTK-ENGINE-0316", {});
  const target = tag !== "" ? `${repo}:${tag}` : repo;
  const ref = parseReference(target);
  if (ref.ok && familiarName(ref.value) === "sha256") throw htkError("HTK-ENGINE-0314", {});
  return target;
}

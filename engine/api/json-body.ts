import { htkError } from "../../base/errors/index.ts";
import type { RequestContext } from "./types.ts";

/** Bodies of the JSON endpoints are small objects; anything larger is refused before it is buffered. */
export const DEFAULT_JSON_BODY_LIMIT = 1024 * 1024;

/**
 * Reads a JSON request body as Docker's httputils.ReadJSON does: no body (or an empty one) is not an
 * error (undefined), a body needs `Content-Type: application/json` (HTK-ENGINE-0451), malformed JSON is
 * HTK-ENGINE-0450. The body is read up to `limit` bytes (HTK-ENGINE-0452 beyond), never unbounded.
 */
export async function readJsonBody(ctx: RequestContext, limit: number = DEFAULT_JSON_BODY_LIMIT): Promise<unknown> {
  const type = ctx.req.headers["content-type"] ?? "";
  const declared = ctx.req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) throw htkError("HTK-ENGINE-0452", { limit });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw htkError("HTK-ENGINE-0452", { limit });
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const mediaType = type.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType !== "application/json") throw htkError("HTK-ENGINE-0451", { type });
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw htkError("HTK-ENGINE-0450", { detail: "got EOF while reading request body" });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw htkError("HTK-ENGINE-0450", { detail: (err as Error).message }, { cause: err });
  }
}

/** Go's names for JSON value kinds, as encoding/json's UnmarshalTypeError reports them. */
function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return "object";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

function typeError(struct: string, field: string, goType: string, v: unknown): never {
  throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${field} of type ${goType}` });
}

/**
 * Typed access to the fields of a decoded JSON object with encoding/json's rules: a missing field or
 * null is the zero value (undefined here), a value of the wrong kind is Docker's "cannot unmarshal"
 * error. `struct` names the Go type in that message (CreateOptions, NetworkCreateRequest, …).
 */
export class JsonObject {
  readonly #raw: Readonly<Record<string, unknown>>;
  readonly #struct: string;

  constructor(raw: unknown, struct: string) {
    if (raw === undefined || raw === null) this.#raw = {};
    else if (typeof raw === "object" && !Array.isArray(raw)) this.#raw = raw as Record<string, unknown>;
    else throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${jsonKind(raw)} into Go value of type ${struct}` });
    this.#struct = struct;
  }

  /** Go's decoder matches field names case-insensitively; an exact match wins. */
  #get(field: string): unknown {
    if (Object.hasOwn(this.#raw, field)) return this.#raw[field];
    const lower = field.toLowerCase();
    for (const [k, v] of Object.entries(this.#raw)) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  string(field: string): string | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") typeError(this.#struct, field, "string", v);
    return v;
  }

  boolean(field: string): boolean | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") typeError(this.#struct, field, "bool", v);
    return v;
  }

  /** A `map[string]string`. */
  stringMap(field: string): Record<string, string> | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) typeError(this.#struct, field, "map[string]string", v);
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (typeof x !== "string") typeError(this.#struct, field, "string", x);
      out[k] = x;
    }
    return out;
  }

  /** A nested struct (undefined when absent or null). */
  object(field: string, struct: string): JsonObject | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) typeError(this.#struct, field, struct, v);
    return new JsonObject(v, struct);
  }

  /** A slice of structs. */
  objects(field: string, struct: string): JsonObject[] | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) typeError(this.#struct, field, `[]${struct}`, v);
    return v.map((x) => {
      if (x !== null && (typeof x !== "object" || Array.isArray(x))) typeError(this.#struct, field, struct, x);
      return new JsonObject(x, struct);
    });
  }

  /** A slice of strings. */
  strings(field: string): string[] | undefined {
    const v = this.#get(field);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) typeError(this.#struct, field, "[]string", v);
    return v.map((x) => {
      if (typeof x !== "string") typeError(this.#struct, field, "string", x);
      return x;
    });
  }

  /** The field's value as decoded, for shapes the typed accessors do not cover. */
  raw(field: string): unknown {
    return this.#get(field);
  }

  has(field: string): boolean {
    const v = this.#get(field);
    return v !== undefined && v !== null;
  }
}

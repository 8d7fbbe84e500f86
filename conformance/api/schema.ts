import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import type { SwaggerSchema } from "./spec.ts";

/**
 * Swagger 2.0 schemas as JSON Schema (draft-07) for ajv. The rules:
 *
 * - `$ref: "#/definitions/X"` points into one registered document holding every converted definition,
 *   so recursive definitions stay references instead of being expanded;
 * - `x-nullable: true` admits `null` besides the declared type (Go encodes nil pointers, slices and
 *   maps as `null` there);
 * - `x-omitempty: false` makes the property required: Go always writes the field;
 * - `additionalProperties` is kept as written; objects without it accept unknown fields, because
 *   clients ignore them and newer engines add fields;
 * - `example`, `description`, `title`, `readOnly`, `discriminator`, `default` and other `x-` keys are
 *   documentation and are dropped;
 * - `required`, `type`, `enum`, `items`, `properties`, `allOf`, `format`, bounds are enforced. Swagger's
 *   integer formats (`int64`, `uint32` …) check the range; `dateTime` is RFC 3339.
 */
export const SPEC_SCHEMA_ID = "docker-engine-api";

const KEEP = new Set(["type", "enum", "format", "required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems"]);

export function toJsonSchema(s: SwaggerSchema): Record<string, unknown> {
  if (typeof s["$ref"] === "string") {
    const ref = s["$ref"].replace(/^#\/definitions\//, `${SPEC_SCHEMA_ID}#/definitions/`);
    return s["x-nullable"] === true ? { anyOf: [{ $ref: ref }, { type: "null" }] } : { $ref: ref };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (KEEP.has(k)) out[k] = v;
  if (s["type"] === "file") delete out["type"]; // a binary body: nothing to validate as JSON
  if (isRecord(s["properties"])) {
    const props: Record<string, unknown> = {};
    const required = new Set(Array.isArray(s["required"]) ? (s["required"] as string[]) : []);
    for (const [name, p] of Object.entries(s["properties"])) {
      if (!isRecord(p)) continue;
      props[name] = toJsonSchema(p);
      if (p["x-omitempty"] === false) required.add(name);
    }
    out["properties"] = props;
    if (required.size > 0) out["required"] = [...required];
  }
  if (isRecord(s["items"])) out["items"] = toJsonSchema(s["items"]);
  if (isRecord(s["additionalProperties"])) out["additionalProperties"] = toJsonSchema(s["additionalProperties"]);
  else if (typeof s["additionalProperties"] === "boolean") out["additionalProperties"] = s["additionalProperties"];
  if (Array.isArray(s["allOf"])) out["allOf"] = (s["allOf"] as SwaggerSchema[]).map(toJsonSchema);
  if (s["x-nullable"] === true) {
    if (typeof out["type"] === "string") out["type"] = [out["type"], "null"];
    if (Array.isArray(out["enum"]) && !(out["enum"] as unknown[]).includes(null)) out["enum"] = [...(out["enum"] as unknown[]), null];
    if (out["type"] === undefined) return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER * 1024, Number.MAX_SAFE_INTEGER * 1024],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  uint64: [0, Number.MAX_SAFE_INTEGER * 2048],
};

/** A validator over the spec's definitions: `compile(responseSchema)` gives an ajv validate function. */
export class SchemaValidator {
  readonly #ajv: Ajv;
  readonly #cache = new Map<SwaggerSchema, ValidateFunction>();

  constructor(definitions: Readonly<Record<string, SwaggerSchema>>) {
    // allErrors: one run reports every wrong field. strict off: Swagger enums and formats are loose.
    this.#ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
    // ajv-formats is CommonJS with a default export; under ESM the function may sit on `.default`.
    const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => void;
    addFormats(this.#ajv);
    for (const [name, [min, max]] of Object.entries(INT_RANGES)) {
      this.#ajv.addFormat(name, { type: "number", validate: (n: number) => Number.isInteger(n) && n >= min && n <= max });
    }
    this.#ajv.addFormat("dateTime", this.#ajv.formats["date-time"] ?? true);
    for (const loose of ["binary", "json", "ip-address", "CIDR", "float", "double"]) this.#ajv.addFormat(loose, true);
    const defs: Record<string, unknown> = {};
    for (const [name, d] of Object.entries(definitions)) defs[name] = toJsonSchema(d);
    this.#ajv.addSchema({ $id: SPEC_SCHEMA_ID, definitions: defs });
  }

  compile(schema: SwaggerSchema): ValidateFunction {
    let v = this.#cache.get(schema);
    if (v === undefined) {
      v = this.#ajv.compile(toJsonSchema(schema));
      this.#cache.set(schema, v);
    }
    return v;
  }

  /** Validates a value; returns one readable line per violation (empty when valid). */
  check(schema: SwaggerSchema, value: unknown): string[] {
    const v = this.compile(schema);
    if (v(value)) return [];
    return (v.errors ?? []).map((e) => `${e.instancePath === "" ? "(body)" : e.instancePath} ${e.message ?? "is invalid"}${e.params !== undefined && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ""}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

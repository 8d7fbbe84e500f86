import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO } from "../engine.ts";

/**
 * The Engine API v1.45 spec (moby's Swagger 2.0 `api/swagger.yaml`), read as data: its operations
 * and, per response, the schema and headers the contract tests validate against. Schemas stay in
 * Swagger form here; `schema.ts` turns them into JSON Schema for ajv.
 */
/** `../shared` beside the repository, as CI lays it out; HATAKE_SHARED_DIR overrides it. */
export const SPEC_PATH = join(process.env["HATAKE_SHARED_DIR"] ?? join(REPO, "..", "shared"), "conformance", "engine-api", "v1.45.yaml");

export type SwaggerSchema = Readonly<Record<string, unknown>>;

export interface SpecHeader {
  readonly type?: string;
  readonly enum?: readonly unknown[];
}

export interface SpecResponse {
  readonly schema?: SwaggerSchema;
  readonly headers: Readonly<Record<string, SpecHeader>>;
}

export interface SpecParameter {
  readonly name: string;
  readonly in: "path" | "query" | "body" | "header" | "formData";
  readonly required: boolean;
}

export interface SpecOperation {
  readonly operationId: string;
  /** Upper case: GET, HEAD, POST, PUT, DELETE. */
  readonly method: string;
  /** Relative to the version prefix: `/containers/{id}/json`. */
  readonly path: string;
  readonly tag: string;
  readonly produces: readonly string[];
  readonly parameters: readonly SpecParameter[];
  /** Keyed by status code (`"200"`) or `"default"`. */
  readonly responses: Readonly<Record<string, SpecResponse>>;
}

export interface Spec {
  readonly operations: readonly SpecOperation[];
  readonly definitions: Readonly<Record<string, SwaggerSchema>>;
}

const METHODS = ["get", "head", "post", "put", "delete", "patch"];

export function loadSpec(path: string = SPEC_PATH): Spec {
  const doc = parse(readFileSync(path, "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
    definitions: Record<string, SwaggerSchema>;
    produces?: string[];
  };
  const operations: SpecOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = (item["parameters"] as RawParameter[] | undefined) ?? [];
    for (const method of METHODS) {
      const raw = item[method] as RawOperation | undefined;
      if (raw === undefined) continue;
      const responses: Record<string, SpecResponse> = {};
      for (const [code, r] of Object.entries(raw.responses ?? {})) {
        responses[code] = {
          ...(r.schema === undefined ? {} : { schema: r.schema }),
          headers: r.headers ?? {},
        };
      }
      operations.push({
        operationId: raw.operationId,
        method: method.toUpperCase(),
        path,
        tag: raw.tags?.[0] ?? "(untagged)",
        produces: raw.produces ?? doc.produces ?? [],
        parameters: [...shared, ...(raw.parameters ?? [])].map((p) => ({ name: p.name, in: p.in, required: p.required === true })),
        responses,
      });
    }
  }
  return { operations, definitions: doc.definitions };
}

interface RawParameter {
  name: string;
  in: SpecParameter["in"];
  required?: boolean;
}
interface RawOperation {
  operationId: string;
  tags?: string[];
  produces?: string[];
  parameters?: RawParameter[];
  responses?: Record<string, { schema?: SwaggerSchema; headers?: Record<string, SpecHeader> }>;
}

/** The success status the spec documents first (200, 201, 204 …), for cases that do not name one. */
export function successStatus(op: SpecOperation): number | undefined {
  const codes = Object.keys(op.responses).map(Number).filter((c) => c >= 200 && c < 300).sort((a, b) => a - b);
  return codes[0];
}

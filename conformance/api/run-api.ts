import type { SuiteResult } from "../run.ts";
import { wireRequest, type WireResponse } from "../engine.ts";
import { IMPLEMENTED, type ApiClient, type Fixture, type ImplementedOperation, type RequestCase } from "./implemented.ts";
import { NOT_SERVED_TAGS, OUT_OF_SCOPE_TAGS, PROBE_PLUGIN, outOfScopeExpectation } from "./out-of-scope.ts";
import { SchemaValidator } from "./schema.ts";
import { loadSpec, successStatus, type Spec, type SpecHeader, type SpecOperation, type SwaggerSchema } from "./spec.ts";

/**
 * The Engine API contract suite. Every operation of the spec falls in exactly one class:
 *
 * - implemented (listed in implemented.ts): each case is sent and its status, the headers the spec
 *   names and the body are validated against the spec (ajv); negative cases check the error answers;
 * - in scope but not implemented yet: probed once, and must answer Docker's JSON error shape
 *   `{"message": …}` with a 4xx/5xx status (nothing crashes, nothing hangs);
 * - out of scope (Swarm family, Plugin): must answer what a non-swarm Docker Engine answers.
 *
 * Headers the spec names but the engine leaves out are warnings, not failures: Swagger 2.0 has no
 * notion of a required header, and clients treat a missing one as "unknown".
 */
export const API_PREFIX = "/v1.45";

export interface CoverageRow {
  readonly tag: string;
  readonly inSpec: number;
  readonly implemented: number;
  /** Implemented operations all of whose cases passed. */
  readonly validated: number;
  /** Implemented operations with at least one failing case. */
  readonly failing: number;
  /** Not-implemented (or out-of-scope) operations that answered as required / were probed. */
  readonly probesPassed: number;
  readonly probes: number;
  /** Set for out-of-scope tags. */
  readonly outOfScope?: string;
  /** Set for in-scope tags the engine deliberately does not serve (the reason). */
  readonly notServed?: string;
}

export interface ApiReport extends SuiteResult {
  readonly rows: readonly CoverageRow[];
  /** The coverage table as printed. */
  readonly table: string;
  readonly warnings: readonly string[];
}

export interface ApiSuiteOptions {
  readonly host: string;
  readonly spec?: Spec;
  readonly implemented?: Readonly<Record<string, ImplementedOperation>>;
  readonly timeoutMs?: number;
}

const TAG_ORDER = ["System", "Image", "Container", "Network", "Volume", "Exec", "Distribution", "Session"];
const MISSING = "hatake-conformance-missing";

export async function runApiSuite(opts: ApiSuiteOptions): Promise<ApiReport> {
  const spec = opts.spec ?? loadSpec();
  const implemented = opts.implemented ?? IMPLEMENTED;
  const validator = new SchemaValidator(spec.definitions);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const failures: string[] = [];
  const warnings: string[] = [];
  let passed = 0;
  const byId = new Map(spec.operations.map((o) => [o.operationId, o]));
  for (const id of Object.keys(implemented)) {
    if (!byId.has(id)) failures.push(`implemented.ts: "${id}" is not an operationId of the v1.45 spec`);
  }

  const send = (method: string, path: string, c: Pick<RequestCase, "query" | "body" | "rawBody" | "headers">): Promise<WireResponse> => {
    const qs = new URLSearchParams(c.query ?? {}).toString();
    const json = c.rawBody === undefined && c.body !== undefined;
    const body = c.rawBody ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
    return wireRequest(opts.host, {
      method,
      path: `${API_PREFIX}${path}${qs === "" ? "" : `?${qs}`}`,
      headers: { ...(json ? { "Content-Type": "application/json" } : {}), ...c.headers },
      ...(body === undefined ? {} : { body }),
      timeoutMs,
    });
  };
  const client: ApiClient = { call: (method, path, o = {}) => send(method, path, o) };

  const stats = new Map<string, { validated: number; failing: number; implemented: number; probes: number; probesPassed: number }>();
  const stat = (tag: string): { validated: number; failing: number; implemented: number; probes: number; probesPassed: number } => {
    let s = stats.get(tag);
    if (s === undefined) stats.set(tag, (s = { validated: 0, failing: 0, implemented: 0, probes: 0, probesPassed: 0 }));
    return s;
  };

  for (const op of spec.operations) {
    const s = stat(op.tag);
    const impl = implemented[op.operationId];
    if (impl !== undefined) {
      s.implemented++;
      const runs: Array<[RequestCase, number | undefined, string]> = [
        ...impl.cases.map((c): [RequestCase, number | undefined, string] => [c, c.status ?? successStatus(op), "case"]),
        ...negativeCases(op, impl).map((c): [RequestCase, number | undefined, string] => [c, c.status, "negative"]),
      ];
      let ok = true;
      for (const [c, expected, kind] of runs) {
        const problems = await runCase(op, c, expected, kind);
        if (problems.length === 0) passed++;
        else ok = false;
        failures.push(...problems);
      }
      if (ok) s.validated++;
      else s.failing++;
      continue;
    }
    s.probes++;
    const problem = OUT_OF_SCOPE_TAGS[op.tag] !== undefined ? await probeOutOfScope(op) : await probeNotImplemented(op);
    if (problem === undefined) {
      s.probesPassed++;
      passed++;
    } else {
      failures.push(problem);
    }
  }

  const tags = [...new Set([...TAG_ORDER, ...spec.operations.map((o) => o.tag)])].filter((t) => stats.has(t));
  const rows: CoverageRow[] = tags.map((tag) => {
    const s = stat(tag);
    const reason = OUT_OF_SCOPE_TAGS[tag];
    const notServed = NOT_SERVED_TAGS[tag];
    return {
      tag,
      inSpec: spec.operations.filter((o) => o.tag === tag).length,
      implemented: s.implemented,
      validated: s.validated,
      failing: s.failing,
      probesPassed: s.probesPassed,
      probes: s.probes,
      ...(reason === undefined ? {} : { outOfScope: reason }),
      ...(notServed === undefined ? {} : { notServed }),
    };
  });
  return { passed, failed: failures.length, failures, warnings, rows, table: formatCoverage(rows) };

  /** Runs one case; returns failure lines, each starting with a label unique to the case. */
  async function runCase(op: SpecOperation, c: RequestCase, expected: number | undefined, kind: string): Promise<string[]> {
    let fixture: Fixture;
    try {
      fixture = c.setup === undefined ? {} : await c.setup(client);
    } catch (err) {
      return [`${op.operationId} ${kind} ${c.name ?? `${op.method} ${c.path}`}: set-up failed: ${(err as Error).message}`];
    }
    const params = fixture.params ?? {};
    const path = fill(c.path, params);
    const query = c.query === undefined ? undefined : Object.fromEntries(Object.entries(c.query).map(([k, v]) => [k, fill(v, params)]));
    const label = `${op.operationId} ${kind} ${c.name ?? `${op.method} ${path}`}`;
    try {
      let res: WireResponse;
      try {
        res = await send(op.method, path, { ...c, ...(query === undefined ? {} : { query }), ...(c.body === undefined ? {} : { body: fillDeep(c.body, params) }) });
      } catch (err) {
        return [`${label}: no answer: ${(err as Error).message}`];
      }
      return checkResponse(op, res, expected).map((p) => `${label}: ${p}`);
    } finally {
      await fixture.cleanup?.();
    }
  }

  function checkResponse(op: SpecOperation, res: WireResponse, expected: number | undefined): string[] {
    const problems: string[] = [];
    if (expected === undefined) return ["the spec documents no success status; give the case a status"];
    if (res.status !== expected) problems.push(`status ${res.status}, expected ${expected}${errorText(res)}`);
    const spec = op.responses[String(res.status)] ?? op.responses["default"];
    if (spec === undefined) return [...problems, `the spec documents no ${res.status} response for ${op.operationId}`];
    for (const [name, h] of Object.entries(spec.headers)) {
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) {
        warnings.push(`${op.operationId}: ${res.status} response lacks the header ${name} the spec names`);
        continue;
      }
      const bad = headerProblem(h, Array.isArray(value) ? value.join(", ") : value);
      if (bad !== undefined) problems.push(`header ${name}: ${bad}`);
    }
    const text = res.body.toString("utf8");
    if (op.method === "HEAD" || res.status === 204 || res.status === 304) {
      if (res.body.length > 0) problems.push(`a ${op.method} ${res.status} answer has a body (${res.body.length} bytes)`);
      return problems;
    }
    if (spec.schema === undefined) return problems;
    const type = String(res.headers["content-type"] ?? "");
    const wantsJson = isJsonSchema(spec.schema);
    if (wantsJson) {
      if (!/^application\/json\b/.test(type)) return [...problems, `content type "${type}", expected application/json`];
      // Streaming endpoints (events, stats, progress) answer newline-delimited JSON values: each one
      // must validate on its own.
      const values = parseJsonValues(text);
      if (values === undefined) return [...problems, `the body is not JSON: ${JSON.stringify(text.slice(0, 200))}`];
      values.forEach((value, i) => problems.push(...validator.check(spec.schema as SwaggerSchema, value).map((e) => `body${values.length > 1 ? ` value ${i + 1}` : ""} ${e}`)));
    } else if (spec.schema["type"] === "string") {
      problems.push(...validator.check(spec.schema, text).map((e) => `body ${e}`));
    }
    return problems;
  }

  function negativeCases(op: SpecOperation, impl: ImplementedOperation): readonly RequestCase[] {
    if (impl.negative !== undefined) return impl.negative;
    const pathParams = op.parameters.filter((p) => p.in === "path");
    if (pathParams.length === 0 || op.responses["404"] === undefined) return [];
    return [{ name: `unknown ${pathParams.map((p) => p.name).join(", ")} → 404`, path: fill(op.path, {}, MISSING), status: 404 }];
  }

  async function probeNotImplemented(op: SpecOperation): Promise<string | undefined> {
    const probe = probeRequest(op);
    const label = `${op.operationId} not implemented: ${op.method} ${probe.path}`;
    let res: WireResponse;
    try {
      res = await send(op.method, probe.path, probe);
    } catch (err) {
      return `${label}: no answer: ${(err as Error).message}`;
    }
    if (res.status < 400) {
      return `${label}: answered ${res.status}: the engine implements it; list it in conformance/api/implemented.ts with its cases`;
    }
    if (NOT_SERVED_TAGS[op.tag] !== undefined && res.status !== 404) return `${label}: status ${res.status}, expected 404 as an engine without the route${errorText(res)}`;
    if (op.method === "HEAD") return undefined; // a HEAD answer carries no body to check
    const shape = errorShapeProblem(res);
    return shape === undefined ? undefined : `${label}: ${shape}`;
  }

  async function probeOutOfScope(op: SpecOperation): Promise<string | undefined> {
    const probe = probeRequest(op);
    const label = `${op.operationId} out of scope: ${op.method} ${probe.path}`;
    let res: WireResponse;
    try {
      res = await send(op.method, probe.path, probe);
    } catch (err) {
      return `${label}: no answer: ${(err as Error).message}`;
    }
    const want = outOfScopeExpectation(op.operationId, op.tag);
    if (want === "any-json-error") {
      if (res.status < 400) return `${label}: answered ${res.status}, expected an error`;
      const shape = errorShapeProblem(res);
      return shape === undefined ? undefined : `${label}: ${shape}`;
    }
    if (res.status !== want.status) return `${label}: status ${res.status}, expected ${want.status}${errorText(res)}`;
    if (want.body !== undefined) {
      const text = res.body.toString("utf8");
      return text.trim() === JSON.stringify(want.body) ? undefined : `${label}: body ${JSON.stringify(text.trim())}, expected ${JSON.stringify(want.body)}`;
    }
    const shape = errorShapeProblem(res);
    if (shape !== undefined) return `${label}: ${shape}`;
    const message = (JSON.parse(res.body.toString("utf8")) as { message: string }).message;
    if (want.messagePrefix !== undefined && !message.startsWith(want.messagePrefix)) {
      return `${label}: message ${JSON.stringify(message)}, expected Docker's ${JSON.stringify(want.messagePrefix)}`;
    }
    return undefined;
  }

  /** Docker's error shape: JSON, `{"message": string}` (extra fields allowed), validated as ErrorResponse. */
  function errorShapeProblem(res: WireResponse): string | undefined {
    const type = String(res.headers["content-type"] ?? "");
    if (!/^application\/json\b/.test(type)) return `status ${res.status} with content type "${type}", expected Docker's JSON error`;
    let value: unknown;
    try {
      value = JSON.parse(res.body.toString("utf8"));
    } catch {
      return `status ${res.status} with a body that is not JSON: ${JSON.stringify(res.body.toString("utf8").slice(0, 200))}`;
    }
    const errors = validator.check({ $ref: "#/definitions/ErrorResponse" }, value);
    return errors.length === 0 ? undefined : `status ${res.status}: not Docker's error shape: ${errors.join("; ")}`;
  }
}

/**
 * The request a probe sends: unknown names in path parameters, and the query a Docker Engine would
 * need to get past argument checks to the point where the answer is about the resource. Prunes get a
 * label filter nothing carries, so probing a real engine removes nothing.
 */
export function probeRequest(op: SpecOperation): { path: string; query?: Record<string, string>; body?: unknown } {
  const name = op.tag === "Plugin" ? PROBE_PLUGIN : MISSING;
  const path = fill(op.path, {}, name);
  const id = op.operationId;
  if (id.endsWith("Prune")) return { path, query: { filters: JSON.stringify({ label: ["hatake.conformance.never=1"] }) } };
  if (id === "SystemEvents") return { path, query: { since: "1", until: "2" } };
  if (id === "ServiceLogs" || id === "TaskLogs") return { path, query: { stdout: "1" } };
  if (/^(Swarm|Node|Service|Secret|Config)Update$/.test(id)) return { path, query: { version: "1" } };
  if (id === "PluginUpgrade") return { path, query: { remote: PROBE_PLUGIN }, body: [] };
  if (id === "PluginSet") return { path, body: [] };
  // Docker parses timeout with Atoi before looking the plugin up: without it the answer is a 500.
  if (id === "PluginEnable") return { path, query: { timeout: "0" } };
  // Requests a real Docker Engine refuses instead of creating something (an empty VolumeCreate body
  // makes an anonymous volume there; fromImage on a closed port fails fast, offline).
  if (id === "VolumeCreate") return { path, body: { Name: MISSING, Driver: "hatake-conformance-no-such-driver" } };
  if (id === "ImageCreate") return { path, query: { fromImage: "127.0.0.1:1/hatake-conformance-missing", tag: "never" } };
  if (id === "ImageCommit") return { path, query: { container: MISSING } };
  return { path };
}

/** Fills `{name}` from params; a name without a value gets `fallback` (or stays as written). */
/** `{name}` in the string values of a JSON body (a fixture's container ID in a connect request …). */
function fillDeep(value: unknown, params: Readonly<Record<string, string>>): unknown {
  if (typeof value === "string") return fill(value, params);
  if (Array.isArray(value)) return value.map((v) => fillDeep(v, params));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillDeep(v, params)]));
  return value;
}

function fill(template: string, params: Readonly<Record<string, string>>, fallback?: string): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name: string) => params[name] ?? fallback ?? whole);
}

/** One JSON value, or several separated by newlines (a stream); undefined when it is neither. */
function parseJsonValues(text: string): unknown[] | undefined {
  try {
    return [JSON.parse(text)];
  } catch {
    const lines = text.split("\n").filter((l) => l.trim() !== "");
    if (lines.length < 2) return undefined;
    try {
      return lines.map((l) => JSON.parse(l) as unknown);
    } catch {
      return undefined;
    }
  }
}

function isJsonSchema(s: SwaggerSchema): boolean {
  if (typeof s["$ref"] === "string") return true;
  return s["type"] === "object" || s["type"] === "array" || s["type"] === "integer" || s["type"] === "boolean" || s["type"] === "number" || (s["type"] === undefined && s["allOf"] !== undefined);
}

function headerProblem(h: SpecHeader, value: string): string | undefined {
  if (h.enum !== undefined && !h.enum.includes(value)) return `"${value}" is not one of ${h.enum.map((e) => JSON.stringify(e)).join(", ")}`;
  if (h.type === "boolean" && value !== "true" && value !== "false") return `"${value}" is not a boolean`;
  if (h.type === "integer" && !/^-?\d+$/.test(value)) return `"${value}" is not an integer`;
  return undefined;
}

function errorText(res: WireResponse): string {
  const text = res.body.toString("utf8").trim();
  return text === "" ? "" : ` (${text.slice(0, 300)})`;
}

/** The coverage table: one row per tag, in-scope tags first, out-of-scope ones with their reason. */
export function formatCoverage(rows: readonly CoverageRow[]): string {
  const header = ["tag", "implemented/spec", "validated", "failing", "others answer as required", "note"];
  const body = rows.map((r) => [
    r.tag,
    `${r.implemented}/${r.inSpec}`,
    String(r.validated),
    String(r.failing),
    `${r.probesPassed}/${r.probes}`,
    r.outOfScope !== undefined ? `out of scope: ${r.outOfScope}` : r.notServed !== undefined ? r.notServed : r.probes === 0 ? "" : "not implemented: Docker's JSON error",
  ]);
  const sum = (f: (r: CoverageRow) => number): number => rows.reduce((a, r) => a + f(r), 0);
  const inScope = rows.filter((r) => r.outOfScope === undefined);
  body.push([
    "total (in scope)",
    `${inScope.reduce((a, r) => a + r.implemented, 0)}/${inScope.reduce((a, r) => a + r.inSpec, 0)}`,
    String(sum((r) => r.validated)),
    String(sum((r) => r.failing)),
    `${sum((r) => r.probesPassed)}/${sum((r) => r.probes)}`,
    `${sum((r) => r.inSpec)} operations in the spec`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

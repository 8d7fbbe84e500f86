import { toHtkError, type Catalogue, type HtkError, type KnownDiagnosticId, type ParamsOf } from "../../base/errors/index.ts";
import { diagnostic } from "../diagnostics.ts";
import type { Diagnostic, Range, Severity } from "../types.ts";

/**
 * Diagnostics of the compile stage (HTK-DOCKERFILE-0200…0299). Each carries the range of the
 * instruction (or flag) it is about and, where BuildKit has one, BuildKit's own error text.
 */
export function flagDiagnostic<Id extends KnownDiagnosticId>(
  id: Id,
  params: ParamsOf<Catalogue[Id]>,
  range: Range,
  buildkitMessage?: string,
  suggestion?: string,
  severity: Severity = "error",
): Diagnostic {
  // `hint` and `expected` continue a sentence of the catalogue's next step ("Change the value: …").
  const p = params as Record<string, string | number>;
  for (const k of ["hint", "expected"]) {
    const v = p[k];
    if (typeof v === "string" && /^[A-Z][a-z]/.test(v)) p[k] = `${v[0]?.toLowerCase() ?? ""}${v.slice(1)}`;
  }
  return diagnostic(id, params, severity, range, {
    ...(buildkitMessage === undefined ? {} : { buildkitMessage }),
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

/** An HtkError from a lower layer (the shell-word processor) as a diagnostic at `range`. */
export function fromHtkError(err: HtkError, range: Range): Diagnostic {
  const bk = err.details["buildkitMessage"];
  return {
    id: err.id,
    severity: "error",
    message: err.plainCause,
    next: err.nextStep,
    range,
    params: err.params,
    ...(typeof bk === "string" ? { buildkitMessage: bk } : {}),
  };
}

/** A bug surfaced as data (HTK-CORE-0001), so that the compiler never throws on user input. */
export function internalDiagnostic(err: unknown, range: Range): Diagnostic {
  return fromHtkError(toHtkError(err, { operation: "compile Dockerfile" }), range);
}

/** Thrown inside the compiler to stop at the first error; caught at the entry point only. */
export class CompileFailure extends Error {
  override readonly name = "CompileFailure";
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

export const isError = (d: Diagnostic): boolean => d.severity === "error";

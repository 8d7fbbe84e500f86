import { catalogue, type Catalogue, type KnownDiagnosticId } from "./catalogue.ts";
import type { DiagnosticSpec, ParamsOf } from "./types.ts";

/** Extra, machine-readable context a producer may attach (a file, a vertex digest, a range …). */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

export interface HtkErrorOptions {
  /** The underlying error: kept as the cause chain, rendered by `renderError`. */
  readonly cause?: unknown;
  readonly details?: ErrorDetails;
}

/**
 * The one error type for failures a user sees. Create it with {@link htkError}, which checks the
 * parameters against the catalogue at compile time.
 */
export class HtkError extends Error {
  override readonly name = "HtkError";
  readonly id: KnownDiagnosticId;
  readonly title: string;
  /** The cause in plain words, parameters filled in. */
  readonly plainCause: string;
  /** The next step for the user, parameters filled in. */
  readonly nextStep: string;
  readonly http: NonNullable<DiagnosticSpec["http"]>;
  readonly details: ErrorDetails;
  readonly params: Readonly<Record<string, string | number>>;

  constructor(
    id: KnownDiagnosticId,
    params: Readonly<Record<string, string | number>>,
    options: HtkErrorOptions = {},
  ) {
    const spec: DiagnosticSpec = catalogue[id];
    const plainCause = fillTemplate(spec.cause, params);
    super(`${id}: ${plainCause}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.id = id;
    this.title = spec.title;
    this.plainCause = plainCause;
    this.nextStep = fillTemplate(spec.next, params);
    this.http = spec.http ?? 500;
    this.details = options.details ?? {};
    this.params = params;
  }

  /** The JSON form used in API error bodies, logs and build records. */
  toJSON(): { id: string; message: string; cause: string; next: string; details: ErrorDetails } {
    return { id: this.id, message: this.message, cause: this.plainCause, next: this.nextStep, details: this.details };
  }
}

/** `htkError("HTK-CLI-0001", { command, suggestion })`: parameters are checked against the catalogue. */
export function htkError<Id extends KnownDiagnosticId>(
  id: Id,
  params: ParamsOf<Catalogue[Id]>,
  options?: HtkErrorOptions,
): HtkError {
  return new HtkError(id, params as Readonly<Record<string, string | number>>, options);
}

export function isHtkError(err: unknown, id?: KnownDiagnosticId): err is HtkError {
  return err instanceof HtkError && (id === undefined || err.id === id);
}

/**
 * True for cancellation: an AbortSignal's reason or an `AbortError`. Cancellation is never reported
 * as a failure; callers stop quietly.
 */
export function isCancellation(err: unknown): boolean {
  if (isHtkError(err, "HTK-CORE-0002")) return true;
  return err instanceof Error && (err.name === "AbortError" || (err as { code?: unknown }).code === "ABORT_ERR");
}

/**
 * Any thrown value as an HtkError: HtkErrors pass through, cancellations become HTK-CORE-0002 and
 * everything else is a bug (HTK-CORE-0001) that keeps the original as its cause.
 */
export function toHtkError(err: unknown, context: { operation: string; traceId?: string }): HtkError {
  if (err instanceof HtkError) return err;
  if (isCancellation(err)) return htkError("HTK-CORE-0002", { operation: context.operation }, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return htkError("HTK-CORE-0001", { message, traceId: context.traceId ?? "(none)" }, { cause: err });
}

/** The chain of causes below an error, outermost first, for logs and `--debug` output. */
export function causeChain(err: unknown, limit = 16): string[] {
  const out: string[] = [];
  let current: unknown = err instanceof Error ? err.cause : undefined;
  while (current !== undefined && out.length < limit) {
    out.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return out;
}

/**
 * The text a person reads in a terminal:
 *
 *     ERROR HTK-CLI-0001: "biuld" is not a hatake command. Did you mean "build"?
 *       next step: Run "hatake help" to see the commands.
 *       caused by: …
 */
export function renderError(err: HtkError, opts: { causes?: boolean } = {}): string {
  const lines = [`ERROR ${err.id}: ${err.plainCause}`, `  next step: ${err.nextStep}`];
  if (opts.causes ?? true) for (const c of causeChain(err)) lines.push(`  caused by: ${c}`);
  return lines.join("\n");
}

function fillTemplate(template: string, params: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

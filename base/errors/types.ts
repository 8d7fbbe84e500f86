/**
 * The error model.
 *
 * Every error a user can see carries a stable diagnostic ID (`HTK-<AREA>-<NNNN>`), the cause in plain
 * words, and the next step. The catalogue (`catalogue.ts`) is the single source of truth for IDs;
 * `docs/errors.md` is rendered from it by `npm run docs:errors` and checked in CI.
 *
 * Three kinds of failure, kept apart (as VS Code does):
 * - expected user-facing failures: {@link HtkError}, created only through `htkError(id, params)`;
 * - cancellation: an `AbortError` from an AbortSignal, never reported as a failure (`isCancellation`);
 * - bugs: anything else; they surface as HTK-CORE-0001 with the original error as cause.
 */

/** The areas an ID may belong to. Adding an area is a deliberate act: it shows up in docs/errors.md. */
export type DiagnosticArea =
  | "CORE"
  | "CLI"
  | "DOCKERFILE"
  | "LLB"
  | "SOLVER"
  | "CACHE"
  | "BUILD"
  | "REGISTRY"
  | "RUNTIME"
  | "ENGINE"
  | "API"
  | "PLUGIN"
  | "BUILDX"
  | "TEST"
  | "BENCH";

/** `HTK-DOCKERFILE-0012`: area plus a four-digit number, unique across the catalogue. */
export type DiagnosticId = `HTK-${DiagnosticArea}-${number}`;

/**
 * One catalogue entry. `cause` and `next` are templates: `{name}` is replaced by the parameter of that
 * name. The parameter names are read from the templates by the type system, so a call site that forgets
 * one (or passes an unknown one) does not compile.
 */
export interface DiagnosticSpec {
  /** A short title for docs and the GUI ("Dockerfile not found"). */
  readonly title: string;
  /** What happened, in plain words, sentence case, values quoted. */
  readonly cause: string;
  /** What the user can do next. Never blames the user. */
  readonly next: string;
  /** The HTTP status the engine answers with when this error ends an API request. */
  readonly http?: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 501 | 503;
  /**
   * The cause reproduces Docker Engine's exact text (clients and scripts match on it), so it keeps
   * Docker's wording and casing instead of the house sentence style.
   */
  readonly dockerText?: true;
}

/** The `{name}` placeholders of a template, as a union of names. */
export type PlaceholdersOf<T extends string> = T extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PlaceholdersOf<Rest>
  : never;

/** The parameters an entry needs: one string-ish value per placeholder of `cause` and `next`. */
export type ParamsOf<S extends DiagnosticSpec> = {
  readonly [K in PlaceholdersOf<S["cause"]> | PlaceholdersOf<S["next"]>]: string | number;
};

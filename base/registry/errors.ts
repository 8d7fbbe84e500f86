import { htkError, type HtkError } from "../errors/index.ts";

/**
 * What went wrong below HTTP, told apart the way a person would fix it: a name that does not resolve,
 * nothing listening, a certificate, the proxy, or a connection that was there and went away (the
 * only kind worth retrying).
 */
export type NetworkFailure =
  | { readonly kind: "dns"; readonly detail: string }
  | { readonly kind: "refused"; readonly detail: string; readonly address: string }
  | { readonly kind: "tls"; readonly detail: string }
  | { readonly kind: "proxy"; readonly detail: string }
  | { readonly kind: "dropped"; readonly detail: string }
  | { readonly kind: "other"; readonly detail: string };

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);
const DROPPED_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);

function chain(err: unknown): Array<{ code?: string; message: string; address?: string; port?: number }> {
  const out: Array<{ code?: string; message: string; address?: string; port?: number }> = [];
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur !== undefined && cur !== null; i++) {
    const e = cur as { code?: unknown; message?: unknown; address?: unknown; port?: unknown; cause?: unknown; errors?: unknown };
    out.push({
      ...(typeof e.code === "string" ? { code: e.code } : {}),
      message: typeof e.message === "string" ? e.message : String(cur),
      ...(typeof e.address === "string" ? { address: e.address } : {}),
      ...(typeof e.port === "number" ? { port: e.port } : {}),
    });
    // AggregateError from happy-eyeballs connects carries the real errors in `errors`.
    if (Array.isArray(e.errors) && e.errors.length > 0) cur = e.errors[0];
    else cur = e.cause;
  }
  return out;
}

function isTlsCode(code: string): boolean {
  return (
    code.startsWith("ERR_SSL_") ||
    code.startsWith("ERR_TLS_") ||
    code.startsWith("CERT_") ||
    code.startsWith("UNABLE_TO_") ||
    code === "DEPTH_ZERO_SELF_SIGNED_CERT" ||
    code === "SELF_SIGNED_CERT_IN_CHAIN" ||
    code === "HOSTNAME_MISMATCH" ||
    code === "UND_ERR_PRX_TLS"
  );
}

/** Classifies an error thrown by undici (or Node's net/tls below it). */
export function classifyNetworkError(err: unknown, viaProxy: boolean): NetworkFailure {
  const links = chain(err);
  const detail = links.map((l) => (l.code !== undefined ? `${l.code}: ${l.message}` : l.message)).find((m) => m !== "") ?? String(err);
  // undici reports a refused CONNECT as an "aborted" request; it is the proxy's answer, not a cancel.
  if (links.some((l) => /Proxy response \(\d+\)/.test(l.message))) return { kind: "proxy", detail };
  for (const l of links) {
    const code = l.code ?? "";
    if (DNS_CODES.has(code)) return viaProxy ? { kind: "proxy", detail } : { kind: "dns", detail };
    if (code === "ECONNREFUSED") {
      if (viaProxy) return { kind: "proxy", detail };
      return { kind: "refused", detail, address: l.address !== undefined ? `${l.address}${l.port !== undefined ? `:${l.port}` : ""}` : "" };
    }
    if (isTlsCode(code) || /certificate|ssl|tls/i.test(l.message)) return { kind: "tls", detail };
  }
  for (const l of links) {
    if (DROPPED_CODES.has(l.code ?? "") || /other side closed|socket hang up|terminated/i.test(l.message)) return { kind: "dropped", detail };
  }
  return { kind: "other", detail };
}

/** Context every registry error names. */
export interface ErrorContext {
  readonly host: string;
  /** "pull", "push" — for auth messages ("denied push of …"). */
  readonly action: "pull" | "push";
  readonly repository: string;
  /** What was being done: "fetch manifest \"latest\"", "upload blob sha256:…". */
  readonly operation: string;
  readonly proxy?: string;
}

/** The HtkError for a network failure that is not (or no longer) worth retrying. */
export function networkError(f: NetworkFailure, ctx: ErrorContext, attempts: number, cause: unknown): HtkError {
  switch (f.kind) {
    case "dns":
      return htkError("HTK-REGISTRY-0001", { host: ctx.host.replace(/:\d+$/, ""), detail: f.detail }, { cause });
    case "refused":
      return htkError("HTK-REGISTRY-0002", { address: f.address !== "" ? f.address : ctx.host, detail: f.detail }, { cause });
    case "tls":
      return htkError("HTK-REGISTRY-0003", { host: ctx.host, detail: f.detail }, { cause });
    case "proxy":
      return htkError("HTK-REGISTRY-0004", { host: ctx.host, proxy: ctx.proxy ?? "(from the environment)", detail: f.detail }, { cause });
    case "dropped":
    case "other":
      return htkError("HTK-REGISTRY-0017", { host: ctx.host, operation: ctx.operation, attempts, detail: f.detail }, { cause });
    default:
      return assertNever(f);
  }
}

/** One entry of a distribution error body: `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"…"}]}`. */
export interface DistributionError {
  readonly code: string;
  readonly message: string;
}

export function parseDistributionErrors(body: string): DistributionError[] {
  try {
    const v = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(v.errors)) return [];
    return v.errors.flatMap((e: unknown) => {
      const o = e as { code?: unknown; message?: unknown } | null;
      return o !== null && typeof o === "object" && typeof o.code === "string"
        ? [{ code: o.code, message: typeof o.message === "string" ? o.message : "" }]
        : [];
    });
  } catch {
    return [];
  }
}

export function describeErrors(status: number, errors: readonly DistributionError[], body: string): string {
  if (errors.length > 0) return errors.map((e) => (e.message !== "" ? `${e.code}: ${e.message}` : e.code)).join("; ");
  const text = body.trim().replace(/\s+/g, " ").slice(0, 200);
  return text !== "" ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
}

export type ManifestRef = { readonly reference: string };

/**
 * The HtkError for a final HTTP status (after retries and auth). `subject` says what a 404 was about:
 * a manifest (tag or digest), a blob, or something else.
 */
export function statusError(
  status: number,
  body: string,
  ctx: ErrorContext,
  subject: { readonly kind: "manifest"; readonly reference: string } | { readonly kind: "blob" } | { readonly kind: "other" },
  attempts: number,
): HtkError {
  const errors = parseDistributionErrors(body);
  const detail = describeErrors(status, errors, body);
  const codes = new Set(errors.map((e) => e.code));
  if (status === 401) return htkError("HTK-REGISTRY-0005", { host: ctx.host, operation: ctx.action, repository: ctx.repository, detail });
  if (status === 403) return htkError("HTK-REGISTRY-0006", { host: ctx.host, operation: ctx.action, repository: ctx.repository, detail });
  if (status === 404) {
    if (codes.has("NAME_UNKNOWN")) return htkError("HTK-REGISTRY-0007", { host: ctx.host, repository: ctx.repository, detail });
    if (subject.kind === "manifest") {
      return htkError("HTK-REGISTRY-0008", { host: ctx.host, repository: ctx.repository, reference: subject.reference, detail });
    }
  }
  if (status === 429) return htkError("HTK-REGISTRY-0009", { host: ctx.host, operation: ctx.operation, attempts });
  if (status >= 500) return htkError("HTK-REGISTRY-0010", { host: ctx.host, status, operation: ctx.operation, attempts, detail });
  return htkError("HTK-REGISTRY-0018", { host: ctx.host, status, operation: ctx.operation, detail });
}

export function assertNever(x: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(x)}`);
}

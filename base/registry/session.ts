import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { request, type Dispatcher } from "undici";
import { htkError } from "../errors/index.ts";
import { parseWwwAuthenticate, challengeScopes, normalizeScopes, type AuthChallenge } from "./auth-challenge.ts";
import type { CredentialSource, Credentials } from "./credentials.ts";
import { classifyNetworkError, networkError, statusError, type ErrorContext } from "./errors.ts";
import { proxyFor, type Hosts } from "./hosts.ts";

/**
 * One registry host as the client talks to it: where it is (scheme chosen by a `/v2/` ping, with
 * dockerd's HTTPS-then-HTTP fallback for insecure hosts), how it wants to be authenticated (the
 * ping's or a 401's `WWW-Authenticate`), the bearer tokens already obtained per scope set, and the
 * request loop with retries (429, 5xx, dropped connections; `Retry-After` honoured) and redirects.
 */

export interface RetryPolicy {
  /** Attempts after the first; default 4. */
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 10_000 };

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
export type RequestBody = Uint8Array | string | AsyncIterable<Uint8Array>;

export interface RequestSpec {
  readonly method: Method;
  /** A path below the host ("/v2/…") or an absolute URL (an upload Location). */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Called for each attempt, so a retried request gets a fresh stream. */
  readonly body?: () => RequestBody;
  readonly scopes: readonly string[];
  readonly ctx: ErrorContext;
  /** Statuses handed back to the caller instead of being turned into errors. */
  readonly expect: readonly number[];
  /** What a 404 is about, for the message. */
  readonly subject?: Parameters<typeof statusError>[3];
  /** Default: true for GET/HEAD, and for others whose body factory can be called again. */
  readonly retry?: boolean;
  readonly signal?: AbortSignal | undefined;
}

export interface Response {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Dispatcher.ResponseData["body"];
  /** The URL that answered (after redirects). */
  readonly url: URL;
}

interface Token {
  readonly token: string;
  readonly expiresAt: number;
}

export interface SessionOptions {
  readonly hosts: Hosts;
  readonly credentials: CredentialSource;
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  /** Counts every HTTP request made (tests assert how many). */
  readonly onRequest?: (method: Method, url: URL) => void;
  /**
   * Ask token servers for an offline token (`offline_token=true`), as `docker login` does: the
   * refresh token they hand out is the identity token a login returns.
   */
  readonly offlineAccess?: boolean;
}

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;

export function header(res: { headers: Response["headers"] }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function headerList(res: { headers: Response["headers"] }, name: string): string[] {
  const v = res.headers[name.toLowerCase()];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Reads at most `max` bytes of a body as text and discards the rest. */
export async function readText(body: Response["body"], max = MAX_ERROR_BODY): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (size < max) parts.push(b.subarray(0, max - size));
      size += b.byteLength;
    }
  } catch {
    // An error body that breaks off is still worth its first bytes.
  }
  return Buffer.concat(parts).toString("utf8");
}

async function drain(body: Response["body"]): Promise<void> {
  await body.dump({ limit: 1 << 20 }).catch(() => undefined);
}

/** Delay before retry `attempt` (1-based): Retry-After when the server sent one, else exponential. */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfter: string | undefined, now = Date.now()): number {
  if (retryAfter !== undefined) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms)) return Math.min(Math.max(0, ms), Math.max(policy.maxDelayMs, 60_000));
  }
  const exp = policy.baseDelayMs * 2 ** (attempt - 1);
  // Full jitter keeps parallel layer downloads from retrying in lock-step.
  return Math.min(policy.maxDelayMs, exp / 2 + Math.random() * (exp / 2));
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

export class HostSession {
  readonly host: string;
  readonly #opts: SessionOptions;
  #base: Promise<{ origin: string; insecure: boolean }> | undefined;
  #challenge: AuthChallenge | undefined;
  #credentials: Promise<Credentials | undefined> | undefined;
  readonly #tokens = new Map<string, Promise<Token>>();
  #refreshToken: string | undefined;

  constructor(host: string, opts: SessionOptions) {
    this.host = host;
    this.#opts = opts;
  }

  /** The refresh token a token server handed out (with `offlineAccess`: the login's identity token). */
  get refreshToken(): string | undefined {
    return this.#refreshToken;
  }

  /** The origin ("https://host") the host answers on; pings once. */
  origin(ctx: ErrorContext, signal: AbortSignal | undefined): Promise<{ origin: string; insecure: boolean }> {
    if (this.#base === undefined) {
      const p = this.#ping(ctx, signal);
      this.#base = p;
      // A failed ping (cancelled, unreachable) must not be remembered: the next call tries again.
      p.catch(() => {
        if (this.#base === p) this.#base = undefined;
      });
    }
    return this.#base;
  }

  async #ping(ctx: ErrorContext, signal: AbortSignal | undefined): Promise<{ origin: string; insecure: boolean }> {
    const endpoint = await this.#opts.hosts.endpoint(this.host);
    let lastErr: unknown;
    for (const scheme of endpoint.schemes) {
      const origin = `${scheme}://${this.host}`;
      try {
        const res = await this.#send("GET", new URL(`${origin}/v2/`), {}, undefined, endpoint.insecure, { ...ctx, operation: "ping the registry" }, signal);
        this.#noteChallenge(res);
        await drain(res.body);
        return { origin, insecure: endpoint.insecure };
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        lastErr = err;
        // Only an insecure host falls back to plain HTTP (dockerd's rule); a secure one fails here.
      }
    }
    throw lastErr;
  }

  #noteChallenge(res: { status: number; headers: Response["headers"] }): AuthChallenge | undefined {
    if (res.status !== 401) return undefined;
    const challenges = parseWwwAuthenticate(headerList(res, "www-authenticate"));
    const c = challenges.find((x) => x.scheme === "bearer") ?? challenges.find((x) => x.scheme === "basic");
    if (c !== undefined) this.#challenge = c;
    return c;
  }

  #creds(signal: AbortSignal | undefined): Promise<Credentials | undefined> {
    if (this.#credentials === undefined) {
      const p = this.#opts.credentials.get(this.host, signal);
      this.#credentials = p;
      p.catch(() => {
        if (this.#credentials === p) this.#credentials = undefined;
      });
    }
    return this.#credentials;
  }

  /** The Authorization header for `scopes`, fetching a bearer token when needed. */
  async #authorization(scopes: readonly string[], ctx: ErrorContext, signal: AbortSignal | undefined): Promise<string | undefined> {
    const c = this.#challenge;
    const creds = await this.#creds(signal);
    if (creds?.kind === "registry-token") return `Bearer ${creds.token}`;
    if (c === undefined) return undefined;
    if (c.scheme === "basic") return creds?.kind === "basic" ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` : undefined;
    if (c.scheme !== "bearer") return undefined;
    const all = normalizeScopes([...scopes]);
    const key = all.join(" ");
    const cached = this.#tokens.get(key);
    if (cached !== undefined) {
      const t = await cached.catch(() => undefined);
      // Refresh a little early: a token that expires in flight fails the request with 401.
      if (t !== undefined && t.expiresAt - 5_000 > Date.now()) return `Bearer ${t.token}`;
      if (this.#tokens.get(key) === cached) this.#tokens.delete(key);
      else return this.#authorization(scopes, ctx, signal);
    }
    // Shared by concurrent requests (parallel blob uploads): one token request per scope set.
    const p = this.#fetchToken(c, all, creds, ctx, signal);
    this.#tokens.set(key, p);
    p.catch(() => {
      if (this.#tokens.get(key) === p) this.#tokens.delete(key);
    });
    return `Bearer ${(await p).token}`;
  }

  async #fetchToken(c: AuthChallenge, scopes: readonly string[], creds: Credentials | undefined, ctx: ErrorContext, signal: AbortSignal | undefined): Promise<Token> {
    const realm = c.params["realm"];
    if (realm === undefined || !/^https?:\/\//.test(realm)) {
      throw htkError("HTK-REGISTRY-0018", { host: ctx.host, status: 401, operation: ctx.operation, detail: `the Bearer challenge has no usable realm (${JSON.stringify(realm ?? "")})` });
    }
    const service = c.params["service"];
    const url = new URL(realm);
    const refresh = creds?.kind === "identity-token" ? creds.token : this.#refreshToken;
    const insecureRealm = url.protocol === "http:" ? false : await this.#opts.hosts.isInsecure(url.host);
    let res: Response;
    if (refresh !== undefined) {
      // OAuth2 refresh-token grant, as docker does with an identity token (distribution token spec).
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh, client_id: "hatake", access_type: "offline" });
      if (service !== undefined) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await this.#send("POST", url, { "content-type": "application/x-www-form-urlencoded" }, form.toString(), insecureRealm, ctx, signal);
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (this.#opts.offlineAccess === true && creds?.kind === "basic") {
        url.searchParams.set("offline_token", "true");
        url.searchParams.set("client_id", "hatake");
      }
      const headers: Record<string, string> = {};
      if (creds?.kind === "basic") {
        url.searchParams.set("account", creds.username);
        headers["authorization"] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
      }
      res = await this.#send("GET", url, headers, undefined, insecureRealm, ctx, signal);
    }
    const text = await readText(res.body, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      const why = creds === undefined ? `no credentials are stored for ${ctx.host}` : `the token service at ${url.origin} refused the credentials`;
      throw htkError("HTK-REGISTRY-0005", { host: ctx.host, operation: ctx.action, repository: ctx.repository, detail: why });
    }
    if (res.status !== 200) {
      throw statusError(res.status, text, { ...ctx, operation: `get a token from ${url.origin}` }, { kind: "other" }, 1);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown; refresh_token?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw htkError("HTK-REGISTRY-0018", { host: ctx.host, status: 200, operation: `get a token from ${url.origin}`, detail: "the answer is not JSON" });
    }
    const token = typeof body.token === "string" && body.token !== "" ? body.token : typeof body.access_token === "string" ? body.access_token : "";
    if (token === "") throw htkError("HTK-REGISTRY-0018", { host: ctx.host, status: 200, operation: `get a token from ${url.origin}`, detail: "the answer has no token" });
    if (typeof body.refresh_token === "string" && body.refresh_token !== "") this.#refreshToken = body.refresh_token;
    // The token spec's minimum lifetime is 60 s; servers that omit it mean that.
    const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    const issued = typeof body.issued_at === "string" ? Date.parse(body.issued_at) : NaN;
    const start = Number.isFinite(issued) && Math.abs(issued - Date.now()) < 60_000 ? issued : Date.now();
    return { token, expiresAt: start + expiresIn * 1000 };
  }

  /** One HTTP exchange without auth or retries, following redirects; errors become HTK errors. */
  async #send(
    method: Method,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: RequestBody | undefined,
    insecure: boolean,
    ctx: ErrorContext,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    let current = url;
    let hdrs: Record<string, string> = { "user-agent": this.#opts.userAgent, ...headers };
    let m = method;
    let b = body;
    for (let hop = 0; ; hop++) {
      signal?.throwIfAborted();
      const sameHost = current.host === this.host;
      const dispatcher = await this.#opts.hosts.dispatcher(current.host, sameHost ? insecure : await this.#opts.hosts.isInsecure(current.host));
      this.#opts.onRequest?.(m, current);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, {
          method: m,
          headers: hdrs,
          ...(b !== undefined ? { body: typeof b === "string" || b instanceof Uint8Array ? b : Readable.from(b, { objectMode: false }) } : {}),
          dispatcher,
          ...(signal !== undefined ? { signal } : {}),
        });
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        throw new NetworkError(err, classifyNetworkError(err, proxyFor(current, this.#opts.hosts.proxy) !== undefined), { ...ctx, ...proxyCtx(current, this.#opts.hosts) });
      }
      const location = header(res, "location");
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined && hop < MAX_REDIRECTS && m !== "PUT" && m !== "PATCH" && m !== "POST") {
        await drain(res.body);
        const next = new URL(location, current);
        // Blob redirects go to storage (S3, a CDN) that must not see the registry's credentials.
        if (next.host !== current.host) {
          const { authorization: _dropped, ...rest } = hdrs;
          hdrs = rest;
        }
        if (res.statusCode === 303) {
          m = "GET";
          b = undefined;
        }
        current = next;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
    }
  }

  /**
   * A request with authentication (one re-try after a 401 with a fresh token or credentials) and
   * retries of 429/5xx and dropped connections. Statuses in `spec.expect` are returned (the caller
   * owns the body); any other final status becomes an HTK error naming the cause.
   */
  async request(spec: RequestSpec): Promise<Response> {
    const { signal, ctx } = spec;
    const retryable = spec.retry ?? (spec.method === "GET" || spec.method === "HEAD" || spec.body === undefined);
    const policy = this.#opts.retry;
    let scopes = [...spec.scopes];
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      let res: Response;
      try {
        const { origin, insecure } = await this.origin(ctx, signal);
        const url = /^https?:\/\//.test(spec.target) ? new URL(spec.target) : new URL(`${origin}${spec.target}`);
        // Credentials go only to the registry itself, never to an upload URL on another host.
        const auth = url.host === this.host ? await this.#authorization(scopes, ctx, signal) : undefined;
        const headers: Record<string, string> = { ...spec.headers };
        if (auth !== undefined) headers["authorization"] = auth;
        res = await this.#send(spec.method, url, headers, spec.body?.(), insecure, ctx, signal);
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        if (err instanceof NetworkError) {
          if (err.failure.kind === "dropped" && retryable && attempt <= policy.retries) {
            await sleep(retryDelay(policy, attempt, undefined), undefined, signal !== undefined ? { signal } : {});
            continue;
          }
          throw networkError(err.failure, err.ctx, attempt, err.cause);
        }
        throw err;
      }
      if (spec.expect.includes(res.status)) return res;
      if (res.status === 401 && !authRetried) {
        const c = this.#noteChallenge(res);
        await drain(res.body);
        authRetried = true;
        // A token that was refused is dropped; an insufficient_scope challenge adds what it names.
        this.#tokens.delete(normalizeScopes(scopes).join(" "));
        if (c !== undefined && c.scheme === "bearer") scopes = normalizeScopes([...scopes, ...challengeScopes(c)]);
        const creds = await this.#creds(signal);
        if (c !== undefined && (c.scheme === "bearer" || creds !== undefined)) {
          attempt--;
          continue;
        }
        const detail = creds === undefined ? `no credentials are stored for ${ctx.host}` : "the registry refused the credentials";
        // distribution's basic auth handler fails the request before sending it ("no basic auth
        // credentials", in Go's url.Error form); the engine repeats those words as dockerd does.
        const docker = creds === undefined && c?.scheme === "basic" ? { dockerOp: goUrlOp(spec.method), dockerUrl: res.url.toString(), dockerReason: "no basic auth credentials" } : {};
        throw htkError("HTK-REGISTRY-0005", { host: ctx.host, operation: ctx.action, repository: ctx.repository, detail }, { details: docker });
      }
      if (isRetryableStatus(res.status) && retryable && attempt <= policy.retries) {
        const delay = retryDelay(policy, attempt, header(res, "retry-after"));
        await drain(res.body);
        await sleep(delay, undefined, signal !== undefined ? { signal } : {});
        continue;
      }
      const text = spec.method === "HEAD" ? "" : await readText(res.body);
      if (res.status === 401) {
        const creds = await this.#creds(signal);
        // Docker Hub answers 401, not 404, for a repository that does not exist (docker says so too).
        const detail =
          creds === undefined
            ? `the repository may not exist, or it needs credentials and none are stored for ${ctx.host}`
            : "the registry refused the credentials";
        throw htkError("HTK-REGISTRY-0005", { host: ctx.host, operation: ctx.action, repository: ctx.repository, detail });
      }
      throw statusError(res.status, text, ctx, spec.subject ?? { kind: "other" }, attempt);
    }
  }
}

/** The `Op` of Go's url.Error for a method: "HEAD" → "Head". */
function goUrlOp(method: string): string {
  return method.slice(0, 1) + method.slice(1).toLowerCase();
}

function proxyCtx(url: URL, hosts: Hosts): { proxy?: string } {
  const p = proxyFor(url, hosts.proxy);
  return p !== undefined ? { proxy: p.replace(/\/\/[^@/]*@/, "//") } : {};
}

/** A transport failure with its classification, turned into an HtkError by the retry loop. */
export class NetworkError extends Error {
  readonly failure: ReturnType<typeof classifyNetworkError>;
  readonly ctx: ErrorContext;
  constructor(cause: unknown, failure: ReturnType<typeof classifyNetworkError>, ctx: ErrorContext) {
    super(failure.detail, { cause });
    this.failure = failure;
    this.ctx = ctx;
  }
}

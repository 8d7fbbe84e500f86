import { htkError, isHtkError } from "../../base/errors/index.ts";
import { anonymous, credentialsOf, type AuthEntry, type CredentialSource, type RegistryClient } from "../../base/registry/index.ts";
import { sendError } from "./respond.ts";
import type { RequestContext } from "./types.ts";

/**
 * Registry credentials as Docker API clients send them: the `X-Registry-Auth` header (base64url of a
 * JSON AuthConfig) on pull, push and distribution inspect, or the JSON body of `POST /auth`. The
 * daemon reads no config.json of its own: what the request carries is all it uses (dockerd's rule),
 * so `docker logout` really ends access.
 */
export interface AuthConfig extends AuthEntry {
  readonly email?: string;
  readonly serveraddress?: string;
}

const FIELDS = ["username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken"] as const;

/**
 * An AuthConfig from parsed JSON; unknown fields are ignored and keys match case-insensitively, as
 * Go's encoding/json does (clients write `Username` as well as `username`).
 */
export function authConfigFrom(value: unknown): AuthConfig | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const field = FIELDS.find((f) => f === k.toLowerCase());
    if (field !== undefined && typeof v === "string") out[field] = v;
  }
  return out;
}

/**
 * Decodes `X-Registry-Auth`. As dockerd, an invalid header is no credentials (never an error): old
 * clients send odd values and a pull must still work anonymously. Both base64 alphabets are accepted,
 * with or without padding.
 */
export function decodeRegistryAuth(header: string | undefined): AuthConfig {
  if (header === undefined || header.trim() === "") return {};
  try {
    const json = Buffer.from(header.trim(), "base64").toString("utf8");
    return authConfigFrom(JSON.parse(json)) ?? {};
  } catch {
    return {};
  }
}

/** base64url of the JSON, as the docker CLI encodes it (for tests and clients of our own). */
export function encodeRegistryAuth(config: AuthConfig): string {
  return Buffer.from(JSON.stringify(config)).toString("base64url");
}

/**
 * Registry clients per request: one shared anonymous client (its token cache serves every anonymous
 * request), and a client of its own for each request that carries credentials, sharing connections.
 */
export class RequestRegistries {
  readonly #base: RegistryClient;
  #anonymous: RegistryClient | undefined;

  constructor(base: RegistryClient) {
    this.#base = base;
  }

  for(config: AuthConfig): RegistryClient {
    const creds = credentialsOf(config);
    if (creds === undefined) {
      this.#anonymous ??= this.#base.withCredentials(anonymous);
      return this.#anonymous;
    }
    const source: CredentialSource = { get: () => Promise.resolve(creds) };
    return this.#base.withCredentials(source);
  }
}

/**
 * A registry's refusal of a pull's or push's credentials as dockerd reports it: status 500, not 401
 * (a 401 from the engine makes the docker CLI start an interactive login), in dockerd's words when
 * the registry client knows them (a basic-auth registry and no credentials: HTK-REGISTRY-0060/0061).
 */
export function registryAuthFailure(err: unknown): unknown {
  if (!isHtkError(err, "HTK-REGISTRY-0005")) return err;
  const p = err.params;
  const { dockerOp, dockerUrl, dockerReason } = err.details;
  // Where the registry client knows distribution's words for the refusal, the engine says them.
  if (dockerReason === "no basic auth credentials") {
    const common = { host: String(p["host"]), repository: String(p["repository"]) };
    if (p["operation"] === "push") return htkError("HTK-REGISTRY-0061", common, { cause: err });
    if (typeof dockerOp === "string" && typeof dockerUrl === "string") return htkError("HTK-REGISTRY-0060", { ...common, op: dockerOp, url: dockerUrl }, { cause: err });
  }
  return htkError("HTK-REGISTRY-0056", { host: String(p["host"]), operation: String(p["operation"]), repository: String(p["repository"]), detail: String(p["detail"]) }, { cause: err });
}

/**
 * Registry failures dockerd does not type (errdefs.Unknown → 500): a host that does not resolve or
 * answer, TLS, the proxy, a rate limit or 5xx after retries, a connection lost.
 */
const UNTYPED_REGISTRY_FAILURES: ReadonlySet<string> = new Set(["HTK-REGISTRY-0001", "HTK-REGISTRY-0002", "HTK-REGISTRY-0003", "HTK-REGISTRY-0004", "HTK-REGISTRY-0009", "HTK-REGISTRY-0010", "HTK-REGISTRY-0017"]);

/**
 * Runs a handler that talks to a registry. A registry that cannot be reached or answers 5xx is
 * reported with status 500, as dockerd does for these untyped errors; a client that retries on 503
 * must not retry a missing registry, and a DNS failure is not a missing image (404).
 */
export async function withRegistryStatus(ctx: RequestContext, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (isHtkError(err) && UNTYPED_REGISTRY_FAILURES.has(err.id) && !ctx.res.headersSent) {
      ctx.log.debug({ id: err.id }, err.message);
      sendError(ctx.res, err, 500);
      return;
    }
    throw err;
  }
}

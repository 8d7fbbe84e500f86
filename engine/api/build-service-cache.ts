import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { authKeyFor } from "../../base/oci/index.ts";
import { credentialsOf, keyHostname, type CredentialSource, type Credentials } from "../../base/registry/index.ts";
import { parseCacheFrom, parseCacheTo, type CacheExportSpec, type CacheImportSpec } from "../../cache/remote/index.ts";
import type { SolveRequest } from "../../wire/index.ts";
import type { ContextStore } from "./build-service-contexts.ts";
import { authConfigFrom, type AuthConfig } from "./registry-auth.ts";

/**
 * The cache options of a Solve in the engine's terms (cache/remote specs, daemon-side paths):
 *
 * - `type=registry` and `type=inline` as they are; the registries' credentials are the client's,
 *   asked for on demand as for a push (`registryCredentials` of the request), never the daemon's own;
 * - `type=local,src=…` is a directory on the client: it comes synced like a context
 *   (`local_refs["cache-from:<i>"]`, incremental) and is read from that copy, leased for the build;
 * - `type=local,dest=…` is written under the build's export folder and read back by the client
 *   (ReadExport), which merges it into its directory: a remote builder works the same way.
 */
export interface SolveCaches {
  readonly cacheFrom: readonly CacheImportSpec[];
  readonly cacheTo: readonly CacheExportSpec[];
  /** Engine-side folders of the `type=local` exports, in their order: handed to the client after the build. */
  readonly localExports: readonly string[];
  /** Ends the leases of synced cache directories. */
  release(): void;
}

export async function solveCaches(req: SolveRequest, contexts: ContextStore, exportDir: string, signal: AbortSignal): Promise<SolveCaches> {
  const leases: Array<{ release(): void }> = [];
  const release = (): void => {
    for (const l of leases.splice(0)) l.release();
  };
  try {
    const cacheFrom: CacheImportSpec[] = [];
    for (const [i, e] of req.cacheImports.entries()) {
      const attrs = { ...e.attrs };
      if (e.type === "local") {
        const ref = req.localRefs[`cache-from:${i}`];
        if (ref === undefined) throw htkError("HTK-ENGINE-0700", { src: attrs["src"] ?? "(none)" });
        const lease = await contexts.lease(ref, signal);
        leases.push(lease);
        attrs["src"] = lease.dir;
      }
      cacheFrom.push(parsed("--cache-from", e.type, attrs, parseCacheFrom));
    }
    const cacheTo: CacheExportSpec[] = [];
    const localExports: string[] = [];
    for (const [i, e] of req.cacheExports.entries()) {
      const attrs = { ...e.attrs };
      if (e.type === "local") {
        const dir = join(exportDir, `cache-${i}`);
        await mkdir(dir, { recursive: true });
        attrs["dest"] = dir;
        localExports.push(dir);
      }
      cacheTo.push(parsed("--cache-to", e.type, attrs, parseCacheTo));
    }
    return { cacheFrom, cacheTo, localExports, release };
  } catch (err) {
    release();
    throw err;
  }
}

/** BuildKit's type + attrs through the same parser as the command line's CSV (one set of rules and texts). */
function parsed<T>(flag: string, type: string, attrs: Readonly<Record<string, string>>, parse: (spec: string) => T): T {
  if (type === "") throw htkError("HTK-ENGINE-0701", { what: flag, detail: "the entry has no type" });
  const fields = [`type=${type}`, ...Object.entries(attrs).map(([k, v]) => `${k}=${/[,"]/.test(v) ? `"${v.replaceAll('"', "")}"` : v}`)];
  try {
    return parse(fields.join(","));
  } catch (err) {
    if (isHtkError(err)) throw err;
    throw htkError("HTK-ENGINE-0701", { what: flag, detail: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
}

/**
 * The client's credentials by registry host. A host it sent none for is anonymous: as dockerd, the
 * daemon uses no credentials of its own for a client's registries. Keys may be config.json's (URLs,
 * Docker Hub's v1 key): they are compared as the docker CLI compares them.
 */
export function credentialsFrom(table: Readonly<Record<string, AuthConfig>>): CredentialSource {
  const byHost = new Map<string, Credentials>();
  for (const [host, config] of Object.entries(table)) {
    const creds = credentialsOf(config);
    if (creds !== undefined) byHost.set(authKeyFor(keyHostname(host)), creds);
  }
  return { get: (host) => Promise.resolve(byHost.get(authKeyFor(keyHostname(host)))) };
}

/**
 * `X-Registry-Config` of `POST /build`: base64 of a JSON object of registry → AuthConfig (the docker
 * CLI sends every credential it has). Invalid is none, as dockerd reads it.
 */
export function registryConfigCredentials(header: string | undefined): CredentialSource {
  const table: Record<string, AuthConfig> = {};
  if (header !== undefined && header.trim() !== "") {
    try {
      const parsed = JSON.parse(Buffer.from(header.trim(), "base64").toString("utf8")) as unknown;
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        for (const [host, v] of Object.entries(parsed as Record<string, unknown>)) {
          const config = authConfigFrom(v);
          if (config !== undefined) table[host] = config;
        }
      }
    } catch {
      // No credentials.
    }
  }
  return credentialsFrom(table);
}

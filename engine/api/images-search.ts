import { request } from "undici";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import { classifyNetworkError, credentialsOf } from "../../base/registry/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { parseFilters } from "../state/index.ts";
import { intQuery } from "./images-params.ts";
import { decodeRegistryAuth, withRegistryStatus, type RequestRegistries } from "./registry-auth.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";

/**
 * `GET /images/search` (docker search), as Docker 26's registry service does it: the term's registry
 * (Docker Hub unless the first part looks like a host) is asked at its v1 search endpoint
 * (`/v1/search?q=…&n=…`); filters `is-official`, `is-automated` (deprecated: true finds nothing) and
 * `stars` are applied to the results. Distribution registries (registry:2, the usual private one)
 * have no search endpoint: Docker's "Unexpected status code 404" comes with HTK-REGISTRY-0050 saying so.
 */
export interface SearchResult {
  readonly star_count: number;
  readonly is_official: boolean;
  readonly name: string;
  readonly is_automated: boolean;
  readonly description: string;
}

const FILTERS = ["is-automated", "is-official", "stars"];
const DOCKER_HUB_INDEX = "https://index.docker.io";

export function imageSearchRoutes(services: EngineServices, registries: RequestRegistries): Route[] {
  return [
    {
      method: "GET",
      pattern: "/images/search",
      query: ["term", "limit", "filters"],
      handle: (ctx) => withRegistryStatus(ctx, async () => {
        const filters = parseFilters(ctx.query.get("filters"));
        for (const key of Object.keys(filters)) if (!FILTERS.includes(key)) throw htkError("HTK-REGISTRY-0055", { filter: key });
        const automated = boolFilter(filters, "is-automated");
        const official = boolFilter(filters, "is-official");
        let minStars = 0;
        for (const v of filters["stars"] ?? []) {
          if (!/^[+-]?\d+$/.test(v)) throw htkError("HTK-REGISTRY-0054", { filter: "stars", value: v });
          minStars = Math.max(minStars, Number(v));
        }
        if (automated === true) {
          sendJson(ctx.res, 200, []);
          return;
        }
        const limit = intQuery(ctx.query, "limit") ?? 25;
        const term = ctx.query.get("term") ?? "";
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(term)) throw htkError("HTK-ENGINE-0201", { detail: `: repository name (${term}) should not have a scheme` });
        const { index, remote } = splitSearchTerm(term);
        const auth = decodeRegistryAuth(header(ctx.req.headers["x-registry-auth"]));
        let origin = DOCKER_HUB_INDEX;
        // Docker's order: the endpoint is pinged (never Docker Hub's), then the limit is checked.
        if (index !== "docker.io") origin = (await registries.for(auth).ping(index, { signal: ctx.signal })).origin;
        if (limit < 1 || limit > 100) throw htkError("HTK-REGISTRY-0051", { limit });
        const query = index === "docker.io" ? remote.replace(/^library\//, "") : remote;
        const url = `${origin}/v1/search?q=${encodeURIComponent(query)}&n=${limit}`;
        const creds = credentialsOf(auth);
        const headers: Record<string, string> = { "user-agent": `HATAKE/${services.info.version}`, "x-docker-token": "true" };
        if (creds?.kind === "basic") headers["authorization"] = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
        const res = await request(url, { method: "GET", headers, signal: ctx.signal }).catch((err: unknown) => {
          throw searchNetworkError(err, new URL(url).host, ctx.signal);
        });
        if (res.statusCode !== 200) {
          await res.body.dump().catch(() => undefined);
          throw htkError("HTK-REGISTRY-0050", { status: res.statusCode, host: index, url });
        }
        const text = await res.body.text();
        let results: unknown;
        try {
          results = (JSON.parse(text) as { results?: unknown }).results;
        } catch (err) {
          throw htkError("HTK-REGISTRY-0052", { detail: err instanceof Error ? err.message : String(err), host: index });
        }
        const out: SearchResult[] = [];
        for (const r of Array.isArray(results) ? (results as Record<string, unknown>[]) : []) {
          const item: SearchResult = {
            star_count: typeof r["star_count"] === "number" ? r["star_count"] : 0,
            is_official: r["is_official"] === true,
            name: typeof r["name"] === "string" ? r["name"] : "",
            // Deprecated and untrustworthy in Docker Hub's answers: always false, as Docker 26 does.
            is_automated: false,
            description: typeof r["description"] === "string" ? r["description"] : "",
          };
          if (official !== undefined && item.is_official !== official) continue;
          if (item.star_count < minStars) continue;
          out.push(item);
        }
        sendJson(ctx.res, 200, out);
      }),
    },
  ];
}

/** Docker's `splitReposSearchTerm`: a first part with "." or ":" (or "localhost") is a registry. */
export function splitSearchTerm(term: string): { index: string; remote: string } {
  const slash = term.indexOf("/");
  if (slash === -1) return { index: "docker.io", remote: term };
  const first = term.slice(0, slash);
  if (!first.includes(".") && !first.includes(":") && first !== "localhost") return { index: "docker.io", remote: term };
  return { index: first, remote: term.slice(slash + 1) };
}

function boolFilter(filters: Readonly<Record<string, readonly string[]>>, key: string): boolean | undefined {
  const values = filters[key];
  if (values === undefined || values.length === 0) return undefined;
  const v = (values[0] ?? "").toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw htkError("HTK-REGISTRY-0054", { filter: key, value: values[0] ?? "" });
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A failed search request in the registry client's terms (DNS, refused, TLS, lost). */
function searchNetworkError(err: unknown, host: string, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  const f = classifyNetworkError(err, false);
  const e: HtkError =
    f.kind === "dns"
      ? htkError("HTK-REGISTRY-0001", { host: host.replace(/:\d+$/, ""), detail: f.detail })
      : f.kind === "refused"
        ? htkError("HTK-REGISTRY-0002", { address: f.address !== "" ? f.address : host, detail: f.detail })
        : f.kind === "tls"
          ? htkError("HTK-REGISTRY-0003", { host, detail: f.detail })
          : htkError("HTK-REGISTRY-0017", { host, operation: "search", attempts: 1, detail: f.detail });
  return e;
}

import { Agent as HttpAgent } from "node:http";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { htkError } from "../base/errors/index.ts";
import { BuildService } from "../wire/index.ts";
import type { DockerEndpoint } from "./docker-cli.ts";
import { EngineError } from "./engine-error.ts";
import { createHttp1Transport } from "./http1-client.ts";

export { EngineError };

/**
 * The build service client: Connect over HTTP/1.1 to the engine's API socket (unix://) or a TCP
 * address (tcp://, with TLS when the context or driver options carry certificates). One keep-alive
 * connection pool per client, so a build's many calls (context sync, uploads, solve) share sockets.
 */
export interface EngineClient {
  readonly service: Client<typeof BuildService>;
  /** The endpoint as shown in messages (`unix:///run/hatake/docker.sock`). */
  readonly endpoint: string;
  close(): void;
}

export function engineClient(endpoint: DockerEndpoint): EngineClient {
  const host = endpoint.host;
  const url = parseHost(host);
  const tls = endpoint.tls;
  let transport;
  let agent: HttpAgent;
  if (url.kind === "unix") {
    agent = new HttpAgent({ keepAlive: true });
    transport = createHttp1Transport({ baseUrl: "http://hatake", agent, socketPath: url.path });
  } else if (tls !== undefined) {
    // node:https (and TLS with it) only when a builder is reached over TLS: start-up cost otherwise.
    const https = process.getBuiltinModule("node:https");
    agent = new https.Agent({ keepAlive: true, ...(tls.ca === undefined ? {} : { ca: tls.ca }), ...(tls.cert === undefined ? {} : { cert: tls.cert }), ...(tls.key === undefined ? {} : { key: tls.key }), rejectUnauthorized: !tls.skipVerify });
    transport = createHttp1Transport({ baseUrl: `https://${url.hostPort}`, agent, request: https.request });
  } else {
    agent = new HttpAgent({ keepAlive: true });
    transport = createHttp1Transport({ baseUrl: `http://${url.hostPort}`, agent });
  }
  return {
    service: createClient(BuildService, transport),
    endpoint: host,
    close: () => agent.destroy(),
  };
}

type ParsedHost = { readonly kind: "unix"; readonly path: string } | { readonly kind: "tcp"; readonly hostPort: string };

/** The docker CLI's host forms: unix://PATH, tcp://HOST[:PORT] (http:// and https:// too). */
export function parseHost(host: string): ParsedHost {
  const m = /^([a-z0-9+]+):\/\/(.*)$/.exec(host);
  const scheme = m?.[1] ?? "";
  const rest = m?.[2] ?? "";
  if (scheme === "unix") return { kind: "unix", path: rest };
  if (scheme === "tcp" || scheme === "http" || scheme === "https") {
    const hostPort = rest.replace(/\/.*$/, "");
    return { kind: "tcp", hostPort: /:\d+$/.test(hostPort) ? hostPort : `${hostPort}:2376` };
  }
  throw htkError("HTK-BUILDX-0005", { endpoint: host, detail: scheme === "" ? "no scheme" : `${scheme}:// is not supported` });
}

/**
 * A call's failure in the plugin's terms: the engine's own diagnostics as they were sent; a socket
 * that does not answer is HTK-BUILDX-0006; an engine without the build service HTK-BUILDX-0007.
 */
export function clientError(err: unknown, endpoint: string, method: string): unknown {
  if (!(err instanceof ConnectError)) return err;
  if (err.code === Code.Canceled) return new DOMException("context canceled", "AbortError");
  const id = err.metadata.get("htk-id") ?? undefined;
  if (id !== undefined) {
    const next = err.metadata.get("htk-next");
    return new EngineError(err.rawMessage, id, next === null ? undefined : decodeURIComponent(next));
  }
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  const sys = cause?.code ?? (/(ECONNREFUSED|ENOENT|EACCES|ECONNRESET|ETIMEDOUT|EHOSTUNREACH)/.exec(err.rawMessage)?.[1]);
  // A TLS refusal (no or wrong client certificate, an unknown CA) is not an engine that is down.
  const tls = cause?.code ?? "";
  if (/^ERR_SSL_|^ERR_TLS_|CERT/.test(tls)) return htkError("HTK-BUILDX-0113", { endpoint, detail: tls });
  if (err.code === Code.Unavailable || sys !== undefined) return htkError("HTK-BUILDX-0006", { endpoint, detail: sys ?? err.rawMessage });
  if (err.code === Code.Unimplemented || err.code === Code.NotFound) {
    return htkError("HTK-BUILDX-0007", { endpoint, status: err.code === Code.NotFound ? "404" : "501", path: `/hatake.build.v1.BuildService/${method}` });
  }
  return new EngineError(err.rawMessage, undefined, undefined);
}

/** Runs a call and translates its failure (see {@link clientError}). */
export async function call<T>(client: EngineClient, method: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw clientError(err, client.endpoint, method);
  }
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../../base/observability/index.ts";

/**
 * The Engine API's request plumbing. Routes are data (method, path pattern, known query keys, handler);
 * the server strips the `/v1.NN` prefix, negotiates the version, opens a span per request and turns
 * thrown HtkErrors into Docker's JSON error shape.
 */
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: HttpMethod;
  /** The path without the version prefix: `/containers/abc/json`. */
  readonly path: string;
  /** `{name}` segments of the route pattern. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The API version of this request: the prefix's, or the daemon's default (1.45). */
  readonly apiVersion: string;
  readonly log: Logger;
  readonly traceId: string;
  /** Aborted when the client goes away: handlers pass it down so work stops with the request. */
  readonly signal: AbortSignal;
  /**
   * Set when the client asked to upgrade the connection (`Connection: Upgrade`, `Upgrade: tcp`, as the
   * docker CLI does for attach and exec): the raw socket and the bytes already read past the headers.
   * A route that hijacks answers `101` on the socket itself (see hijack.ts); any other route answers
   * through `res` as usual (the connection then closes after the response).
   */
  readonly upgrade?: { readonly socket: Duplex; readonly head: Buffer };
}

export interface Route {
  readonly method: HttpMethod;
  /**
   * `/containers/{id}/json` — a `{name}` segment matches one path segment; `{name:.*}` matches one or
   * more (image names contain slashes: `/images/{name:.*}/json`).
   */
  readonly pattern: string;
  /** Query keys the handler reads; any other key is logged and counted as a compatibility event. */
  readonly query?: readonly string[];
  handle(ctx: RequestContext): Promise<void> | void;
}

import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { request as httpRequest } from "node:http";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { validateReadWriteMaxBytes, type UniversalClientFn, type UniversalClientRequest, type UniversalClientResponse } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";

/**
 * The Connect transport of the plugin: the Connect protocol over HTTP/1.1 with node:http alone.
 *
 * `@connectrpc/connect-node`'s transport would do the same, but loading it loads node:http2, node:https
 * (and TLS), node:zlib and its own session manager: ~15 ms of every `docker build`'s start-up on the
 * 2-core test machine, for an HTTP/2 client and compressions the plugin never uses (unary and
 * server-streaming calls over a unix socket). TLS builders hand in an https Agent (loaded only then).
 * No compression is offered or sent: the engine is local or on the network of a remote builder, and
 * what travels (file contents, layers) is mostly compressed already.
 */
export interface Http1TransportOptions {
  readonly baseUrl: string;
  readonly agent: Agent;
  /** For unix://: the socket. */
  readonly socketPath?: string;
  /** node:https's request (TLS builders); node:http's by default. */
  readonly request?: typeof httpRequest;
}

export function createHttp1Transport(opts: Http1TransportOptions): Transport {
  return createTransport({
    baseUrl: opts.baseUrl,
    httpClient: http1Client(opts),
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    ...validateReadWriteMaxBytes(undefined, undefined, undefined),
  });
}

/** The transport's HTTP client (exported for its tests). */
export function http1Client(opts: Http1TransportOptions): UniversalClientFn {
  const send = opts.request ?? httpRequest;
  return (req: UniversalClientRequest): Promise<UniversalClientResponse> =>
    new Promise((resolve, reject) => {
      const signal = req.signal;
      if (signal?.aborted === true) {
        reject(connectErrorOf(signal.reason));
        return;
      }
      const headers: Record<string, string> = {};
      req.header.forEach((value, key) => (headers[key] = value));
      const options: RequestOptions = {
        method: req.method,
        headers,
        agent: opts.agent,
        // A name for TLS' SNI is never needed over HTTP; naming none spares Node's check that the host
        // is no IP address (its IPv6 expression is compiled on first use: ~5 ms of a plugin run).
        ...(opts.request === undefined ? { servername: "" } : {}),
        ...(opts.socketPath === undefined ? {} : { socketPath: opts.socketPath }),
      };
      const request: ClientRequest = send(req.url, options);
      let response: IncomingMessage | undefined;
      let settled = false;
      const fail = (err: unknown): void => {
        const e = connectErrorOf(err);
        if (!settled) {
          settled = true;
          reject(e);
        }
        request.destroy(e);
        response?.destroy(e);
      };
      const onAbort = (): void => fail(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = (): void => signal?.removeEventListener("abort", onAbort);
      request.on("error", (err) => {
        done();
        fail(err);
      });
      request.on("response", (res: IncomingMessage) => {
        response = res;
        settled = true;
        // However the response ends (read to the end, given up unread, its connection lost).
        res.once("close", done);
        const header = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          if (Array.isArray(v)) for (const x of v) header.append(k, x);
          else header.append(k, v);
        }
        const trailer = new Headers();
        resolve({ status: res.statusCode ?? 0, header, body: responseBody(res, trailer, done), trailer });
      });
      void writeBody(req.body, request).catch(fail);
    });
}

async function writeBody(body: AsyncIterable<Uint8Array> | undefined, request: ClientRequest): Promise<void> {
  if (body !== undefined) {
    for await (const chunk of body) {
      if (request.destroyed) return;
      if (!request.write(chunk)) await drainOrClose(request);
    }
  }
  if (!request.destroyed) request.end();
}

/** Waits for the request's buffer to drain (or the request to close), leaving no listener behind. */
function drainOrClose(request: ClientRequest): Promise<void> {
  return new Promise<void>((resolve) => {
    const settle = (): void => {
      request.off("drain", settle);
      request.off("close", settle);
      resolve();
    };
    request.on("drain", settle);
    request.on("close", settle);
  });
}

async function* responseBody(res: IncomingMessage, trailer: Headers, done: () => void): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of res) yield chunk as Uint8Array;
    for (const [k, v] of Object.entries(res.trailers)) if (v !== undefined) trailer.set(k, v);
  } catch (err) {
    throw connectErrorOf(err);
  } finally {
    done();
    // A reader that stops early (an error message ends the stream) releases the connection.
    if (!res.complete) res.destroy();
  }
}

/** connect-node's mapping of Node's errors: a connection that cannot be made is Unavailable, a reset Aborted, a cancel Canceled. */
function connectErrorOf(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const codes: string[] = [];
  for (let e: unknown = reason, depth = 0; e instanceof Error && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === "string") codes.push(c);
  }
  let code = Code.Internal;
  if (codes.some((c) => c === "ERR_STREAM_WRITE_AFTER_END" || c === "ERR_STREAM_DESTROYED" || c === "ECONNRESET")) code = Code.Aborted;
  else if (codes.some((c) => c === "ETIMEDOUT" || c === "ENOTFOUND" || c === "EAI_AGAIN" || c === "ECONNREFUSED" || c === "ENOENT" || c === "EACCES")) code = Code.Unavailable;
  const ce = ConnectError.from(reason, code);
  if (ce !== reason) ce.cause = reason;
  return ce;
}

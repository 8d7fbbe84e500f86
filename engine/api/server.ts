import { createServer, ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { connect, type Socket } from "node:net";
import { chmodSync, mkdirSync, readFileSync, unlinkSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { dirname } from "node:path";
import { htkError, toHtkError, isCancellation } from "../../base/errors/index.ts";
import { Counter, Histogram, metricsRegistry, withSpan, type Logger } from "../../base/observability/index.ts";
import { formatListenAddress, type DaemonTls, type ListenAddress } from "../daemon/config.ts";
import { sendError } from "./respond.ts";
import { Router } from "./router.ts";
import type { HttpMethod, RequestContext, Route } from "./types.ts";
import { API_VERSION, splitVersionPrefix } from "./version.ts";

const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE"]);

export interface ApiServerOptions {
  readonly routes: readonly Route[];
  readonly log: Logger;
  /** The `Server` header value, e.g. `HATAKE/0.1.0 (linux)`. */
  readonly serverHeader: string;
  /** TCP listeners serve HTTPS (with `verify`, only to clients whose certificate `ca` signed). */
  readonly tls?: DaemonTls;
}

export interface ApiServer {
  listen(address: ListenAddress): Promise<string>;
  /** Stops accepting connections (and removes the unix sockets); open ones go on. */
  stopAccepting(): void;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes the rest,
   * hijacked connections (attach, exec) included: nothing of the API outlives it.
   */
  close(graceMs?: number): Promise<void>;
}

let requestMetrics: { total: Counter<"method" | "route" | "status">; seconds: Histogram<"route">; compat: Counter<"kind"> } | undefined;
function metrics(): NonNullable<typeof requestMetrics> {
  requestMetrics ??= {
    total: new Counter({ name: "hatake_api_requests_total", help: "Engine API requests by route and status", labelNames: ["method", "route", "status"], registers: [metricsRegistry()] }),
    seconds: new Histogram({ name: "hatake_api_request_seconds", help: "Engine API request latency", labelNames: ["route"], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers: [metricsRegistry()] }),
    compat: new Counter({ name: "hatake_compat_events_total", help: "Requests that used options this engine does not know (ignored)", labelNames: ["kind"], registers: [metricsRegistry()] }),
  };
  return requestMetrics;
}

export function createApiServer(opts: ApiServerOptions): ApiServer {
  const router = new Router(opts.routes);
  const servers: Server[] = [];
  const listening: Server[] = [];
  const sockets: string[] = [];
  // Every connection, also those hijacked by an upgrade (which the HTTP server no longer tracks).
  const connections = new Set<Socket>();
  const closing: Array<Promise<void>> = [];
  const stopAccepting = (): void => {
    for (const server of servers.splice(0)) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    for (const path of sockets.splice(0)) {
      try {
        unlinkSync(path);
      } catch {
        // Already removed.
      }
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse, upgrade?: { socket: Duplex; head: Buffer }): void => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? "/", "http://engine");
    const method = (req.method ?? "GET").toUpperCase();
    let routeLabel = "unmatched";
    res.setHeader("Server", opts.serverHeader);
    res.setHeader("Api-Version", API_VERSION);
    res.setHeader("Ostype", "linux");
    res.setHeader("Docker-Experimental", "false");
    const controller = new AbortController();
    let recorded = false;
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new DOMException("client went away", "AbortError"));
      if (recorded) return;
      recorded = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics().total.inc({ method, route: routeLabel, status: String(upgrade !== undefined && !res.headersSent ? 101 : res.statusCode) });
      metrics().seconds.observe({ route: routeLabel }, seconds);
    };
    res.on("close", onClose);
    // A hijacked connection never finishes `res`: its socket closing is the end of the request.
    upgrade?.socket.on("close", onClose);
    const attributes = { "http.request.method": method, "url.path": url.pathname };
    withSpan("api.request", attributes, async ({ span, log, traceId }) => {
      try {
        const { version, path } = splitVersionPrefix(url.pathname);
        if (!METHODS.has(method)) throw htkError("HTK-API-0004", { path, method, allowed: [...METHODS].join(", ") });
        const match = router.match(method as HttpMethod, path);
        if (match.kind === "not-found") throw htkError("HTK-API-0001", { method, path: url.pathname });
        if (match.kind === "method-not-allowed") throw htkError("HTK-API-0004", { path, method, allowed: match.allowed.join(", ") });
        routeLabel = match.route.pattern;
        span.updateName(`${method} ${match.route.pattern}`);
        span.setAttribute("http.route", match.route.pattern);
        reportUnknownQuery(url.searchParams, match.route, log);
        const ctx: RequestContext = {
          req,
          res,
          method: method as HttpMethod,
          path,
          params: match.params,
          query: url.searchParams,
          apiVersion: version,
          log,
          traceId,
          signal: controller.signal,
          ...(upgrade === undefined ? {} : { upgrade }),
        };
        await match.route.handle(ctx);
        span.setAttribute("http.response.status_code", res.statusCode);
      } catch (err) {
        if (isCancellation(err) && controller.signal.aborted) return;
        const e = toHtkError(err, { operation: `${method} ${url.pathname}`, traceId });
        // Only a bug is an error in the daemon's log; a refusal the API defines (a 404, a 501 for a
        // swarm call) is the expected answer and logs at debug.
        if (e.id === "HTK-CORE-0001") log.error({ err, id: e.id }, "request failed");
        else log.debug({ id: e.id }, e.message);
        sendError(res, e);
        span.setAttribute("http.response.status_code", e.http);
      }
    }, opts.log).catch((err: unknown) => {
      // withSpan rethrows only what the body threw, and the body catches everything: reaching this is a bug.
      opts.log.error({ err }, "request handler failed");
      if (!res.headersSent) res.writeHead(500).end();
    });
  };

  return {
    async listen(address) {
      const onRequest = (req: IncomingMessage, res: ServerResponse): void => handle(req, res);
      const tls = address.kind === "tcp" ? opts.tls : undefined;
      const server: Server = tls === undefined ? createServer({ keepAlive: true }, onRequest) : createTlsServer(tls, onRequest);
      // `Connection: Upgrade` requests (the docker CLI's attach and exec): the route gets the raw
      // socket; a route that does not hijack answers through an ordinary response on it.
      server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const res = new ServerResponse(req);
        res.assignSocket(socket as Socket);
        res.shouldKeepAlive = false;
        res.on("finish", () => socket.end());
        socket.on("error", () => socket.destroy());
        handle(req, res, { socket, head });
      });
      server.on("connection", (socket: Socket) => {
        connections.add(socket);
        socket.once("close", () => connections.delete(socket));
      });
      // Docker clients keep connections open between calls; never time a hijacked or streaming one out.
      server.requestTimeout = 0;
      server.headersTimeout = 60_000;
      if (address.kind === "unix") {
        await prepareSocketPath(address.path);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(address.path, () => resolve());
        });
        chmodSync(address.path, 0o660);
        sockets.push(address.path);
      } else {
        await new Promise<void>((resolve, reject) => {
          server.once("error", (err: NodeJS.ErrnoException) =>
            reject(err.code === "EADDRINUSE" ? htkError("HTK-ENGINE-0002", { address: formatListenAddress(address) }, { cause: err }) : err),
          );
          server.listen(address.port, address.host, () => resolve());
        });
      }
      servers.push(server);
      listening.push(server);
      const a = server.address();
      return address.kind === "tcp" && a !== null && typeof a === "object" ? formatListenAddress({ ...address, port: a.port }) : formatListenAddress(address);
    },
    stopAccepting,
    async close(graceMs = 5_000) {
      stopAccepting();
      for (const server of listening.splice(0)) server.closeIdleConnections();
      const cut = (): void => {
        for (const socket of connections) socket.destroy();
      };
      const timer = setTimeout(cut, graceMs);
      await Promise.all(closing.splice(0));
      clearTimeout(timer);
    },
  };
}

/**
 * dockerd's TLS listener: the server certificate, and with `verify` client certificates required and
 * checked against the CA (Go's tls.RequireAndVerifyClientCert). Unreadable files are HTK-ENGINE-0740.
 */
function createTlsServer(tls: DaemonTls, onRequest: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw htkError("HTK-ENGINE-0740", { what, path, detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, { cause: err });
    }
  };
  const cert = read("certificate (--tlscert)", tls.cert);
  const key = read("key (--tlskey)", tls.key);
  const ca = tls.ca === undefined ? undefined : read("CA certificate (--tlscacert)", tls.ca);
  try {
    return createHttpsServer({ keepAlive: true, cert, key, ...(ca === undefined ? {} : { ca }), requestCert: tls.verify, rejectUnauthorized: tls.verify, minVersion: "TLSv1.2" }, onRequest);
  } catch (err) {
    throw htkError("HTK-ENGINE-0741", { cert: tls.cert, key: tls.key, detail: (err as Error).message }, { cause: err });
  }
}

/**
 * A socket file left by a daemon that died is removed; one that still answers belongs to a live
 * process and is refused (HTK-ENGINE-0002) rather than stolen.
 */
async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw htkError("HTK-ENGINE-0002", { address: `unix://${path}` });
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** Unknown query options are ignored (compatibility first), logged, and counted as compatibility events. */
function reportUnknownQuery(query: URLSearchParams, route: Route, log: Logger): void {
  if (route.query === undefined) return;
  for (const key of new Set(query.keys())) {
    if (!route.query.includes(key)) {
      log.warn({ route: route.pattern, option: key, compat: true }, `ignored unknown query option "${key}"`);
      metrics().compat.inc({ kind: "unknown-query-option" });
    }
  }
}

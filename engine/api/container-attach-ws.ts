import { PassThrough } from "node:stream";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { htkError } from "../../base/errors/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import type { AttachConnection } from "../containers/index.ts";
import { apiAtLeast } from "./hijack.ts";
import { boolParam } from "./query-params.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * `GET /containers/{id}/attach/ws`: attach over a websocket, as dockerd serves it
 * (`wsContainersAttach`): the container is looked up (404, 409 for a paused one) before the upgrade,
 * then the websocket carries the output (stdout and stderr alike, never multiplexed: one message per
 * chunk) and, with `stdin`, every message the client sends goes to the container's stdin. Messages
 * are binary frames from API 1.28 on (text frames before, moby#28176); before API 1.42 the
 * `stdin`/`stdout`/`stderr` parameters are ignored (stdout and stderr on, stdin off), as in dockerd.
 * The session ends with a normal close (1000) when the container's run ends, when `stream` is off
 * after the logs, or when the client closes or detaches.
 */
export function containerAttachWsRoutes(services: EngineServices): Route[] {
  // One server for the engine's life: it only performs handshakes (noServer) and tracks nothing.
  // Docker's websocket server (golang.org/x/net/websocket) negotiates no extension: no compression.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 * 1024 });
  return [
    {
      method: "GET",
      pattern: "/containers/{id}/attach/ws",
      query: ["detachKeys", "logs", "stream", "stdin", "stdout", "stderr"],
      async handle(ctx) {
        const modern = apiAtLeast(ctx.apiVersion, "1.42");
        const detachKeys = ctx.query.get("detachKeys") ?? "";
        const stdin = modern ? boolParam(ctx.query, "stdin") : false;
        const session = services.containers.attach(ctx.params["id"] ?? "", {
          stdin,
          stdout: modern ? boolParam(ctx.query, "stdout") : true,
          stderr: modern ? boolParam(ctx.query, "stderr") : true,
          logs: boolParam(ctx.query, "logs"),
          stream: boolParam(ctx.query, "stream"),
          ...(detachKeys === "" ? {} : { detachKeys }),
        });
        const upgrade = websocketUpgrade(ctx);
        const ws = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(ctx.req, upgrade.socket, upgrade.head, resolve));
        await session.run(websocketConnection(ws, { binary: apiAtLeast(ctx.apiVersion, "1.28"), stdin }), ctx.signal);
      },
    },
  ];
}

/** The upgrade the request asked for, or HTK-ENGINE-0860 (400) when it is not a websocket one. */
function websocketUpgrade(ctx: RequestContext): { readonly socket: NonNullable<RequestContext["upgrade"]>["socket"]; readonly head: Buffer } {
  const path = `/containers/${ctx.params["id"] ?? ""}/attach/ws`;
  if (ctx.upgrade === undefined) throw htkError("HTK-ENGINE-0860", { path, detail: "it has no Connection: Upgrade header" });
  const wanted = String(ctx.req.headers.upgrade ?? "").toLowerCase();
  if (wanted !== "websocket") throw htkError("HTK-ENGINE-0860", { path, detail: `it asks to upgrade to "${wanted}", not "websocket"` });
  return ctx.upgrade;
}

/** Output waits (onDrain) while more than this is queued on the websocket. */
const HIGH_WATER = 1024 * 1024;
/** Closing handshake: a client that does not answer our close frame within this is cut off. */
const CLOSE_GRACE_MS = 2_000;

/**
 * The attach session's connection over a websocket: output chunks as messages with backpressure (the
 * bytes `send` has not yet handed to the socket), the client's messages as the input stream (only
 * when stdin is attached: otherwise they are dropped, so that a client's close frame is always read).
 */
function websocketConnection(ws: WebSocket, opts: { readonly binary: boolean; readonly stdin: boolean }): AttachConnection {
  let queued = 0;
  let drains: Array<() => void> = [];
  const flushDrains = (): void => {
    const waiting = drains;
    drains = [];
    for (const cb of waiting) cb();
  };
  let input: PassThrough | null = null;
  if (opts.stdin) {
    const stream = new PassThrough();
    ws.on("message", (data: RawData) => {
      const chunk = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!stream.write(chunk)) {
        ws.pause();
        stream.once("drain", () => ws.resume());
      }
    });
    stream.on("error", () => ws.terminate());
    input = stream;
  }
  // The client's close (or a dead socket) ends its input; the request's signal ends the session.
  ws.on("close", () => {
    input?.end();
    flushDrains();
  });
  ws.on("error", () => ws.terminate());
  return {
    write(_stream, chunk) {
      if (ws.readyState !== ws.OPEN) return true;
      queued += chunk.length;
      ws.send(chunk, { binary: opts.binary }, () => {
        queued -= chunk.length;
        if (queued <= HIGH_WATER / 4) flushDrains();
      });
      return queued <= HIGH_WATER;
    },
    onDrain(cb) {
      if (ws.readyState !== ws.OPEN) cb();
      else drains.push(cb);
    },
    input,
    close() {
      if (ws.readyState === ws.CLOSED || ws.readyState === ws.CLOSING) return;
      ws.close(1000);
      const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
      timer.unref();
      ws.once("close", () => clearTimeout(timer));
    },
  };
}

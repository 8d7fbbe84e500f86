import { htkError, isHtkError, type HtkError } from "../../base/errors/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { parseCreateBody, type AttachConnection, type WaitCondition } from "../containers/index.ts";
import { imageSize } from "../images/index.ts";
import { parseDockerTime, parseFilters } from "../state/index.ts";
import { frame, hijack, streamContentType, MULTIPLEXED_STREAM, RAW_STREAM, apiAtLeast } from "./hijack.ts";
import { withLegacyAliases } from "./container-compat.ts";
import { ContainerListCache } from "./container-list.ts";
import { readJsonBody } from "./json-body.ts";
import { boolParam, intParam } from "./query-params.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * The container lifecycle endpoints of Engine API v1.45 on the ContainerManager: create, list,
 * inspect, start, stop, restart, kill, wait, rename, attach, resize, remove, logs, prune. Status codes
 * and texts are Docker's (404 "No such container: x", 409 conflicts, 304 for a start of a running or a
 * stop of a stopped container).
 */
export function containerRoutes(services: EngineServices): Route[] {
  const manager = services.containers;
  const state = services.state;

  const sizeOfImage = (imageId: string): number => {
    const image = services.images.get(imageId as `sha256:${string}`);
    return image === undefined ? 0 : imageSize(image);
  };
  /** `size=1`: SizeRw (the writable layer) and SizeRootFs (that plus the image), as Docker reports them. */
  const sizes = async (id: string, imageId: string): Promise<{ SizeRw: number; SizeRootFs: number }> => {
    const rw = await manager.sizeRw(id);
    return { SizeRw: rw, SizeRootFs: rw + sizeOfImage(imageId) };
  };

  const listCache = new ContainerListCache(state, (c, now) => manager.summary(c, now));

  const noContent = (ctx: RequestContext, status = 204): void => {
    ctx.res.writeHead(status).end();
  };

  return [
    {
      method: "POST",
      pattern: "/containers/create",
      query: ["name", "platform"],
      async handle(ctx) {
        const body = await readJsonBody(ctx);
        if (body === undefined) throw htkError("HTK-ENGINE-0450", { detail: "got EOF while reading request body" });
        const parsed = parseCreateBody(body);
        const name = ctx.query.get("name") ?? "";
        const r = await manager.create({ ...(name === "" ? {} : { name }), body: parsed }, ctx.signal);
        sendJson(ctx.res, 201, { Id: r.id, Warnings: r.warnings });
      },
    },
    {
      method: "GET",
      pattern: "/containers/json",
      // `trunc_cmd`: docker-py still sends this pre-1.20 option; Docker ignores it, and so do we.
      query: ["all", "limit", "size", "filters", "since", "before", "trunc_cmd"],
      async handle(ctx) {
        const filters: Record<string, string[]> = { ...parseFilters(ctx.query.get("filters")) } as Record<string, string[]>;
        // The pre-1.22 parameters are the `since`/`before` filters.
        for (const key of ["since", "before"]) {
          const v = ctx.query.get(key);
          if (v !== null && v !== "") filters[key] = [...(filters[key] ?? []), v];
        }
        const limit = intParam(ctx.query, "limit");
        const list = listCache.list(filters, {
          all: boolParam(ctx.query, "all"),
          ...(limit === undefined ? {} : { limit }),
          ancestorImageIds: (ref) => {
            try {
              const img = services.images.lookup(ref);
              return img === undefined ? [] : [img.id];
            } catch {
              return [];
            }
          },
        });
        const now = Date.now();
        if (!boolParam(ctx.query, "size")) {
          // The common case (docker ps, pollers): summaries from the list cache, as JSON text.
          const text = `[${list.map((c) => listCache.summaryJson(c, now)).join(",")}]\n`;
          ctx.res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
          ctx.res.end(text);
          return;
        }
        const out: Array<Record<string, unknown>> = [];
        for (const c of list) out.push({ ...manager.summary(c, now), ...(await sizes(c.id, c.imageId)) });
        sendJson(ctx.res, 200, out);
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/json",
      query: ["size"],
      async handle(ctx) {
        const inspect = await manager.inspect(ctx.params["id"] ?? "", { size: boolParam(ctx.query, "size"), imageSize: sizeOfImage });
        sendJson(ctx.res, 200, withLegacyAliases(inspect, ctx.apiVersion));
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/start",
      query: ["detachKeys", "checkpoint", "checkpoint-dir"],
      async handle(ctx) {
        const length = ctx.req.headers["content-length"];
        const chunked = /chunked/i.test(ctx.req.headers["transfer-encoding"] ?? "");
        if ((length !== undefined && Number(length) > 7) || chunked) throw htkError("HTK-ENGINE-0368", {});
        const r = await manager.start(ctx.params["id"] ?? "", ctx.signal);
        noContent(ctx, r === "started" ? 204 : 304);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/stop",
      query: ["t", "signal"],
      async handle(ctx) {
        const t = intParam(ctx.query, "t");
        const signal = apiAtLeast(ctx.apiVersion, "1.42") ? (ctx.query.get("signal") ?? "") : "";
        const r = await manager.stop(ctx.params["id"] ?? "", { ...(t === undefined ? {} : { timeoutSeconds: t }), ...(signal === "" ? {} : { signal }) });
        noContent(ctx, r === "stopped" ? 204 : 304);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/restart",
      query: ["t", "signal"],
      async handle(ctx) {
        const t = intParam(ctx.query, "t");
        const signal = apiAtLeast(ctx.apiVersion, "1.42") ? (ctx.query.get("signal") ?? "") : "";
        await manager.restart(ctx.params["id"] ?? "", { ...(t === undefined ? {} : { timeoutSeconds: t }), ...(signal === "" ? {} : { signal }) });
        noContent(ctx);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/kill",
      query: ["signal"],
      async handle(ctx) {
        const name = ctx.params["id"] ?? "";
        const signal = ctx.query.get("signal") ?? "";
        try {
          await manager.kill(name, signal);
        } catch (err) {
          throw killError(name, signal, err);
        }
        noContent(ctx);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/wait",
      query: ["condition"],
      async handle(ctx) {
        const raw = ctx.query.get("condition") ?? "";
        const condition: WaitCondition = raw === "" ? "not-running" : (raw as WaitCondition);
        if (!["not-running", "next-exit", "removed"].includes(condition)) throw htkError("HTK-ENGINE-0366", { condition: raw });
        const result = manager.wait(ctx.params["id"] ?? "", condition, ctx.signal);
        // Docker answers the headers at once, so the client knows the waiter is registered before it starts the container.
        ctx.res.writeHead(200, { "Content-Type": "application/json" });
        ctx.res.flushHeaders();
        const r = await result;
        ctx.res.end(`${JSON.stringify(r)}\n`);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/rename",
      query: ["name"],
      handle(ctx) {
        manager.rename(ctx.params["id"] ?? "", ctx.query.get("name") ?? "");
        noContent(ctx);
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/resize",
      query: ["h", "w"],
      handle(ctx) {
        const h = intParam(ctx.query, "h") ?? failInt("h", ctx.query);
        const w = intParam(ctx.query, "w") ?? failInt("w", ctx.query);
        manager.resize(ctx.params["id"] ?? "", h, w);
        ctx.res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": "0" }).end();
      },
    },
    {
      method: "DELETE",
      pattern: "/containers/{id}",
      query: ["v", "force", "link"],
      async handle(ctx) {
        await manager.remove(ctx.params["id"] ?? "", { force: boolParam(ctx.query, "force"), volumes: boolParam(ctx.query, "v") });
        noContent(ctx);
      },
    },
    {
      method: "POST",
      pattern: "/containers/prune",
      query: ["filters"],
      async handle(ctx) {
        sendJson(ctx.res, 200, await manager.prune(parseFilters(ctx.query.get("filters"))));
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/attach",
      query: ["detachKeys", "logs", "stream", "stdin", "stdout", "stderr"],
      async handle(ctx) {
        const detachKeys = ctx.query.get("detachKeys") ?? "";
        const session = manager.attach(ctx.params["id"] ?? "", {
          stdin: boolParam(ctx.query, "stdin"),
          stdout: boolParam(ctx.query, "stdout"),
          stderr: boolParam(ctx.query, "stderr"),
          logs: boolParam(ctx.query, "logs"),
          stream: boolParam(ctx.query, "stream"),
          ...(detachKeys === "" ? {} : { detachKeys }),
        });
        const conn = hijack(ctx, streamContentType(ctx, session.tty));
        const multiplexed = !session.tty;
        const attachConn: AttachConnection = {
          write: (stream, chunk) => conn.output.write(multiplexed ? frame(stream, chunk) : chunk),
          onDrain: (cb) => conn.output.once("drain", cb),
          input: conn.input,
          close: () => conn.close(),
        };
        await session.run(attachConn, ctx.signal);
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/logs",
      query: ["follow", "stdout", "stderr", "since", "until", "timestamps", "tail", "details"],
      async handle(ctx) {
        const stdout = boolParam(ctx.query, "stdout");
        const stderr = boolParam(ctx.query, "stderr");
        if (!stdout && !stderr) throw htkError("HTK-ENGINE-0367", {});
        const nowNs = BigInt(Date.now()) * 1_000_000n;
        const since = timeParam(ctx.query.get("since"), nowNs);
        const until = timeParam(ctx.query.get("until"), nowNs);
        const tailText = (ctx.query.get("tail") ?? "all").trim();
        const tail = tailText === "all" || tailText === "" || !/^-?\d+$/.test(tailText) || Number(tailText) < 0 ? undefined : Number(tailText);
        const timestamps = boolParam(ctx.query, "timestamps");
        const { tty, messages } = manager.logs(
          ctx.params["id"] ?? "",
          {
            stdout,
            stderr,
            follow: boolParam(ctx.query, "follow"),
            timestamps,
            ...(tail === undefined ? {} : { tail }),
            ...(since === undefined || since === 0n ? {} : { sinceNs: since }),
            ...(until === undefined || until === 0n ? {} : { untilNs: until }),
          },
          ctx.signal,
        );
        const multiplexed = !tty;
        ctx.res.writeHead(200, { "Content-Type": multiplexed && apiAtLeast(ctx.apiVersion, "1.42") ? MULTIPLEXED_STREAM : RAW_STREAM });
        ctx.res.flushHeaders();
        for await (const m of messages) {
          const line = timestamps ? Buffer.concat([Buffer.from(`${rfc3339NanoFixed(m.timeNs)} `), m.line]) : m.line;
          const ok = ctx.res.write(multiplexed ? frame(m.stream === "stdout" ? 1 : 2, line) : line);
          if (!ok) await new Promise<void>((resolve) => ctx.res.once("drain", resolve));
        }
        ctx.res.end();
      },
    },
  ];
}

function failInt(key: string, query: URLSearchParams): never {
  throw htkError("HTK-ENGINE-0372", { value: JSON.stringify(query.get(key) ?? "") });
}

/** `since`/`until`: Unix seconds with an optional fraction (what the CLI sends), or any form Docker's timetypes reads. */
function timeParam(v: string | null, nowNs: bigint): bigint | undefined {
  if (v === null || v.trim() === "") return undefined;
  const t = parseDockerTime(v, nowNs);
  if (t === undefined) throw htkError("HTK-ENGINE-0401", { value: JSON.stringify(v) });
  return t;
}

/** Go's RFC3339NanoFixed in UTC (always nine digits): the `--timestamps` prefix of `docker logs`. */
export function rfc3339NanoFixed(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "")}.${fraction}Z`;
}

/** Docker wraps every kill error: "cannot kill container: x: <cause>". */
function killError(name: string, signal: string, err: unknown): unknown {
  if (!isHtkError(err)) return err;
  const e: HtkError = err;
  switch (e.id) {
    case "HTK-ENGINE-0107":
      return htkError("HTK-ENGINE-0369", { name, id: String(e.params["id"] ?? name) }, { cause: e });
    case "HTK-ENGINE-0103":
      return htkError("HTK-ENGINE-0370", { name }, { cause: e });
    case "HTK-ENGINE-0354":
      return htkError("HTK-ENGINE-0371", { name, signal }, { cause: e });
    default:
      return e;
  }
}


import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createDeflate, createGzip } from "node:zlib";
import type { ContainerPathStat } from "../containers/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { boolParam } from "./query-params.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * `docker cp` both ways, `docker export` and `docker diff` (Engine API v1.45's archive, export and
 * changes endpoints, Docker's api/server/router/container/copy.go): the resource's stat as the
 * base64 JSON `X-Docker-Container-Path-Stat` header, tar streams (gzip or deflate when the client
 * accepts them, as Docker answers Go's transport), the upload extracted into a directory.
 */
export function containerArchiveRoutes(services: EngineServices): Route[] {
  const ops = services.containerOps;
  return [
    {
      method: "HEAD",
      pattern: "/containers/{id}/archive",
      query: ["path"],
      async handle(ctx) {
        const stat = await ops.archiveStat(ctx.params["id"] ?? "", ctx.query.get("path") ?? "");
        ctx.res.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(stat), "Content-Type": "application/json" }).end();
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/archive",
      query: ["path"],
      async handle(ctx) {
        await ops.archive(
          ctx.params["id"] ?? "",
          ctx.query.get("path") ?? "",
          async (stat, tar) => {
            const encoding = negotiateEncoding(ctx.req.headers["accept-encoding"]);
            ctx.res.writeHead(200, {
              "X-Docker-Container-Path-Stat": statHeader(stat),
              "Content-Type": "application/x-tar",
              ...(encoding === undefined ? {} : { "Content-Encoding": encoding }),
            });
            await send(ctx, tar, encoding);
          },
          ctx.signal,
        );
      },
    },
    {
      method: "PUT",
      pattern: "/containers/{id}/archive",
      query: ["path", "noOverwriteDirNonDir", "copyUIDGID"],
      async handle(ctx) {
        await ops.extract(
          ctx.params["id"] ?? "",
          ctx.query.get("path") ?? "",
          ctx.req,
          { noOverwriteDirNonDir: boolParam(ctx.query, "noOverwriteDirNonDir"), copyUIDGID: boolParam(ctx.query, "copyUIDGID") },
          ctx.signal,
        );
        ctx.res.writeHead(200, { "Content-Length": "0" }).end();
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/export",
      async handle(ctx) {
        await ops.export(
          ctx.params["id"] ?? "",
          async (tar) => {
            ctx.res.writeHead(200, { "Content-Type": "application/x-tar" });
            await send(ctx, tar, undefined);
          },
          ctx.signal,
        );
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/changes",
      async handle(ctx) {
        sendJson(ctx.res, 200, await ops.changes(ctx.params["id"] ?? "", ctx.signal));
      },
    },
  ];
}

/** Go's encoding of ContainerPathStat (name, size, mode, mtime, linkTarget), base64. */
function statHeader(stat: ContainerPathStat): string {
  const json = JSON.stringify({ name: stat.name, size: stat.size, mode: stat.mode, mtime: stat.mtime, linkTarget: stat.linkTarget });
  return Buffer.from(json).toString("base64");
}

/**
 * gddo's NegotiateContentEncoding over Docker's offers ["gzip", "deflate"]: the highest q wins, gzip
 * on a tie; identity when neither is acceptable.
 */
export function negotiateEncoding(header: string | undefined): "gzip" | "deflate" | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const q = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.trim().split(";");
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    q.set(name.trim().toLowerCase(), qParam === undefined ? 1 : Number(qParam.slice(2)));
  }
  const star = q.get("*");
  const of = (name: string): number => q.get(name) ?? star ?? 0;
  const gzip = of("gzip");
  const deflate = of("deflate");
  if (gzip <= 0 && deflate <= 0) return undefined;
  return gzip >= deflate ? "gzip" : "deflate";
}

async function send(ctx: RequestContext, tar: AsyncIterable<Buffer>, encoding: "gzip" | "deflate" | undefined): Promise<void> {
  const source = Readable.from(tar, { objectMode: false, highWaterMark: 4 });
  if (encoding === undefined) await pipeline(source, ctx.res, { signal: ctx.signal });
  else await pipeline(source, encoding === "gzip" ? createGzip() : createDeflate(), ctx.res, { signal: ctx.signal });
}

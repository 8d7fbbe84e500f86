import { pipeline } from "node:stream/promises";
import { htkError, isCancellation } from "../../base/errors/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { decompressStream, loadImageArchive, saveDockerArchive } from "../images/index.ts";
import { JsonMessageStream } from "./jsonmessage.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * `docker save` (`GET /images/{name}/get`, `GET /images/get?names=…`): Docker 26's archive (OCI
 * layout and manifest.json side by side), streamed as `application/x-tar`; and `docker load`
 * (`POST /images/load`): a plain or compressed archive from the body, answered with jsonmessage
 * `stream` lines ("Loaded image: busybox:latest"). A load's errors are the stream's last line (status
 * 200), as in Docker.
 */
export function imageArchiveRoutes(services: EngineServices): Route[] {
  const save = async (ctx: RequestContext, names: readonly string[]): Promise<void> => {
    // Resolving the names and measuring layers happens here, before anything is sent: errors are
    // still Docker's JSON error with a status code.
    const archive = await saveDockerArchive(services.images, names, { signal: ctx.signal });
    ctx.res.writeHead(200, { "Content-Type": "application/x-tar" });
    try {
      await pipeline(archive, ctx.res);
    } catch (err) {
      // Mid-stream there is no way to report an error in a tar: the connection is cut, so the client
      // sees an incomplete archive rather than a silently truncated one.
      if (!isCancellation(err)) ctx.log.warn({ err }, "docker save failed while streaming");
      ctx.res.destroy();
    }
  };
  return [
    {
      method: "GET",
      pattern: "/images/get",
      query: ["names", "platform"],
      handle: (ctx) => save(ctx, ctx.query.getAll("names")),
    },
    {
      method: "GET",
      pattern: "/images/{name:.*}/get",
      query: ["platform"],
      handle: (ctx) => save(ctx, [ctx.params["name"] ?? ""]),
    },
    {
      method: "POST",
      pattern: "/images/load",
      query: ["quiet", "platform"],
      async handle(ctx) {
        const stream = new JsonMessageStream(ctx.res);
        // Docker writes every load error into the stream (status 200).
        stream.begin();
        try {
          const source = decompressStream(ctx.req, { signal: ctx.signal, describeError: (detail) => htkError("HTK-ENGINE-0211", { detail }) });
          const result = await loadImageArchive(services.images, source, { signal: ctx.signal });
          for (const line of result.messages) stream.write({ stream: `${line}\n` });
          stream.end();
        } catch (err) {
          stream.fail(err, "POST /images/load");
        }
      },
    },
  ];
}

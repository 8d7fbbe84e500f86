import { htkError } from "../../base/errors/index.ts";
import { parseName } from "../images/index.ts";
import { configFromChanges } from "./image-changes.ts";
import { tagTarget } from "./images-params.ts";
import type { UpdateRequest } from "../containers/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { apiAtLeast } from "./hijack.ts";
import { JsonObject, readJsonBody } from "./json-body.ts";
import { boolParamOr } from "./query-params.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";

/**
 * Engine API v1.45 container operations on the ContainerOps: pause, unpause, top, stats (streamed
 * and one-shot), update, and `POST /commit` (the Image tag's, but the container's writable layer). Docker's status codes and texts (409 for a container in the wrong state,
 * 500 for "is not paused").
 */
export function containerOpsRoutes(services: EngineServices): Route[] {
  const ops = services.containerOps;
  return [
    {
      method: "POST",
      pattern: "/containers/{id}/pause",
      async handle(ctx) {
        await ops.pause(ctx.params["id"] ?? "");
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/unpause",
      async handle(ctx) {
        await ops.unpause(ctx.params["id"] ?? "");
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/top",
      query: ["ps_args"],
      async handle(ctx) {
        sendJson(ctx.res, 200, await ops.top(ctx.params["id"] ?? "", ctx.query.get("ps_args") ?? ""));
      },
    },
    {
      method: "GET",
      pattern: "/containers/{id}/stats",
      query: ["stream", "one-shot"],
      async handle(ctx) {
        const stream = boolParamOr(ctx.query, "stream", true);
        const oneShot = apiAtLeast(ctx.apiVersion, "1.41") ? boolParamOr(ctx.query, "one-shot", false) : false;
        const stats = ops.stats(ctx.params["id"] ?? "", { stream, oneShot });
        let started = false;
        const write = async (json: Record<string, unknown>): Promise<void> => {
          if (!started) {
            started = true;
            ctx.res.writeHead(200, { "Content-Type": "application/json" });
          }
          // One JSON value per line, as Go's json.Encoder writes them (flushed each time when streaming).
          if (!ctx.res.write(`${JSON.stringify(json)}\n`)) await new Promise<void>((resolve) => ctx.res.once("drain", resolve));
        };
        if (stream) {
          // Docker flushes the headers at once, before the first sample a second later.
          started = true;
          ctx.res.writeHead(200, { "Content-Type": "application/json" });
          ctx.res.flushHeaders();
        }
        await stats.run(write, ctx.signal);
        ctx.res.end();
      },
    },
    {
      method: "POST",
      pattern: "/commit",
      query: ["container", "repo", "tag", "comment", "author", "pause", "changes"],
      async handle(ctx) {
        // Docker: the body is an optional Config ("null" or none: the container's own).
        const raw = await readJsonBody(ctx);
        if (raw !== undefined && raw !== null && (typeof raw !== "object" || Array.isArray(raw))) {
          throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${Array.isArray(raw) ? "array" : typeof raw} into Go value of type container.Config` });
        }
        const repo = ctx.query.get("repo") ?? "";
        const name = repo === "" ? undefined : tagTarget(repo, ctx.query.get("tag") ?? "");
        if (name !== undefined) parseName(name);
        const changes = ctx.query.getAll("changes");
        const id = await ops.commit(
          ctx.query.get("container") ?? "",
          {
            ...(raw === undefined || raw === null ? {} : { config: raw as Record<string, unknown> }),
            applyChanges: (base) => configFromChanges(changes, base),
            ...(name === undefined ? {} : { name }),
            author: ctx.query.get("author") ?? "",
            comment: ctx.query.get("comment") ?? "",
            pause: boolParamOr(ctx.query, "pause", true),
            dockerVersion: services.info.version,
          },
          ctx.signal,
        );
        sendJson(ctx.res, 201, { Id: id });
      },
    },
    {
      method: "POST",
      pattern: "/containers/{id}/update",
      async handle(ctx) {
        const request = parseUpdateConfig(await readJsonBody(ctx), ctx.apiVersion);
        sendJson(ctx.res, 200, await ops.update(ctx.params["id"] ?? "", request));
      },
    },
  ];
}

/** UpdateConfig's number fields (Resources) with Go's int types, as encoding/json reports type errors. */
const UPDATE_NUMBERS = [
  "CpuShares",
  "Memory",
  "NanoCpus",
  "CpuPeriod",
  "CpuQuota",
  "CpuRealtimePeriod",
  "CpuRealtimeRuntime",
  "MemoryReservation",
  "MemorySwap",
  "MemorySwappiness",
  "KernelMemory",
  "KernelMemoryTCP",
  "CpuCount",
  "CpuPercent",
  "IOMaximumIOps",
  "IOMaximumBandwidth",
  "BlkioWeight",
  "PidsLimit",
] as const;

/**
 * The body of `POST /containers/{id}/update` (Docker's UpdateConfig: Resources and RestartPolicy):
 * PidsLimit before API 1.40 and KernelMemory from 1.42 are ignored, a PidsLimit ≤ 0 means unlimited (0).
 */
export function parseUpdateConfig(raw: unknown, apiVersion: string): UpdateRequest {
  const o = new JsonObject(raw, "UpdateConfig");
  const resources: Record<string, unknown> = {};
  for (const k of UPDATE_NUMBERS) {
    const v = o.raw(k);
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${typeof v === "number" ? "number" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : typeof v === "boolean" ? "bool" : typeof v} into Go struct field UpdateConfig.${k} of type int64` });
    }
    resources[k] = v;
  }
  for (const k of ["CpusetCpus", "CpusetMems"]) {
    const v = o.string(k);
    if (v !== undefined) resources[k] = v;
  }
  const oom = o.boolean("OomKillDisable");
  if (oom !== undefined) resources["OomKillDisable"] = oom;
  if (!apiAtLeast(apiVersion, "1.40")) delete resources["PidsLimit"];
  if (apiAtLeast(apiVersion, "1.42")) delete resources["KernelMemory"];
  if (typeof resources["PidsLimit"] === "number" && resources["PidsLimit"] <= 0) resources["PidsLimit"] = 0;
  const policy = o.object("RestartPolicy", "RestartPolicy");
  const name = policy?.string("Name");
  const max = policy?.raw("MaximumRetryCount");
  if (max !== undefined && max !== null && (typeof max !== "number" || !Number.isInteger(max))) {
    throw htkError("HTK-ENGINE-0450", { detail: "json: cannot unmarshal into Go struct field RestartPolicy.MaximumRetryCount of type int" });
  }
  return {
    resources,
    ...(policy === undefined ? {} : { restartPolicy: { ...(name === undefined ? {} : { Name: name }), ...(typeof max === "number" ? { MaximumRetryCount: max } : {}) } }),
  };
}

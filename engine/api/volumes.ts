import { htkError } from "../../base/errors/index.ts";
import { filterVolumes, parseFilters, type StateStore, type VolumeRecord } from "../state/index.ts";
import { ensureVolume, pruneVolumes, removeVolume, type VolumeHost } from "../volumes/index.ts";
import { JsonObject, readJsonBody } from "./json-body.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";
import { compareApiVersions } from "./version.ts";

/** A Go map marshals with its keys sorted; clients that print raw JSON (`docker volume inspect`) show that order. */
export function sortedMap(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k] as string;
  return out;
}

/**
 * Docker's Volume object, fields in its (alphabetical) order. `UsageData` only where asked for
 * (`/system/df`), as Docker omits it elsewhere; a local volume has no `Status`.
 */
export function volumeJson(v: VolumeRecord, usage?: { readonly Size: number; readonly RefCount: number }): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: sortedMap(v.labels),
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: sortedMap(v.options),
    Scope: v.scope,
    ...(usage === undefined ? {} : { UsageData: usage }),
  };
}

/** Names of the volumes some container uses. */
export function volumesInUse(services: { readonly state: StateStore }): Set<string> {
  const unused = new Set(services.state.volumes.unused());
  return new Set(
    services.state.volumes
      .list()
      .map((v) => v.name)
      .filter((n) => !unused.has(n)),
  );
}

/** The volume routes (Engine API v1.45 "Volume" tag), on the local driver of engine/volumes. */
export function volumeRoutes(services: { readonly state: StateStore; readonly config: { readonly dataRoot: string } }): Route[] {
  const host: VolumeHost = { state: services.state, dataRoot: services.config.dataRoot };
  return [
    {
      method: "GET",
      pattern: "/volumes",
      query: ["filters"],
      handle(ctx) {
        const filters = parseFilters(ctx.query.get("filters"));
        const volumes = filterVolumes(services.state.volumes.list(), filters, volumesInUse(services));
        // Docker sends `Warnings: null`; the spec (and the conformance schema) says a list.
        sendJson(ctx.res, 200, { Volumes: volumes.map((v) => volumeJson(v)), Warnings: [] });
      },
    },
    {
      method: "POST",
      pattern: "/volumes/create",
      query: [],
      async handle(ctx) {
        const body = new JsonObject(await readJsonBody(ctx), "CreateOptions");
        if (body.has("ClusterVolumeSpec") && compareApiVersions(ctx.apiVersion, "1.42") >= 0) throw htkError("HTK-API-0005", {});
        const { volume } = await ensureVolume(host, {
          name: body.string("Name"),
          driver: body.string("Driver"),
          labels: body.stringMap("Labels"),
          options: body.stringMap("DriverOpts"),
        });
        sendJson(ctx.res, 201, volumeJson(volume));
      },
    },
    {
      method: "POST",
      pattern: "/volumes/prune",
      query: ["filters"],
      async handle(ctx) {
        const filters = parseFilters(ctx.query.get("filters"));
        // API < 1.42 pruned every unused local volume; since then only anonymous ones unless all=true.
        const effective = compareApiVersions(ctx.apiVersion, "1.42") < 0 && filters["all"] === undefined ? { ...filters, all: ["true"] } : filters;
        sendJson(ctx.res, 200, await pruneVolumes(host, effective, ctx.signal));
      },
    },
    {
      method: "GET",
      pattern: "/volumes/{name}",
      query: [],
      handle(ctx) {
        sendJson(ctx.res, 200, volumeJson(services.state.volumes.get(param(ctx, "name"))));
      },
    },
    {
      method: "PUT",
      pattern: "/volumes/{name}",
      query: ["version"],
      handle() {
        throw htkError("HTK-ENGINE-0462", {});
      },
    },
    {
      method: "DELETE",
      pattern: "/volumes/{name}",
      query: ["force"],
      async handle(ctx) {
        await removeVolume(host, param(ctx, "name"), { force: boolQuery(ctx, "force") });
        ctx.res.writeHead(204).end();
      },
    },
  ];
}

function param(ctx: RequestContext, name: string): string {
  return ctx.params[name] ?? "";
}

/** Docker's httputils.BoolValue: anything but "", "0", "no", "false", "none" (case-insensitive) is true. */
export function boolQuery(ctx: RequestContext, key: string): boolean {
  const v = (ctx.query.get(key) ?? "").trim().toLowerCase();
  return !["", "0", "no", "false", "none"].includes(v);
}

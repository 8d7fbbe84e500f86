import type { EngineServices } from "../daemon/services.ts";
import { isHtkError } from "../../base/errors/index.ts";
import { chainIds, type DeleteItem, type ImageRecord, type ImageStore, type ImageSummary } from "../images/index.ts";
import { parseFilters } from "../state/index.ts";
import { imageArchiveRoutes } from "./images-archive.ts";
import { imageCreateRoutes } from "./images-create.ts";
import { boolQuery, tagTarget } from "./images-params.ts";
import { imagePushRoutes } from "./images-push.ts";
import { imageSearchRoutes } from "./images-search.ts";
import { RequestRegistries } from "./registry-auth.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";
import { compareApiVersions } from "./version.ts";

/**
 * The image endpoints of API v1.45 (Docker 26's classic image store semantics, see engine/images):
 * list, inspect, history, tag, remove, prune here; pull and import (`images-create.ts`), push
 * (`images-push.ts`), save and load (`images-archive.ts`), search (`images-search.ts`).
 *
 * Image names contain slashes, so the name segment is `{name:.*}` as in Docker's router.
 */
export function imageRoutes(services: EngineServices): Route[] {
  const registries = new RequestRegistries(services.registry);
  const images = services.images;
  return [
    {
      method: "GET",
      pattern: "/images/json",
      query: ["all", "filters", "digests", "shared-size", "manifests"],
      handle(ctx) {
        const filters = parseFilters(ctx.query.get("filters"));
        const list = images.list({ all: boolQuery(ctx.query, "all"), filters });
        const shared = boolQuery(ctx.query, "shared-size") ? sharedSizes(images) : undefined;
        const old = versionLess(ctx.apiVersion, "1.44");
        sendJson(
          ctx.res,
          200,
          list.map((s) => withVersionFields(s, shared, old)),
        );
      },
    },
    {
      method: "GET",
      pattern: "/images/{name:.*}/json",
      query: ["manifests"],
      async handle(ctx) {
        const inspect = await images.inspect(ctx.params["name"] ?? "", ctx.signal);
        let body: Record<string, unknown> = { ...inspect };
        if (versionLess(ctx.apiVersion, "1.45")) {
          // Deprecated in 1.44, gone in 1.45: older clients still get them (from the config).
          const { raw } = await images.config(inspect.Id as ImageRecord["id"], ctx.signal);
          body = {
            ...body,
            Container: typeof raw["container"] === "string" ? raw["container"] : "",
            ContainerConfig: raw["container_config"] ?? inspect.Config,
          };
        }
        if (versionLess(ctx.apiVersion, "1.44")) body = { ...body, VirtualSize: inspect.Size };
        sendJson(ctx.res, 200, body);
      },
    },
    {
      method: "GET",
      pattern: "/images/{name:.*}/history",
      query: ["platform"],
      async handle(ctx) {
        sendJson(ctx.res, 200, await images.history(ctx.params["name"] ?? "", ctx.signal));
      },
    },
    {
      method: "POST",
      pattern: "/images/{name:.*}/tag",
      query: ["repo", "tag"],
      async handle(ctx) {
        // The source first: an unknown image is a 404 whatever the new name (the spec's order).
        const source = images.resolve(ctx.params["name"] ?? "");
        const target = tagTarget(ctx.query.get("repo") ?? "", ctx.query.get("tag") ?? "");
        await images.tag(source.id, target);
        ctx.res.writeHead(201, { "Content-Length": "0" }).end();
      },
    },
    {
      method: "DELETE",
      pattern: "/images/{name:.*}",
      query: ["force", "noprune", "platforms"],
      async handle(ctx) {
        const name = ctx.params["name"] ?? "";
        const items = await images.remove(name, { force: boolQuery(ctx.query, "force"), noprune: boolQuery(ctx.query, "noprune") });
        await dropLayerSnapshots(services, items);
        sendJson(ctx.res, 200, items);
      },
    },
    {
      method: "POST",
      pattern: "/images/prune",
      query: ["filters"],
      async handle(ctx) {
        const report = await images.prune({ filters: parseFilters(ctx.query.get("filters")) });
        await dropLayerSnapshots(services, report.ImagesDeleted ?? []);
        services.state.recordEvent({ Type: "image", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(report.SpaceReclaimed) } } });
        sendJson(ctx.res, 200, report);
      },
    },
    ...imageCreateRoutes(services, registries),
    ...imagePushRoutes(services, registries),
    ...imageArchiveRoutes(services),
    ...imageSearchRoutes(services, registries),
  ];
}

/**
 * Docker deletes the layers no image uses any more ("Deleted: sha256:<chain ID>"): their unpacked
 * snapshots go too, top first. One still in use (a container's root file system on it, a build
 * holding it, a child snapshot) stays: the snapshotter refuses, and the next removal tries again.
 */
async function dropLayerSnapshots(services: EngineServices, items: readonly DeleteItem[]): Promise<void> {
  for (const item of items) {
    if (!("Deleted" in item) || !services.snapshots.has(item.Deleted)) continue;
    try {
      await services.snapshots.remove(item.Deleted);
    } catch (err) {
      if (!isHtkError(err, "HTK-RUNTIME-0203")) services.log.warn({ err, id: item.Deleted }, "removing a layer snapshot failed");
    }
  }
}

/** API-version fields and the shared size (`shared-size=1`) of a list item. */
function withVersionFields(s: ImageSummary, shared: ReadonlyMap<string, number> | undefined, old: boolean): Record<string, unknown> {
  return {
    ...s,
    ...(shared !== undefined ? { SharedSize: shared.get(s.Id) ?? 0 } : {}),
    ...(old ? { VirtualSize: s.Size } : {}),
  };
}

/**
 * Docker's SharedSize: per image, the sizes of its layers that some other image also uses (by chain
 * ID, over every image in the store).
 */
function sharedSizes(images: ImageStore): Map<string, number> {
  const uses = new Map<string, number>();
  const chains = new Map<string, string[]>();
  for (const rec of images.images()) {
    const ids = chainIds(rec.layers.map((l) => l.diffId));
    chains.set(rec.id, ids);
    for (const c of new Set(ids)) uses.set(c, (uses.get(c) ?? 0) + 1);
  }
  const out = new Map<string, number>();
  for (const rec of images.images()) {
    let size = 0;
    (chains.get(rec.id) ?? []).forEach((c, i) => {
      if ((uses.get(c) ?? 0) > 1) size += rec.layers[i]?.contentSize ?? rec.manifests[0]?.layers[i]?.size ?? 0;
    });
    out.set(rec.id, size);
  }
  return out;
}

function versionLess(version: string, than: string): boolean {
  return compareApiVersions(version, than) < 0;
}

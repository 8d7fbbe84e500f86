import { htkError } from "../../base/errors/index.ts";
import { cacheUsage, type CacheUsageRecord } from "../build/cache-usage.ts";
import { chainIds, imageSize, type ImageRecord, type ImageStore, type ImageSummary } from "../images/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import { summaryJson, type Container, type StateStore } from "../state/index.ts";
import { LOCAL_DRIVER, directorySize, volumeDataPath } from "../volumes/index.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";
import { compareApiVersions } from "./version.ts";
import { volumeJson } from "./volumes.ts";

/** What `/system/df` can be asked for (the `type` query parameter, API ≥ 1.42). */
export const DISK_USAGE_TYPES = ["container", "image", "volume", "build-cache"] as const;
export type DiskUsageType = (typeof DISK_USAGE_TYPES)[number];

/** The size of a container's writable layer (`SizeRw`; `SizeRootFs` adds its image's). */
export type ContainerSizer = (c: Container, signal: AbortSignal) => Promise<number>;

/**
 * `SizeRw` as far as the snapshotter can tell: the files in the container's overlay upper directory
 * (Docker's directory.Size). In copy mode the writable tree is a whole copy, which says nothing about
 * the container's own changes, so it counts as 0 there.
 */
export function writableLayerSizer(snapshots: Pick<Snapshotter, "writable">): ContainerSizer {
  return async (c, signal) => {
    const upper = snapshots.writable(c.id)?.upperDir;
    return upper === undefined ? 0 : directorySize(upper, signal);
  };
}

/** `type` values asked for: every kind when absent (or API < 1.42), Docker's 400 for an unknown one. */
export function diskUsageTypes(values: readonly string[], apiVersion: string): ReadonlySet<DiskUsageType> {
  if (values.length === 0 || compareApiVersions(apiVersion, "1.42") < 0) return new Set(DISK_USAGE_TYPES);
  const out = new Set<DiskUsageType>();
  for (const v of values) {
    if (!(DISK_USAGE_TYPES as readonly string[]).includes(v)) throw htkError("HTK-ENGINE-0466", { type: v });
    out.add(v as DiskUsageType);
  }
  return out;
}

/**
 * Docker's image usage figures (classic store): `LayersSize` counts every distinct layer once;
 * an image's `SharedSize` is the size of its layers that another image also has, `Containers` the
 * number of containers made from it.
 */
export function imageUsage(
  records: readonly ImageRecord[],
  summaries: readonly ImageSummary[],
  containerImageIds: readonly string[],
): { layersSize: number; images: ImageSummary[] } {
  const layerSize = new Map<string, number>();
  const users = new Map<string, number>();
  const chainsOf = new Map<string, string[]>();
  for (const rec of records) {
    const chains = chainIds(rec.layers.map((l) => l.diffId));
    chainsOf.set(rec.id, chains);
    chains.forEach((chain, i) => {
      const l = rec.layers[i];
      layerSize.set(chain, l?.contentSize ?? rec.manifests[0]?.layers[i]?.size ?? 0);
      users.set(chain, (users.get(chain) ?? 0) + 1);
    });
  }
  let layersSize = 0;
  for (const s of layerSize.values()) layersSize += s;
  const images = summaries.map((s) => {
    let shared = 0;
    for (const chain of chainsOf.get(s.Id) ?? []) if ((users.get(chain) ?? 0) > 1) shared += layerSize.get(chain) ?? 0;
    return { ...s, SharedSize: shared, Containers: containerImageIds.filter((id) => id === s.Id).length };
  });
  return { layersSize, images };
}

/**
 * BuildKit's usage records as the Engine API's BuildCache: the builder's results, local-context
 * mirrors, cache mounts (engine/build's `cacheUsage` of the data root). Layer snapshots the image
 * store unpacked and no build step produced are the images', not the build cache's, and are left out
 * (Docker's classic store keeps them apart too); a build result that an image also uses is `Shared`.
 */
export function buildCacheJson(records: readonly CacheUsageRecord[], imageChains: ReadonlySet<string>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const r of records) {
    const imageLayer = r.location.kind === "overlay-snapshot" && imageChains.has(r.id);
    if (imageLayer && r.keys.length === 0) continue;
    out.push({
      ID: r.id,
      Parents: r.parent === undefined ? null : [r.parent],
      Type: r.type,
      Description: r.description,
      InUse: r.inUse,
      Shared: imageLayer,
      Size: r.size,
      CreatedAt: r.createdAt.toISOString(),
      LastUsedAt: r.lastUsed.toISOString(),
      UsageCount: r.usageCount,
    });
  }
  return out;
}

/**
 * `GET /system/df` (Docker 26's SystemDataUsage): images with shared sizes and container counts, the
 * containers with their sizes, local volumes without driver options with `UsageData` (Docker's
 * directory.Size and the number of containers using each), and the build cache.
 */
export function systemDfRoutes(
  services: { readonly state: StateStore; readonly images: Pick<ImageStore, "images" | "list">; readonly config: { readonly dataRoot: string } },
  sizer?: ContainerSizer,
): Route[] {
  return [
    {
      method: "GET",
      pattern: "/system/df",
      query: ["type", "verbose"],
      async handle(ctx) {
        const types = diskUsageTypes(ctx.query.getAll("type"), ctx.apiVersion);
        const containers = services.state.containers.all().sort((a, b) => (a.createdNs < b.createdNs ? 1 : a.createdNs > b.createdNs ? -1 : 0));
        const records = services.images.images();
        const body: Record<string, unknown> = {};
        if (types.has("image")) {
          const usage = imageUsage(records, services.images.list(), containers.map((c) => c.imageId));
          body["LayersSize"] = usage.layersSize;
          body["Images"] = usage.images;
        }
        if (types.has("container")) {
          const sizes = new Map<string, number>(records.map((r) => [r.id, imageSize(r)]));
          const list: Array<Record<string, unknown>> = [];
          for (const c of containers) {
            const rw = sizer === undefined ? 0 : await sizer(c, ctx.signal).catch(() => 0);
            list.push({ ...summaryJson(c), SizeRw: rw, SizeRootFs: rw + (sizes.get(c.imageId) ?? 0) });
          }
          body["Containers"] = list;
        }
        if (types.has("volume")) {
          const volumes: Array<Record<string, unknown>> = [];
          for (const v of services.state.volumes.list()) {
            if (v.driver !== LOCAL_DRIVER || Object.keys(v.options).length > 0) continue;
            const size = await directorySize(volumeDataPath(services.config.dataRoot, v.name), ctx.signal).catch(() => -1);
            volumes.push(volumeJson(v, { Size: size, RefCount: services.state.containers.usersOfVolume(v.name).length }));
          }
          body["Volumes"] = volumes;
        }
        if (types.has("build-cache")) {
          const chains = new Set(records.flatMap((r) => chainIds(r.layers.map((l) => l.diffId))));
          body["BuildCache"] = buildCacheJson((await cacheUsage(services.config.dataRoot)).records, chains);
        }
        sendJson(ctx.res, 200, body);
      },
    },
  ];
}

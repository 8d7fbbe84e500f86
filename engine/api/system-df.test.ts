import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import type { CacheUsageRecord } from "../build/cache-usage.ts";
import { chainIds, type ImageRecord, type ImageSummary } from "../images/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import { ensureVolume } from "../volumes/index.ts";
import { buildCacheJson, diskUsageTypes, imageUsage, systemDfRoutes } from "./system-df.ts";
import { errorOf, serveRoutes, type TestApi } from "./test-support.ts";

const d = (n: number): `sha256:${string}` => `sha256:${n.toString(16).padStart(64, "0")}`;

function image(id: number, layers: ReadonlyArray<readonly [number, number]>): ImageRecord {
  return {
    id: d(id),
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d(id), size: 100 },
    manifests: [{ descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: d(id + 1000), size: 200 }, layers: layers.map(([diff]) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d(diff + 2000), size: 1 })) }],
    layers: layers.map(([diff, size]) => ({ diffId: d(diff), contentSize: size })),
    platform: { architecture: "amd64", os: "linux" },
    addedAt: "2024-01-01T00:00:00Z",
  };
}

function summary(rec: ImageRecord, size: number): ImageSummary {
  return { Containers: -1, Created: 0, Id: rec.id, Labels: null, ParentId: "", RepoDigests: [], RepoTags: [], SharedSize: -1, Size: size };
}

describe("disk usage figures", () => {
  it("counts shared layers and containers per image, and every distinct layer once", () => {
    const base = image(1, [[10, 1000]]);
    const app = image(2, [
      [10, 1000],
      [11, 300],
    ]);
    const other = image(3, [[12, 50]]);
    const { layersSize, images } = imageUsage([base, app, other], [summary(base, 1000), summary(app, 1300), summary(other, 50)], [app.id, app.id, other.id]);
    expect(layersSize).toBe(1350);
    expect(images.map((i) => [i.Size, i.SharedSize, i.Containers])).toEqual([
      [1000, 1000, 0],
      [1300, 1000, 2],
      [50, 0, 1],
    ]);
  });

  it("maps build-cache records, leaving out image layers no build made and marking shared ones", () => {
    const rec = (id: string, over: Partial<CacheUsageRecord> = {}): CacheUsageRecord => ({
      id,
      type: "regular",
      size: 10,
      inUse: false,
      reclaimable: true,
      createdAt: new Date("2024-01-01T00:00:00Z"),
      lastUsed: new Date("2024-01-02T00:00:00Z"),
      description: "step",
      usageCount: 1,
      keys: ["k"],
      children: [],
      location: { kind: "overlay-snapshot", dir: "/x", snapshotsRoot: "/s", tree: "/t", exportRecord: "/e" },
      ...over,
    });
    const layerChain = chainIds([d(10)])[0] ?? "";
    const out = buildCacheJson(
      [rec(layerChain, { keys: [] }), rec(d(99), { parent: "p" }), rec(layerChain.replace("sha256:", "x"), {}), rec("mount", { type: "exec.cachemount", keys: [], location: { kind: "dir", dir: "/m" } })],
      new Set([layerChain, d(99)]),
    );
    expect(out.map((r) => [r["ID"], r["Shared"], r["Parents"], r["Type"]])).toEqual([
      [d(99), true, ["p"], "regular"],
      [layerChain.replace("sha256:", "x"), false, null, "regular"],
      ["mount", false, null, "exec.cachemount"],
    ]);
    expect(out[0]).toMatchObject({ CreatedAt: "2024-01-01T00:00:00.000Z", LastUsedAt: "2024-01-02T00:00:00.000Z", UsageCount: 1, InUse: false, Size: 10, Description: "step" });
  });

  it("reads the type parameter as API 1.42 defines it", () => {
    expect([...diskUsageTypes([], "1.45")].sort()).toEqual(["build-cache", "container", "image", "volume"]);
    expect([...diskUsageTypes(["volume", "image"], "1.45")].sort()).toEqual(["image", "volume"]);
    expect([...diskUsageTypes(["volume"], "1.41")]).toHaveLength(4);
    try {
      diskUsageTypes(["bogus"], "1.45");
      expect.unreachable();
    } catch (err) {
      expect(isHtkError(err) ? [err.id, err.plainCause, err.http] : err).toEqual(["HTK-ENGINE-0466", "unknown object type: bogus", 400]);
    }
  });
});

describe("GET /system/df", () => {
  let t: TestStore;
  let api: TestApi;
  beforeEach(async () => {
    t = testStore();
    const images = { images: (): ImageRecord[] => [image(1, [[10, 700]])], list: (): ImageSummary[] => [summary(image(1, [[10, 700]]), 700)] };
    api = await serveRoutes(systemDfRoutes({ state: t.store, images, config: { dataRoot: t.dataRoot } }, async (c) => (c.name === "/sized" ? 42 : 0)));
  });
  afterEach(async () => {
    await api.close();
    t.close();
  });

  it("reports containers with sizes, volumes with usage data and the image figures", async () => {
    const host = { state: t.store, dataRoot: t.dataRoot };
    const v = (await ensureVolume(host, { name: "used" })).volume;
    writeFileSync(join(v.mountpoint, "f"), "12345");
    await ensureVolume(host, { name: "withopts", options: { type: "tmpfs", device: "tmpfs" } });
    const mount = { Type: "volume" as const, Name: "used", Source: v.mountpoint, Destination: "/d", Mode: "z", RW: true, Propagation: "" };
    t.store.containers.create(spec({ name: "sized", imageId: d(1), mounts: [mount] }));
    t.store.containers.create(spec({ name: "other", imageId: d(1) }));
    const r = await api.call("GET", "/system/df");
    const body = r.json as { LayersSize: number; Images: ImageSummary[]; Containers: Array<Record<string, unknown>>; Volumes: Array<Record<string, unknown>>; BuildCache: unknown[] };
    expect(body.LayersSize).toBe(700);
    expect(body.Images.map((i) => [i.Containers, i.SharedSize])).toEqual([[2, 0]]);
    expect(body.Containers.map((c) => [c["Names"], c["SizeRw"], c["SizeRootFs"]])).toEqual([
      [["/other"], 0, 700],
      [["/sized"], 42, 742],
    ]);
    expect(body.Volumes).toEqual([expect.objectContaining({ Name: "used", UsageData: { Size: 5, RefCount: 1 } })]);
    expect(body.BuildCache).toEqual([]);
    expect(Object.keys((await api.call("GET", "/system/df?type=volume")).json as object)).toEqual(["Volumes"]);
    expect(errorOf(await api.call("GET", "/system/df?type=nope"))).toMatchObject({ status: 400, id: "HTK-ENGINE-0466" });
  });
});

import { describe, expect, it } from "vitest";
import { MediaTypes, isForeignLayer, layerCompression } from "./media-types.ts";
import { historyMatchesLayers, parseDescriptor, parseImageConfig, parseIndex, parseManifest, parseManifestDocument } from "./parse.ts";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const desc = (mediaType: string, digest: string, size = 10): Record<string, unknown> => ({ mediaType, digest, size });

const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaTypes.dockerManifest,
  config: desc(MediaTypes.dockerConfig, D1),
  layers: [desc(MediaTypes.dockerLayerGzip, D2, 100)],
};

describe("manifest and index parsing", () => {
  it("parses a Docker schema 2 manifest and an OCI manifest without mediaType", () => {
    const r = parseManifest(JSON.stringify(dockerManifest));
    expect(r.ok && r.value.layers[0]?.size).toBe(100);
    const oci = parseManifest(JSON.stringify({ schemaVersion: 2, config: desc(MediaTypes.ociConfig, D1), layers: [], annotations: { a: "b" } }));
    expect(oci).toEqual({ ok: true, value: { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: desc(MediaTypes.ociConfig, D1), layers: [], annotations: { a: "b" } } });
  });

  it("parses an index with platforms, keeping os.version and dropping empty variants", () => {
    const idx = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifestList,
      manifests: [
        { ...desc(MediaTypes.dockerManifest, D1), platform: { architecture: "amd64", os: "linux", variant: "" } },
        { ...desc(MediaTypes.dockerManifest, D2), platform: { architecture: "amd64", os: "windows", "os.version": "10.0.17763.1" } },
      ],
    };
    const r = parseIndex(JSON.stringify(idx), MediaTypes.dockerManifestList);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.manifests[0]?.platform).toEqual({ architecture: "amd64", os: "linux" });
    expect(r.value.manifests[1]?.platform?.["os.version"]).toBe("10.0.17763.1");
  });

  it.each([
    ["not JSON", "{", /not valid JSON/],
    ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
    ["an array", "[]", /not a JSON object/],
    ["schema 1", JSON.stringify({ schemaVersion: 1 }), /schema 1/],
    ["wrong schema", JSON.stringify({ ...dockerManifest, schemaVersion: 3 }), /schemaVersion is 3/],
    ["no layers", JSON.stringify({ ...dockerManifest, layers: undefined }), /layers is missing/],
    ["bad digest", JSON.stringify({ ...dockerManifest, config: desc(MediaTypes.dockerConfig, "sha256:xyz") }), /not a valid sha256 digest/],
    ["sha512", JSON.stringify({ ...dockerManifest, config: desc(MediaTypes.dockerConfig, `sha512:${"a".repeat(128)}`) }), /unsupported digest algorithm/],
    ["negative size", JSON.stringify({ ...dockerManifest, config: desc(MediaTypes.dockerConfig, D1, -1) }), /non-negative/],
    ["fractional size", JSON.stringify({ ...dockerManifest, config: desc(MediaTypes.dockerConfig, D1, 1.5) }), /non-negative/],
    ["no media type", JSON.stringify({ ...dockerManifest, layers: [{ digest: D1, size: 1 }] }), /mediaType is missing/],
    ["index type", JSON.stringify({ ...dockerManifest, mediaType: MediaTypes.ociIndex }), /not an image manifest type/],
    ["manifests field", JSON.stringify({ ...dockerManifest, manifests: [] }), /only an index/],
  ])("refuses %s without throwing", (_name, bytes, msg) => {
    const r = parseManifest(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(msg);
  });

  it("refuses a served type that contradicts the document", () => {
    const r = parseManifest(JSON.stringify(dockerManifest), MediaTypes.ociManifest);
    expect(r.ok).toBe(false);
  });

  it("tells manifests from indexes by Content-Type, mediaType or shape", () => {
    const m = parseManifestDocument(JSON.stringify(dockerManifest), `${MediaTypes.dockerManifest}; charset=utf-8`);
    expect(m.ok && m.value.kind).toBe("manifest");
    const i = parseManifestDocument(JSON.stringify({ schemaVersion: 2, manifests: [] }), "application/json");
    expect(i.ok && i.value.kind).toBe("index");
    const s1 = parseManifestDocument(JSON.stringify({ schemaVersion: 1, name: "x" }), MediaTypes.dockerManifestSchema1Signed);
    expect(s1).toMatchObject({ ok: false, reason: "unsupported-media-type" });
    const other = parseManifestDocument("{}", "application/vnd.example+json");
    expect(other).toMatchObject({ ok: false, reason: "unsupported-media-type", mediaType: "application/vnd.example+json" });
    const bad = parseManifestDocument("nope", MediaTypes.ociManifest);
    expect(bad).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("parses descriptors from values", () => {
    expect(parseDescriptor(desc("x/y", D1)).ok).toBe(true);
    expect(parseDescriptor(null).ok).toBe(false);
    expect(parseDescriptor({ ...desc("x/y", D1), urls: [1] }).ok).toBe(false);
  });
});

describe("image config parsing", () => {
  const full = {
    created: "2024-01-01T00:00:00Z",
    architecture: "arm64",
    variant: "v8",
    os: "linux",
    config: {
      User: "1000:1000",
      ExposedPorts: { "80/tcp": {} },
      Env: ["PATH=/bin"],
      Entrypoint: ["/bin/sh", "-c"],
      Cmd: null,
      Volumes: { "/data": {} },
      WorkingDir: "/app",
      Labels: { a: "b" },
      StopSignal: "SIGTERM",
      Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 30_000_000_000, Retries: 3 },
      OnBuild: ["RUN true"],
      Shell: ["/bin/bash", "-c"],
      Unknown: "dropped",
    },
    rootfs: { type: "layers", diff_ids: [D1, D2] },
    history: [{ created_by: "ADD x /" }, { created_by: "ENV a=b", empty_layer: true }, { created_by: "RUN y" }],
  };

  it("keeps every Docker config field, including Cmd: null", () => {
    const r = parseImageConfig(JSON.stringify(full));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { Unknown: _dropped, ...expected } = full.config;
    expect(r.value.config).toEqual(expected);
    expect(r.value.rootfs.diff_ids).toEqual([D1, D2]);
    expect(r.value.history?.length).toBe(3);
  });

  it("accepts a history that disagrees with the layers (as Docker does), and says so", () => {
    const r = parseImageConfig(JSON.stringify({ ...full, history: [{ created_by: "x" }] }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(historyMatchesLayers(r.value)).toBe(false);
    const good = parseImageConfig(JSON.stringify(full));
    expect(good.ok && historyMatchesLayers(good.value)).toBe(true);
  });

  it("accepts diff_ids: null (an image without layers)", () => {
    const r = parseImageConfig(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: null } }));
    expect(r.ok && r.value.rootfs.diff_ids).toEqual([]);
  });

  it.each([
    ["no rootfs", { ...full, rootfs: undefined }, /rootfs is not a JSON object/],
    ["wrong rootfs type", { ...full, rootfs: { type: "x", diff_ids: [] } }, /expected "layers"/],
    ["Env not strings", { ...full, config: { Env: [1] } }, /Env is not an array of strings/],
    ["no os", { ...full, os: undefined }, /config.os is missing/],
    ["bad Retries", { ...full, config: { Healthcheck: { Retries: "3" } } }, /Retries is not an integer/],
  ])("refuses %s", (_name, value, msg) => {
    const r = parseImageConfig(JSON.stringify(value));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(msg);
  });
});

describe("layer media types", () => {
  it("knows compression and foreign layers", () => {
    expect(layerCompression(MediaTypes.dockerLayerGzip)).toBe("gzip");
    expect(layerCompression(MediaTypes.ociLayerZstd)).toBe("zstd");
    expect(layerCompression(MediaTypes.ociLayer)).toBe("none");
    expect(layerCompression(MediaTypes.dockerConfig)).toBeUndefined();
    expect(isForeignLayer(MediaTypes.dockerForeignLayerGzip)).toBe(true);
    expect(isForeignLayer(MediaTypes.ociLayerGzip)).toBe(false);
  });
});

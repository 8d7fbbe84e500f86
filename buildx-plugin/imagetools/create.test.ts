import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import type { Digest, OciDescriptor, Reference } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { combine, filterPlatforms, parseAnnotations, parsePlatformFilters, parseSource } from "./create.ts";
import { executeGoTemplate, parseGoTemplate } from "./go-template.ts";
import { SpoolStore } from "./spool-store.ts";

const sha = (b: Buffer | string): Digest => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** A registry of documents and blobs in memory, answering the three calls combine makes. */
function fakeRegistry(docs: Map<string, { bytes: Buffer; mediaType: string }>, blobs: Map<string, Buffer>): RegistryClient {
  return {
    manifestDocument: (ref: Reference) => {
      const d = docs.get(ref.digest ?? "");
      if (d === undefined) return Promise.reject(new Error(`no ${ref.digest}`));
      return Promise.resolve({ reference: ref, descriptor: { mediaType: d.mediaType, digest: sha(d.bytes), size: d.bytes.length }, bytes: d.bytes });
    },
    fetchBlob: async (_ref: Reference, d: OciDescriptor, store: SpoolStore) => {
      await store.put(blobs.get(d.digest) as Buffer, { expected: { digest: d.digest, size: d.size } });
      return { fetched: true };
    },
  } as unknown as RegistryClient;
}

function image(arch: string): { manifest: Buffer; config: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length }, layers: [] }));
  return { manifest, config };
}

describe("imagetools create's Combine", () => {
  let store: SpoolStore | undefined;
  afterEach(async () => store?.close());
  const repo: Reference = { domain: "r.example", path: "app", tag: "latest" };

  it("makes an OCI index of two manifests with platforms from their configs, in Go's JSON layout, with index annotations", async () => {
    store = await SpoolStore.open();
    const a = image("amd64");
    const b = image("arm64");
    const docs = new Map([a, b].map((x) => [sha(x.manifest), { bytes: x.manifest, mediaType: OCI_MANIFEST }]));
    const blobs = new Map([a, b].map((x) => [sha(x.config), x.config]));
    const srcs = [a, b].map((x) => ({ desc: { digest: sha(x.manifest) }, ref: repo }));
    const r = await combine(fakeRegistry(docs, blobs), store, srcs, parseAnnotations(["index:org.opencontainers.image.title=<t>"]), true, AbortSignal.timeout(10_000));
    const text = r.bytes.toString("utf8");
    expect(text).toBe(
      [
        "{",
        '  "schemaVersion": 2,',
        '  "mediaType": "application/vnd.oci.image.index.v1+json",',
        '  "manifests": [',
        "    {",
        `      "mediaType": "${OCI_MANIFEST}",`,
        `      "digest": "${sha(a.manifest)}",`,
        `      "size": ${a.manifest.length},`,
        '      "platform": {',
        '        "architecture": "amd64",',
        '        "os": "linux"',
        "      }",
        "    },",
        "    {",
        `      "mediaType": "${OCI_MANIFEST}",`,
        `      "digest": "${sha(b.manifest)}",`,
        `      "size": ${b.manifest.length},`,
        '      "platform": {',
        '        "architecture": "arm64",',
        '        "os": "linux"',
        "      }",
        "    }",
        "  ],",
        '  "annotations": {',
        '    "org.opencontainers.image.title": "\\u003ct\\u003e"',
        "  }",
        "}",
      ].join("\n"),
    );
    expect(r.descriptor).toEqual({ mediaType: "application/vnd.oci.image.index.v1+json", digest: sha(r.bytes), size: r.bytes.length });
  });

  it("refuses schema 1 manifests and annotations without a type on an OCI index", async () => {
    store = await SpoolStore.open();
    const s1 = Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [{ blobSum: "x" }] }));
    const docs = new Map([[sha(s1), { bytes: s1, mediaType: "application/vnd.docker.distribution.manifest.v1+json" }]]);
    const err = await combine(fakeRegistry(docs, new Map()), store, [{ desc: { digest: sha(s1) }, ref: repo }], [], true, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-BUILDX-0106")).toBe(true);
    const a = image("amd64");
    const docs2 = new Map([[sha(a.manifest), { bytes: a.manifest, mediaType: OCI_MANIFEST }]]);
    const blobs = new Map([[sha(a.config), a.config]]);
    const err2 = await combine(fakeRegistry(docs2, blobs), store, [{ desc: { digest: sha(a.manifest) }, ref: repo }], parseAnnotations(["k=v"]), true, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect(isHtkError(err2, "HTK-BUILDX-0107")).toBe(true);
    expect((err2 as Error).message).toContain('"" annotations are not supported yet');
  });

  it("parses sources as buildx does: digests, references, descriptor JSON", () => {
    expect(parseSource(`sha256:${"a".repeat(64)}`)).toEqual({ desc: { digest: `sha256:${"a".repeat(64)}` } });
    expect(parseSource("busybox").ref).toMatchObject({ domain: "docker.io", path: "library/busybox" });
    const d = parseSource(JSON.stringify({ mediaType: OCI_MANIFEST, digest: `sha256:${"b".repeat(64)}`, size: 3, platform: { os: "linux", architecture: "arm", variant: "v7" } }));
    expect(d.desc.platform).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(() => parseSource("sha256:xyz")).toThrow(/invalid checksum digest length/);
    expect(parseAnnotations(["manifest-descriptor[linux/amd64],index:k=v=w"])).toEqual([
      { type: "manifest-descriptor", platform: "linux/amd64", key: "k", value: "v=w" },
      { type: "index", key: "k", value: "v=w" },
    ]);
  });

  it("runs the template forms --format takes", () => {
    const data = { name: "n", manifest: { digest: "d", mediaType: "m" }, image: { architecture: "amd64", "os.version": "10", config: { Env: ["A=1", "B=2"] } } };
    expect(executeGoTemplate(parseGoTemplate("{{.Name}} {{.Manifest.MediaType}} {{.Image.OSVersion}} {{.Image.Config.Env}}"), data)).toBe("n m 10 [A=1 B=2]");
    expect(executeGoTemplate(parseGoTemplate("{{json .Manifest}}"), data)).toBe('{\n  "digest": "d",\n  "mediaType": "m"\n}');
  });
});

describe("imagetools create --platform (buildx's filterPlatforms)", () => {
  it("parses platforms as containerd does, comma lists included, normalised", () => {
    expect(parsePlatformFilters(["linux/arm64/v8,amd64", "linux/arm"])).toEqual([
      { os: "linux", architecture: "arm64" },
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ]);
    expect(() => parsePlatformFilters(["linux/a/b/c"])).toThrow(/HTK-BUILDX-0160/);
  });

  it("refuses to filter a single manifest without a platform (HTK-BUILDX-0163), keeps one that matches", () => {
    const bytes = Buffer.from("{}");
    const descriptor = { mediaType: OCI_MANIFEST, digest: sha(bytes), size: 2 };
    expect(() => filterPlatforms({ bytes, descriptor, sources: new Map() }, parsePlatformFilters(["linux/amd64"]))).toThrow(/HTK-BUILDX-0163/);
    const withPlatform = { ...descriptor, platform: { os: "linux", architecture: "amd64" } };
    expect(filterPlatforms({ bytes, descriptor: withPlatform, sources: new Map() }, parsePlatformFilters(["linux/amd64"])).combined.bytes).toBe(bytes);
  });
});

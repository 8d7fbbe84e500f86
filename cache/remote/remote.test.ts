import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { cacheKeyOf, contentKeyPart, inputKeyPart } from "../../llb/index.ts";
import type { Digest } from "../../base/oci/digest.ts";
import type { Manifest, OciDescriptor } from "../../base/oci/types.ts";
import {
  CACHE_CONFIG_MEDIA_TYPE,
  EMPTY_LAYER_DIFF_ID,
  ImportedCache,
  LocalLayout,
  UNCOMPRESSED_ANNOTATION,
  buildCacheConfig,
  cacheManifest,
  cacheMountsArtifact,
  cacheMountsOf,
  cacheMountsTag,
  computeKeys,
  configDocument,
  encodeCacheConfig,
  inlineCacheOf,
  inlineCacheValue,
  parseCacheConfig,
  parseCacheFrom,
  parseCacheTo,
  readCacheRoot,
  type CacheConfig,
  type ExportLayer,
  type ExportRecord,
} from "./index.ts";

const sha = (s: string): Digest => `sha256:${createHash("sha256").update(s).digest("hex")}`;
const layer = (name: string, mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"): ExportLayer => ({ descriptor: { mediaType, digest: sha(`blob ${name}`), size: name.length + 10 }, diffId: sha(`tar ${name}`) });
const T = "2024-05-06T07:08:09.123Z";

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "htk-remote-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("did not throw");
}

describe("--cache-to / --cache-from options", () => {
  it("reads buildx's forms with BuildKit's defaults", () => {
    expect(parseCacheTo("type=registry,ref=r.io/app:cache")).toEqual({ type: "registry", ref: "r.io/app:cache", mode: "min", layout: "image-manifest", oci: true, compression: "gzip", ignoreError: false });
    expect(parseCacheTo("type=registry,ref=r.io/app:cache,mode=max,image-manifest=false,oci-mediatypes=false,compression=uncompressed,ignore-error=true")).toEqual({
      type: "registry",
      ref: "r.io/app:cache",
      mode: "max",
      layout: "index",
      oci: false,
      compression: "uncompressed",
      ignoreError: true,
    });
    // Without OCI media types the index layout is the default (BuildKit's rule).
    expect(parseCacheTo("type=local,dest=/c,oci-mediatypes=false")).toMatchObject({ type: "local", dest: "/c", tag: "latest", layout: "index", oci: false });
    expect(parseCacheTo("type=inline")).toEqual({ type: "inline" });
    expect(parseCacheTo("r.io/app:cache")).toMatchObject({ type: "registry", ref: "r.io/app:cache" });
    expect(parseCacheTo('type=local,"dest=/a,b"')).toMatchObject({ dest: "/a,b" });
    expect(parseCacheFrom("r.io/app:1")).toEqual({ type: "registry", ref: "r.io/app:1", ignoreError: false });
    expect(parseCacheFrom("type=local,src=/c,tag=v2,ignore-error=1")).toEqual({ type: "local", src: "/c", tag: "v2", ignoreError: true });
    expect(parseCacheTo("type=registry,ref=a,cache-mounts=true")).toMatchObject({ cacheMounts: "all" });
    expect(parseCacheTo("type=local,dest=d,cache-mounts=go-build;npm")).toMatchObject({ cacheMounts: ["go-build", "npm"] });
    expect(parseCacheTo("type=registry,ref=a,cache-mounts=false")).not.toHaveProperty("cacheMounts");
    // The string written for --cache-to is accepted by --cache-from.
    expect(parseCacheFrom("type=registry,ref=r.io/a:c,mode=max,compression-level=3")).toMatchObject({ type: "registry", ref: "r.io/a:c" });
  });

  it("refuses what it cannot do, saying why (HTK-CACHE-0200, HTK-CACHE-0201)", () => {
    const cases: [() => unknown, string, string][] = [
      [() => parseCacheTo("type=registry,ref=a,mdoe=max"), "HTK-CACHE-0200", 'did you mean "mode"'],
      [() => parseCacheTo("type=registry,ref=a,mode=all"), "HTK-CACHE-0200", 'mode "all" is not min or max'],
      [() => parseCacheTo("type=registry,ref=a,image-manifest=true,oci-mediatypes=false"), "HTK-CACHE-0200", "needs OCI media types"],
      [() => parseCacheTo("type=registry,ref=a,compression=zstd"), "HTK-CACHE-0200", "zstd and estargz are not supported yet"],
      [() => parseCacheTo("type=registry"), "HTK-CACHE-0200", "needs ref=REFERENCE"],
      [() => parseCacheTo("type=local"), "HTK-CACHE-0200", "needs dest=DIRECTORY"],
      [() => parseCacheTo("type=inline,mode=max"), "HTK-CACHE-0200", "mode=min"],
      [() => parseCacheTo("type=registry,ref=a,ignore-error=maybe"), "HTK-CACHE-0200", 'ignore-error="maybe" is not true or false'],
      [() => parseCacheTo("type=regsitry,ref=a"), "HTK-CACHE-0200", 'did you mean "registry"'],
      [() => parseCacheTo("type=registry,ref=a,cache-mounts=;"), "HTK-CACHE-0200", "cache-mounts= needs"],
      [() => parseCacheFrom("type=inline"), "HTK-CACHE-0200", "--cache-from IMAGE"],
      [() => parseCacheFrom("type=local,src=/c,digest=abc"), "HTK-CACHE-0200", "not a sha256 digest"],
      [() => parseCacheTo("type=gha"), "HTK-CACHE-0201", 'type "gha"'],
      [() => parseCacheFrom("type=s3,bucket=x"), "HTK-CACHE-0201", 'type "s3"'],
    ];
    for (const [fn, id, text] of cases) {
      const err = thrown(fn);
      expect(isHtkError(err) ? err.id : err).toBe(id);
      expect(isHtkError(err) ? err.message : "").toContain(text);
    }
  });
});

describe("cache config", () => {
  it("is written as BuildKit's Go encoder writes it: field order, omitempty, escaping", () => {
    const a = sha("a");
    const b = sha("b");
    const config: CacheConfig = {
      layers: [
        { blob: a, parent: -1 },
        { blob: b, parent: 0 },
      ],
      records: [
        { digest: sha("root"), inputs: [], results: [{ layer: 0, createdAt: T }] },
        { digest: sha("op"), inputs: [[{ link: 0, selector: "/src<1>&" }], [{ link: 0 }]], results: [{ layer: 1, createdAt: T }] },
        { digest: sha("bare"), inputs: [[{ link: 1 }]], results: [] },
      ],
    };
    expect(new TextDecoder().decode(encodeCacheConfig(config))).toBe(
      `{"layers":[{"blob":"${a}","parent":-1},{"blob":"${b}"}],"records":[` +
        `{"layers":[{"layer":0,"createdAt":"${T}"}],"digest":"${sha("root")}"},` +
        `{"layers":[{"layer":1,"createdAt":"${T}"}],"digest":"${sha("op")}","inputs":[[{"selector":"/src\\u003c1\\u003e\\u0026","link":0}],[{"link":0}]]},` +
        `{"digest":"${sha("bare")}","inputs":[[{"link":1}]]}]}`,
    );
    const back = parseCacheConfig(encodeCacheConfig(config));
    expect(back).toEqual({ ok: true, value: config });
    expect(encodeCacheConfig({ layers: [], records: [] })).toEqual(new TextEncoder().encode("{}"));
  });

  it("reads what BuildKit writes and refuses what no index can mean", () => {
    // BuildKit ≥ 0.12 layer annotations and chains are read (the latter kept, unused).
    const ok = parseCacheConfig(`{"layers":[{"blob":"${sha("a")}","parent":-1,"annotations":{"diffID":"${sha("d")}","size":3}}],"records":[{"digest":"${sha("r")}","layers":[{"layer":0}],"chains":[{"layers":[0]}]}]}`);
    expect(ok.ok && ok.value.layers[0]?.annotations?.diffID).toBe(sha("d"));
    expect(ok.ok && ok.value.records[0]?.results[0]?.createdAt).toBe("0001-01-01T00:00:00Z");
    for (const [text, error] of [
      ["[]", "not a JSON object"],
      [`{"layers":[{"blob":"${sha("a")}","parent":3}]}`, "is not a layer index"],
      [`{"layers":[{"blob":"nope","parent":-1}]}`, "is not a sha256 digest"],
      [`{"records":[{"digest":"${sha("r")}","inputs":[[{"link":7}]]}]}`, "is not a record index"],
      [`{"records":[{"digest":"${sha("r")}","layers":[{"layer":0}]}]}`, "is not a layer index"],
      ["{", "JSON"],
    ] as const) {
      const r = parseCacheConfig(text);
      expect(r.ok).toBe(false);
      expect(r.ok ? "" : r.error).toContain(error);
    }
  });

  it("shares layers between results with a common prefix and is the same whatever the record order", () => {
    const base = layer("base");
    const run = layer("run");
    const other = layer("other");
    const records: ExportRecord[] = [
      { id: "from", digest: sha("from"), inputs: [], result: { chain: [base], createdAt: T } },
      { id: "run", digest: sha("run-op"), inputs: [[{ record: "from" }]], result: { chain: [base, run], createdAt: T } },
      { id: "other", digest: sha("other-op"), inputs: [[{ record: "from", selector: "/x" }]], result: { chain: [base, other], createdAt: T } },
      { id: "keyonly", digest: sha("key-op"), inputs: [[{ record: "run" }, { record: "other" }]] },
    ];
    const one = buildCacheConfig(records);
    const two = buildCacheConfig([...records].reverse());
    expect(encodeCacheConfig(two.config)).toEqual(encodeCacheConfig(one.config));
    expect(one.config.layers).toHaveLength(3);
    expect(one.config.layers[0]).toEqual({ blob: base.descriptor.digest, parent: -1 });
    expect(one.config.layers.slice(1).every((l) => l.parent === 0)).toBe(true);
    expect(one.blobs.map((b) => b.annotations?.[UNCOMPRESSED_ANNOTATION])).toEqual(expect.arrayContaining([base.diffId, run.diffId, other.diffId]));
    const keyonly = one.config.records.find((r) => r.digest === sha("key-op"));
    expect(keyonly?.results).toEqual([]);
    expect(keyonly?.inputs[0]).toHaveLength(2);
  });
});

describe("keys of imported records", () => {
  it("are the solver's keys: roots by digest, steps by op digest and linked keys, content slots by checksum", () => {
    const from = sha("from-key");
    const content = sha("content-checksum");
    const op = sha("copy-op");
    const records = [
      { digest: from, inputs: [] },
      // COPY . / (content key): base image + context checksum.
      { digest: op, inputs: [[{ link: 0 }], [{ link: 0, selector: content }]] },
      // The same COPY's fast key: base image + the context's key with the path selector.
      { digest: op, inputs: [[{ link: 0 }], [{ link: 0, selector: "/" }]] },
      // RUN after it, linked to both keys of the COPY.
      { digest: sha("run-op"), inputs: [[{ link: 1 }, { link: 2 }]] },
    ];
    const { keys, canonical } = computeKeys([0, 1, 2, 3], (i) => records[i] as (typeof records)[number]);
    const slow = cacheKeyOf(op, [inputKeyPart(from, 0), contentKeyPart(content)]);
    const fast = cacheKeyOf(op, [inputKeyPart(from, 0), inputKeyPart(from, 0, "/")]);
    expect(keys.get(0)).toEqual([from]);
    expect(keys.get(1)).toEqual([slow]);
    expect(keys.get(2)).toEqual([fast]);
    expect(canonical.get(2)).toBe(1);
    // Canonical first: the RUN's primary key is made of the COPY's content key.
    expect(keys.get(3)).toEqual([cacheKeyOf(sha("run-op"), [inputKeyPart(slow, 0)]), cacheKeyOf(sha("run-op"), [inputKeyPart(fast, 0)])]);
  });

  it("answer look-ups with the result's chain, the fast key with its content key; records without results are not hits", () => {
    const base = layer("base");
    const copied = layer("copied");
    const records: ExportRecord[] = [
      { id: "from", digest: sha("from"), inputs: [], result: { chain: [base], createdAt: T } },
      { id: "slow", digest: sha("copy"), inputs: [[{ record: "from" }], [{ record: "ctx", selector: sha("sum") }]], result: { chain: [base, copied], createdAt: T } },
      { id: "fast", digest: sha("copy"), inputs: [[{ record: "from" }], [{ record: "ctx", selector: "/" }]], result: { chain: [base, copied], createdAt: T } },
      { id: "ctx", digest: sha("context"), inputs: [] },
    ];
    const { config, blobs } = buildCacheConfig(records);
    const cache = ImportedCache.from(config, new Map(blobs.map((b) => [b.digest, b])));
    const slowKey = cacheKeyOf(sha("copy"), [inputKeyPart(sha("from"), 0), contentKeyPart(sha("sum"))]);
    const fastKey = cacheKeyOf(sha("copy"), [inputKeyPart(sha("from"), 0), inputKeyPart(sha("context"), 0, "/")]);
    expect(cache.lookup(slowKey)?.result.chain.map((l) => [l.descriptor.digest, l.diffId])).toEqual([
      [base.descriptor.digest, base.diffId],
      [copied.descriptor.digest, copied.diffId],
    ]);
    expect(cache.lookup(slowKey)?.canonical).toBeUndefined();
    expect(cache.lookup(fastKey)?.canonical).toBe(slowKey);
    expect(cache.lookup(sha("context"))).toBeUndefined();
    expect(cache.size).toBe(3);
    // A blob the artifact does not list makes the results above it unusable.
    const partial = ImportedCache.from(config, new Map(blobs.filter((b) => b.digest !== copied.descriptor.digest).map((b) => [b.digest, b])));
    expect(partial.lookup(slowKey)).toBeUndefined();
    expect(partial.lookup(sha("from"))).toBeDefined();
  });
});

describe("layouts", () => {
  const blobs = [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha("l"), size: 5, annotations: { [UNCOMPRESSED_ANNOTATION]: sha("t") } }];
  const config = configDocument(new TextEncoder().encode("{}"));

  it("image-manifest: an OCI image manifest whose config is the cache config", () => {
    const m = cacheManifest(config.descriptor, blobs, { layout: "image-manifest", oci: true });
    expect(new TextDecoder().decode(m.bytes)).toBe(
      `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"${CACHE_CONFIG_MEDIA_TYPE}","digest":"${config.descriptor.digest}","size":2},` +
        `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${sha("l")}","size":5,"annotations":{"containerd.io/uncompressed":"${sha("t")}"}}]}`,
    );
    expect(m.descriptor).toEqual({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha(new TextDecoder().decode(m.bytes)), size: m.bytes.byteLength });
    const root = readCacheRoot(m.bytes, m.descriptor.mediaType);
    expect(root.ok && root.value.kind === "cache" && root.value.layout).toBe("image-manifest");
  });

  it("index: the blobs, then the cache config; a Docker manifest list with Docker layer types", () => {
    const oci = cacheManifest(config.descriptor, blobs, { layout: "index", oci: true });
    const doc = JSON.parse(new TextDecoder().decode(oci.bytes)) as { mediaType: string; manifests: OciDescriptor[] };
    expect(doc.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(doc.manifests.map((d) => d.mediaType)).toEqual(["application/vnd.oci.image.layer.v1.tar+gzip", CACHE_CONFIG_MEDIA_TYPE]);
    const docker = cacheManifest(config.descriptor, [...blobs, { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha("p"), size: 1 }], { layout: "index", oci: false });
    const list = JSON.parse(new TextDecoder().decode(docker.bytes)) as { mediaType: string; manifests: OciDescriptor[] };
    expect(list.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(list.manifests.map((d) => d.mediaType)).toEqual(["application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar", CACHE_CONFIG_MEDIA_TYPE]);
    const root = readCacheRoot(docker.bytes, docker.descriptor.mediaType);
    if (!root.ok || root.value.kind !== "cache") throw new Error("not read as a cache");
    expect(root.value.layout).toBe("index");
    expect(root.value.config.digest).toBe(config.descriptor.digest);
    expect([...root.value.blobs.keys()]).toEqual([sha("l"), sha("p")]);
  });

  it("tells images (inline candidates) from caches", () => {
    const image = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha("c"), size: 1 }, layers: [] });
    const r = readCacheRoot(new TextEncoder().encode(image), undefined);
    expect(r.ok && r.value.kind).toBe("image");
    expect(readCacheRoot(new TextEncoder().encode('{"schemaVersion":1}'), undefined).ok).toBe(false);
  });
});

describe("inline cache", () => {
  it("indexes results by the image's layers, skips empty layers, and imports back", () => {
    const base = layer("base");
    const empty: ExportLayer = { descriptor: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha("empty gz"), size: 32 }, diffId: EMPTY_LAYER_DIFF_ID };
    const top = layer("top");
    const elsewhere = layer("other stage");
    const records: ExportRecord[] = [
      { id: "from", digest: sha("from"), inputs: [], result: { chain: [base], createdAt: T } },
      { id: "noop", digest: sha("noop-op"), inputs: [[{ record: "from" }]], result: { chain: [base, empty], createdAt: T } },
      { id: "top", digest: sha("top-op"), inputs: [[{ record: "noop" }]], result: { chain: [base, empty, top], createdAt: T } },
      { id: "stage", digest: sha("stage-op"), inputs: [[{ record: "from" }]], result: { chain: [base, elsewhere], createdAt: T } },
    ];
    const imageLayers = [base.descriptor, top.descriptor];
    const value = inlineCacheValue(records, imageLayers.map((l) => l.digest));
    expect(value).toBeDefined();
    const manifest: Manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha("c"), size: 1 }, layers: imageLayers };
    const imageConfig = { rootfs: { type: "layers", diff_ids: [base.diffId, top.diffId] }, "moby.buildkit.cache.v0": value };
    const parsed = inlineCacheOf(imageConfig, manifest);
    if (!parsed.ok || parsed.value === undefined) throw new Error("no inline cache");
    const results = parsed.value.config.records.map((r) => r.results.map((x) => x.layer));
    expect(results.flat().sort()).toEqual([0, 0, 1]);
    const cache = ImportedCache.from(parsed.value.config, parsed.value.blobs);
    const topKey = cacheKeyOf(sha("top-op"), [inputKeyPart(cacheKeyOf(sha("noop-op"), [inputKeyPart(sha("from"), 0)]), 0)]);
    expect(cache.lookup(topKey)?.result.chain.map((l) => l.diffId)).toEqual([base.diffId, top.diffId]);
    expect(cache.lookup(cacheKeyOf(sha("stage-op"), [inputKeyPart(sha("from"), 0)]))).toBeUndefined();
    expect(inlineCacheOf({ rootfs: { diff_ids: [] } }, manifest)).toEqual({ ok: true, value: undefined });
    expect(inlineCacheOf({ rootfs: { diff_ids: [] }, "moby.buildkit.cache.v0": value }, manifest).ok).toBe(false);
  });
});

describe("local cache directory", () => {
  it("writes verified blobs, names the root by tag, and drops what no tag reaches", async () => {
    const dir = tmp();
    const layout = new LocalLayout(dir);
    const signal = new AbortController().signal;
    const write = async (text: string, mediaType = "application/octet-stream"): Promise<OciDescriptor> => {
      const d = { mediaType, digest: sha(text), size: text.length };
      await layout.writeBlob(d, new TextEncoder().encode(text), signal);
      return d;
    };
    await expect(layout.writeBlob({ mediaType: "x", digest: sha("right"), size: 5 }, new TextEncoder().encode("wrong"), signal)).rejects.toThrow(/came out as/);
    const l1 = await write("layer one");
    const l2 = await write("layer two");
    const cfg = await write("{}", CACHE_CONFIG_MEDIA_TYPE);
    const m1 = cacheManifest(cfg, [l1, l2], { layout: "image-manifest", oci: true });
    await layout.writeBlob(m1.descriptor, m1.bytes, signal);
    await layout.tag(m1.descriptor, "latest");
    expect((await layout.resolve({ tag: "latest" }))?.digest).toBe(m1.descriptor.digest);
    expect((await layout.resolve({ tag: "latest", digest: m1.descriptor.digest }))?.digest).toBe(m1.descriptor.digest);
    expect(await layout.resolve({ tag: "other" })).toBeUndefined();
    writeFileSync(join(dir, "blobs", "sha256", ".tmp-crashed"), "x");
    const m2 = cacheManifest(cfg, [l1], { layout: "index", oci: true });
    await layout.writeBlob(m2.descriptor, m2.bytes, signal);
    await layout.tag(m2.descriptor, "latest");
    const left = readdirSync(join(dir, "blobs", "sha256")).sort();
    expect(left).toEqual([m2.descriptor.digest, l1.digest, cfg.digest].map((d) => d.slice(7)).sort());
    expect(await layout.entries()).toHaveLength(1);
  });

  it("reads only real files under real directories (a synced client directory may hold links to the engine host's files): links are refused before they are read", async () => {
    const signal = new AbortController().signal;
    const host = readFileSync("/etc/hostname");
    const hostDigest = `sha256:${createHash("sha256").update(host).digest("hex")}` as Digest;
    const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: hostDigest, size: host.length };
    const drain = async (it: AsyncIterable<Uint8Array>): Promise<void> => {
      for await (const chunk of it) void chunk;
    };
    // A blob that is a link.
    const a = tmp();
    mkdirSync(join(a, "blobs", "sha256"), { recursive: true });
    symlinkSync("/etc/hostname", join(a, "blobs", "sha256", hostDigest.slice(7)));
    const la = new LocalLayout(a);
    await expect(la.readDocument(d)).rejects.toThrow(/symbolic link/);
    await expect(drain(la.openBlob(hostDigest, signal))).rejects.toThrow(/symbolic link/);
    // blobs/sha256 a link to a directory elsewhere; index.json a link.
    const b = tmp();
    mkdirSync(join(b, "blobs"), { recursive: true });
    symlinkSync(join(a, "blobs", "sha256"), join(b, "blobs", "sha256"));
    symlinkSync("/etc/hostname", join(b, "index.json"));
    const lb = new LocalLayout(b);
    await expect(la.readDocument({ ...d, digest: sha("x") })).rejects.toThrow(/ENOENT/);
    await expect(lb.readDocument(d)).rejects.toThrow(/blobs\/sha256\/ of the cache directory is a symbolic link/);
    await expect(drain(lb.openBlob(hostDigest, signal))).rejects.toThrow(/blobs\/sha256\/ of the cache directory is a symbolic link/);
    await expect(lb.entries()).rejects.toThrow(/index.json of the cache directory is a symbolic link/);
    // Real files are read.
    const c = tmp();
    mkdirSync(join(c, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(c, "blobs", "sha256", hostDigest.slice(7)), host);
    expect(Buffer.from(await new LocalLayout(c).readDocument(d))).toEqual(host);
  });
});

describe("cache-mounts artifact", () => {
  it("names each mount's layer by id, under <tag>-cache-mounts", () => {
    const layerA = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha("a"), size: 3 };
    const { config, manifest } = cacheMountsArtifact([{ id: "go-build", layer: layerA }]);
    expect(new TextDecoder().decode(config.bytes)).toBe(`{"mounts":[{"id":"go-build","digest":"${sha("a")}"}]}`);
    expect(cacheMountsOf(manifest.bytes)).toEqual({ ok: true, value: [{ id: "go-build", layer: layerA }] });
    expect(cacheMountsOf(new TextEncoder().encode('{"config":{"mediaType":"x"},"layers":[]}')).ok).toBe(false);
    expect(cacheMountsTag("ci")).toBe("ci-cache-mounts");
    expect(cacheMountsTag("x".repeat(128))).toHaveLength(128);
  });
});

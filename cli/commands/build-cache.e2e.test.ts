import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { parseCacheFrom, parseCacheTo } from "../../cache/remote/index.ts";
import { runLocalBuild, type LocalBuildResult } from "../../engine/build/local-build.ts";
import { tempDir } from "../../testing/index.ts";
import { parseManifest } from "../../base/oci/index.ts";
import { RegistryClient } from "../../base/registry/index.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { startFaultProxy } from "../../cache/registry/fixtures.test-support.ts";
import { encodeCacheConfig, goJson, parseCacheConfig } from "../../cache/remote/index.ts";
import { createHash } from "node:crypto";

/** `hatake build` through the CLI, on one data root. */
async function cli(root: string, dataRoot: string, ctx: string, args: readonly string[]): Promise<{ code: number; err: string }> {
  const io = memoryIo({ cwd: root, env: {} });
  const code = await main(["build", "--data-root", dataRoot, "--progress=plain", ...args, ctx], io);
  return { code, err: io.err() };
}

interface Counted {
  readonly result: LocalBuildResult;
  readonly err: string;
  /** Every registry request: `GET /v2/…/blobs/sha256:…`. */
  readonly requests: readonly string[];
}

/** The same build in-process, counting the registry requests the build makes. */
async function counted(root: string, dataRoot: string, ctx: string, opts: { cacheFrom?: string[]; cacheTo?: string[]; outputs?: { type: "oci"; dest: string }[]; tags?: string[] }): Promise<Counted> {
  let err = "";
  const requests: string[] = [];
  const progressOut = {
    write(chunk: string | Uint8Array): boolean {
      err += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const result = await runLocalBuild({
    dataRoot: join(root, dataRoot),
    contextDir: ctx,
    buildArgs: {},
    noCache: false,
    outputs: opts.outputs ?? [],
    progress: "plain",
    progressOut,
    explainCache: false,
    signal: new AbortController().signal,
    cwd: root,
    tags: opts.tags ?? [],
    cacheFrom: (opts.cacheFrom ?? []).map(parseCacheFrom),
    cacheTo: (opts.cacheTo ?? []).map(parseCacheTo),
    onRegistryRequest: (method, url) => requests.push(`${method} ${url.pathname}`),
  });
  return { result, err, requests };
}

const reg = (): string => inject("registry").host;

function dockerfile(): string {
  return `FROM ${reg()}/busybox AS builder
WORKDIR /src
COPY app.c lib.c ./
RUN cat app.c lib.c > /out.bin && echo built >> /out.bin
RUN echo intermediate > /tmp/x

FROM ${reg()}/busybox
COPY --from=builder /out.bin /app/out.bin
COPY conf.txt /etc/app.conf
RUN cat /etc/app.conf > /app/conf.copy
RUN true
RUN echo last > /app/last
CMD ["cat", "/app/out.bin"]
`;
}

/** A build context as a CI checkout would make it. */
function context(root: string, name: string, files: Record<string, string> = {}): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const all = { Dockerfile: dockerfile(), "app.c": "int main() { return 0; }\n", "lib.c": "int lib;\n", "conf.txt": "port=80\n", ...files };
  for (const [p, text] of Object.entries(all)) writeFileSync(join(dir, p), text);
  return name;
}

/** `#N [stage n/m] …` lines and whether each ended CACHED. */
function steps(err: string): { name: string; cached: boolean; ran: boolean }[] {
  const names = new Map<string, string>();
  // `[internal] load build context` is the context's transfer: it runs in every build (BuildKit's too).
  for (const m of err.matchAll(/^#(\d+) (\[(?!internal\])[^\n]*)$/gm)) if (!names.has(m[1] as string)) names.set(m[1] as string, m[2] as string);
  return [...names].map(([n, name]) => ({ name, cached: new RegExp(`^#${n} CACHED$`, "m").test(err), ran: new RegExp(`^#${n} DONE`, "m").test(err) }));
}

function blobGets(requests: readonly string[]): string[] {
  return requests.flatMap((r) => {
    const m = /^GET \/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r);
    return m === null ? [] : [m[1] as string];
  });
}

/** The layer blobs of an image in a data root's image store. */
async function imageLayers(dataRoot: string, manifestDigest: string): Promise<string[]> {
  const images = await ImageStore.openAt(dataRoot);
  const m = parseManifest(await images.content.readBytes(manifestDigest as `sha256:${string}`));
  if (!m.ok) throw new Error(m.error);
  return m.value.layers.map((l) => l.digest);
}

function metadataDigest(root: string, file: string): string {
  return (JSON.parse(readFileSync(join(root, file), "utf8")) as Record<string, string>)["containerimage.digest"] ?? "";
}

function completed(b: Counted): Extract<LocalBuildResult, { kind: "completed" }> {
  if (b.result.kind !== "completed") throw new Error(b.err);
  return b.result;
}

describe("remote build cache (hatake build --cache-to / --cache-from)", () => {
  it("registry, mode=max: an empty data root builds fully CACHED, the same image, fetching only the final image's layers", async () => {
    const root = await tempDir("rcache-reg");
    const ref = `${reg()}/remotecache/max-${randomBytes(4).toString("hex")}:cache`;
    const a = await cli(root, "A", context(root, "ctxA"), ["--cache-to", `type=registry,ref=${ref},mode=max`, "-t", "app:a", "--metadata-file", "a.json"]);
    expect(a.err, a.err).not.toContain("ERROR");
    expect(a.code).toBe(0);
    expect(a.err).toMatch(/#\d+ exporting cache to registry\n(#\d+ preparing build cache for export[^\n]*\n)+(#\d+ writing [^\n]*\n)+#\d+ DONE/);
    expect(a.err).not.toContain("HTK-CACHE-0207");
    const aDigest = metadataDigest(root, "a.json");
    expect(aDigest).toMatch(/^sha256:/);

    const b = await counted(root, "B", context(root, "ctxB"), { cacheFrom: [`type=registry,ref=${ref}`], tags: ["app:b"] });
    expect(b.err, b.err).not.toContain("ERROR");
    expect(b.err).not.toContain("WARNING");
    const done = completed(b);
    const s = steps(b.err);
    // Ten steps: the two stages' FROM is one vertex.
    expect(s.length).toBe(10);
    expect(s.filter((x) => !x.cached), b.err).toEqual([]);
    // The same image, to the byte.
    expect(done.exported?.manifest.digest).toBe(aDigest);
    // Blobs fetched: the base image's config (FROM is pinned by its manifest), the cache config, and
    // each layer of the final image once — nothing of the builder stage, no empty layer.
    const layers = await imageLayers(join(root, "B"), aDigest);
    const gets = blobGets(b.requests);
    const layerGets = gets.filter((d) => layers.includes(d));
    expect([...layerGets].sort()).toEqual([...layers].sort());
    expect(gets.length - layerGets.length).toBeLessThanOrEqual(3);
    expect(new Set(gets.filter((d) => !layers.includes(d))).size).toBe(2);

    // What B imported is now B's own cache: the next build needs no --cache-from.
    const again = await cli(root, "B", "ctxB", ["-t", "app:b2", "--metadata-file", "b2.json"]);
    expect(again.code).toBe(0);
    expect(steps(again.err).filter((x) => !x.cached)).toEqual([]);
    expect(metadataDigest(root, "b2.json")).toBe(aDigest);

    // Editing one source file in another empty data root: only the steps that read it, and what
    // follows them, run; a file no step reads changes nothing.
    const c = await counted(root, "C", context(root, "ctxC", { "conf.txt": "port=8080\n", "README.md": "not copied\n" }), { cacheFrom: [`type=registry,ref=${ref}`] });
    completed(c);
    const ran = steps(c.err).filter((x) => x.ran).map((x) => x.name);
    expect(ran).toEqual([
      "[stage-1 3/6] COPY conf.txt /etc/app.conf",
      "[stage-1 4/6] RUN cat /etc/app.conf > /app/conf.copy",
      "[stage-1 5/6] RUN true",
      "[stage-1 6/6] RUN echo last > /app/last",
    ]);
    expect(steps(c.err).filter((x) => !x.ran && !x.cached)).toEqual([]);
    // The steps that ran build on the imported COPY --from result: its layers, not the builder's.
    expect(blobGets(c.requests).filter((d) => !layers.includes(d)).length).toBeLessThanOrEqual(3);
  });

  it("local directory cache: type=local,dest=DIR then type=local,src=DIR", async () => {
    const root = await tempDir("rcache-local");
    const a = await cli(root, "A", context(root, "ctxA"), ["--cache-to", "type=local,dest=cache,mode=max", "--metadata-file", "a.json", "-t", "app:a"]);
    expect(a.err, a.err).not.toContain("ERROR");
    expect(a.code).toBe(0);
    const index = JSON.parse(readFileSync(join(root, "cache", "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["latest"]);
    expect(readFileSync(join(root, "cache", "oci-layout"), "utf8")).toBe('{"imageLayoutVersion":"1.0.0"}');

    const b = await cli(root, "B", context(root, "ctxB"), ["--cache-from", "type=local,src=cache", "--metadata-file", "b.json", "-t", "app:b"]);
    expect(b.err, b.err).not.toContain("ERROR");
    expect(b.code).toBe(0);
    expect(steps(b.err).filter((x) => !x.cached), b.err).toEqual([]);
    expect(metadataDigest(root, "b.json")).toBe(metadataDigest(root, "a.json"));
    // Only the final image's layers were copied into B (the builder stage's are in the directory).
    const layers = await imageLayers(join(root, "B"), metadataDigest(root, "b.json"));
    const inDir = readdirSync(join(root, "cache", "blobs", "sha256")).map((h) => `sha256:${h}`);
    const images = await ImageStore.openAt(join(root, "B"));
    const copied: string[] = [];
    for (const d of inDir) if (await images.content.has(d as `sha256:${string}`)) copied.push(d);
    const builderOnly = inDir.filter((d) => !layers.includes(d) && !copied.includes(d));
    expect(builderOnly.length).toBeGreaterThan(0);
    for (const d of layers) expect(copied).toContain(d);

    // A second export under the same tag replaces it, and blobs nothing reaches any more are removed.
    const before = inDir.length;
    const again = await cli(root, "A", context(root, "ctxA", { "app.c": "int main() { return 1; }\n" }), ["--cache-to", "type=local,dest=cache,mode=min"]);
    expect(again.code).toBe(0);
    expect(again.err).toContain("HTK-CACHE-0207");
    expect(again.err).toContain('"builder"');
    const after = readdirSync(join(root, "cache", "blobs", "sha256"));
    expect(after.length).toBeLessThan(before);
  });

  it("inline cache: --cache-to type=inline, then --cache-from IMAGE", async () => {
    const root = await tempDir("rcache-inline");
    const ref = `${reg()}/remotecache/inline-${randomBytes(4).toString("hex")}:1`;
    const a = await cli(root, "A", context(root, "ctxA"), ["--cache-to", "type=inline", "-t", "app:a", "--metadata-file", "a.json"]);
    expect(a.err, a.err).not.toContain("ERROR");
    expect(a.code).toBe(0);
    const aDigest = metadataDigest(root, "a.json");
    const images = await ImageStore.openAt(join(root, "A"));
    const client = new RegistryClient();
    try {
      await client.push(ref, { store: images.content, root: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: aDigest as `sha256:${string}`, size: (await images.content.info(aDigest as `sha256:${string}`))?.size ?? 0 } });
    } finally {
      await client.close();
    }
    const b = await counted(root, "B", context(root, "ctxB"), { cacheFrom: [ref], tags: ["app:b"] });
    const done = completed(b);
    expect(b.err).not.toContain("WARNING");
    const s = steps(b.err);
    // The final stage is CACHED; the builder stage is not needed at all (the COPY --from hit).
    expect(s.filter((x) => !x.cached), b.err).toEqual([]);
    expect(s.some((x) => x.name.startsWith("[stage-1 6/6]"))).toBe(true);
    const layers = await imageLayers(join(root, "A"), aDigest);
    expect(await imageLayers(join(root, "B"), done.exported?.manifest.digest ?? "")).toEqual(layers);
    const layerGets = blobGets(b.requests).filter((d) => layers.includes(d));
    expect([...layerGets].sort()).toEqual([...layers].sort());
  });

  it("unreachable and missing caches: ignore-error warns and builds on; a missing cache only warns", async () => {
    const root = await tempDir("rcache-err");
    const dockerfileOnly = (name: string): string => {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, "Dockerfile"), `FROM ${reg()}/busybox\nRUN echo hi > /hi\n`);
      return name;
    };
    const ctx = dockerfileOnly("ctx");
    const refused = await cli(root, "A", ctx, ["--cache-from", "type=registry,ref=127.0.0.1:1/nothing:cache"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("HTK-CACHE-0203");
    expect(refused.err).toContain("ignore-error=true");
    const ignored = await cli(root, "A", ctx, ["--cache-from", "type=registry,ref=127.0.0.1:1/nothing:cache,ignore-error=true"]);
    expect(ignored.code).toBe(0);
    expect(ignored.err).toContain("WARNING HTK-CACHE-0203");
    const missing = await cli(root, "A", ctx, ["--cache-from", `${reg()}/remotecache/never-pushed:cache`, "--cache-from", "type=local,src=no-such-dir"]);
    expect(missing.code).toBe(0);
    expect(missing.err.match(/WARNING HTK-CACHE-0202/g)?.length).toBe(2);
    const exportFails = await cli(root, "A", ctx, ["--cache-to", "type=registry,ref=127.0.0.1:1/nothing:cache"]);
    expect(exportFails.code).toBe(1);
    expect(exportFails.err).toContain("HTK-CACHE-0205");
    const exportIgnored = await cli(root, "A", ctx, ["--cache-to", "type=registry,ref=127.0.0.1:1/nothing:cache,ignore-error=true"]);
    expect(exportIgnored.code).toBe(0);
    expect(exportIgnored.err).toContain("WARNING HTK-CACHE-0205");
    const inlineNoImage = await cli(root, "A", ctx, ["--cache-to", "type=inline"]);
    expect(inlineNoImage.code).toBe(0);
    expect(inlineNoImage.err).toContain("WARNING HTK-CACHE-0208");
  });

  it("a layer missing from the cache source: the step that needs it runs (HTK-CACHE-0209), the rest is still used", async () => {
    const root = await tempDir("rcache-gone");
    const a = await cli(root, "A", context(root, "ctxA"), ["--cache-to", "type=local,dest=cache,mode=max", "--metadata-file", "a.json", "-t", "app:a"]);
    expect(a.code).toBe(0);
    const layers = await imageLayers(join(root, "A"), metadataDigest(root, "a.json"));
    const last = layers.at(-1) as string;
    rmSync(join(root, "cache", "blobs", "sha256", last.slice("sha256:".length)));
    expect(existsSync(join(root, "cache", "index.json"))).toBe(true);
    const b = await cli(root, "B", context(root, "ctxB"), ["--cache-from", "type=local,src=cache", "--metadata-file", "b.json", "-t", "app:b"]);
    expect(b.code, b.err).toBe(0);
    expect(b.err).toContain("WARNING HTK-CACHE-0209");
    expect(steps(b.err).filter((x) => x.ran).map((x) => x.name)).toEqual(["[stage-1 6/6] RUN echo last > /app/last"]);
    // The layers below the step that ran are the imported ones.
    const bLayers = await imageLayers(join(root, "B"), metadataDigest(root, "b.json"));
    expect(bLayers.slice(0, -1)).toEqual(layers.slice(0, -1));
  });

  it("the artifact, byte by byte: image-manifest and index layouts, OCI and Docker media types, the cache config", async () => {
    const root = await tempDir("rcache-layout");
    const base = `${reg()}/remotecache/layout-${randomBytes(4).toString("hex")}`;
    const a = await cli(root, "A", context(root, "ctxA"), [
      "--cache-to", `type=registry,ref=${base}:manifest,mode=max`,
      "--cache-to", `type=registry,ref=${base}:index,mode=max,image-manifest=false`,
      "--cache-to", `type=registry,ref=${base}:docker,mode=min,oci-mediatypes=false`,
      "--metadata-file", "a.json", "-t", "app:a",
    ]);
    expect(a.err, a.err).not.toContain("ERROR");
    expect(a.code).toBe(0);
    const url = inject("registry").url;
    const path = base.slice(reg().length + 1);
    const getManifest = async (tag: string): Promise<{ type: string; text: string }> => {
      const res = await fetch(`${url}/v2/${path}/manifests/${tag}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json" } });
      expect(res.status).toBe(200);
      return { type: res.headers.get("content-type") ?? "", text: await res.text() };
    };
    const getBlob = async (digest: string): Promise<Buffer> => {
      const res = await fetch(`${url}/v2/${path}/blobs/${digest}`);
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(`sha256:${createHash("sha256").update(bytes).digest("hex")}`).toBe(digest);
      return bytes;
    };
    const layers = await imageLayers(join(root, "A"), metadataDigest(root, "a.json"));
    type Desc = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
    const checkLayer = (d: Desc, mediaType: string): void => {
      expect(Object.keys(d)).toEqual(["mediaType", "digest", "size", "annotations"]);
      expect(d.mediaType).toBe(mediaType);
      expect(Object.keys(d.annotations ?? {})).toEqual(["containerd.io/uncompressed"]);
      expect(d.annotations?.["containerd.io/uncompressed"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    };
    const checkConfig = async (d: Desc, blobs: readonly string[]): Promise<void> => {
      expect(d.mediaType).toBe("application/vnd.buildkit.cacheconfig.v0");
      const bytes = await getBlob(d.digest);
      expect(bytes.byteLength).toBe(d.size);
      const parsed = parseCacheConfig(bytes);
      if (!parsed.ok) throw new Error(parsed.error);
      // Go's encoding, BuildKit's field order and omitempty rules: re-encoding gives the same bytes.
      expect(Buffer.from(encodeCacheConfig(parsed.value)).equals(bytes)).toBe(true);
      const raw = JSON.parse(bytes.toString("utf8")) as { layers: Record<string, unknown>[]; records: Record<string, unknown>[] };
      expect(Object.keys(raw)).toEqual(["layers", "records"]);
      for (const l of raw.layers) {
        expect(["blob,parent", "blob"]).toContain(Object.keys(l).join(","));
        if ("parent" in l) expect(l["parent"]).not.toBe(0);
        expect(blobs).toContain(l["blob"]);
      }
      // Every chain starts at a root layer (parent -1); a parent comes before its children.
      raw.layers.forEach((l, i) => expect((l["parent"] as number | undefined) ?? 0).toBeLessThan(i));
      for (const r of raw.records) {
        const keys = Object.keys(r);
        expect(keys.filter((k) => k !== "layers" && k !== "inputs")).toEqual(["digest"]);
        expect(keys.indexOf("digest")).toBe(keys.includes("layers") ? 1 : 0);
      }
      const digests = raw.records.map((r) => r["digest"] as string);
      expect([...digests].sort()).toEqual(digests);
      expect(parsed.value.records.some((r) => r.results.length > 0 && r.inputs.length > 0)).toBe(true);
    };

    // image-manifest=true (the default): an OCI image manifest whose config is the cache config.
    const m = await getManifest("manifest");
    expect(m.type).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(goJson(JSON.parse(m.text))).toBe(m.text);
    const manifest = JSON.parse(m.text) as { schemaVersion: number; mediaType: string; config: Desc; layers: Desc[] };
    expect(Object.keys(manifest)).toEqual(["schemaVersion", "mediaType", "config", "layers"]);
    expect(manifest.schemaVersion).toBe(2);
    for (const l of manifest.layers) checkLayer(l, "application/vnd.oci.image.layer.v1.tar+gzip");
    const maxBlobs = manifest.layers.map((l) => l.digest);
    for (const d of layers) expect(maxBlobs).toContain(d);
    expect(maxBlobs.length).toBeGreaterThan(layers.length + 2);
    await checkConfig(manifest.config, maxBlobs);

    // image-manifest=false: an OCI index of the blobs, the cache config last.
    const i = await getManifest("index");
    expect(i.type).toBe("application/vnd.oci.image.index.v1+json");
    const index = JSON.parse(i.text) as { schemaVersion: number; mediaType: string; manifests: Desc[] };
    expect(Object.keys(index)).toEqual(["schemaVersion", "mediaType", "manifests"]);
    const cfg = index.manifests.at(-1) as Desc;
    for (const l of index.manifests.slice(0, -1)) checkLayer(l, "application/vnd.oci.image.layer.v1.tar+gzip");
    expect(index.manifests.slice(0, -1).map((l) => l.digest)).toEqual(maxBlobs);
    await checkConfig(cfg, maxBlobs);

    // oci-mediatypes=false: a Docker manifest list; mode=min: only the final image's layers.
    const d = await getManifest("docker");
    expect(d.type).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    const list = JSON.parse(d.text) as { manifests: Desc[] };
    for (const l of list.manifests.slice(0, -1)) checkLayer(l, "application/vnd.docker.image.rootfs.diff.tar.gzip");
    const minBlobs = list.manifests.slice(0, -1).map((l) => l.digest);
    for (const l of layers) expect(minBlobs).toContain(l);
    expect(minBlobs.length).toBe(layers.length + 1); // + the empty layer of RUN true
    await checkConfig(list.manifests.at(-1) as Desc, minBlobs);

    // Each layout imports: an empty data root builds the final stage CACHED, the same image.
    for (const tag of ["index", "docker"]) {
      const b = await cli(root, `B-${tag}`, context(root, `ctxB-${tag}`), ["--cache-from", `${base}:${tag}`, "--metadata-file", `b-${tag}.json`, "-t", "app:b"]);
      expect(b.code, b.err).toBe(0);
      expect(steps(b.err).filter((x) => !x.cached), b.err).toEqual([]);
      expect(metadataDigest(root, `b-${tag}.json`)).toBe(metadataDigest(root, "a.json"));
    }
  });

  it("a registry that refuses the manifest type names the layout that works (HTK-CACHE-0204); a broken artifact is HTK-CACHE-0206", async () => {
    const root = await tempDir("rcache-refuse");
    const proxy = await startFaultProxy(inject("registry").url, (req) =>
      req.method === "PUT" && (req.url ?? "").includes("/manifests/")
        ? { kind: "respond", status: 400, body: JSON.stringify({ errors: [{ code: "MANIFEST_INVALID", message: "manifest invalid", detail: "unknown media type" }] }) }
        : { kind: "forward" },
    );
    try {
      const ref = `${proxy.host}/remotecache/refuse:cache`;
      const r = await cli(root, "A", context(root, "ctx"), ["--cache-to", `type=registry,ref=${ref}`]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("HTK-CACHE-0204");
      expect(r.err).toContain(`--cache-to type=registry,ref=${ref},image-manifest=false`);
      const idx = await cli(root, "A", "ctx", ["--cache-to", `type=registry,ref=${ref},image-manifest=false`]);
      expect(idx.err).toContain("HTK-CACHE-0204");
      expect(idx.err).toContain("image-manifest=true");
    } finally {
      await proxy.close();
    }
    // A local cache whose config is not a cache config.
    const dir = join(root, "broken");
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    const put = (bytes: string): { digest: string; size: number } => {
      const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
      writeFileSync(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
      return { digest, size: Buffer.byteLength(bytes) };
    };
    const config = put('{"records": "nope"}');
    const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.buildkit.cacheconfig.v0", ...config }, layers: [] }));
    writeFileSync(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": "latest" } }] }));
    const broken = await cli(root, "A", "ctx", ["--cache-from", "type=local,src=broken"]);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain("HTK-CACHE-0206");
    expect(broken.err).toContain("records is not an array");
    const ignored = await cli(root, "A", "ctx", ["--cache-from", "type=local,src=broken,ignore-error=true"]);
    expect(ignored.code).toBe(0);
    expect(ignored.err).toContain("WARNING HTK-CACHE-0206");
  });

  it("cache-mounts=true: RUN --mount=type=cache contents travel as their own artifact and seed an empty data root's cache", async () => {
    const root = await tempDir("rcache-mounts");
    const ref = `${reg()}/remotecache/mounts-${randomBytes(4).toString("hex")}:ci`;
    const project = (name: string, step: string): string => {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, "Dockerfile"), `FROM ${reg()}/busybox\nRUN --mount=type=cache,target=/cache,id=rc-deps ${step}\nRUN --mount=type=cache,target=/other,id=rc-other echo other > /other/x\n`);
      return name;
    };
    const a = await cli(root, "A", project("ctxA", "sh -c 'echo downloaded-by-A > /cache/dep.txt'"), [
      "--cache-to", `type=registry,ref=${ref},mode=max,cache-mounts=rc-deps`,
      "--cache-to", "type=local,dest=cache,mode=max,cache-mounts=true",
    ]);
    expect(a.err, a.err).not.toContain("ERROR");
    expect(a.code).toBe(0);
    expect(a.err).toContain('exporting cache mount "rc-deps"');
    // Registry: the artifact under the same repository, tag <tag>-cache-mounts, only the asked-for id.
    const res = await fetch(`${inject("registry").url}/v2/${ref.slice(reg().length + 1).replace(/:ci$/, "")}/manifests/ci-cache-mounts`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(res.status).toBe(200);
    const manifest = JSON.parse(await res.text()) as { config: { mediaType: string }; layers: { annotations: Record<string, string> }[] };
    expect(manifest.config.mediaType).toBe("application/vnd.hatake.cachemounts.config.v1+json");
    expect(manifest.layers.map((l) => l.annotations["dev.hatake.cache-mount.id"])).toEqual(["rc-deps"]);
    // Local: both ids, next to the cache in index.json.
    const index = JSON.parse(readFileSync(join(root, "cache", "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"]).sort()).toEqual(["latest", "latest-cache-mounts"]);

    // An empty data root runs a changed step with the imported cache mount's contents.
    for (const [name, from] of [["B", `type=registry,ref=${ref}`], ["C", "type=local,src=cache"]] as const) {
      const b = await cli(root, name, project(`ctx${name}`, "sh -c 'cat /cache/dep.txt > /seen.txt; ls /cache >> /seen.txt'"), ["--cache-from", from, "-o", `type=local,dest=out-${name}`]);
      expect(b.code, b.err).toBe(0);
      expect(readFileSync(join(root, `out-${name}`, "seen.txt"), "utf8")).toBe("downloaded-by-A\ndep.txt\n");
    }
  });
});

import { createGzip } from "node:zlib";
import { htkError } from "../../base/errors/index.ts";
import { MediaTypes, familiarName, familiarString, layerCompression, parseReference, referenceName, type OciDescriptor, type Reference } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { parseName, shortId, type ImageRecord, type ManifestRecord } from "../images/index.ts";
import { readJsonBody, tagTarget } from "./images-params.ts";
import { JsonMessageStream } from "./jsonmessage.ts";
import { authConfigFrom, decodeRegistryAuth, registryAuthFailure, type AuthConfig, type RequestRegistries } from "./registry-auth.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * `POST /images/{name}/push` (docker push): one tag, or every tag of the repository when `tag` is
 * empty, with Docker's progress lines (layers by their short diff ID, top layer first): "Preparing",
 * "Layer already exists" / "Mounted from …" / "Pushed", then "<tag>: digest: sha256:… size: N" and
 * the `aux` PushResult. The pushed manifest's digest becomes a RepoDigest of the image.
 */
export function imagePushRoutes(services: EngineServices, registries: RequestRegistries): Route[] {
  return [
    {
      method: "POST",
      pattern: "/images/{name:.*}/push",
      query: ["tag", "platform"],
      async handle(ctx) {
        const auth = await pushAuth(ctx);
        const name = ctx.params["name"] ?? "";
        const tag = ctx.query.get("tag") ?? "";
        const ref = pushReference(name, tag);
        const stream = new JsonMessageStream(ctx.res);
        try {
          await push(ctx, services, registries.for(auth), stream, ref);
          stream.end();
        } catch (err) {
          stream.fail(registryAuthFailure(err), `POST /images/${name}/push`);
        }
      },
    },
  ];
}

/** X-Registry-Auth, or (old clients) the credentials as the JSON body. */
async function pushAuth(ctx: RequestContext): Promise<AuthConfig> {
  const h = ctx.req.headers["x-registry-auth"];
  const value = Array.isArray(h) ? h[0] : h;
  if (value !== undefined && value !== "") return decodeRegistryAuth(value);
  let body: unknown;
  try {
    body = await readJsonBody(ctx);
  } catch (err) {
    throw htkError("HTK-ENGINE-0313", { detail: `invalid X-Registry-Auth header: ${err instanceof Error ? err.message : String(err)}` });
  }
  const config = authConfigFrom(body);
  if (config === undefined) throw htkError("HTK-ENGINE-0313", { detail: "invalid X-Registry-Auth header: EOF" });
  return config;
}

function pushReference(name: string, tag: string): Reference {
  const full = tag !== "" ? tagTarget(name, tag) : name;
  parseName(full);
  const parsed = parseReference(full);
  if (!parsed.ok) throw htkError("HTK-ENGINE-0201", { detail: "" });
  return parsed.value;
}

async function push(ctx: RequestContext, services: EngineServices, registry: RegistryClient, stream: JsonMessageStream, ref: Reference): Promise<void> {
  const images = services.images;
  const repo = referenceName(ref);
  stream.status(`The push refers to repository [${repo}]`);
  const inRepo = images
    .images()
    .flatMap((rec) => images.names(rec.id).map((n) => ({ rec, n })))
    .filter(({ n }) => `${n.ref.domain}/${n.ref.path}` === repo);
  if (inRepo.length === 0) throw htkError("HTK-ENGINE-0310", { name: familiarName(ref) });
  if (ref.digest !== undefined) throw htkError("HTK-ENGINE-0312", {});
  if (ref.tag !== undefined) {
    const rec = inRepo.find(({ n }) => n.kind === "tag" && n.ref.tag === ref.tag)?.rec;
    if (rec === undefined) throw htkError("HTK-ENGINE-0311", { reference: familiarString(ref) });
    await pushTag(ctx, services, registry, stream, ref, ref.tag, rec);
    return;
  }
  const tagged = inRepo.flatMap(({ rec, n }) => (n.kind === "tag" ? [{ rec, tag: n.ref.tag }] : [])).sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  if (tagged.length === 0) throw htkError("HTK-ENGINE-0318", { name: familiarName(ref) });
  for (const { rec, tag } of tagged) await pushTag(ctx, services, registry, stream, ref, tag, rec);
}

/**
 * The manifest to push: one whose layers are all in the store, compressed ones (a registry's) first.
 * An image that has only uncompressed layers (`docker load`, `docker import`) gets a gzip copy of
 * them and a manifest of its own, recorded as another manifest of the image, as Docker compresses
 * layers when it pushes them.
 */
async function pushable(services: EngineServices, rec: ImageRecord, signal: AbortSignal): Promise<ManifestRecord> {
  const candidates: ManifestRecord[] = [];
  for (const m of rec.manifests) {
    let complete = await services.images.content.has(m.descriptor.digest);
    for (const l of m.layers) complete &&= await services.images.content.has(l.digest);
    if (complete) candidates.push(m);
  }
  const compressed = candidates.find((m) => m.layers.every((l) => layerCompression(l.mediaType) !== "none"));
  if (compressed !== undefined) return compressed;
  const chosen = candidates[0];
  if (chosen === undefined) throw htkError("HTK-ENGINE-0209", { image: rec.id, what: "manifest", digest: rec.manifests[0]?.descriptor.digest ?? rec.id });
  return compressedCopy(services, rec, chosen, signal);
}

async function compressedCopy(services: EngineServices, rec: ImageRecord, m: ManifestRecord, signal: AbortSignal): Promise<ManifestRecord> {
  const content = services.images.content;
  const docker = m.descriptor.mediaType === MediaTypes.dockerManifest;
  const layers: OciDescriptor[] = [];
  for (const l of m.layers) {
    if (layerCompression(l.mediaType) !== "none") {
      layers.push(l);
      continue;
    }
    const gzip = createGzip();
    const source = await content.get(l.digest, { signal });
    source.on("error", (e) => gzip.destroy(e));
    const d = await content.put(source.pipe(gzip), { mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, signal });
    layers.push({ mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, digest: d.digest, size: d.size });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: m.descriptor.mediaType,
      config: { mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, digest: rec.id, size: rec.config.size },
      layers,
    }),
  );
  const d = await content.put(manifest, { mediaType: m.descriptor.mediaType, signal });
  const descriptor = { mediaType: m.descriptor.mediaType, digest: d.digest, size: d.size };
  // Recorded (and so leased) before the push reads it; the image keeps its layer measurements.
  await services.images.add({ manifest: descriptor, tagEvents: false, measure: false, signal });
  return { descriptor, layers };
}

async function pushTag(ctx: RequestContext, services: EngineServices, registry: RegistryClient, stream: JsonMessageStream, ref: Reference, tag: string, rec: ImageRecord): Promise<void> {
  const images = services.images;
  const manifest = await pushable(services, rec, ctx.signal);
  // Docker names a layer by its diff ID and walks the stack from the top.
  const ids = new Map<string, string>();
  manifest.layers.forEach((l, i) => {
    const diffId = rec.layers[i]?.diffId;
    if (diffId !== undefined && !ids.has(l.digest)) ids.set(l.digest, shortId(diffId));
  });
  const order = [...manifest.layers].reverse();
  order.forEach((l, i) => {
    const id = ids.get(l.digest) ?? "";
    stream.progress(id, "Preparing");
    if (i >= services.config.maxConcurrentUploads) stream.progress(id, "Waiting");
  });
  const mountFrom = [
    ...new Set(
      images
        .names(rec.id)
        .filter((n) => n.ref.domain === ref.domain && n.ref.path !== ref.path)
        .map((n) => n.ref.path),
    ),
  ];
  const reported = new Map<string, number>();
  const target: Reference = { domain: ref.domain, path: ref.path, tag };
  const result = await registry.push(target, {
    store: images.content,
    root: manifest.descriptor,
    mountFrom,
    signal: ctx.signal,
    onProgress: (e) => {
      if (e.kind === "manifest-pushed") return;
      const id = ids.get(e.digest);
      if (id === undefined) return;
      switch (e.kind) {
        case "blob-exists":
          stream.progress(id, "Layer already exists");
          break;
        case "blob-mounted":
          stream.progress(id, `Mounted from ${e.from}`);
          break;
        case "blob-upload-start":
          stream.progress(id, "Pushing", { current: 0, total: e.size });
          break;
        case "blob-upload-progress": {
          const last = reported.get(e.digest) ?? 0;
          if (e.current - last < 512 * 1024 && e.current < e.size) break;
          reported.set(e.digest, e.current);
          stream.progress(id, "Pushing", { current: e.current, total: e.size });
          break;
        }
        case "blob-uploaded":
          stream.progress(id, "Pushed");
          break;
      }
    },
  });
  stream.status(`${tag}: digest: ${result.digest} size: ${result.size}`);
  stream.write({ progressDetail: {}, aux: { Tag: tag, Digest: result.digest, Size: result.size } });
  await images.addReference(`${referenceName(ref)}@${result.digest}`, rec.id);
  images.emit({ action: "push", id: rec.id, name: familiarString(target) });
}

import { request } from "undici";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { familiarString, hostPlatform, parsePlatform, parseReference, withTag, type Platform, type Reference } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { contentLayerSources, type SnapshotRef } from "../snapshots/index.ts";
import { importImage, parseName, pullImage, shortId, type PullImageResult } from "../images/index.ts";
import { configFromChanges } from "./image-changes.ts";
import { tagTarget } from "./images-params.ts";
import { JsonMessageStream } from "./jsonmessage.ts";
import { decodeRegistryAuth, registryAuthFailure, withRegistryStatus, type RequestRegistries } from "./registry-auth.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * `POST /images/create`: `docker pull` (fromImage, tag, platform, X-Registry-Auth) with Docker's
 * jsonmessage progress, and `docker import` (fromSrc = "-" for the body or a URL; repo, tag, message,
 * changes, platform).
 */
export function imageCreateRoutes(services: EngineServices, registries: RequestRegistries): Route[] {
  return [
    {
      method: "POST",
      pattern: "/images/create",
      query: ["fromImage", "fromSrc", "repo", "tag", "message", "changes", "platform"],
      handle: (ctx) =>
        withRegistryStatus(ctx, async () => {
          const platform = platformQuery(ctx.query.get("platform") ?? "");
          const stream = new JsonMessageStream(ctx.res);
          const image = ctx.query.get("fromImage") ?? "";
          try {
            if (image !== "") await pull(ctx, services, registries, stream, image, platform);
            else await importFrom(ctx, services, stream, platform);
            stream.end();
          } catch (err) {
            stream.fail(err, "POST /images/create");
          }
        }),
    },
  ];
}

function platformQuery(value: string): Platform | undefined {
  if (value === "") return undefined;
  const p = parsePlatform(value);
  if (!p.ok) throw htkError("HTK-ENGINE-0304", { platform: value, detail: p.error.replace(/\.$/, "") });
  return p.value;
}

/** fromImage + tag as dockerd combines them: a tag that parses as a digest pins the digest. */
function pullReference(image: string, tag: string): Reference {
  // "pull -a" may send "name:" (an empty tag); Docker trims it.
  const trimmed = image.endsWith(":") ? image.slice(0, -1) : image;
  parseName(trimmed);
  const parsed = parseReference(trimmed);
  if (!parsed.ok) throw htkError("HTK-ENGINE-0201", { detail: "" });
  let ref = parsed.value;
  if (tag !== "") {
    if (/^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/.test(tag)) ref = { domain: ref.domain, path: ref.path, digest: tag };
    else if (/^[\w][\w.-]{0,127}$/.test(tag)) ref = withTag(ref, tag);
    else throw htkError("HTK-ENGINE-0316", {});
  }
  if (ref.domain === "docker.io" && ref.path === "library/scratch") throw htkError("HTK-ENGINE-0303", {});
  return ref;
}

async function pull(ctx: RequestContext, services: EngineServices, registries: RequestRegistries, stream: JsonMessageStream, image: string, platform: Platform | undefined): Promise<void> {
  const ref = pullReference(image, ctx.query.get("tag") ?? "");
  const registry = registries.for(decodeRegistryAuth(header(ctx, "x-registry-auth")));
  let updated: boolean;
  if (ref.tag === undefined && ref.digest === undefined) {
    // No tag at all: every tag of the repository (docker pull --all-tags).
    const tags = await translatePullError(registry.tags(ref, { signal: ctx.signal }), ref);
    updated = false;
    for (const tag of tags) {
      const r = await pullOne(ctx, services, registry, stream, withTag(ref, tag), platform);
      updated ||= r.updated;
    }
  } else updated = (await pullOne(ctx, services, registry, stream, ref, platform)).updated;
  stream.status(`Status: ${updated ? "Downloaded newer image for" : "Image is up to date for"} ${familiarString(ref)}`);
}

/** One tag or digest, with Docker's progress lines (layers by their short blob digest). */
async function pullOne(ctx: RequestContext, services: EngineServices, registry: RegistryClient, stream: JsonMessageStream, ref: Reference, platform: Platform | undefined): Promise<PullImageResult> {
  const tagOrDigest = ref.digest ?? ref.tag ?? "latest";
  const layerIds = new Map<string, string>();
  const fresh = new Set<string>();
  const reported = new Map<string, number>();
  const result = await translatePullError(
    pullImage({
      registry,
      images: services.images,
      reference: ref,
      ...(platform !== undefined ? { platform } : {}),
      signal: ctx.signal,
      onEvent: (e) => {
        switch (e.kind) {
          case "resolved":
            // distribution's repository name: the path without the registry ("library/busybox").
            stream.status(`Pulling from ${ref.path}`, tagOrDigest);
            break;
          case "layers": {
            // Docker's puller stops at a config it has: no layer lines at all.
            if (e.imagePresent) break;
            let queued = 0;
            for (const l of e.layers) {
              const id = shortId(l.descriptor.digest);
              layerIds.set(l.descriptor.digest, id);
              if (l.present) stream.progress(id, "Already exists");
              else {
                fresh.add(l.descriptor.digest);
                stream.progress(id, "Pulling fs layer");
              }
            }
            // Docker's download manager starts max-concurrent-downloads transfers; the rest wait.
            for (const l of e.layers) {
              if (!fresh.has(l.descriptor.digest)) continue;
              if (queued++ >= services.config.maxConcurrentDownloads) stream.progress(layerIds.get(l.descriptor.digest) ?? "", "Waiting");
            }
            break;
          }
          case "downloading": {
            const id = layerIds.get(e.digest);
            if (id === undefined) break;
            const last = reported.get(e.digest) ?? 0;
            // As Docker's progress reader: an update every 512 KiB, and at the end.
            if (e.current - last < 512 * 1024 && e.current < e.size) break;
            reported.set(e.digest, e.current);
            stream.progress(id, "Downloading", { current: e.current, total: e.size });
            break;
          }
          case "downloaded": {
            const id = layerIds.get(e.digest);
            if (id === undefined) break;
            stream.progress(id, "Verifying Checksum");
            stream.progress(id, "Download complete");
            break;
          }
          case "recorded":
            break;
        }
      },
    }),
    ref,
  );
  await extract(services, result, fresh, layerIds, stream, ctx.signal);
  stream.status(`Digest: ${result.root.digest}`);
  services.images.emit({ action: "pull", id: result.image.id, name: familiarString(ref) });
  return result;
}

/**
 * Docker extracts a pulled image's layers into its layer store ("Extracting", "Pull complete"): here
 * into the snapshotter, each layer chain once (shared with containers and builds), so the first
 * `docker run` finds the root file system ready.
 */
async function extract(services: EngineServices, result: PullImageResult, fresh: ReadonlySet<string>, ids: ReadonlyMap<string, string>, stream: JsonMessageStream, signal: AbortSignal): Promise<void> {
  const manifest = result.image.manifests.find((m) => m.descriptor.digest === result.manifest.digest);
  if (manifest === undefined || manifest.layers.length === 0) return;
  const sources = contentLayerSources(services.images.content, manifest.layers, result.image.layers.map((l) => l.diffId));
  let parent: SnapshotRef | undefined;
  try {
    for (const [i, source] of sources.entries()) {
      const next = await services.snapshots.unpack(parent?.id, source, signal);
      parent?.release();
      parent = next;
      const layer = manifest.layers[i];
      if (layer === undefined || !fresh.has(layer.digest)) continue;
      const id = ids.get(layer.digest) ?? "";
      stream.progress(id, "Extracting", { current: layer.size, total: layer.size });
      stream.progress(id, "Pull complete");
    }
  } finally {
    parent?.release();
  }
}

/**
 * Docker's `TranslatePullError`: a missing manifest or repository, or a denial, is reported in
 * Docker's words ("manifest for busybox:nope not found: manifest unknown: manifest unknown").
 */
export async function translatePullError<T>(p: Promise<T>, ref: Reference): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (!isHtkError(err)) throw err;
    if (err.id === "HTK-REGISTRY-0005") throw registryAuthFailure(err);
    const detail = errcodeText(String(err.params["detail"] ?? ""));
    const name = familiarString({ domain: ref.domain, path: ref.path });
    if (err.id === "HTK-REGISTRY-0008") throw htkError("HTK-ENGINE-0300", { reference: familiarString(ref.tag === undefined && ref.digest === undefined ? withTag(ref, "latest") : ref), detail }, { cause: err });
    if (err.id === "HTK-REGISTRY-0007") throw htkError("HTK-ENGINE-0301", { name, detail }, { cause: err });
    if (err.id === "HTK-REGISTRY-0006" && /^DENIED\b/.test(String(err.params["detail"] ?? ""))) throw htkError("HTK-ENGINE-0302", { name, detail }, { cause: err });
    throw err;
  }
}

/**
 * The registry client's "CODE: message" detail in distribution's `errcode.Error` form, the first
 * error only as Docker reports it: "MANIFEST_UNKNOWN: manifest unknown" → "manifest unknown: manifest unknown".
 */
export function errcodeText(detail: string): string {
  const first = detail.split("; ")[0] ?? "";
  const m = /^([A-Z_]+)(?:: (.*))?$/s.exec(first);
  if (m === null) return first;
  return `${(m[1] ?? "").toLowerCase().replace(/_/g, " ")}: ${m[2] ?? ""}`;
}

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `docker import`: fromSrc "-" reads the body; anything else is a URL ("http://" added when bare). */
async function importFrom(ctx: RequestContext, services: EngineServices, stream: JsonMessageStream, platform: Platform | undefined): Promise<void> {
  const src = ctx.query.get("fromSrc") ?? "";
  if (src === "") throw htkError("HTK-ENGINE-0305", {});
  const repo = ctx.query.get("repo") ?? "";
  const name = repo !== "" ? tagTarget(repo, ctx.query.get("tag") ?? "") : undefined;
  if (name !== undefined) parseName(name);
  const message = ctx.query.get("message") ?? "";
  const config = configFromChanges(ctx.query.getAll("changes"));
  const options = {
    config,
    platform: platform ?? hostPlatform(),
    comment: message !== "" ? message : `Imported from ${src}`,
    ...(name !== undefined ? { name } : {}),
    dockerVersion: services.info.version,
    signal: ctx.signal,
  };
  let source: AsyncIterable<Uint8Array>;
  if (src === "-") source = ctx.req;
  else {
    const url = new URL(src.includes("://") ? src : `http://${src}`);
    const res = await request(url, { method: "GET", signal: ctx.signal });
    if (res.statusCode >= 400) {
      const text = (await res.body.text().catch(() => "")).trim().slice(0, 500);
      throw htkError("HTK-ENGINE-0309", { url: url.toString(), status: `${res.statusCode} ${statusText(res.statusCode)}`, detail: text });
    }
    stream.status(`Downloading from ${url.toString()}`);
    const total = Number(res.headers["content-length"] ?? 0);
    source = importProgress(res.body, stream, Number.isFinite(total) ? total : 0);
  }
  const image = await importImage(services.images, source, options);
  stream.status(image.id);
}

async function* importProgress(body: AsyncIterable<unknown>, stream: JsonMessageStream, total: number): AsyncGenerator<Uint8Array> {
  let current = 0;
  let last = 0;
  for await (const chunk of body) {
    const c = chunk as Uint8Array;
    current += c.byteLength;
    if (current - last >= 512 * 1024) {
      last = current;
      stream.progress("", "Importing", { current, ...(total > 0 ? { total } : {}) });
    }
    yield c;
  }
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };
  return texts[status] ?? "";
}

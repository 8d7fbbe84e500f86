import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { htkError } from "../../base/errors/index.ts";
import { digestHex, sha256Of, type Digest } from "../../cache/index.ts";
import { MediaTypes, familiarName, layerCompression, parseImageConfig, parseJson, parseReference } from "../../base/oci/index.ts";
import { ArchiveIngest, type IngestedFile } from "./ingest.ts";
import { familiar, parseName, type StoredName } from "./names.ts";
import { IMAGE_NAME_ANNOTATION, OCI_LAYOUT_CONTENT, REF_NAME_ANNOTATION, imagesFromIndex, tarFetch, tarMeasures, type LoadedImage } from "./oci-layout.ts";
import type { AddImageInput, ImageStore } from "./store.ts";
import { measureLayer, packArchive, type ArchiveEntry, type LayerMeasure } from "./tar.ts";
import type { ImageRecord } from "./types.ts";

/**
 * `docker save` / `docker load` archives, as Docker 26 writes and reads them.
 *
 * Written (Docker 25+, `image/tarexport/save.go`): an OCI image layout and the classic files side by
 * side, entries in path order —
 *
 *     blobs/sha256/<config hex>     the config, byte for byte (its digest is the image ID)
 *     blobs/sha256/<diffID hex>     each layer UNCOMPRESSED (so the blob digest is the diff ID)
 *     blobs/sha256/<manifest hex>   an OCI manifest of those blobs
 *     index.json                    the manifests, one entry per tag, with the containerd name and
 *                                   OCI ref-name annotations (no newline, json.Marshal)
 *     manifest.json                 [{Config, RepoTags, Layers}] with blobs/ paths (json.Encoder: newline)
 *     oci-layout                    {"imageLayoutVersion": "1.0.0"}
 *     repositories                  {familiar name: {tag: top layer's diff ID hex}}, only with tags
 *
 * Docker also writes each layer's legacy v1 JSON as an unreferenced blob; nothing reads it, so we
 * do not. Read: that form, the pre-25 form (`<id>/layer.tar`, `<config hex>.json`), gzip-compressed
 * layer files (other tools write them), and OCI layout tars without manifest.json.
 */

export interface SaveOptions {
  readonly signal?: AbortSignal;
}

interface SaveItem {
  readonly record: ImageRecord;
  readonly tags: StoredName[];
}

/**
 * Resolves `docker save` arguments as Docker does: a repository name alone saves all its tags, a
 * tag saves that tag, an ID or digest saves the image without names.
 */
function saveItems(store: ImageStore, names: readonly string[]): SaveItem[] {
  const items = new Map<Digest, SaveItem>();
  const addItem = (record: ImageRecord, tag: StoredName | undefined): void => {
    let item = items.get(record.id);
    if (item === undefined) {
      item = { record, tags: [] };
      items.set(record.id, item);
    }
    if (tag !== undefined && !item.tags.some((t) => t.key === tag.key)) item.tags.push(tag);
  };
  for (const input of names) {
    const parsed = parseReference(input);
    if (parsed.ok && parsed.value.tag === undefined && parsed.value.digest === undefined) {
      const repo = `${parsed.value.domain}/${parsed.value.path}`;
      let found = false;
      for (const rec of store.images()) {
        for (const n of store.names(rec.id)) {
          if (n.kind !== "tag" || `${n.ref.domain}/${n.ref.path}` !== repo) continue;
          addItem(rec, n);
          found = true;
        }
      }
      if (found) continue;
      addItem(store.resolve(input), undefined);
      continue;
    }
    const rec = store.resolve(input);
    let name: StoredName | undefined;
    if (parsed.ok && !rec.id.includes(input.replace(/^sha256:/, ""))) name = parseName(input);
    addItem(rec, name?.kind === "tag" ? name : undefined);
  }
  return [...items.values()];
}

/** `docker save NAME…` as a tar stream. Layers are read (and decompressed) from the store as it is consumed. */
export async function saveDockerArchive(store: ImageStore, names: readonly string[], opts: SaveOptions = {}): Promise<Readable> {
  const items = saveItems(store, names);
  const blobs = new Map<string, ArchiveEntry>();
  const manifestJson: unknown[] = [];
  const indexManifests: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { record, tags } of items) {
    if (record.layers.length === 0) throw htkError("HTK-ENGINE-0219", {});
    const created = record.created !== undefined && Number.isFinite(Date.parse(record.created)) ? new Date(Date.parse(record.created)) : new Date(0);
    const configPath = `blobs/sha256/${digestHex(record.id)}`;
    blobs.set(configPath, { type: "file", path: configPath, size: record.config.size, open: () => store.content.get(record.id), mtime: created });
    const m = record.manifests[0];
    const layerDescs: { mediaType: string; digest: Digest; size: number }[] = [];
    const layerPaths: string[] = [];
    for (const [i, layer] of record.layers.entries()) {
      const blob = m?.layers[i];
      if (blob === undefined) throw htkError("HTK-ENGINE-0209", { image: record.id, what: "layer", digest: layer.diffId });
      const compression = layerCompression(blob.mediaType) ?? "none";
      let tarSize = layer.tarSize;
      if (tarSize === undefined) {
        const measured = await measure(store, blob.digest, compression, opts.signal);
        tarSize = measured.tarSize;
      }
      const path = `blobs/sha256/${digestHex(layer.diffId)}`;
      const size = tarSize;
      blobs.set(path, {
        type: "file",
        path,
        size,
        mtime: created,
        open: async () => {
          const stream = await store.content.get(blob.digest, opts.signal !== undefined ? { signal: opts.signal } : {});
          if (compression === "none") return stream;
          if (compression === "zstd") throw htkError("HTK-ENGINE-0210", { image: record.id, what: "layer", digest: blob.digest, detail: "zstd layers cannot be decompressed by this engine yet" });
          const gunzip = createGunzip();
          stream.on("error", (e) => gunzip.destroy(e));
          return stream.pipe(gunzip);
        },
      });
      layerDescs.push({ mediaType: MediaTypes.ociLayer, digest: layer.diffId, size });
      layerPaths.push(path);
    }
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: record.id, size: record.config.size },
        layers: layerDescs,
      }),
    );
    const manifestDigest = sha256Of(manifest);
    blobs.set(`blobs/sha256/${digestHex(manifestDigest)}`, { type: "file", path: `blobs/sha256/${digestHex(manifestDigest)}`, content: manifest });
    const repoTags: string[] = [];
    const top = record.layers[record.layers.length - 1]?.diffId;
    for (const t of tags) {
      if (t.kind !== "tag") continue;
      repoTags.push(familiar(t));
      (repositories[familiarName(t.ref)] ??= {})[t.ref.tag] = top !== undefined ? digestHex(top) : "";
      indexManifests.push({
        mediaType: MediaTypes.ociManifest,
        digest: manifestDigest,
        size: manifest.length,
        annotations: { [IMAGE_NAME_ANNOTATION]: t.key, [REF_NAME_ANNOTATION]: t.ref.tag },
      });
    }
    if (tags.length === 0) indexManifests.push({ mediaType: MediaTypes.ociManifest, digest: manifestDigest, size: manifest.length });
    manifestJson.push({ Config: configPath, RepoTags: repoTags.length > 0 ? repoTags : null, Layers: layerPaths });
  }
  const entries: ArchiveEntry[] = [
    { type: "directory", path: "blobs" },
    { type: "directory", path: "blobs/sha256" },
    ...blobs.values(),
    { type: "file", path: "index.json", content: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: indexManifests })) },
    { type: "file", path: "manifest.json", content: Buffer.from(`${JSON.stringify(manifestJson)}\n`) },
    { type: "file", path: "oci-layout", content: Buffer.from(OCI_LAYOUT_CONTENT) },
  ];
  for (const { record } of items) store.emit({ action: "save", id: record.id });
  if (Object.keys(repositories).length > 0) entries.push({ type: "file", path: "repositories", content: Buffer.from(`${JSON.stringify(repositories)}\n`) });
  return packArchive(entries, opts);
}

async function measure(store: ImageStore, digest: Digest, compression: "none" | "gzip" | "zstd", signal: AbortSignal | undefined): Promise<LayerMeasure> {
  const m = await measureLayer(await store.content.get(digest, signal !== undefined ? { signal } : {}), compression, signal);
  if (m === undefined) throw htkError("HTK-ENGINE-0210", { image: digest, what: "layer", digest, detail: "zstd layers cannot be decompressed by this engine yet" });
  return m;
}


export interface LoadOptions {
  readonly signal?: AbortSignal;
}

export interface LoadResult {
  readonly images: readonly LoadedImage[];
  /** The lines `docker load` prints, in order ("Loaded image: busybox:latest"). */
  readonly messages: readonly string[];
}

interface ManifestItem {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

function manifestItems(bytes: Buffer): ManifestItem[] {
  const parsed = parseJson(bytes);
  const fail = (detail: string): never => {
    throw htkError("HTK-ENGINE-0211", { detail: `manifest.json ${detail}` });
  };
  if (!parsed.ok) return fail(`is ${parsed.error}`);
  if (!Array.isArray(parsed.value)) return fail("is not a list");
  return parsed.value.map((raw: unknown, i): ManifestItem => {
    const o = raw as Partial<Record<string, unknown>> | null;
    if (o === null || typeof o !== "object" || typeof o["Config"] !== "string") return fail(`entry ${i} has no Config`);
    const tags = o["RepoTags"] ?? [];
    const layers = o["Layers"] ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string")) return fail(`entry ${i} has invalid RepoTags`);
    if (!Array.isArray(layers) || !layers.every((t) => typeof t === "string")) return fail(`entry ${i} has invalid Layers`);
    return { Config: o["Config"], RepoTags: tags as string[], Layers: layers as string[] };
  });
}

/**
 * `docker load`: reads a `docker save` archive (any Docker version's form, or an OCI layout tar) from
 * `source` into the store. Every blob is verified (by its name, and each layer by its diff ID)
 * before any name is set; a refused archive leaves no names and no unleased blobs behind.
 */
export async function loadImageArchive(store: ImageStore, source: AsyncIterable<Uint8Array>, opts: LoadOptions = {}): Promise<LoadResult> {
  const ingest = new ArchiveIngest(store.content, store.refs);
  await ingest.read(source, opts.signal);
  let inputs: { input: AddImageInput; tagged: boolean }[];
  try {
    const manifestBytes = ingest.metadata.get("manifest.json");
    const indexBytes = ingest.metadata.get("index.json");
    if (manifestBytes !== undefined) inputs = await fromManifestJson(store, ingest, manifestBytes, indexBytes, opts.signal);
    else if (indexBytes !== undefined) {
      const list = await imagesFromIndex(store, indexBytes, "the archive", tarFetch(store, ingest), opts.signal !== undefined ? { signal: opts.signal } : {}, tarMeasures(ingest));
      inputs = list.map((input) => ({ input, tagged: (input.names ?? []).length > 0 }));
    } else throw htkError("HTK-ENGINE-0212", {});
  } catch (err) {
    await ingest.discard();
    throw err;
  }
  const messages: string[] = [];
  const images: LoadedImage[] = [];
  try {
    for (const { input } of inputs) {
      // Docker's load sets names without "tag" events; the "load" event below reports it.
      const r = await store.add({ ...input, tagEvents: false });
      for (const m of r.moved) messages.push(`The image ${m.name} already exists, renaming the old one with ID ${m.previous} to empty string`);
      if (r.names.length === 0) messages.push(`Loaded image ID: ${r.image.id}`);
      for (const n of r.names) messages.push(`Loaded image: ${n}`);
      images.push({ id: r.image.id, names: r.names });
      store.emit({ action: "load", id: r.image.id });
    }
  } finally {
    // What no loaded image needs (the legacy v1 JSON blobs Docker writes, manifests we replaced) goes,
    // and the import's leases with it.
    await ingest.discard();
  }
  return { images, messages };
}

async function fromManifestJson(
  store: ImageStore,
  ingest: ArchiveIngest,
  manifestBytes: Buffer,
  indexBytes: Buffer | undefined,
  signal: AbortSignal | undefined,
): Promise<{ input: AddImageInput; tagged: boolean }[]> {
  const items = manifestItems(manifestBytes);
  // Docker 25+ archives carry their OCI manifests: reuse them (same digests as the saving daemon).
  const archived = new Map<Digest, { digest: Digest; size: number; mediaType: string; layers: readonly Digest[] }>();
  if (indexBytes !== undefined) {
    try {
      const list = await imagesFromIndex(store, indexBytes, "the archive", tarFetch(store, ingest), signal !== undefined ? { signal } : {});
      for (const input of list) {
        const doc = parseJson(await store.content.readBytes(input.manifest.digest));
        const m = doc.ok ? (doc.value as { config?: { digest?: Digest }; layers?: { digest?: Digest }[] }) : undefined;
        if (m?.config?.digest !== undefined) {
          archived.set(m.config.digest, { ...input.manifest, layers: (m.layers ?? []).map((l) => l.digest as Digest) });
        }
      }
    } catch {
      // A broken index.json next to a valid manifest.json: Docker reads only manifest.json; so do we.
    }
  }
  const out: { input: AddImageInput; tagged: boolean }[] = [];
  for (const item of items) {
    const cfg = need(ingest, item.Config);
    const configBytes = await store.content.readBytes(cfg.digest);
    const config = parseImageConfig(configBytes);
    if (!config.ok) throw htkError("HTK-ENGINE-0210", { image: item.RepoTags[0] ?? cfg.digest, what: "config", digest: cfg.digest, detail: config.error });
    const diffIds = config.value.rootfs.diff_ids;
    if (diffIds.length !== item.Layers.length) {
      throw htkError("HTK-ENGINE-0210", {
        image: item.RepoTags[0] ?? cfg.digest,
        what: "config",
        digest: cfg.digest,
        detail: `invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${item.Layers.length}`,
      });
    }
    const files = item.Layers.map((p) => need(ingest, p));
    const measures: (LayerMeasure | undefined)[] = [];
    for (const [i, f] of files.entries()) {
      const actual = f.layer?.diffId ?? (f.gzip ? undefined : f.digest);
      const expected = diffIds[i];
      if (actual === undefined || actual !== expected) {
        throw htkError("HTK-ENGINE-0215", { index: i, expected: expected ?? "", actual: actual ?? `${f.digest} (not a readable layer)` });
      }
      measures.push(f.layer);
    }
    for (const t of item.RepoTags) parseName(t);
    let manifest = archived.get(cfg.digest);
    if (manifest !== undefined && (manifest.layers.length !== files.length || manifest.layers.some((d, i) => d !== files[i]?.digest))) manifest = undefined;
    let descriptor: { mediaType: string; digest: Digest; size: number };
    if (manifest !== undefined) descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
    else {
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: cfg.digest, size: cfg.size },
          layers: files.map((f) => ({ mediaType: f.gzip ? MediaTypes.ociLayerGzip : MediaTypes.ociLayer, digest: f.digest, size: f.size })),
        }),
      );
      const d = await ingest.put(bytes, signal);
      descriptor = { mediaType: MediaTypes.ociManifest, digest: d.digest, size: d.size };
    }
    out.push({
      input: { manifest: descriptor, names: item.RepoTags, layers: measures, ...(signal !== undefined ? { signal } : {}) },
      tagged: item.RepoTags.length > 0,
    });
  }
  return out;
}

function need(ingest: ArchiveIngest, path: string): IngestedFile {
  const f = ingest.file(path);
  if (f === undefined) throw htkError("HTK-ENGINE-0214", { manifest: "manifest.json", path });
  return f;
}


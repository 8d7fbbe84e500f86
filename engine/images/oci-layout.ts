import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { digestHex, isDigest, type Descriptor, type Digest } from "../../cache/index.ts";
import {
  MediaTypes,
  hostPlatform,
  isIndexMediaType,
  isManifestMediaType,
  parseIndex,
  parseJson,
  parseManifestDocument,
  selectManifest,
  type OciDescriptor,
  type Platform,
} from "../../base/oci/index.ts";
import { ArchiveIngest } from "./ingest.ts";
import { familiar, parseName, type StoredName } from "./names.ts";
import type { AddImageInput, ImageStore } from "./store.ts";
import { packArchive, type ArchiveEntry, type LayerMeasure } from "./tar.ts";
import type { ImageRecord } from "./types.ts";

/**
 * OCI image layouts (image-spec `image-layout.md`): a directory or a tar of `oci-layout`,
 * `index.json` and `blobs/sha256/<hex>`. What `docker buildx build --output type=oci`, `skopeo copy
 * oci:DIR:ref` and `docker save` (since Docker 25, alongside its own files) use. Blobs are written as
 * the store holds them (a pulled image keeps its gzip layers and its manifest digest).
 */

/** containerd's full-name annotation (docker save, BuildKit, nerdctl write it). */
export const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";
/** The OCI ref name: what `skopeo … oci:DIR:<ref>` selects by. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
export const OCI_LAYOUT_CONTENT = `{"imageLayoutVersion": "1.0.0"}`;

export interface LayoutImageSpec {
  /** An image name or ID in the store. */
  readonly image: string;
  /** The ref name in index.json; default: the tag of `image` when it is a tagged name. */
  readonly refName?: string;
}

interface LayoutPlan {
  readonly blobs: Map<Digest, { size: number; open: () => Promise<Readable> }>;
  readonly index: Buffer;
  readonly images: readonly ImageRecord[];
}

async function plan(store: ImageStore, specs: readonly LayoutImageSpec[]): Promise<LayoutPlan> {
  const blobs = new Map<Digest, { size: number; open: () => Promise<Readable> }>();
  const descriptors: OciDescriptor[] = [];
  const images: ImageRecord[] = [];
  const add = (d: Descriptor): void => {
    if (!blobs.has(d.digest)) blobs.set(d.digest, { size: d.size, open: () => store.content.get(d.digest) });
  };
  for (const spec of specs) {
    const rec = store.resolve(spec.image);
    images.push(rec);
    const m = rec.manifests[0];
    if (m === undefined) throw htkError("HTK-ENGINE-0209", { image: spec.image, what: "manifest", digest: rec.id });
    add(m.descriptor);
    add(rec.config);
    for (const l of m.layers) if (await store.content.has(l.digest)) add(l);
    let name: StoredName | undefined;
    try {
      name = rec.id.includes(spec.image) ? undefined : parseName(spec.image);
    } catch {
      name = undefined;
    }
    const refName = spec.refName ?? (name?.kind === "tag" ? name.ref.tag : undefined);
    const annotations: Record<string, string> = {};
    if (name?.kind === "tag") annotations[IMAGE_NAME_ANNOTATION] = name.key;
    if (refName !== undefined) annotations[REF_NAME_ANNOTATION] = refName;
    descriptors.push({
      mediaType: m.descriptor.mediaType,
      digest: m.descriptor.digest,
      size: m.descriptor.size,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      platform: rec.platform,
    });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: descriptors }));
  return { blobs, index, images };
}

/**
 * Writes images into an OCI layout directory (created if needed; an existing layout's index.json is
 * replaced). Blobs are written to a temporary name and renamed, index.json last, so a reader never
 * sees an index that names a missing blob.
 */
export async function writeOciLayout(store: ImageStore, dir: string, specs: readonly LayoutImageSpec[], opts: { signal?: AbortSignal } = {}): Promise<void> {
  const p = await plan(store, specs);
  const blobDir = join(dir, "blobs", "sha256");
  await mkdir(blobDir, { recursive: true });
  for (const [digest, blob] of p.blobs) {
    opts.signal?.throwIfAborted();
    const target = join(blobDir, digestHex(digest));
    const st = await stat(target).catch(() => undefined);
    if (st?.size === blob.size) continue;
    const tmp = `${target}.tmp-${process.pid}`;
    const fh = await open(tmp, "w", 0o644);
    try {
      await pipeline(await blob.open(), fh.createWriteStream(), ...(opts.signal !== undefined ? [{ signal: opts.signal }] : []));
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      await fh.close().catch(() => undefined);
    }
    await rename(tmp, target);
  }
  await writeFileAtomic(join(dir, "oci-layout"), Buffer.from(OCI_LAYOUT_CONTENT));
  await writeFileAtomic(join(dir, "index.json"), p.index);
}

async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** The same layout as a tar stream (`docker buildx --output type=oci,dest=x.tar`, `oci-archive:`). */
export async function saveOciArchive(store: ImageStore, specs: readonly LayoutImageSpec[], opts: { signal?: AbortSignal } = {}): Promise<Readable> {
  const p = await plan(store, specs);
  const entries: ArchiveEntry[] = [
    { type: "directory", path: "blobs" },
    { type: "directory", path: "blobs/sha256" },
    { type: "file", path: "oci-layout", content: Buffer.from(OCI_LAYOUT_CONTENT) },
    { type: "file", path: "index.json", content: p.index },
  ];
  for (const [digest, blob] of p.blobs) {
    entries.push({ type: "file", path: `blobs/sha256/${digestHex(digest)}`, size: blob.size, open: blob.open });
  }
  return packArchive(entries, opts);
}

export interface LayoutLoadOptions {
  /** Only the manifest whose ref name (or full name) is this. */
  readonly refName?: string;
  /** Names to give the loaded image(s) instead of the layout's annotations. */
  readonly names?: readonly string[];
  /** For an index entry that is itself an index; default: this host's platform. */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
}

export interface LoadedImage {
  readonly id: Digest;
  readonly names: readonly string[];
}

/** Where a layout's blobs are while it is read: already in the store (a tar), or in a directory. */
type BlobSource = (digest: Digest, size: number) => Promise<void>;

/**
 * The images an OCI index describes, ready for `ImageStore.add` (blobs fetched into the store via
 * `fetch`). Shared by the directory and tar readers and by `docker load` of an OCI-only archive.
 */
export async function imagesFromIndex(
  store: ImageStore,
  indexBytes: Buffer,
  where: string,
  fetch: BlobSource,
  opts: LayoutLoadOptions,
  /** Layer measurements made while the blobs were read (a tar), so `add` need not read them again. */
  measureOf?: (digest: Digest) => LayerMeasure | undefined,
): Promise<AddImageInput[]> {
  const index = parseIndex(indexBytes);
  if (!index.ok) throw htkError("HTK-ENGINE-0217", { path: where, detail: `index.json: ${index.error}` });
  const entries = index.value.manifests.filter((d) => {
    if (opts.refName === undefined) return true;
    const a = d.annotations ?? {};
    return a[REF_NAME_ANNOTATION] === opts.refName || a[IMAGE_NAME_ANNOTATION] === opts.refName || familiarOf(a[IMAGE_NAME_ANNOTATION]) === opts.refName;
  });
  if (entries.length === 0 || (opts.refName !== undefined && entries.length > 1)) {
    const available = index.value.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? d.digest).join(", ");
    throw htkError("HTK-ENGINE-0218", { path: where, count: entries.length, ref: opts.refName ?? "", available: available === "" ? "none" : available });
  }
  const platform = opts.platform ?? hostPlatform();
  const out: AddImageInput[] = [];
  for (const entry of entries) {
    let manifestDesc: OciDescriptor = entry;
    let rootIndex: OciDescriptor | undefined;
    await fetch(entry.digest, entry.size);
    if (isIndexMediaType(entry.mediaType)) {
      const nested = parseIndex(await store.content.readBytes(entry.digest));
      if (!nested.ok) throw htkError("HTK-ENGINE-0217", { path: where, detail: `index ${entry.digest}: ${nested.error}` });
      const picked = selectManifest(nested.value.manifests, platform);
      if (picked === undefined) throw htkError("HTK-ENGINE-0217", { path: where, detail: `index ${entry.digest} has no manifest for this platform` });
      rootIndex = entry;
      manifestDesc = picked;
      await fetch(picked.digest, picked.size);
    } else if (!isManifestMediaType(entry.mediaType)) {
      continue;
    }
    const doc = parseManifestDocument(await store.content.readBytes(manifestDesc.digest), manifestDesc.mediaType);
    if (!doc.ok || doc.value.kind !== "manifest") {
      throw htkError("HTK-ENGINE-0217", { path: where, detail: `manifest ${manifestDesc.digest}: ${doc.ok ? "it is an index" : doc.error}` });
    }
    const manifest = doc.value.manifest;
    await fetch(manifest.config.digest, manifest.config.size);
    for (const l of manifest.layers) await fetch(l.digest, l.size);
    const name = entry.annotations?.[IMAGE_NAME_ANNOTATION];
    const names = opts.names ?? (name !== undefined && validName(name) ? [name] : []);
    out.push({
      manifest: { mediaType: manifest.mediaType, digest: manifestDesc.digest, size: manifestDesc.size },
      ...(rootIndex !== undefined ? { index: rootIndex } : {}),
      names,
      ...(measureOf !== undefined ? { layers: manifest.layers.map((l) => measureOf(l.digest)) } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
  }
  return out;
}

function familiarOf(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return familiar(parseName(name));
  } catch {
    return undefined;
  }
}

function validName(name: string): boolean {
  try {
    parseName(name);
    return true;
  } catch {
    return false;
  }
}

/** Imports images from an OCI layout directory into the store (blobs verified as they are copied). */
export async function readOciLayout(store: ImageStore, dir: string, opts: LayoutLoadOptions = {}): Promise<LoadedImage[]> {
  let indexBytes: Buffer;
  try {
    const layout = parseJson(await readFile(join(dir, "oci-layout")));
    const version = layout.ok ? (layout.value as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion : undefined;
    if (typeof version !== "string") throw new Error("oci-layout has no imageLayoutVersion");
    indexBytes = await readFile(join(dir, "index.json"));
  } catch (err) {
    if (isHtkError(err)) throw err;
    throw htkError("HTK-ENGINE-0217", { path: dir, detail: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
  const added = new Set<Digest>();
  const fetch: BlobSource = async (digest, size) => {
    if (!isDigest(digest)) throw htkError("HTK-ENGINE-0217", { path: dir, detail: `"${String(digest)}" is not a sha256 digest` });
    if (await store.content.has(digest)) return;
    const file = join(dir, "blobs", "sha256", digestHex(digest));
    try {
      await stat(file);
    } catch {
      throw htkError("HTK-ENGINE-0214", { manifest: "index", path: `blobs/sha256/${digestHex(digest)}` });
    }
    added.add(digest);
    try {
      await store.content.put(createReadStream(file), { expected: { digest, size }, ...(opts.signal !== undefined ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (isHtkError(err, "HTK-CACHE-0002")) {
        throw htkError("HTK-ENGINE-0213", { path: `blobs/sha256/${digestHex(digest)}`, expected: digest, actual: String(err.params["actual"] ?? "other content") });
      }
      throw err;
    }
  };
  try {
    const inputs = await imagesFromIndex(store, indexBytes, dir, fetch, opts);
    const out: LoadedImage[] = [];
    for (const input of inputs) {
      const r = await store.add(input);
      out.push({ id: r.image.id, names: r.names });
    }
    return out;
  } catch (err) {
    for (const d of added) if (store.refs.blobLeaseCount(d) === 0) await store.content.delete(d).catch(() => undefined);
    throw err;
  }
}

/** Imports images from an OCI layout tar (streamed; nothing is kept when the tar is refused). */
export async function loadOciArchive(store: ImageStore, source: AsyncIterable<Uint8Array>, opts: LayoutLoadOptions = {}): Promise<LoadedImage[]> {
  const ingest = new ArchiveIngest(store.content, store.refs);
  await ingest.read(source, opts.signal);
  try {
    const indexBytes = ingest.metadata.get("index.json");
    if (indexBytes === undefined) throw htkError("HTK-ENGINE-0217", { path: "the archive", detail: "it has no index.json" });
    const inputs = await imagesFromIndex(store, indexBytes, "the archive", tarFetch(store, ingest), opts, tarMeasures(ingest));
    const out: LoadedImage[] = [];
    for (const input of inputs) {
      const r = await store.add(input);
      out.push({ id: r.image.id, names: r.names });
      store.emit({ action: "load", id: r.image.id });
    }
    // Blobs no loaded image needs (other platforms of an index) are not kept.
    await ingest.discard();
    return out;
  } catch (err) {
    await ingest.discard();
    throw err;
  }
}

/** The measurements the ingest made of a layout tar's layer blobs. */
export function tarMeasures(ingest: ArchiveIngest): (digest: Digest) => LayerMeasure | undefined {
  return (digest) => ingest.file(`blobs/sha256/${digestHex(digest)}`)?.layer;
}

/** Blobs of a layout tar are in the store once read; a missing one is an incomplete archive. */
export function tarFetch(store: ImageStore, ingest: ArchiveIngest): BlobSource {
  return async (digest) => {
    if (ingest.file(`blobs/sha256/${digestHex(digest)}`) !== undefined) return;
    if (await store.content.has(digest)) return;
    throw htkError("HTK-ENGINE-0214", { manifest: "index.json", path: `blobs/sha256/${digestHex(digest)}` });
  };
}

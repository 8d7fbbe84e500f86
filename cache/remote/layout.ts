import { sha256Of } from "../../base/oci/digest.ts";
import { MediaTypes } from "../../base/oci/media-types.ts";
import { parseManifestDocument } from "../../base/oci/parse.ts";
import type { Index, Manifest, OciDescriptor, ParseResult } from "../../base/oci/types.ts";
import { goJson } from "./config.ts";
import { CACHE_CONFIG_MEDIA_TYPE, type CacheLayout } from "./types.ts";

/** A document to store and push: its bytes and its descriptor. */
export interface Document {
  readonly bytes: Uint8Array;
  readonly descriptor: OciDescriptor;
}

/** The cache config blob's descriptor. */
export function configDocument(bytes: Uint8Array): Document {
  return { bytes, descriptor: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Of(bytes), size: bytes.byteLength } };
}

/**
 * A layer media type in the family the artifact uses (OCI by default, Docker's with
 * `oci-mediatypes=false`), keeping what the blob is (gzip or a plain tar).
 */
export function layerMediaType(mediaType: string, oci: boolean): string {
  const gzip = mediaType === MediaTypes.ociLayerGzip || mediaType === MediaTypes.dockerLayerGzip;
  const zstd = mediaType === MediaTypes.ociLayerZstd || mediaType === MediaTypes.dockerLayerZstd;
  if (oci) return gzip ? MediaTypes.ociLayerGzip : zstd ? MediaTypes.ociLayerZstd : MediaTypes.ociLayer;
  return gzip ? MediaTypes.dockerLayerGzip : zstd ? MediaTypes.dockerLayerZstd : MediaTypes.dockerLayer;
}

function descriptorJson(d: OciDescriptor): Record<string, unknown> {
  // Go's ocispec.Descriptor field order.
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.annotations === undefined || Object.keys(d.annotations).length === 0 ? {} : { annotations: sortedRecord(d.annotations) }),
  };
}

function sortedRecord(r: Readonly<Record<string, string>>): Record<string, string> {
  // Go marshals maps with sorted keys.
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The document that names a cache: an OCI image manifest whose config is the cache config and whose
 * layers are the blobs (`image-manifest`, BuildKit's `image-manifest=true`; accepted by registries
 * that refuse indexes of non-manifests), or an image index (or Docker manifest list) listing the blobs
 * and, last, the cache config (`index`, BuildKit's classic layout).
 */
export function cacheManifest(config: OciDescriptor, blobs: readonly OciDescriptor[], opts: { readonly layout: CacheLayout; readonly oci: boolean }): Document {
  const layers = blobs.map((b) => descriptorJson({ ...b, mediaType: layerMediaType(b.mediaType, opts.oci) }));
  let doc: Record<string, unknown>;
  let mediaType: string;
  if (opts.layout === "image-manifest") {
    mediaType = MediaTypes.ociManifest;
    doc = { schemaVersion: 2, mediaType, config: descriptorJson(config), layers };
  } else {
    mediaType = opts.oci ? MediaTypes.ociIndex : MediaTypes.dockerManifestList;
    doc = { schemaVersion: 2, mediaType, manifests: [...layers, descriptorJson(config)] };
  }
  const bytes = new TextEncoder().encode(goJson(doc));
  return { bytes, descriptor: { mediaType, digest: sha256Of(bytes), size: bytes.byteLength } };
}

/** What a cache reference names. */
export type CacheRoot =
  /** A cache artifact: its config blob and its layer blobs by digest. */
  | { readonly kind: "cache"; readonly layout: CacheLayout; readonly config: OciDescriptor; readonly blobs: ReadonlyMap<string, OciDescriptor> }
  /** An image: its config may carry an inline cache. */
  | { readonly kind: "image"; readonly manifest: Manifest }
  /** An image index: the platform's image may carry an inline cache. */
  | { readonly kind: "image-index"; readonly index: Index };

/** Reads the root document of a cache reference (a registry tag, an `index.json` entry). */
export function readCacheRoot(bytes: Uint8Array, mediaType: string | undefined): ParseResult<CacheRoot> {
  const doc = parseManifestDocument(bytes, mediaType);
  if (!doc.ok) return { ok: false, error: doc.error };
  switch (doc.value.kind) {
    case "manifest": {
      const m = doc.value.manifest;
      if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) return { ok: true, value: { kind: "image", manifest: m } };
      return { ok: true, value: { kind: "cache", layout: "image-manifest", config: m.config, blobs: new Map(m.layers.map((l) => [l.digest, l])) } };
    }
    case "index": {
      const idx = doc.value.index;
      const config = idx.manifests.find((d) => d.mediaType === CACHE_CONFIG_MEDIA_TYPE);
      if (config === undefined) return { ok: true, value: { kind: "image-index", index: idx } };
      const blobs = new Map(idx.manifests.filter((d) => d !== config).map((d) => [d.digest, d]));
      return { ok: true, value: { kind: "cache", layout: "index", config, blobs } };
    }
  }
}

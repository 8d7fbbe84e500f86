import { isDigest } from "../../base/oci/digest.ts";
import type { Manifest, OciDescriptor, ParseResult } from "../../base/oci/types.ts";
import { encodeRecords, parseRecords, sortRecords } from "./config.ts";
import { EMPTY_LAYER_DIFF_ID, INLINE_CACHE_KEY, UNCOMPRESSED_ANNOTATION, type CacheConfig, type ExportRecord } from "./types.ts";

/**
 * The inline cache of an image: the records of its steps as BuildKit's exporter writes them into
 * the image config under `moby.buildkit.cache.v0` (base64 of a JSON array of records). A result's
 * layer index is a position in the image's own layers: a result whose chain is not a prefix of the
 * image's layers (another stage, mode=max material) has no place here and keeps only its record.
 *
 * `imageLayers`: the blob digests of the image manifest's layers, in order. Empty layers (a step that
 * changed nothing) are not image layers: a chain is compared without them.
 */
export function inlineCacheValue(records: readonly ExportRecord[], imageLayers: readonly string[]): string | undefined {
  const position = new Map<string, number>();
  for (const r of records) {
    const chain = (r.result?.chain ?? []).filter((l) => l.diffId !== EMPTY_LAYER_DIFF_ID);
    if (chain.length === 0 || chain.length > imageLayers.length) continue;
    if (chain.every((l, i) => l.descriptor.digest === imageLayers[i])) position.set(r.id, chain.length - 1);
  }
  if (position.size === 0) return undefined;
  const entries = sortRecords(records, (id) => position.get(id));
  return Buffer.from(encodeRecords(entries)).toString("base64");
}

/**
 * The cache config an image carries inline, or undefined when it has none. Its layers are the image's
 * layers (each on the one before), annotated with the config's diff_ids.
 */
export function inlineCacheOf(config: unknown, manifest: Manifest): ParseResult<{ config: CacheConfig; blobs: ReadonlyMap<string, OciDescriptor> } | undefined> {
  if (typeof config !== "object" || config === null) return { ok: false, error: "the image config is not a JSON object" };
  const value = (config as Record<string, unknown>)[INLINE_CACHE_KEY];
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (typeof value !== "string") return { ok: false, error: `${INLINE_CACHE_KEY} is not a base64 string` };
  const rootfs = (config as { rootfs?: { diff_ids?: unknown } }).rootfs;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? rootfs.diff_ids : [];
  if (diffIds.length !== manifest.layers.length) return { ok: false, error: "the image's diff_ids do not match its layers" };
  const records = parseRecords(Buffer.from(value, "base64"), manifest.layers.length);
  if (!records.ok) return { ok: false, error: `${INLINE_CACHE_KEY}: ${records.error}` };
  const blobs = new Map<string, OciDescriptor>();
  const layers = manifest.layers.map((l, i) => {
    const diffId = diffIds[i];
    blobs.set(l.digest, typeof diffId === "string" && isDigest(diffId) ? { ...l, annotations: { ...(l.annotations ?? {}), [UNCOMPRESSED_ANNOTATION]: diffId } } : l);
    return { blob: l.digest, parent: i - 1 };
  });
  return { ok: true, value: { config: { layers, records: records.value }, blobs } };
}

/**
 * `cache/remote/`: the remote build cache — BuildKit's cache config v0 (records, layers, links), the
 * image-manifest and index layouts, inline caches in image configs, OCI layout directories, and the
 * `--cache-to` / `--cache-from` options. Registry and worker glue live in `engine/build`. See README.md.
 */
export type {
  ArtifactOptions,
  CacheCompression,
  CacheConfig,
  CacheExportSpec,
  CacheImportSpec,
  CacheInput,
  CacheLayer,
  CacheLayout,
  CacheMode,
  CacheRecordEntry,
  CacheResult,
  ExportLayer,
  ExportLink,
  ExportRecord,
  ImportHit,
  ImportedLayer,
  ImportedResult,
  LayerAnnotations,
} from "./types.ts";
export { CACHE_CONFIG_MEDIA_TYPE, EMPTY_LAYER_DIFF_ID, INLINE_CACHE_KEY, REF_NAME_ANNOTATION, UNCOMPRESSED_ANNOTATION, ZERO_TIME } from "./types.ts";
export { buildCacheConfig, describeLayer, encodeCacheConfig, encodeRecords, goJson, parseCacheConfig, parseRecords, sortRecords } from "./config.ts";
export { ImportedCache, MAX_KEY_VARIANTS, computeKeys, isContentSelector, type KeyNode, type RecordKeys } from "./keys.ts";
export { cacheManifest, configDocument, layerMediaType, readCacheRoot, type CacheRoot, type Document } from "./layout.ts";
export { inlineCacheOf, inlineCacheValue } from "./inline.ts";
export { LocalLayout } from "./local-layout.ts";
export { otherLayoutOption, parseCacheFrom, parseCacheTo } from "./options.ts";
export { CACHE_MOUNTS_CONFIG_MEDIA_TYPE, CACHE_MOUNT_ID_ANNOTATION, cacheMountsArtifact, cacheMountsOf, cacheMountsTag, type CacheMountEntry } from "./cache-mounts.ts";

/**
 * `engine/images/`: the local image store (Docker 26 classic semantics on the content store) and
 * image archives (`docker save`/`load`, OCI layouts). See README.md.
 */
export type {
  ContainerUse,
  DeleteItem,
  FilterArgs,
  HistoryItem,
  ImageEvent,
  ImageInspect,
  ImageRecord,
  ImageStatePersistence,
  ImageStoreState,
  ImageSummary,
  InspectContainerConfig,
  LayerRecord,
  ManifestRecord,
  PruneReport,
} from "./types.ts";
export {
  ImageStore,
  blobsOf,
  chainIds,
  imageSize,
  type AddImageInput,
  type AddResult,
  type ConfigExtras,
  type BlobRoots,
  type GcOptions,
  type ImageStoreOptions,
  type ListOptions,
  type RemoveOptions,
} from "./store.ts";
export { JsonImageStateFile, JsonLeaseFile } from "./persistence.ts";
export { familiar, familiarMatch, isFullId, parseName, shortId, type StoredName } from "./names.ts";
export { loadImageArchive, saveDockerArchive, type LoadOptions, type LoadResult, type SaveOptions } from "./docker-archive.ts";
export {
  IMAGE_NAME_ANNOTATION,
  REF_NAME_ANNOTATION,
  loadOciArchive,
  readOciLayout,
  saveOciArchive,
  writeOciLayout,
  type LayoutImageSpec,
  type LayoutLoadOptions,
  type LoadedImage,
} from "./oci-layout.ts";
export { importImage, type ImportOptions } from "./import.ts";
export { decompressStream, detectCompression, type Compression, type DecompressOptions } from "./decompress.ts";
export { pullImage, type PullEvent, type PullImageOptions, type PullImageResult } from "./pull.ts";
export { measureLayer, packArchive, readArchive, type ArchiveEntry, type LayerMeasure, type ReadEntry } from "./tar.ts";
export { BlobLeases } from "./blob-leases.ts";

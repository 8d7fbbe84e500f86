/**
 * The remote build cache: BuildKit's cache config v0 (`cache/remotecache/v1` in BuildKit) as data,
 * and the options of `--cache-to` / `--cache-from`. See README.md for the structure and the layouts.
 *
 * A cache config is a graph of **records** (one per cache key of a step) and a forest of **layers**
 * (blobs, each with the index of its parent layer). A record links to the records of the step's
 * inputs, one list per input slot, each link with an optional selector; a record's results point at
 * the top layer of the chain that is the step's result.
 */
import type { Digest } from "../../base/oci/digest.ts";
import type { OciDescriptor } from "../../base/oci/types.ts";

/** The media type of the cache config blob. */
export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.buildkit.cacheconfig.v0";
/** The image config key that carries inline cache records (base64 of their JSON array). */
export const INLINE_CACHE_KEY = "moby.buildkit.cache.v0";
/** Descriptor annotation with the layer's uncompressed digest (its diff_id), as containerd names it. */
export const UNCOMPRESSED_ANNOTATION = "containerd.io/uncompressed";
/** The OCI layout annotation that names a manifest in `index.json` (the tag of a local cache). */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
/** diff_id of a tar with no entries (two 512-byte zero blocks): a step that changed nothing. */
export const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef" as Digest;
/** Go's zero `time.Time` as encoding/json writes it: what a result without a time carries. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** BuildKit's `CacheConfig`. */
export interface CacheConfig {
  readonly layers: readonly CacheLayer[];
  readonly records: readonly CacheRecordEntry[];
}

/** A layer: a blob and the index of the layer below it (-1: none). */
export interface CacheLayer {
  readonly blob: Digest;
  readonly parent: number;
  /** BuildKit ≥ 0.12 may describe the blob here too; read, never written. */
  readonly annotations?: LayerAnnotations;
}

export interface LayerAnnotations {
  readonly mediaType?: string;
  readonly diffID?: Digest;
  readonly size?: number;
  readonly createdAt?: string;
}

/**
 * A record. Its `digest` is either a step's complete cache key (a record without inputs: a source,
 * or a key whose parts were not known when it was exported) or the step's op digest, in which case
 * the key is recomputed from the linked records (see `keys.ts`).
 */
export interface CacheRecordEntry {
  readonly digest: Digest;
  /** Per input slot (the op's inputs in order), the records that may stand for that input. */
  readonly inputs: readonly (readonly CacheInput[])[];
  readonly results: readonly CacheResult[];
  /** BuildKit's chained results (merge ops): kept when read, never used for hits. */
  readonly chains?: readonly unknown[];
}

export interface CacheInput {
  /** Absent: the whole input. A path (or newline-separated paths), or a content checksum (`sha256:…`). */
  readonly selector?: string;
  /** Index of the linked record. */
  readonly link: number;
}

export interface CacheResult {
  /** Index of the top layer of the result's chain. */
  readonly layer: number;
  readonly createdAt: string;
}

// ---- what the exporter is given ---------------------------------------------------------------

/** A layer of an exported result: the blob as it will be stored, and the tar's digest. */
export interface ExportLayer {
  readonly descriptor: OciDescriptor;
  readonly diffId: Digest;
}

/** One record to export, by an id the caller chooses (unique in the export). */
export interface ExportRecord {
  readonly id: string;
  readonly digest: Digest;
  readonly inputs: readonly (readonly ExportLink[])[];
  readonly result?: { readonly chain: readonly ExportLayer[]; readonly createdAt: string };
}

export interface ExportLink {
  /** The id of the linked record (it must be in the same export). */
  readonly record: string;
  readonly selector?: string;
}

// ---- what an import yields ----------------------------------------------------------------------

/** A layer of an imported result: its blob's descriptor and, when the artifact says, its diff_id. */
export interface ImportedLayer {
  readonly descriptor: OciDescriptor;
  readonly diffId?: Digest;
}

export interface ImportedResult {
  /** Bottom layer first. */
  readonly chain: readonly ImportedLayer[];
  readonly createdAt: string;
}

/** A key found in an imported cache. */
export interface ImportHit {
  readonly result: ImportedResult;
  /**
   * Set when the key is a step's fast key (made of its inputs' keys) whose content key is known too:
   * the solver keys the step by it, so that what follows finds what it was recorded under.
   */
  readonly canonical?: Digest;
}

// ---- options ------------------------------------------------------------------------------------

export type CacheMode = "min" | "max";
/** `image-manifest`: an OCI image manifest whose config is the cache config; `index`: an image index of blobs. */
export type CacheLayout = "image-manifest" | "index";
export type CacheCompression = "gzip" | "uncompressed";

/** How records and blobs are written (registry and local exports). */
export interface ArtifactOptions {
  readonly mode: CacheMode;
  readonly layout: CacheLayout;
  /** OCI media types (default) or Docker's (`oci-mediatypes=false`, index layout only). */
  readonly oci: boolean;
  readonly compression: CacheCompression;
  /** A failed export warns instead of failing the build. */
  readonly ignoreError: boolean;
  /**
   * `cache-mounts=true` (every `RUN --mount=type=cache` the build uses) or `cache-mounts=ID;ID`:
   * their contents as a second artifact under the same reference (tag `<tag>-cache-mounts`).
   */
  readonly cacheMounts?: "all" | readonly string[];
}

/** A parsed `--cache-to`. */
export type CacheExportSpec =
  | ({ readonly type: "registry"; readonly ref: string } & ArtifactOptions)
  | ({ readonly type: "local"; readonly dest: string; readonly tag: string } & ArtifactOptions)
  | { readonly type: "inline" };

/** A parsed `--cache-from`. */
export type CacheImportSpec =
  | { readonly type: "registry"; readonly ref: string; readonly ignoreError: boolean }
  | { readonly type: "local"; readonly src: string; readonly tag: string; readonly digest?: Digest; readonly ignoreError: boolean };

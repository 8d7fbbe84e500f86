import type { Digest } from "../../cache/index.ts";
import type { OciDescriptor, Platform } from "../../base/oci/index.ts";

/**
 * The local image store's data model: what `docker images` lists, what `docker rmi` removes, what
 * `docker save` writes. Images live on the content store (manifests, configs, layers are blobs); this
 * store adds names, metadata and leases. As in Docker 26's classic store, an image's ID is the digest
 * of its config: two manifests of the same config (a registry's gzip layers and a `docker load`'s
 * uncompressed ones) are one image with two manifests.
 */

/** One manifest of an image, as the content store holds it. */
export interface ManifestRecord {
  /** The image manifest (OCI or Docker schema 2). */
  readonly descriptor: OciDescriptor;
  /** The index or manifest list it was selected from (a pull by a multi-platform tag), if any. */
  readonly index?: OciDescriptor;
  /** The manifest's layer descriptors, in order (what a push sends and a snapshotter unpacks). */
  readonly layers: readonly OciDescriptor[];
}

/** Facts about one layer of the image, in rootfs order. */
export interface LayerRecord {
  readonly diffId: Digest;
  /**
   * Bytes of file content in the layer: what Docker's classic layer store reports as the layer size
   * (the sum of the tar headers' sizes, whiteouts excluded). Undefined when it could not be measured
   * (zstd on Node 20); the image size then falls back to the blob size.
   */
  readonly contentSize?: number;
  /** Size of the uncompressed layer tar (what `docker save` writes), when measured. */
  readonly tarSize?: number;
}

/** One image, keyed by its ID (config digest). */
export interface ImageRecord {
  readonly id: Digest;
  readonly config: OciDescriptor;
  readonly manifests: readonly ManifestRecord[];
  readonly layers: readonly LayerRecord[];
  readonly platform: Platform;
  /** The config's `created`, as written (RFC 3339). */
  readonly created?: string;
  /** Docker's local parent link (classic builder, `docker commit`); never set by a pull. */
  readonly parent?: Digest;
  /** The config's labels (for the list filters, without reading the config). */
  readonly labels?: Readonly<Record<string, string>>;
  /** When a name was last given to it locally (`docker tag`, a build's -t): Metadata.LastTagTime. */
  readonly lastTagTime?: string;
  /** When this store first recorded the image (not an API field; for ordering and GC grace). */
  readonly addedAt: string;
}

/** Everything the store persists (apart from the leases, which go through `LeasePersistence`). */
export interface ImageStoreState {
  readonly version: 1;
  readonly images: Readonly<Record<string, ImageRecord>>;
  /** Normalised references ("docker.io/library/busybox:latest", "…/busybox@sha256:…") to image IDs. */
  readonly references: Readonly<Record<string, Digest>>;
}

/**
 * Where the store keeps its state. Synchronous, like better-sqlite3, so the engine's SQLite state can
 * replace the JSON file without changing the store. `save` must be atomic (all or nothing).
 */
export interface ImageStatePersistence {
  load(): ImageStoreState | undefined;
  save(state: ImageStoreState): void;
}

/** A container's use of an image, as the container store reports it (for `docker rmi` conflicts). */
export interface ContainerUse {
  readonly id: string;
  readonly running: boolean;
}

/** `GET /images/json` item (API v1.45: no VirtualSize). */
export interface ImageSummary {
  readonly Containers: number;
  readonly Created: number;
  readonly Id: string;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly ParentId: string;
  readonly RepoDigests: readonly string[];
  readonly RepoTags: readonly string[];
  readonly SharedSize: number;
  readonly Size: number;
}

/** Docker's container.Config as image inspect shows it: every field present, Go zero values. */
export interface InspectContainerConfig {
  readonly Hostname: string;
  readonly Domainname: string;
  readonly User: string;
  readonly AttachStdin: boolean;
  readonly AttachStdout: boolean;
  readonly AttachStderr: boolean;
  readonly ExposedPorts?: Readonly<Record<string, Readonly<Record<string, never>>>>;
  readonly Tty: boolean;
  readonly OpenStdin: boolean;
  readonly StdinOnce: boolean;
  readonly Env: readonly string[] | null;
  readonly Cmd: readonly string[] | null;
  readonly Healthcheck?: unknown;
  readonly ArgsEscaped?: boolean;
  readonly Image: string;
  readonly Volumes: Readonly<Record<string, Readonly<Record<string, never>>>> | null;
  readonly WorkingDir: string;
  readonly Entrypoint: readonly string[] | null;
  readonly OnBuild: readonly string[] | null;
  readonly Labels: Readonly<Record<string, string>> | null;
  readonly StopSignal?: string;
  readonly Shell?: readonly string[];
}

/** `GET /images/{name}/json` (API v1.45: no Container, ContainerConfig, VirtualSize). */
export interface ImageInspect {
  readonly Id: string;
  readonly RepoTags: readonly string[];
  readonly RepoDigests: readonly string[];
  readonly Parent: string;
  readonly Comment: string;
  readonly Created: string;
  readonly DockerVersion: string;
  readonly Author: string;
  readonly Config: InspectContainerConfig | null;
  readonly Architecture: string;
  readonly Variant?: string;
  readonly Os: string;
  readonly OsVersion?: string;
  readonly Size: number;
  readonly GraphDriver: { readonly Data: Readonly<Record<string, string>> | null; readonly Name: string };
  readonly RootFS: { readonly Type: string; readonly Layers: readonly string[] };
  readonly Metadata: { readonly LastTagTime: string };
}

/** `GET /images/{name}/history` item. */
export interface HistoryItem {
  readonly Id: string;
  readonly Created: number;
  readonly CreatedBy: string;
  readonly Tags: readonly string[] | null;
  readonly Size: number;
  readonly Comment: string;
}

/** `DELETE /images/{name}` item: exactly one of the two keys. */
export type DeleteItem = { readonly Untagged: string } | { readonly Deleted: string };

/** `POST /images/prune` response. */
export interface PruneReport {
  readonly ImagesDeleted: readonly DeleteItem[] | null;
  readonly SpaceReclaimed: number;
}

/**
 * Docker's filter arguments (`filters` query parameter decoded): name → values. Accepts both of
 * Docker's JSON forms once decoded: `{"dangling":["true"]}` and `{"dangling":{"true":true}}`.
 */
export type FilterArgs = Readonly<Record<string, readonly string[] | Readonly<Record<string, boolean>>>>;

/** What happened to an image, for the engine's event stream (`docker events --filter type=image`). */
export interface ImageEvent {
  readonly action: "tag" | "untag" | "delete" | "load" | "save" | "pull" | "push" | "import";
  /** The image ID. */
  readonly id: Digest;
  /**
   * The reference involved (familiar form), when there is one: the new tag (tag), the removed name
   * (untag), the pulled or pushed reference (pull, push).
   */
  readonly name?: string;
}

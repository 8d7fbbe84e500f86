import type { Digest } from "./digest.ts";
import type { IndexMediaType, ManifestMediaType } from "./media-types.ts";

/**
 * The OCI image-spec's data model, as it travels on the wire and sits in the content store. Field names
 * are the JSON names (including the Docker config's capitalised ones and `os.version`), so a parsed
 * value re-serialises to the same keys; readonly throughout because manifests are content-addressed:
 * changing one makes a different object with a different digest.
 */

/** The platform a manifest or config is for. Compare with `platform.ts`, never with `===` on fields. */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly "os.version"?: string;
  readonly "os.features"?: readonly string[];
}

/**
 * An OCI content descriptor. Named `OciDescriptor` because `cache/types.ts` already exports the
 * store's minimal `Descriptor`; this one is a structural superset of it (an `OciDescriptor` can be
 * passed wherever the store wants a `Descriptor`).
 */
export interface OciDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** Only meaningful in an index's `manifests`. */
  readonly platform?: Platform;
  readonly artifactType?: string;
  /** Base64 of the content itself (image-spec 1.1 "embedded data"); verified against `digest` on use. */
  readonly data?: string;
}

/** An image manifest: OCI (`mediaType` may be absent) or Docker v2 schema 2. */
export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType: ManifestMediaType;
  readonly config: OciDescriptor;
  readonly layers: readonly OciDescriptor[];
  readonly subject?: OciDescriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An OCI image index or a Docker manifest list. */
export interface Index {
  readonly schemaVersion: 2;
  readonly mediaType: IndexMediaType;
  readonly manifests: readonly OciDescriptor[];
  readonly subject?: OciDescriptor;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Either kind of manifest document, tagged by `kind` for exhaustive switches. */
export type ManifestDocument =
  | { readonly kind: "manifest"; readonly manifest: Manifest }
  | { readonly kind: "index"; readonly index: Index };

/** Docker's HEALTHCHECK as stored in the config (durations in nanoseconds, as Go's time.Duration). */
export interface HealthConfig {
  /** ["NONE"], ["CMD", args…] or ["CMD-SHELL", command]; empty means "inherit". */
  readonly Test?: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/**
 * The runtime part of an image config. Docker writes these capitalised keys (Go field names) in both
 * Docker and OCI configs; the OCI spec documents the same names. Maps with empty-object values
 * (`ExposedPorts`, `Volumes`) are Go's `map[string]struct{}`.
 */
export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, Readonly<Record<string, never>>>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, Readonly<Record<string, never>>>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly Healthcheck?: HealthConfig;
  readonly OnBuild?: readonly string[] | null;
  readonly Shell?: readonly string[];
  /** Windows only; kept so that a config round-trips unchanged. */
  readonly ArgsEscaped?: boolean;
}

/** One history entry; `empty_layer` marks steps that made no layer (ENV, CMD …). */
export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface RootFs {
  readonly type: "layers";
  /** Digests of the uncompressed layer tars, in order; one per non-empty history entry. */
  readonly diff_ids: readonly Digest[];
}

/** The image config blob (OCI image config / Docker container image v1). */
export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly "os.version"?: string;
  readonly "os.features"?: readonly string[];
  readonly config?: ContainerConfig;
  readonly rootfs: RootFs;
  readonly history?: readonly HistoryEntry[];
}

/**
 * The result of parsing untrusted input: the value, or why it was refused. Parsers never throw on
 * bad input (bytes come from registries and archives); callers turn `error` into a diagnostic.
 */
export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

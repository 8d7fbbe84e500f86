/**
 * The OCI image-spec shapes the writers produce and read (image-spec v1.1). Only the fields HATAKE
 * writes are modelled; readers keep unknown fields because they hash the bytes, never re-serialise.
 */

export type Digest = `sha256:${string}`;

export const MediaType = {
  imageIndex: "application/vnd.oci.image.index.v1+json",
  imageManifest: "application/vnd.oci.image.manifest.v1+json",
  imageConfig: "application/vnd.oci.image.config.v1+json",
  layerTarGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerTarGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** The annotation that names a manifest inside an OCI layout's index.json (`oci:DIR:<name>`). */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MediaType.imageManifest;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MediaType.imageIndex;
  readonly manifests: readonly Descriptor[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The `config` member of an image configuration: what a container starts with. */
export interface ContainerConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly ExposedPorts?: Readonly<Record<string, Record<string, never>>>;
  readonly Volumes?: Readonly<Record<string, Record<string, never>>>;
  readonly StopSignal?: string;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: { readonly type: "layers"; readonly diff_ids: readonly Digest[] };
  readonly history?: readonly HistoryEntry[];
}

/** A layer blob on disk together with what the config and manifest need to know about it. */
export interface LayerBlob {
  /** The compressed blob, as the manifest references it. */
  readonly descriptor: Descriptor;
  /** The digest of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: Digest;
  /** The size of the uncompressed tar, when known (a layout on disk does not record it). */
  readonly uncompressedSize?: number;
  /** Where the compressed blob lives. */
  readonly path: string;
}

/** An image assembled in memory: the exact bytes of config and manifest plus the layer blobs on disk. */
export interface LocalImage {
  readonly manifest: ImageManifest;
  readonly manifestBytes: Buffer;
  readonly manifestDescriptor: Descriptor;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  readonly layers: readonly LayerBlob[];
}

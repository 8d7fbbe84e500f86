/**
 * Media types of the OCI image-spec (v1.1) and of Docker's image manifest v2 schema 2. Registries and
 * clients mix both families freely (a Docker manifest list can point at OCI manifests and the other
 * way round), so every consumer accepts both and only the writer picks one.
 */
export const MediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  /** Deprecated in image-spec 1.1 but still found in Windows images: never pushed by us, pulled as is. */
  ociLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  ociEmpty: "application/vnd.oci.empty.v1+json",

  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** Not in the schema 2 document, but written by BuildKit for uncompressed Docker-type exports. */
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Schema 1 is refused (Docker itself dropped it in v28); named only to say so precisely. */
  dockerManifestSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type KnownMediaType = (typeof MediaTypes)[keyof typeof MediaTypes];

export type ManifestMediaType = typeof MediaTypes.ociManifest | typeof MediaTypes.dockerManifest;
export type IndexMediaType = typeof MediaTypes.ociIndex | typeof MediaTypes.dockerManifestList;

export function isManifestMediaType(mt: string): mt is ManifestMediaType {
  return mt === MediaTypes.ociManifest || mt === MediaTypes.dockerManifest;
}

export function isIndexMediaType(mt: string): mt is IndexMediaType {
  return mt === MediaTypes.ociIndex || mt === MediaTypes.dockerManifestList;
}

export function isConfigMediaType(mt: string): boolean {
  return mt === MediaTypes.ociConfig || mt === MediaTypes.dockerConfig;
}

export type LayerCompression = "none" | "gzip" | "zstd";

/** How a layer blob is compressed, or undefined when `mt` is not a layer type we can unpack. */
export function layerCompression(mt: string): LayerCompression | undefined {
  switch (mt) {
    case MediaTypes.ociLayer:
    case MediaTypes.ociLayerNondistributable:
    case MediaTypes.dockerLayer:
      return "none";
    case MediaTypes.ociLayerGzip:
    case MediaTypes.ociLayerNondistributableGzip:
    case MediaTypes.dockerLayerGzip:
    case MediaTypes.dockerForeignLayerGzip:
      return "gzip";
    case MediaTypes.ociLayerZstd:
    case MediaTypes.ociLayerNondistributableZstd:
    case MediaTypes.dockerLayerZstd:
      return "zstd";
    default:
      return undefined;
  }
}

export function isLayerMediaType(mt: string): boolean {
  return layerCompression(mt) !== undefined;
}

/**
 * Foreign (non-distributable) layers live at the descriptor's `urls`, not in the registry; Docker and
 * containerd skip them on push, and pull them from the URLs only when allowed. We never push them.
 */
export function isForeignLayer(mt: string): boolean {
  return (
    mt === MediaTypes.dockerForeignLayerGzip ||
    mt === MediaTypes.ociLayerNondistributable ||
    mt === MediaTypes.ociLayerNondistributableGzip ||
    mt === MediaTypes.ociLayerNondistributableZstd
  );
}

/**
 * The Accept header of a manifest request. Order is preference: a registry that stores a Docker
 * manifest list serves it only when asked for it, else it may fall back to converting (Docker Hub's
 * schema 1 conversion), so every type we can read is listed.
 */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaTypes.ociIndex,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
];

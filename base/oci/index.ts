/**
 * `base/oci/`: the OCI image-spec and Docker schema 2 data model (descriptors, manifests, indexes,
 * configs), validating parsers that never throw on untrusted bytes, platform matching by containerd's
 * rules, and Docker-exact image references. Shared by the cache's import/export and the engine's pulls.
 */
export type {
  ContainerConfig,
  HealthConfig,
  HistoryEntry,
  ImageConfig,
  Index,
  Manifest,
  ManifestDocument,
  OciDescriptor,
  ParseResult,
  Platform,
  RootFs,
} from "./types.ts";
export {
  MANIFEST_ACCEPT,
  MediaTypes,
  isConfigMediaType,
  isForeignLayer,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  layerCompression,
  type IndexMediaType,
  type KnownMediaType,
  type LayerCompression,
  type ManifestMediaType,
} from "./media-types.ts";
export {
  configPlatform,
  historyMatchesLayers,
  parseDescriptor,
  parseImageConfig,
  parseIndex,
  parseJson,
  parseManifest,
  parseManifestDocument,
  type ManifestDocumentResult,
} from "./parse.ts";
export {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformEquals,
  platformMatches,
  platformRank,
  selectManifest,
} from "./platform.ts";
export {
  DEFAULT_DOMAIN,
  DOCKER_HUB_API_HOST,
  DOCKER_HUB_AUTH_KEY,
  authKeyFor,
  familiarName,
  familiarString,
  isValidDomain,
  isValidTag,
  parseDockerReference,
  parseReference,
  referenceName,
  referenceString,
  registryApiHost,
  withDigest,
  withTag,
  type Reference,
} from "./reference.ts";
export { digestHex, isDigest, parseDigest, sha256Of, type Digest } from "./digest.ts";

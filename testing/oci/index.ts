/**
 * OCI plumbing used by the test harness: deterministic tar, layer and image assembly, OCI layout and
 * docker-archive writers. Written to move into the product's OCI package unchanged (it imports
 * nothing from the harness).
 */
export * from "./types.ts";
export { sha256Digest, digestHex, fileDigest, DigestingStream } from "./digest.ts";
export {
  packTar,
  sortTarEntries,
  normalizeTarPath,
  tarEntriesFromDirectory,
  type TarEntry,
  type PackOptions,
  type DirectoryWalkOptions,
} from "./tar.ts";
export { writeLayer, assembleImage, hostArchitecture, type ImageSpec } from "./image.ts";
export { writeOciLayout, readOciLayout, blobPath, type LayoutImage } from "./layout.ts";
export { writeDockerArchive, chainIds, splitRepoTag, type DockerArchiveManifestEntry } from "./docker-archive.ts";

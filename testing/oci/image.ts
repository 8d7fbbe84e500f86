import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { DigestingStream, sha256Digest } from "./digest.ts";
import { packTar, type PackOptions, type TarEntry } from "./tar.ts";
import {
  MediaType,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  type LayerBlob,
  type LocalImage,
} from "./types.ts";

/**
 * Write `entries` as one gzip-compressed layer blob to `outFile`, hashing the tar (diff ID) and the
 * compressed bytes (blob digest) in the same pass. Node's gzip writes a fixed header (mtime 0), so the
 * same entries give the same digest with the same zlib.
 */
export async function writeLayer(
  entries: readonly TarEntry[] | AsyncIterable<TarEntry>,
  outFile: string,
  options: PackOptions & { readonly signal?: AbortSignal } = {},
): Promise<LayerBlob> {
  const tarHash = new DigestingStream();
  const blobHash = new DigestingStream();
  await pipeline(
    packTar(entries, options),
    tarHash,
    createGzip({ level: 6 }),
    blobHash,
    createWriteStream(outFile),
    options.signal ? { signal: options.signal } : {},
  );
  const tar = tarHash.result();
  const blob = blobHash.result();
  return {
    descriptor: { mediaType: MediaType.layerTarGzip, digest: blob.digest, size: blob.size },
    diffId: tar.digest,
    uncompressedSize: tar.size,
    path: outFile,
  };
}

export interface ImageSpec {
  readonly architecture: string;
  readonly os: string;
  readonly created?: string;
  readonly config?: ImageConfig["config"];
  /** One history entry per layer, in order. */
  readonly history?: readonly HistoryEntry[];
  readonly manifestAnnotations?: Readonly<Record<string, string>>;
}

/**
 * Assemble config and manifest for `layers`. The JSON bytes are produced once here and kept: the
 * digests refer to exactly these bytes, so nobody re-serialises them later. Fields are written in
 * the order of Go's image-spec structs, so a Go tool that re-encodes the config gets the same bytes
 * (given a `created` in Go's RFC 3339 form, e.g. "1970-01-01T00:00:00Z").
 */
export function assembleImage(spec: ImageSpec, layers: readonly LayerBlob[]): LocalImage {
  const config: ImageConfig = {
    ...(spec.created !== undefined ? { created: spec.created } : {}),
    architecture: spec.architecture,
    os: spec.os,
    ...(spec.config !== undefined ? { config: spec.config } : {}),
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    ...(spec.history !== undefined ? { history: spec.history } : {}),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = {
    mediaType: MediaType.imageConfig,
    digest: sha256Digest(configBytes),
    size: configBytes.length,
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.imageManifest,
    config: configDescriptor,
    layers: layers.map((l) => l.descriptor),
    ...(spec.manifestAnnotations !== undefined ? { annotations: spec.manifestAnnotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDescriptor: Descriptor = {
    mediaType: MediaType.imageManifest,
    digest: sha256Digest(manifestBytes),
    size: manifestBytes.length,
  };
  return { manifest, manifestBytes, manifestDescriptor, config, configBytes, layers };
}

/** The image-spec architecture name of this machine ("amd64", "arm64" …). */
export function hostArchitecture(): string {
  const map: Readonly<Record<string, string>> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return map[process.arch] ?? process.arch;
}

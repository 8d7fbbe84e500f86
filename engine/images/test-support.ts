import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gzipSync } from "node:zlib";
import { sha256Of, type ContentStore, type Digest } from "../../cache/index.ts";
import { MediaTypes, type HistoryEntry, type OciDescriptor } from "../../base/oci/index.ts";
import { packArchive } from "./tar.ts";

/** Test helpers: small images made in memory and put into a content store. Not exported by index.ts. */

export interface TestImage {
  readonly manifest: OciDescriptor;
  readonly configDigest: Digest;
  readonly diffIds: readonly Digest[];
  readonly layerDigests: readonly Digest[];
}

export async function tarOf(files: Readonly<Record<string, string>>): Promise<Buffer> {
  const entries = Object.entries(files).map(([path, text]) => ({ type: "file" as const, path, content: Buffer.from(text) }));
  return buffer(packArchive(entries));
}

export interface ImageSpec {
  /** One record of files per layer. */
  readonly layers: readonly Readonly<Record<string, string>>[];
  readonly created?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly history?: readonly HistoryEntry[];
  readonly gzip?: boolean;
  readonly cmd?: readonly string[];
  readonly extra?: Readonly<Record<string, unknown>>;
}

export async function putImage(content: ContentStore, spec: ImageSpec): Promise<TestImage> {
  const diffIds: Digest[] = [];
  const layers: OciDescriptor[] = [];
  for (const files of spec.layers) {
    const tar = await tarOf(files);
    diffIds.push(sha256Of(tar));
    const blob = spec.gzip === false ? tar : gzipSync(tar);
    const d = await content.put(blob);
    layers.push({ mediaType: spec.gzip === false ? MediaTypes.ociLayer : MediaTypes.ociLayerGzip, digest: d.digest, size: d.size });
  }
  const config = Buffer.from(
    JSON.stringify({
      created: spec.created ?? "2024-01-02T03:04:05.000000000Z",
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/bin"], Cmd: spec.cmd ?? ["sh"], ...(spec.labels !== undefined ? { Labels: spec.labels } : {}) },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: spec.history ?? diffIds.map((_, i) => ({ created: spec.created ?? "2024-01-02T03:04:05Z", created_by: `step ${i}` })),
      ...(spec.extra ?? {}),
    }),
  );
  const c = await content.put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: c.digest, size: c.size },
      layers,
    }),
  );
  const m = await content.put(manifest);
  return {
    manifest: { mediaType: MediaTypes.ociManifest, digest: m.digest, size: m.size },
    configDigest: c.digest,
    diffIds,
    layerDigests: layers.map((l) => l.digest),
  };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "htk-images-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

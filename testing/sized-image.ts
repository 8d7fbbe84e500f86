import { createCipheriv, createHash } from "node:crypto";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureBusyboxImage } from "./busybox-image.ts";
import { publishCacheEntry, readCacheMeta } from "./fixture-cache.ts";
import { assembleImage, hostArchitecture, MediaType, writeLayer, writeOciLayout, type Digest, type LayerBlob, type TarEntry } from "./oci/index.ts";
import { fixtureCacheDir } from "./paths.ts";
import { skopeoCopy } from "./skopeo.ts";

/**
 * A large, deterministic image for transfer benchmarks and tests: busybox's layer plus `layers` layers
 * that each hold one file of pseudo-random (incompressible) bytes, `megabytes` in all. The bytes come
 * from AES-256-CTR over zeros keyed by the seed, so the same options give the same digests on every
 * machine, and gzip cannot shrink them (a pull moves the full size). Cached under the fixture cache.
 * This module is used by bench/ too, so it must not import vitest.
 */
export interface SizedImageOptions {
  readonly megabytes: number;
  /** Data layers (besides busybox's). Default 4. */
  readonly layers?: number;
  readonly seed?: string;
  readonly cacheDir?: string;
  readonly signal?: AbortSignal;
}

export interface SizedImage {
  readonly ociDir: string;
  readonly ociRef: string;
  readonly manifestDigest: Digest;
  /** Sum of the compressed layer sizes (what a pull downloads). */
  readonly bytes: number;
}

const BUILDER_VERSION = 1;
const CHUNK = 1 << 20;

interface SizedMeta extends SizedImage {
  readonly builderVersion: number;
}

function randomContent(seed: string, index: number, size: number): () => AsyncIterable<Uint8Array> {
  return async function* () {
    const key = createHash("sha256").update(`${seed}/${index}`).digest();
    const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
    const zeros = Buffer.alloc(CHUNK);
    for (let left = size; left > 0; left -= CHUNK) yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
  };
}

/** Builds (once) the image as an OCI layout under the fixture cache. */
export async function ensureSizedImage(options: SizedImageOptions): Promise<SizedImage> {
  const layers = options.layers ?? 4;
  const seed = options.seed ?? "hatake";
  const cacheDir = options.cacheDir ?? fixtureCacheDir();
  const sig = options.signal ? { signal: options.signal } : {};
  const busybox = await ensureBusyboxImage(cacheDir, sig);
  const dir = join(cacheDir, `sized-${options.megabytes}m-${layers}l-${seed}`);
  const cached = await readCacheMeta<SizedMeta>(dir);
  if (cached?.builderVersion === BUILDER_VERSION) return { ...cached, ociDir: join(dir, "oci") };
  await publishCacheEntry(dir, async (staging) => {
    const perLayer = Math.floor((options.megabytes * 1_000_000) / layers);
    const busyboxLayer = await stat(busybox.layerPath);
    const blobs: LayerBlob[] = [{ descriptor: { mediaType: MediaType.layerTarGzip, digest: busybox.layerDigest, size: busyboxLayer.size }, diffId: busybox.diffId, path: busybox.layerPath }];
    for (let i = 0; i < layers; i++) {
      const entries: TarEntry[] = [
        { path: "data", type: "directory", mode: 0o755 },
        { path: `data/blob-${i}.bin`, type: "file", mode: 0o644, source: randomContent(seed, i, perLayer), size: perLayer },
      ];
      blobs.push(await writeLayer(entries, join(staging, `layer-${i}.tar.gz`), { mtime: new Date(0), ...sig }));
    }
    const image = assembleImage(
      { architecture: hostArchitecture(), os: "linux", created: "1970-01-01T00:00:00Z", config: { Cmd: ["sh"], Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] } },
      blobs,
    );
    const ociRef = "latest";
    await writeOciLayout(join(staging, "oci"), [{ image, refName: ociRef }]);
    const meta: SizedMeta = {
      builderVersion: BUILDER_VERSION,
      ociDir: "",
      ociRef,
      manifestDigest: image.manifestDescriptor.digest,
      bytes: blobs.reduce((n, b) => n + b.descriptor.size, 0),
    };
    await writeFile(join(staging, "fixture.json"), JSON.stringify(meta, null, 2));
  });
  const meta = await readCacheMeta<SizedMeta>(dir);
  if (meta === undefined) throw new Error(`sized image fixture was not published in ${dir}`);
  return { ...meta, ociDir: join(dir, "oci") };
}

/** Builds the image if needed and pushes it to `reference` (a plain-HTTP registry), digests preserved. */
export async function pushSizedImage(reference: string, options: SizedImageOptions): Promise<SizedImage> {
  const image = await ensureSizedImage(options);
  await skopeoCopy(`oci:${image.ociDir}:${image.ociRef}`, `docker://${reference}`, { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: 600_000 });
  return image;
}

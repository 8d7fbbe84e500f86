import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../../cache/index.ts";
import { MediaTypes, type OciDescriptor } from "../../base/oci/index.ts";
import { INLINE_CACHE_KEY } from "../../cache/remote/index.ts";
import type { HistorySpec, ImageSpec } from "../../frontend-dockerfile/index.ts";
import { BlobLeases, parseName, saveDockerArchive, saveOciArchive, type ImageStore } from "../images/index.ts";
import { compressGzip } from "../snapshots/index.ts";
import type { RuntimeWorker } from "../worker/runtime-worker.ts";
import type { ExportProgress } from "./export-progress.ts";

/** A layer tar with no entries is its two end-of-archive blocks: BuildKit drops such diffs. */
const EMPTY_TAR_SIZE = 1024;

export interface ExportedLayer {
  readonly diffId: Digest;
  readonly blob: OciDescriptor;
  readonly empty: boolean;
}

export interface ExportedImage {
  /** The image ID (config digest). */
  readonly id: Digest;
  readonly manifest: OciDescriptor;
  readonly config: OciDescriptor;
  /** Distinct blobs the manifest references (config and layers): what a push sends before it. */
  readonly blobs: number;
}

export interface ImageExportOptions {
  /** `--cache-to type=inline`: the cache value for the config, given the image's layer blobs in order. */
  readonly inlineCache?: (layerBlobs: readonly Digest[]) => Promise<string | undefined>;
  /** `--annotation` (BuildKit's `annotation.KEY` / `annotation-manifest.KEY`): the manifest's annotations. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/**
 * The image of a build result: one layer per snapshot of the result's chain (a pulled layer is its
 * original blob; a build step's is the diff of its snapshot, gzip-compressed once and remembered, so
 * a rebuild exports the same bytes), the compiled config with `rootfs.diff_ids` filled, an OCI
 * manifest, all in the content store and recorded in the image store under `names`.
 */
export async function exportImage(
  worker: RuntimeWorker,
  images: ImageStore,
  resultId: string | undefined,
  image: ImageSpec,
  names: readonly string[],
  exportsDir: string,
  signal: AbortSignal,
  progress?: ExportProgress,
  options: ImageExportOptions = {},
): Promise<ExportedImage> {
  // The blobs of the image are leased from the moment they are checked or written until the image
  // store's own leases hold them: a garbage collection meanwhile must not take one.
  const leases = new BlobLeases(images.refs, worker.content, `export:${resultId ?? "scratch"}`);
  try {
    return await exportLeased(worker, images, resultId, image, names, exportsDir, signal, leases, progress, options);
  } finally {
    leases.release();
  }
}

async function exportLeased(
  worker: RuntimeWorker,
  images: ImageStore,
  resultId: string | undefined,
  image: ImageSpec,
  names: readonly string[],
  exportsDir: string,
  signal: AbortSignal,
  leases: BlobLeases,
  progress: ExportProgress | undefined,
  options: ImageExportOptions,
): Promise<ExportedImage> {
  const chain: string[] = [];
  for (let id = resultId; id !== undefined; id = worker.snapshotter.info(id)?.parent) chain.unshift(id);
  const layers: ExportedLayer[] = [];
  const layersDone = progress?.oneOff("exporting layers");
  for (const id of chain) layers.push(await layerOf(worker, id, exportsDir, signal, leases));
  layersDone?.();
  const history = normalizeHistory(image.history ?? [], layers);
  const kept = layers.filter((l) => !l.empty);
  const inline = await options.inlineCache?.(kept.map((l) => l.blob.digest));
  const config = {
    ...image,
    ...(inline === undefined ? {} : { [INLINE_CACHE_KEY]: inline }),
    rootfs: { type: "layers", diff_ids: kept.map((l) => l.diffId) },
    ...(history.length > 0 ? { history } : {}),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc = await worker.content.put(configBytes, { mediaType: MediaTypes.ociConfig, signal, lease: leases.lease });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: configDesc.digest, size: configDesc.size },
    // The gzip bytes are the same for both families; an OCI manifest names them with OCI media types.
    layers: kept.map((l) => ({ mediaType: ociLayerType(l.blob.mediaType), digest: l.blob.digest, size: l.blob.size })),
    ...(options.annotations === undefined || Object.keys(options.annotations).length === 0 ? {} : { annotations: options.annotations }),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDesc = await worker.content.put(manifestBytes, { mediaType: MediaTypes.ociManifest, signal, lease: leases.lease });
  const m: OciDescriptor = { mediaType: MediaTypes.ociManifest, digest: manifestDesc.digest, size: manifestDesc.size };
  // BuildKit's exporter lines, in its order.
  progress?.oneOff(`exporting manifest ${manifestDesc.digest}`)();
  progress?.oneOff(`exporting config ${configDesc.digest}`)();
  await images.add({ manifest: m, names, localTag: names.length > 0, measure: false, signal });
  for (const n of names) progress?.oneOff(`naming to ${parseName(n).key}`)();
  const blobs = new Set([configDesc.digest, ...kept.map((l) => l.blob.digest)]).size;
  return { id: configDesc.digest, manifest: m, config: { mediaType: MediaTypes.ociConfig, digest: configDesc.digest, size: configDesc.size }, blobs };
}

async function isGzip(worker: RuntimeWorker, digest: Digest, signal: AbortSignal): Promise<boolean> {
  const fh = await open(worker.content.blobPath(digest), "r");
  try {
    signal.throwIfAborted();
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function ociLayerType(mediaType: string): string {
  switch (mediaType) {
    case MediaTypes.dockerLayerGzip:
      return MediaTypes.ociLayerGzip;
    case MediaTypes.dockerLayer:
      return MediaTypes.ociLayer;
    case MediaTypes.dockerLayerZstd:
      return MediaTypes.ociLayerZstd;
    default:
      return mediaType;
  }
}

/**
 * The layer of one snapshot: a pulled (or imported) layer's own blob, else the snapshot's diff,
 * gzip-compressed once and remembered under `exportsDir` (image and cache exports share it).
 */
export async function layerOf(worker: RuntimeWorker, id: string, exportsDir: string, signal: AbortSignal, leases?: BlobLeases): Promise<ExportedLayer> {
  const has = (d: Digest): Promise<boolean> => (leases === undefined ? worker.content.has(d) : leases.has(d));
  const info = worker.snapshotter.info(id);
  if (info?.kind === "layer" && info.diffId !== undefined) {
    const blob = worker.layerBlob(info.diffId);
    if (blob !== undefined && (await has(blob.digest))) {
      // The manifest must say what the bytes are: some pushers store plain tars under the gzip type.
      const mediaType = (await isGzip(worker, blob.digest, signal)) ? ociLayerType(blob.mediaType) : MediaTypes.ociLayer;
      return { diffId: info.diffId, blob: { ...blob, mediaType }, empty: false };
    }
  }
  const record = join(exportsDir, `${createHash("sha256").update(id).digest("hex")}.json`);
  try {
    const saved = JSON.parse(await readFile(record, "utf8")) as ExportedLayer;
    if (saved.empty || (await has(saved.blob.digest))) return saved;
  } catch {
    // Not exported yet.
  }
  const tar = worker.snapshotter.diff(id, { signal });
  const gz = compressGzip(tar.stream, { signal });
  const [desc, tarDone] = await Promise.all([worker.content.put(gz.stream, { mediaType: MediaTypes.ociLayerGzip, signal, ...(leases === undefined ? {} : { lease: leases.lease }) }), tar.done, gz.done]);
  const layer: ExportedLayer = {
    diffId: tarDone.digest,
    blob: { mediaType: MediaTypes.ociLayerGzip, digest: desc.digest, size: desc.size },
    empty: tarDone.size <= EMPTY_TAR_SIZE,
  };
  await mkdir(exportsDir, { recursive: true });
  await writeFile(`${record}.tmp`, JSON.stringify(layer));
  await rename(`${record}.tmp`, record);
  return layer;
}

/**
 * BuildKit's exporter normalisation: history entries that are not `empty_layer` are matched with the
 * chain's layers in order; the entry of a layer whose diff is empty becomes `empty_layer`. Layers
 * without an entry get a blank one in front (as BuildKit does); entries left over are marked empty.
 */
export function normalizeHistory(history: readonly HistorySpec[], layers: readonly { readonly empty: boolean }[]): HistorySpec[] {
  const withLayer = history.filter((h) => h.empty_layer !== true).length;
  const out: HistorySpec[] = [];
  for (let i = withLayer; i < layers.length; i++) out.push({ created_by: "" });
  out.push(...history);
  let li = 0;
  return out.map((h) => {
    if (h.empty_layer === true) return h;
    const layer = layers[li++];
    if (layer === undefined || layer.empty) return { ...h, empty_layer: true };
    return h;
  });
}

/** `-o type=oci|docker,dest=FILE`: the image (by ID or name) written as an archive file. */
export async function writeImageArchive(
  images: ImageStore,
  kind: "oci" | "docker",
  image: ExportedImage,
  names: readonly string[],
  dest: string,
  signal: AbortSignal,
): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  const stream =
    kind === "oci"
      ? await saveOciArchive(images, names.length > 0 ? names.map((n) => ({ image: n })) : [{ image: image.id }], { signal })
      : await saveDockerArchive(images, names.length > 0 ? names : [image.id], { signal });
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    await pipeline(stream, createWriteStream(tmp), { signal });
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

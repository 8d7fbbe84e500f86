import type { ContentStore, Digest } from "../../cache/index.ts";
import type { OciDescriptor } from "../../base/oci/index.ts";
import type { LayerSource, SnapshotRef, Snapshotter } from "./snapshotter.ts";

/**
 * An image's layers, in rootfs order, as unpack sources read from the content store. The compression
 * is sniffed from the bytes (as containerd's DecompressStream does): some pushers (skopeo from a
 * docker-archive) store plain tars under the gzip media type, and `docker load` stores them uncompressed.
 */
export function contentLayerSources(content: ContentStore, layers: readonly OciDescriptor[], diffIds: readonly Digest[]): LayerSource[] {
  if (layers.length !== diffIds.length) throw new Error(`an image has ${layers.length} layers but ${diffIds.length} diff_ids`);
  return layers.map((l, i) => ({
    diffId: diffIds[i] as Digest,
    name: l.digest,
    compression: "auto" as const,
    open: (signal: AbortSignal): AsyncIterable<Uint8Array> => streamOf(content, l.digest, signal),
  }));
}

/**
 * The committed snapshot of an image's whole layer chain (each layer unpacked once, shared with every
 * image and build step with the same chain), or undefined for an image without layers. The caller
 * releases the returned hold.
 */
export async function unpackImageLayers(
  snapshotter: Snapshotter,
  content: ContentStore,
  layers: readonly OciDescriptor[],
  diffIds: readonly Digest[],
  signal: AbortSignal,
): Promise<SnapshotRef | undefined> {
  if (layers.length === 0) return undefined;
  return snapshotter.unpackChain(contentLayerSources(content, layers, diffIds), signal);
}

async function* streamOf(store: ContentStore, digest: Digest, signal: AbortSignal): AsyncIterable<Uint8Array> {
  const s = await store.get(digest, { signal });
  for await (const chunk of s) yield chunk as Uint8Array;
}

import { htkError, isHtkError } from "../../base/errors/index.ts";
import type { Digest } from "../../cache/index.ts";
import { MediaTypes, type Platform } from "../../base/oci/index.ts";
import { BlobLeases } from "./blob-leases.ts";
import { decompressStream } from "./decompress.ts";
import type { ImageStore } from "./store.ts";
import { measureLayer } from "./tar.ts";
import type { ImageRecord } from "./types.ts";

/**
 * `docker import`: an image of one layer from a root file system tar (plain or compressed), as Docker
 * 26's `ImageService.ImportImage` makes it: the config has the given container config (from
 * `--change`), the platform, `created` now, the comment ("Imported from -" unless a message is given)
 * in the config and its single history entry. The layer is stored uncompressed (its digest is its
 * diff ID), streamed, and read once more to check it is a tar and to measure it.
 */
export interface ImportOptions {
  /** The image config's `config` (Env, Cmd, … from the changes); `{}` for none. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly platform: Platform;
  readonly comment: string;
  /** The reference to tag the image with ("name:tag"), if any. */
  readonly name?: string;
  /** Written as `docker_version` (Docker writes its own version). */
  readonly dockerVersion?: string;
  readonly signal?: AbortSignal;
  readonly now?: Date;
}

export async function importImage(store: ImageStore, source: AsyncIterable<Uint8Array>, opts: ImportOptions): Promise<ImageRecord> {
  const { signal } = opts;
  const sig = signal !== undefined ? { signal } : {};
  const invalid = (detail: string): Error => htkError("HTK-ENGINE-0308", { detail });
  // Every blob is leased as it is stored (under the content store's lock), not after: a garbage
  // collection between the write and the lease (an rmi or prune at the same time) would delete it.
  const leases = new BlobLeases(store.refs, store.content, "import");
  const leased = { lease: leases.lease, ...sig };
  let layer: { readonly digest: Digest; readonly size: number } | undefined;
  try {
    layer = await store.content.put(decompressStream(source, { ...sig, describeError: invalid }), { mediaType: MediaTypes.ociLayer, ...leased });
    let measure;
    try {
      measure = await measureLayer(await store.content.get(layer.digest, sig), "none", signal);
    } catch (err) {
      if (signal?.aborted === true || isHtkError(err, "HTK-ENGINE-0308")) throw err;
      throw invalid(err instanceof Error ? err.message : String(err));
    }
    if (measure === undefined) throw invalid("the layer could not be read");
    const created = (opts.now ?? new Date()).toISOString();
    const config = {
      architecture: opts.platform.architecture,
      ...(opts.comment !== "" ? { comment: opts.comment } : {}),
      config: opts.config,
      created,
      ...(opts.dockerVersion !== undefined && opts.dockerVersion !== "" ? { docker_version: opts.dockerVersion } : {}),
      history: [{ created, ...(opts.comment !== "" ? { comment: opts.comment } : {}) }],
      os: opts.platform.os,
      ...(opts.platform.variant !== undefined ? { variant: opts.platform.variant } : {}),
      rootfs: { type: "layers", diff_ids: [measure.diffId] },
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDesc = await store.content.put(configBytes, { mediaType: MediaTypes.ociConfig, ...leased });
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: configDesc.digest, size: configDesc.size },
        layers: [{ mediaType: MediaTypes.ociLayer, digest: layer.digest, size: layer.size }],
      }),
    );
    const manifestDesc = await store.content.put(manifestBytes, { mediaType: MediaTypes.ociManifest, ...leased });
    const added = await store.add({
      manifest: { mediaType: MediaTypes.ociManifest, digest: manifestDesc.digest as Digest, size: manifestDesc.size },
      names: opts.name !== undefined ? [opts.name] : [],
      layers: [measure],
      localTag: true,
      ...sig,
    });
    store.emit({ action: "import", id: added.image.id });
    return added.image;
  } catch (err) {
    leases.release();
    // A refused import leaves nothing behind that no image uses.
    if (layer !== undefined) await store.collectGarbage({ candidates: [layer.digest] }).catch(() => undefined);
    throw err;
  } finally {
    leases.release();
  }
}

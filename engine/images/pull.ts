import type { Digest } from "../../cache/index.ts";
import { BlobLeases } from "./blob-leases.ts";
import { referenceName, referenceString, type OciDescriptor, type Platform, type Reference } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import type { ImageStore } from "./store.ts";
import type { ImageRecord } from "./types.ts";

/**
 * Pulling a reference into the image store: the one implementation behind `POST /images/create`
 * (docker pull) and anything else that needs a registry image as a local, named image.
 *
 * 1. resolve the reference and fetch the manifest for the platform (kept in the content store);
 * 2. lease every blob the image needs (non-durable, owner `pull:<ref>`) before anything else, so a
 *    concurrent `docker rmi`'s garbage collection cannot delete a shared layer this pull decided to
 *    skip as present (the gap the image store's README names);
 * 3. download what is missing (each blob verified while it streams);
 * 4. record the image with the tag (if pulled by tag) and the repository digest, as Docker's
 *    reference store does; then drop the pull's leases (the image's durable ones hold the blobs).
 *
 * Progress is reported as events for the caller to render (Docker's jsonmessage lines in the API).
 */
export type PullEvent =
  /** The reference resolved: Docker's "<tag>: Pulling from <repository>". */
  | { readonly kind: "resolved"; readonly root: OciDescriptor }
  /**
   * The image's layers, in order, and whether each is in the store already ("Already exists").
   * `imagePresent`: the store has the image itself (its config), so nothing is downloaded (Docker
   * then prints no layer lines).
   */
  | {
      readonly kind: "layers";
      readonly imagePresent: boolean;
      readonly layers: readonly { readonly descriptor: OciDescriptor; readonly present: boolean }[];
    }
  | { readonly kind: "downloading"; readonly digest: Digest; readonly current: number; readonly size: number }
  /** A blob downloaded and verified. */
  | { readonly kind: "downloaded"; readonly digest: Digest; readonly size: number }
  /** The image is recorded (every layer read and checked against its diff ID). */
  | { readonly kind: "recorded"; readonly image: ImageRecord };

export interface PullImageOptions {
  readonly registry: RegistryClient;
  readonly images: ImageStore;
  /** Normalised, with a tag or a digest (a digest decides when both are given). */
  readonly reference: Reference;
  /** Default: this host's platform. */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: PullEvent) => void;
}

export interface PullImageResult {
  readonly image: ImageRecord;
  readonly reference: Reference;
  /** What the tag or digest names in the registry (an index or a manifest): the repo digest. */
  readonly root: OciDescriptor;
  /** The platform's image manifest that was pulled (one of the image's manifests). */
  readonly manifest: OciDescriptor;
  /** False when the reference already named this image ("Image is up to date for …"). */
  readonly updated: boolean;
  /** The references now naming the image, in familiar form. */
  readonly names: readonly string[];
}

export async function pullImage(opts: PullImageOptions): Promise<PullImageResult> {
  const { registry, images, reference: ref, signal } = opts;
  const content = images.content;
  const common = { ...(opts.platform !== undefined ? { platform: opts.platform } : {}), ...(signal !== undefined ? { signal } : {}) };
  // The manifests too are leased as they are stored: a collection between their put and the image's
  // record would otherwise take them.
  const leases = new BlobLeases(images.refs, content, `pull:${referenceString(ref)}`);
  try {
    const fetched = await registry.fetchManifest(ref, { ...common, store: leases.store });
    opts.onEvent?.({ kind: "resolved", root: fetched.root });
    const { manifest } = fetched;
    const blobs = new Set<Digest>([fetched.root.digest as Digest, fetched.manifestDescriptor.digest as Digest, manifest.config.digest as Digest, ...manifest.layers.map((l) => l.digest as Digest)]);
    for (const digest of blobs) leases.hold(digest);
    const layers = await Promise.all(
      manifest.layers.map(async (descriptor) => {
        const info = await content.info(descriptor.digest as Digest);
        return { descriptor, present: info !== undefined && info.size === descriptor.size };
      }),
    );
    opts.onEvent?.({ kind: "layers", imagePresent: images.get(manifest.config.digest as Digest) !== undefined, layers });
    // Pinned to what was resolved: a tag moved in the meantime must not mix two images.
    const pinned: Reference = { domain: ref.domain, path: ref.path, digest: fetched.root.digest };
    await registry.pull(pinned, {
      ...common,
      store: leases.store,
      onProgress: (e) => {
        if (e.kind === "blob-progress") opts.onEvent?.({ kind: "downloading", digest: e.digest, current: e.current, size: e.size });
        else if (e.kind === "blob-done") opts.onEvent?.({ kind: "downloaded", digest: e.digest, size: e.size });
      },
    });
    const repo = referenceName(ref);
    const names = [`${repo}@${fetched.root.digest}`];
    if (ref.digest === undefined) names.unshift(`${repo}:${ref.tag ?? "latest"}`);
    const previous = lookupQuietly(images, names[0] ?? "");
    const added = await images.add({
      manifest: fetched.manifestDescriptor,
      ...(fetched.root.digest !== fetched.manifestDescriptor.digest ? { index: fetched.root } : {}),
      names,
      tagEvents: false,
      ...(signal !== undefined ? { signal } : {}),
    });
    opts.onEvent?.({ kind: "recorded", image: added.image });
    return { image: added.image, reference: ref, root: fetched.root, manifest: fetched.manifestDescriptor, updated: previous?.id !== added.image.id, names: added.names };
  } finally {
    leases.release();
  }
}

function lookupQuietly(images: ImageStore, name: string): ImageRecord | undefined {
  try {
    return images.lookup(name);
  } catch {
    return undefined;
  }
}

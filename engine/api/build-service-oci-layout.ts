import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { isIndexMediaType, parseManifestDocument, type OciDescriptor, type Platform } from "../../base/oci/index.ts";
import type { ContentStore, Digest } from "../../cache/index.ts";
import type { BlobLeases } from "../images/index.ts";

/**
 * `--build-context NAME=oci-layout:///path[:tag|@sha256:…]`. buildx hands BuildKit the layout as a
 * client-side content store on its session; here the plugin syncs the layout directory the way it
 * syncs a local context (so an unchanged layout costs one digest comparison) and names the digest it
 * resolved: `context:NAME=oci-layout://LOCAL@sha256:…`, LOCAL being the synced directory's name.
 *
 * The engine puts the image's blobs (the manifest of the build's platform when the digest is an
 * index, its config and layers) into its content store, leased for the build, and the context
 * becomes the pinned image `NAME@sha256:…`, which the worker loads from the content store.
 */
export interface OciLayoutContext {
  readonly local: string;
  readonly digest: Digest;
}

/** `oci-layout://LOCAL@sha256:…` as the plugin sends it; undefined for anything else. */
export function parseOciLayoutAttr(value: string): OciLayoutContext | undefined {
  const m = /^oci-layout:\/\/([^@]+?)(?::[^:@/]+)?@(sha256:[0-9a-f]{64})$/.exec(value);
  return m === null ? undefined : { local: m[1] as string, digest: m[2] as Digest };
}

function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digest.slice("sha256:".length));
}

/**
 * Stores what the build needs of the layout in `dir` (leased) and returns the image manifest's
 * digest: `digest` itself, or the manifest an index has for `platform` (its only one when that has no
 * platform).
 */
export async function ingestOciLayout(name: string, dir: string, digest: Digest, platform: Platform, content: ContentStore, leases: BlobLeases, signal: AbortSignal): Promise<Digest> {
  const put = async (d: Digest, mediaType?: string): Promise<void> => {
    const path = blobPath(dir, d);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      throw htkError("HTK-ENGINE-0920", { name, digest: d });
    }
    await content.put(createReadStream(path), { expected: { digest: d, size }, lease: leases.lease, signal, ...(mediaType === undefined ? {} : { mediaType }) });
  };
  const read = async (d: Digest): Promise<Buffer> => {
    await put(d);
    return readFile(blobPath(dir, d));
  };
  let bytes = await read(digest);
  let manifestDigest = digest;
  let doc = parseManifestDocument(bytes);
  if (doc.ok && doc.value.kind === "index") {
    const manifests = doc.value.index.manifests.filter((m: OciDescriptor) => !isIndexMediaType(m.mediaType));
    const chosen =
      manifests.find((m) => m.platform !== undefined && m.platform.os === platform.os && m.platform.architecture === platform.architecture && (platform.variant === undefined || m.platform.variant === platform.variant)) ??
      (manifests.length === 1 && manifests[0]?.platform === undefined ? manifests[0] : undefined);
    const available = manifests.map((m) => (m.platform === undefined ? "unknown" : [m.platform.os, m.platform.architecture, m.platform.variant].filter((x) => x !== undefined).join("/"))).join(", ");
    if (chosen === undefined) throw htkError("HTK-ENGINE-0921", { name, platform: [platform.os, platform.architecture, platform.variant].filter((x) => x !== undefined).join("/"), available: available === "" ? "none" : available });
    manifestDigest = chosen.digest;
    bytes = await read(manifestDigest);
    doc = parseManifestDocument(bytes, chosen.mediaType);
  }
  if (!doc.ok || doc.value.kind !== "manifest") throw htkError("HTK-ENGINE-0922", { name, digest: manifestDigest, detail: doc.ok ? "it is not an image manifest" : doc.error });
  const m = doc.value.manifest;
  await put(m.config.digest, m.config.mediaType);
  for (const l of m.layers) {
    signal.throwIfAborted();
    await put(l.digest, l.mediaType);
  }
  return manifestDigest;
}

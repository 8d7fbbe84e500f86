import { constants } from "node:fs";
import { lstat, open, realpath, type FileHandle } from "node:fs/promises";
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

/** Manifests and indexes are read whole; registries refuse larger ones too (distribution: 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;

function blobPath(dir: string, digest: Digest): string {
  return join(dir, "blobs", "sha256", digest.slice("sha256:".length));
}

/**
 * The synced layout is the client's: context sync keeps symbolic links as they are, so a blob, or
 * blobs/ or blobs/sha256/, may point anywhere on the engine's host. Only real directories inside the
 * synced directory and regular files (opened with O_NOFOLLOW) are read; anything else is refused
 * without reading it (so neither its content nor its digest reaches the client).
 */
async function checkBlobDirs(name: string, dir: string): Promise<void> {
  for (const rel of ["blobs", join("blobs", "sha256")]) {
    const st = await lstat(join(dir, rel)).catch(() => undefined);
    if (st === undefined) continue; // a missing blob is reported by its own digest (HTK-ENGINE-0920)
    if (!st.isDirectory()) throw htkError("HTK-ENGINE-0923", { name, path: `${rel}/` });
  }
  const root = await realpath(dir);
  const sha = await realpath(join(dir, "blobs", "sha256")).catch(() => undefined);
  if (sha !== undefined && sha !== join(root, "blobs", "sha256")) throw htkError("HTK-ENGINE-0923", { name, path: "blobs/sha256/" });
}

/** The blob opened without following a link, and its size; refuses anything but a regular file. */
async function openBlob(name: string, dir: string, digest: Digest): Promise<{ fh: FileHandle; size: number }> {
  const rel = `blobs/sha256/${digest.slice("sha256:".length)}`;
  let fh: FileHandle;
  try {
    // O_NONBLOCK: a FIFO put there must not hang the build; it is refused below like any non-file.
    fh = await open(blobPath(dir, digest), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw htkError("HTK-ENGINE-0923", { name, path: rel });
    throw htkError("HTK-ENGINE-0920", { name, digest });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw htkError("HTK-ENGINE-0923", { name, path: rel });
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Stores what the build needs of the layout in `dir` (leased) and returns the image manifest's
 * digest: `digest` itself, or the manifest an index has for `platform` (its only one when that has no
 * platform).
 */
export async function ingestOciLayout(name: string, dir: string, digest: Digest, platform: Platform, content: ContentStore, leases: BlobLeases, signal: AbortSignal): Promise<Digest> {
  await checkBlobDirs(name, dir);
  const put = async (d: Digest, mediaType?: string): Promise<void> => {
    const { fh, size } = await openBlob(name, dir, d);
    // The stream owns the handle (autoClose): put() consumes or destroys it, both close it.
    await content.put(fh.createReadStream(), { expected: { digest: d, size }, lease: leases.lease, signal, ...(mediaType === undefined ? {} : { mediaType }) });
  };
  /** A manifest or index: small documents, read whole from the same handle that is stored. */
  const read = async (d: Digest): Promise<Buffer> => {
    const { fh, size } = await openBlob(name, dir, d);
    let bytes: Buffer;
    try {
      if (size > MAX_MANIFEST_BYTES) throw htkError("HTK-ENGINE-0922", { name, digest: d, detail: `it is larger than ${MAX_MANIFEST_BYTES / (1 << 20)} MiB, too large for a manifest or index` });
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
    await content.put(bytes, { expected: { digest: d, size }, lease: leases.lease, signal });
    return bytes;
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

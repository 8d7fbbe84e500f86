import { copyFile, link, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { digestHex, sha256Digest } from "./digest.ts";
import {
  MediaType,
  REF_NAME_ANNOTATION,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type LayerBlob,
  type LocalImage,
} from "./types.ts";

/**
 * OCI image layout (image-spec "image-layout.md"): `oci-layout`, `index.json` and
 * `blobs/sha256/<hex>`. This is what `skopeo copy oci:DIR:<ref>` and `docker buildx --output
 * type=oci` read and write.
 */

export function blobPath(layoutDir: string, digest: Descriptor["digest"]): string {
  return join(layoutDir, "blobs", "sha256", digestHex(digest));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Put a file into the blob store; hard-linked when possible (same file system), else copied. */
async function storeBlobFile(layoutDir: string, digest: Descriptor["digest"], source: string): Promise<string> {
  const target = blobPath(layoutDir, digest);
  if (await exists(target)) return target;
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    await link(source, tmp);
  } catch {
    await copyFile(source, tmp);
  }
  await rename(tmp, target);
  return target;
}

async function storeBlobBytes(layoutDir: string, bytes: Uint8Array): Promise<string> {
  const target = blobPath(layoutDir, sha256Digest(bytes));
  if (!(await exists(target))) {
    await writeFile(`${target}.tmp-${process.pid}`, bytes);
    await rename(`${target}.tmp-${process.pid}`, target);
  }
  return target;
}

export interface LayoutImage {
  readonly image: LocalImage;
  /** The name `oci:DIR:<refName>` refers to ("latest", "bookworm"). */
  readonly refName?: string;
}

/**
 * Write (or extend) an OCI layout with `images`. index.json is written last and atomically, so a
 * reader never sees an index that names missing blobs. Returns the images with their layer paths
 * pointing into the layout.
 */
export async function writeOciLayout(layoutDir: string, images: readonly LayoutImage[]): Promise<LocalImage[]> {
  await mkdir(join(layoutDir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layoutDir, "oci-layout"), `${JSON.stringify({ imageLayoutVersion: "1.0.0" })}\n`);
  const out: LocalImage[] = [];
  const manifests: Descriptor[] = [];
  for (const { image, refName } of images) {
    const layers: LayerBlob[] = [];
    for (const layer of image.layers) {
      layers.push({ ...layer, path: await storeBlobFile(layoutDir, layer.descriptor.digest, layer.path) });
    }
    await storeBlobBytes(layoutDir, image.configBytes);
    await storeBlobBytes(layoutDir, image.manifestBytes);
    manifests.push({
      ...image.manifestDescriptor,
      ...(refName !== undefined ? { annotations: { [REF_NAME_ANNOTATION]: refName } } : {}),
    });
    out.push({ ...image, layers });
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.imageIndex, manifests };
  const indexPath = join(layoutDir, "index.json");
  await writeFile(`${indexPath}.tmp-${process.pid}`, JSON.stringify(index));
  await rename(`${indexPath}.tmp-${process.pid}`, indexPath);
  return out;
}

/**
 * Read one image from an OCI layout: the manifest named `refName`, or the only one when no name is
 * given. Verifies the digests of manifest and config (the layer blobs are not re-hashed here).
 */
export async function readOciLayout(layoutDir: string, refName?: string): Promise<LocalImage> {
  const index = JSON.parse(await readFile(join(layoutDir, "index.json"), "utf8")) as ImageIndex;
  const candidates = index.manifests.filter(
    (m) => refName === undefined || m.annotations?.[REF_NAME_ANNOTATION] === refName,
  );
  const descriptor = candidates[0];
  if (descriptor === undefined || candidates.length > 1) {
    throw new Error(
      `OCI layout ${layoutDir}: expected one manifest${refName !== undefined ? ` named "${refName}"` : ""}, found ${candidates.length}`,
    );
  }
  if (descriptor.mediaType !== MediaType.imageManifest && descriptor.mediaType !== MediaType.dockerManifest) {
    throw new Error(`OCI layout ${layoutDir}: ${descriptor.digest} is a ${descriptor.mediaType}, not an image manifest`);
  }
  const manifestBytes = await readVerified(layoutDir, descriptor);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
  const configBytes = await readVerified(layoutDir, manifest.config);
  const config = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new Error(`OCI layout ${layoutDir}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff IDs`);
  }
  const layers: LayerBlob[] = manifest.layers.map((d, i) => ({
    descriptor: d,
    diffId: config.rootfs.diff_ids[i] ?? d.digest,
    path: blobPath(layoutDir, d.digest),
  }));
  const manifestDescriptor: Descriptor = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  return { manifest, manifestBytes, manifestDescriptor, config, configBytes, layers };
}

async function readVerified(layoutDir: string, d: Descriptor): Promise<Buffer> {
  const bytes = await readFile(blobPath(layoutDir, d.digest));
  if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest) {
    throw new Error(`OCI layout ${layoutDir}: blob ${d.digest} does not match its descriptor`);
  }
  return bytes;
}

import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { digestHex, sha256Digest } from "./digest.ts";
import { packTar, type TarEntry } from "./tar.ts";
import type { Digest, LayerBlob, LocalImage } from "./types.ts";

/**
 * The `docker save` / `docker load` archive (the classic format every Docker release reads):
 *
 *     manifest.json              [{ Config, RepoTags, Layers }]
 *     repositories               { repo: { tag: <top layer id> } }
 *     <config hex>.json          the image config, byte for byte
 *     <layer id>/VERSION         "1.0"
 *     <layer id>/json            the legacy v1 layer JSON (id, parent)
 *     <layer id>/layer.tar       the UNCOMPRESSED layer, so its sha256 is the config's diff ID
 *
 * Layer IDs are chain IDs (image-spec config.md), which are unique per layer stack and need no clock.
 */

export interface DockerArchiveManifestEntry {
  readonly Config: string;
  readonly RepoTags: readonly string[];
  readonly Layers: readonly string[];
}

/** image-spec ChainID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`));
  }
  return out;
}

/** Split "registry:5000/library/busybox:latest" into repository and tag. */
export function splitRepoTag(repoTag: string): { repository: string; tag: string } {
  const slash = repoTag.lastIndexOf("/");
  const colon = repoTag.lastIndexOf(":");
  if (colon > slash) return { repository: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
  return { repository: repoTag, tag: "latest" };
}

async function uncompressedSize(layer: LayerBlob): Promise<number> {
  if (layer.uncompressedSize !== undefined) return layer.uncompressedSize;
  let size = 0;
  await pipeline(createReadStream(layer.path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) size += chunk.length;
  });
  return size;
}

function gunzipped(path: string): () => AsyncIterable<Uint8Array> {
  return () => createReadStream(path).pipe(createGunzip());
}

export async function writeDockerArchive(
  outFile: string,
  image: LocalImage,
  repoTags: readonly string[],
  options: { readonly signal?: AbortSignal } = {},
): Promise<void> {
  const configName = `${digestHex(sha256Digest(image.configBytes))}.json`;
  const ids = chainIds(image.layers.map((l) => l.diffId)).map(digestHex);
  const entries: TarEntry[] = [{ type: "file", path: configName, content: image.configBytes }];
  const layerPaths: string[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const id = ids[i] ?? "";
    const parent = i > 0 ? ids[i - 1] : undefined;
    const legacy = parent === undefined ? { id } : { id, parent };
    entries.push(
      { type: "directory", path: id },
      { type: "file", path: `${id}/VERSION`, content: Buffer.from("1.0") },
      { type: "file", path: `${id}/json`, content: Buffer.from(JSON.stringify(legacy)) },
      { type: "file", path: `${id}/layer.tar`, source: gunzipped(layer.path), size: await uncompressedSize(layer) },
    );
    layerPaths.push(`${id}/layer.tar`);
  }
  const manifest: DockerArchiveManifestEntry[] = [{ Config: configName, RepoTags: [...repoTags], Layers: layerPaths }];
  const top = ids[ids.length - 1];
  const repositories: Record<string, Record<string, string>> = {};
  if (top !== undefined) {
    for (const repoTag of repoTags) {
      const { repository, tag } = splitRepoTag(repoTag);
      (repositories[repository] ??= {})[tag] = top;
    }
  }
  entries.push(
    { type: "file", path: "manifest.json", content: Buffer.from(JSON.stringify(manifest)) },
    { type: "file", path: "repositories", content: Buffer.from(JSON.stringify(repositories)) },
  );
  await pipeline(packTar(entries), createWriteStream(outFile), options.signal ? { signal: options.signal } : {});
}

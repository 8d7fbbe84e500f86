import { isDigest, sha256Of } from "../../base/oci/digest.ts";
import { MediaTypes } from "../../base/oci/media-types.ts";
import type { OciDescriptor, ParseResult } from "../../base/oci/types.ts";
import { goJson } from "./config.ts";
import type { Document } from "./layout.ts";

/** The config blob of a cache-mounts artifact. */
export const CACHE_MOUNTS_CONFIG_MEDIA_TYPE = "application/vnd.hatake.cachemounts.config.v1+json";
/** On each layer of a cache-mounts artifact: the cache mount id it holds. */
export const CACHE_MOUNT_ID_ANNOTATION = "dev.hatake.cache-mount.id";

/** The tag the cache-mounts artifact of a cache tagged `tag` has. */
export function cacheMountsTag(tag: string): string {
  // Docker tags are at most 128 characters: a long tag keeps its end, which names it best.
  const suffix = "-cache-mounts";
  return `${tag.slice(0, 128 - suffix.length)}${suffix}`;
}

export interface CacheMountEntry {
  readonly id: string;
  /** The gzip tar of the mount's directory. */
  readonly layer: OciDescriptor;
}

/**
 * The artifact that carries `RUN --mount=type=cache` contents (`cache-mounts=true`): an OCI image
 * manifest whose config (`{"mounts":[{"id":…,"digest":…}]}`) names each mount's layer, and whose
 * layers are the mounts' directories as gzip tars, each annotated with its id.
 */
export function cacheMountsArtifact(mounts: readonly CacheMountEntry[]): { config: Document; manifest: Document } {
  const configBytes = new TextEncoder().encode(goJson({ mounts: mounts.map((m) => ({ id: m.id, digest: m.layer.digest })) }));
  const config: Document = { bytes: configBytes, descriptor: { mediaType: CACHE_MOUNTS_CONFIG_MEDIA_TYPE, digest: sha256Of(configBytes), size: configBytes.byteLength } };
  const manifestBytes = new TextEncoder().encode(
    goJson({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: config.descriptor.mediaType, digest: config.descriptor.digest, size: config.descriptor.size },
      layers: mounts.map((m) => ({ mediaType: m.layer.mediaType, digest: m.layer.digest, size: m.layer.size, annotations: { [CACHE_MOUNT_ID_ANNOTATION]: m.id } })),
    }),
  );
  return { config, manifest: { bytes: manifestBytes, descriptor: { mediaType: MediaTypes.ociManifest, digest: sha256Of(manifestBytes), size: manifestBytes.byteLength } } };
}

/** The mounts of a cache-mounts artifact, from its manifest's layers (the id annotations). */
export function cacheMountsOf(manifestBytes: Uint8Array): ParseResult<CacheMountEntry[]> {
  try {
    const m = JSON.parse(new TextDecoder().decode(manifestBytes)) as { config?: { mediaType?: unknown }; layers?: unknown };
    if (m.config?.mediaType !== CACHE_MOUNTS_CONFIG_MEDIA_TYPE) return { ok: false, error: `its config is not ${CACHE_MOUNTS_CONFIG_MEDIA_TYPE}` };
    if (!Array.isArray(m.layers)) return { ok: false, error: "it has no layers" };
    const out: CacheMountEntry[] = [];
    for (const l of m.layers as { mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: Record<string, unknown> }[]) {
      const id = l.annotations?.[CACHE_MOUNT_ID_ANNOTATION];
      if (typeof id !== "string" || typeof l.digest !== "string" || !isDigest(l.digest) || typeof l.size !== "number" || typeof l.mediaType !== "string") {
        return { ok: false, error: "a layer has no cache mount id, digest, size or media type" };
      }
      out.push({ id, layer: { mediaType: l.mediaType, digest: l.digest, size: l.size } });
    }
    return { ok: true, value: out };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

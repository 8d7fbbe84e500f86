import type { Digest } from "../../cache/index.ts";
import { MediaTypes } from "../../base/oci/index.ts";
import { BlobLeases, type ImageRecord, type ImageStore } from "../images/index.ts";
import { encodeTarHeader, readTar, tarEnd, tarPadding, WHITEOUT_PREFIX, type TarHeader, type TarWriteHeader } from "../snapshots/index.ts";
import type { ContainerConfig } from "../state/index.ts";
import { INIT_LAYER_PARENTS, INIT_LAYER_PATHS } from "./changes.ts";
import { mergeImageConfig } from "./create-config.ts";

/**
 * `docker commit` (Docker 26's classic image store: daemon/commit.go and images/image_commit.go): the
 * container's writable layer becomes one more layer on its image's, and the new image's config is the
 * given one (or the container's) with the `--change` instructions applied and merged with the
 * container's. No layer is added when the container changed nothing (the empty tar's diff ID, as
 * Docker's `layer.IsEmpty`); the history gets an entry either way.
 */

/** sha256 of an empty tar (two zero blocks): Docker's layer.DigestSHA256EmptyTar. */
export const EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

export interface CommitInput {
  readonly containerId: string;
  /** The container's Config (what `docker inspect` shows). */
  readonly containerConfig: ContainerConfig;
  /** The new image's config before the merge: the request's Config with the changes applied. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The container's image (the new image's parent). */
  readonly parent: ImageRecord;
  /** The writable layer as a tar (the snapshotter's diff). */
  readonly layer: AsyncIterable<Uint8Array>;
  /** "repo:tag" to name the image, if any. */
  readonly name?: string;
  readonly author: string;
  readonly comment: string;
  readonly dockerVersion: string;
  readonly signal: AbortSignal;
  readonly now?: Date;
}

/**
 * Docker's daemon/commit.go merge: what the new config leaves unset comes from the container's
 * (user, ports, environment by name, labels, command and entrypoint, healthcheck fields, working
 * directory, volumes, stop signal). Unlike a create's merge it does not make up a hostname.
 */
export function mergeCommitConfig(user: Readonly<Record<string, unknown>>, container: ContainerConfig): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...mergeImageConfig(user as ContainerConfig, container as Parameters<typeof mergeImageConfig>[1], "") };
  if (user["Hostname"] === undefined || user["Hostname"] === "") {
    if (container["Hostname"] !== undefined) merged["Hostname"] = container["Hostname"];
    else delete merged["Hostname"];
  }
  return merged;
}

/** A layer tar without Docker's init-layer entries (see changes.ts), and its measures. */
export async function* withoutInitLayer(tar: AsyncIterable<Uint8Array>, measure: { contentSize: number }): AsyncGenerator<Buffer> {
  // /etc and /dev headers wait until something that is not the runtime's mount point shows below them.
  let pending: { readonly path: string; readonly header: Buffer } | undefined;
  for await (const entry of readTar(tar)) {
    const h = entry.header;
    const name = h.name.replace(/^\.\//, "").replace(/\/+$/, "");
    const base = name.slice(name.lastIndexOf("/") + 1);
    const target = base.startsWith(WHITEOUT_PREFIX) ? `/${name.slice(0, name.length - base.length)}${base.slice(WHITEOUT_PREFIX.length)}` : `/${name}`;
    if (pending !== undefined && !target.startsWith(`${pending.path}/`)) pending = undefined;
    if (INIT_LAYER_PATHS.has(target) || [...INIT_LAYER_PATHS].some((p) => target.startsWith(`${p}/`))) continue;
    if (h.type === "directory" && INIT_LAYER_PARENTS.has(target)) {
      pending = { path: target, header: encodeTarHeader(writeHeaderOf(h, name)) };
      continue;
    }
    if (pending !== undefined) {
      yield pending.header;
      pending = undefined;
    }
    const header = writeHeaderOf(h, name);
    yield encodeTarHeader(header);
    if (h.type === "file" && h.size > 0) {
      if (!base.startsWith(WHITEOUT_PREFIX)) measure.contentSize += h.size;
      for await (const chunk of entry.body) yield chunk;
      yield tarPadding(h.size);
    }
  }
  yield tarEnd();
}

function writeHeaderOf(h: TarHeader, name: string): TarWriteHeader {
  return {
    name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.type === "file" ? h.size : 0,
    mtime: Math.floor(h.mtime),
    ...(h.linkname !== "" ? { linkname: h.linkname } : {}),
    ...(h.type === "char-device" || h.type === "block-device" ? { devmajor: h.devmajor, devminor: h.devminor } : {}),
    ...(h.xattrs.size > 0 ? { xattrs: h.xattrs } : {}),
  };
}

/** Records the committed image: the record and the names it got (familiar form, "app:v1"). */
export async function commitImage(images: ImageStore, raw: Readonly<Record<string, unknown>>, input: CommitInput): Promise<{ readonly image: ImageRecord; readonly names: readonly string[] }> {
  const { signal, parent } = input;
  const sig = { signal };
  const docker = parent.manifests[0]?.descriptor.mediaType === MediaTypes.dockerManifest;
  const layerType = docker ? MediaTypes.dockerLayer : MediaTypes.ociLayer;
  const measure = { contentSize: 0 };
  // Leased as they are stored (under the content store's lock), not after: a garbage collection
  // between the write and the lease (an rmi or prune at the same time) would delete the blob.
  const leases = new BlobLeases(images.refs, images.content, "commit");
  const leased = { lease: leases.lease, ...sig };
  let layer: { readonly digest: Digest; readonly size: number } | undefined;
  try {
    layer = await images.content.put(withoutInitLayer(input.layer, measure), { mediaType: layerType, ...leased });
    const empty = layer.digest === EMPTY_TAR_DIFF_ID;
    const created = (input.now ?? new Date()).toISOString();
    const cmd = Array.isArray(input.containerConfig["Cmd"]) ? (input.containerConfig["Cmd"] as string[]) : [];
    const history = [
      ...((raw["history"] as unknown[] | undefined) ?? []),
      {
        created,
        ...(input.author !== "" ? { author: input.author } : {}),
        created_by: cmd.join(" "),
        ...(input.comment !== "" ? { comment: input.comment } : {}),
        ...(empty ? { empty_layer: true } : {}),
      },
    ];
    const parentDiffIds = ((raw["rootfs"] as { diff_ids?: Digest[] } | undefined)?.diff_ids ?? []) as Digest[];
    // Docker's V1Image field order, then rootfs, history and the OS fields of the parent.
    const config = {
      created,
      container: input.containerId,
      container_config: input.containerConfig,
      ...(input.dockerVersion !== "" ? { docker_version: input.dockerVersion } : {}),
      ...(input.author !== "" ? { author: input.author } : {}),
      config: input.config,
      architecture: raw["architecture"] ?? parent.platform.architecture,
      ...(raw["variant"] !== undefined ? { variant: raw["variant"] } : {}),
      os: raw["os"] ?? parent.platform.os,
      rootfs: { type: "layers", diff_ids: empty ? parentDiffIds : [...parentDiffIds, layer.digest] },
      history,
      ...(raw["os.version"] !== undefined ? { "os.version": raw["os.version"] } : {}),
      ...(raw["os.features"] !== undefined ? { "os.features": raw["os.features"] } : {}),
    };
    const configType = docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig;
    const configDesc = await images.content.put(Buffer.from(JSON.stringify(config)), { mediaType: configType, ...leased });
    const parentLayers = parent.manifests[0]?.layers ?? [];
    const manifestType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: manifestType,
        config: { mediaType: configType, digest: configDesc.digest, size: configDesc.size },
        layers: empty ? parentLayers : [...parentLayers, { mediaType: layerType, digest: layer.digest, size: layer.size }],
      }),
    );
    const manifestDesc = await images.content.put(manifestBytes, { mediaType: manifestType, ...leased });
    const layers = [
      ...parent.layers.map((l) => (l.contentSize !== undefined && l.tarSize !== undefined ? { diffId: l.diffId, contentSize: l.contentSize, tarSize: l.tarSize } : undefined)),
      ...(empty ? [] : [{ diffId: layer.digest as Digest, contentSize: measure.contentSize, tarSize: layer.size }]),
    ];
    const added = await images.add({
      manifest: { mediaType: manifestType, digest: manifestDesc.digest as Digest, size: manifestDesc.size },
      names: input.name !== undefined ? [input.name] : [],
      parent: parent.id,
      layers,
      localTag: true,
      ...sig,
    });
    // Nothing changed: the empty tar went nowhere (unless another image holds the same blob).
    if (empty) {
      leases.release();
      await images.collectGarbage({ candidates: [layer.digest] }).catch(() => undefined);
    }
    return { image: added.image, names: added.names };
  } catch (err) {
    leases.release();
    if (layer !== undefined) await images.collectGarbage({ candidates: [layer.digest] }).catch(() => undefined);
    throw err;
  } finally {
    leases.release();
  }
}

import { resolve } from "node:path";
import { lstat } from "node:fs/promises";
import { htkError, isHtkError, type HtkError } from "../../base/errors/index.ts";
import type { ContentStore } from "../../cache/index.ts";
import { MediaTypes, parseDockerReference, type OciDescriptor } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { LocalLayout, cacheMountsArtifact, cacheMountsOf, cacheMountsTag, type CacheExportSpec, type CacheImportSpec, type CacheMountEntry } from "../../cache/remote/index.ts";
import type { Definition } from "../../llb/index.ts";
import { applyLayer, compressGzip, diffDirectories } from "../snapshots/index.ts";
import type { RuntimeWorker } from "../worker/runtime-worker.ts";

/**
 * `RUN --mount=type=cache` contents as their own artifact under a cache's reference
 * (`--cache-to …,cache-mounts=true|ID;ID`, tag `<tag>-cache-mounts`), and their use by an importing
 * build: a cache mount this data root does not have yet starts from the imported contents (after its
 * `from=` source), fetched only when a step that mounts it runs. A local cache is never overwritten.
 */

/** The ids of the cache mounts a build's steps use, in first-use order. */
export function cacheMountIds(definition: Definition): string[] {
  const ids = new Set<string>();
  for (const v of definition.vertices) {
    if (v.op.kind !== "exec") continue;
    for (const m of v.op.mounts) if (m.kind === "cache") ids.add(m.id);
  }
  return [...ids];
}

export interface CacheMountsWriteDeps {
  readonly worker: RuntimeWorker;
  readonly content: ContentStore;
  readonly registry: RegistryClient;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly oneOff: (id: string) => () => void;
}

/** Writes the cache-mounts artifact of a registry or local `--cache-to` that asks for it. */
export async function writeCacheMounts(spec: Exclude<CacheExportSpec, { type: "inline" }>, definition: Definition, deps: CacheMountsWriteDeps): Promise<number> {
  const wanted = spec.cacheMounts;
  if (wanted === undefined) return 0;
  const used = cacheMountIds(definition);
  const ids = wanted === "all" ? used : wanted.filter((id) => used.includes(id));
  const mounts: CacheMountEntry[] = [];
  for (const id of ids) {
    const dir = deps.worker.cacheMountDir(id);
    if ((await lstat(dir).catch(() => undefined))?.isDirectory() !== true) continue;
    const done = deps.oneOff(`exporting cache mount ${JSON.stringify(id)}`);
    const tar = diffDirectories(undefined, dir, { signal: deps.signal });
    const gz = compressGzip(tar.stream, { signal: deps.signal });
    const [stored] = await Promise.all([deps.content.put(gz.stream, { mediaType: MediaTypes.ociLayerGzip, signal: deps.signal }), tar.done, gz.done]);
    mounts.push({ id, layer: { mediaType: MediaTypes.ociLayerGzip, digest: stored.digest, size: stored.size } });
    done();
  }
  if (mounts.length === 0) return 0;
  const { config, manifest } = cacheMountsArtifact(mounts);
  await deps.content.put(config.bytes, { mediaType: config.descriptor.mediaType, signal: deps.signal });
  await deps.content.put(manifest.bytes, { mediaType: manifest.descriptor.mediaType, signal: deps.signal });
  const blobs = [...mounts.map((m) => m.layer), config.descriptor];
  if (spec.type === "registry") {
    const ref = parseDockerReference(spec.ref);
    if (!ref.ok) throw new Error(`"${spec.ref}" is not an image reference: ${ref.error}`);
    const tag = cacheMountsTag(ref.value.tag ?? "latest");
    for (const d of blobs) await deps.registry.pushBlob(spec.ref, d, { store: deps.content, signal: deps.signal });
    const done = deps.oneOff(`writing cache mounts manifest ${manifest.descriptor.digest} to ${spec.ref.replace(/:[^/:@]+$/, "")}:${tag}`);
    await deps.registry.putManifest(spec.ref, tag, manifest.descriptor, manifest.bytes, { signal: deps.signal });
    done();
  } else {
    const layout = new LocalLayout(resolve(deps.cwd, spec.dest));
    for (const d of [...blobs, manifest.descriptor]) await layout.writeBlob(d, await deps.content.get(d.digest, { signal: deps.signal }), deps.signal);
    await layout.tag(manifest.descriptor, cacheMountsTag(spec.tag));
  }
  return mounts.length;
}

interface Seed {
  readonly layer: OciDescriptor;
  readonly source: string;
  fetch(d: OciDescriptor, content: ContentStore, signal: AbortSignal): Promise<void>;
}

export interface CacheMountsImportDeps {
  readonly registry: RegistryClient;
  readonly content: ContentStore;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly warn: (err: HtkError) => void;
}

/**
 * The cache mounts the `--cache-from` sources carry (the first source with an id wins), as a seed
 * function for the worker; undefined when none has any. A source without the artifact is normal.
 */
export async function openCacheMountSeeds(specs: readonly CacheImportSpec[], deps: CacheMountsImportDeps): Promise<((id: string, dir: string, signal: AbortSignal) => Promise<void>) | undefined> {
  const seeds = new Map<string, Seed>();
  for (const spec of specs) {
    let entries: CacheMountEntry[] | undefined;
    let fetch: Seed["fetch"];
    let source: string;
    try {
      if (spec.type === "registry") {
        const ref = parseDockerReference(spec.ref);
        if (!ref.ok || ref.value.digest !== undefined) continue;
        const mountsRef = `${spec.ref.replace(/:[^/:@]+$/, "")}:${cacheMountsTag(ref.value.tag ?? "latest")}`;
        source = `registry ${mountsRef}`;
        let bytes: Uint8Array;
        try {
          bytes = (await deps.registry.fetchManifestBytes(mountsRef, { signal: deps.signal })).bytes;
        } catch (err) {
          if (isHtkError(err, "HTK-REGISTRY-0007") || isHtkError(err, "HTK-REGISTRY-0008")) continue;
          throw err;
        }
        const parsed = cacheMountsOf(bytes);
        if (!parsed.ok) throw htkError("HTK-CACHE-0206", { source, detail: parsed.error });
        entries = parsed.value;
        fetch = async (d, content, signal) => void (await deps.registry.fetchBlob(spec.ref, d, content, { signal }));
      } else {
        const layout = new LocalLayout(resolve(deps.cwd, spec.src));
        const root = await layout.resolve({ tag: cacheMountsTag(spec.tag) }).catch(() => undefined);
        if (root === undefined) continue;
        source = `local ${spec.src} (tag ${cacheMountsTag(spec.tag)})`;
        const parsed = cacheMountsOf(await layout.readDocument(root));
        if (!parsed.ok) throw htkError("HTK-CACHE-0206", { source, detail: parsed.error });
        entries = parsed.value;
        fetch = async (d, content, signal) => {
          if (await content.has(d.digest)) return;
          await content.put(layout.openBlob(d.digest, signal), { expected: { digest: d.digest, size: d.size }, mediaType: d.mediaType, signal });
        };
      }
    } catch (err) {
      // The records were readable (or ignore-error said to go on): missing mounts only cost time.
      deps.warn(isHtkError(err) ? err : htkError("HTK-CACHE-0203", { source: spec.type === "registry" ? spec.ref : spec.src, detail: (err as Error).message }, { cause: err }));
      continue;
    }
    for (const e of entries) if (!seeds.has(e.id)) seeds.set(e.id, { layer: e.layer, source, fetch });
  }
  if (seeds.size === 0) return undefined;
  return async (id, dir, signal) => {
    const seed = seeds.get(id);
    if (seed === undefined) return;
    try {
      await seed.fetch(seed.layer, deps.content, signal);
      await applyLayer(dir, await deps.content.get(seed.layer.digest, { signal }), { signal, whiteouts: "delete", layer: seed.layer.digest });
    } catch (err) {
      if (signal.aborted) throw err;
      // The step still runs, with the cache mount as it would be without the import.
      deps.warn(htkError("HTK-CACHE-0209", { digest: seed.layer.digest, source: seed.source, detail: (err as Error).message }, { cause: err }));
    }
  };
}

import { resolve } from "node:path";
import { htkError, isCancellation, isHtkError, renderError, type HtkError } from "../../base/errors/index.ts";
import type { ContentStore, Digest } from "../../cache/index.ts";
import { parseImageConfig, selectManifest, type Manifest, type OciDescriptor, type Platform } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import {
  EMPTY_LAYER_DIFF_ID,
  ImportedCache,
  LocalLayout,
  inlineCacheOf,
  parseCacheConfig,
  readCacheRoot,
  type CacheImportSpec,
  type CacheRoot,
  type ImportHit,
  type ImportedResult,
} from "../../cache/remote/index.ts";
import type { CacheKeyStore, CacheRecord, Worker, WorkerRef } from "../../solver/index.ts";
import { chainId, type SnapshotRef, type Snapshotter } from "../snapshots/index.ts";
import type { RuntimeWorker } from "../worker/runtime-worker.ts";

/** Where an imported cache came from, and how its blobs are fetched. */
export interface ImportSource {
  /** For messages: `registry 127.0.0.1:5000/app:cache`, `local /ci/cache (tag latest)`. */
  readonly name: string;
  readonly cache: ImportedCache;
  /** The registry repository the blobs come from (cache exports mount from it), when it is one. */
  readonly registryRef?: string;
  /** Puts a blob of the artifact into the content store (no-op when it is there). */
  fetch(d: OciDescriptor, content: ContentStore, signal: AbortSignal): Promise<void>;
}

export interface ImportDeps {
  readonly registry: RegistryClient;
  readonly content: ContentStore;
  readonly platform: Platform;
  readonly cwd: string;
  readonly signal: AbortSignal;
  /** A warning line for the user (the cache is missing or could not be read, and the build goes on). */
  readonly warn: (err: HtkError) => void;
}

const REMOTE = "remote:";
/** Blobs of an imported cache downloaded at once (dockerd's max-concurrent-downloads). */
const MAX_DOWNLOADS = 3;
/** Manifests and configs are small: a bigger "config" is not one. */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export function isRemoteRef(id: string): boolean {
  return id.startsWith(REMOTE);
}

/** Reads every `--cache-from` source: records and blob lists only, no layer is downloaded here. */
export async function openImportSources(specs: readonly CacheImportSpec[], deps: ImportDeps): Promise<ImportSource[]> {
  const out: ImportSource[] = [];
  for (const spec of specs) {
    const name = spec.type === "registry" ? `registry ${spec.ref}` : `local ${spec.src} (${spec.digest ?? `tag ${spec.tag}`})`;
    try {
      const source = spec.type === "registry" ? await openRegistrySource(spec, name, deps) : await openLocalSource(spec, name, deps);
      if (source !== undefined) out.push(source);
    } catch (err) {
      if (deps.signal.aborted || isCancellation(err)) throw err;
      const reason = isHtkError(err) && (err.id === "HTK-CACHE-0206" || err.id === "HTK-CACHE-0203") ? err : htkError("HTK-CACHE-0203", { source: name, detail: describe(err) }, { cause: err });
      if (!spec.ignoreError) throw reason;
      deps.warn(reason);
    }
  }
  return out;
}

function describe(err: unknown): string {
  if (isHtkError(err)) return `${err.id}: ${err.plainCause}`;
  return err instanceof Error ? err.message : String(err);
}

async function openRegistrySource(spec: Extract<CacheImportSpec, { type: "registry" }>, name: string, deps: ImportDeps): Promise<ImportSource | undefined> {
  const { registry, content, signal } = deps;
  let root;
  try {
    root = await registry.fetchManifestBytes(spec.ref, { signal });
  } catch (err) {
    // A cache that does not exist yet is the first build of a pipeline, not a failure.
    if (isHtkError(err, "HTK-REGISTRY-0007") || isHtkError(err, "HTK-REGISTRY-0008")) {
      deps.warn(htkError("HTK-CACHE-0202", { source: name, detail: err.plainCause }));
      return undefined;
    }
    throw err;
  }
  const fetch = async (d: OciDescriptor, store: ContentStore, sig: AbortSignal): Promise<void> => {
    await registry.fetchBlob(spec.ref, d, store, { signal: sig });
  };
  const readDoc = async (d: OciDescriptor): Promise<Uint8Array> => {
    if (d.size > MAX_CONFIG_BYTES) throw htkError("HTK-CACHE-0206", { source: name, detail: `${d.digest} is larger than ${MAX_CONFIG_BYTES} bytes` });
    await fetch(d, content, signal);
    return content.readBytes(d.digest, { signal, maxBytes: MAX_CONFIG_BYTES });
  };
  const readManifest = async (d: OciDescriptor): Promise<Uint8Array> => {
    const base = spec.ref.replace(/@sha256:[0-9a-f]{64}$/, "").replace(/:[^/:@]+$/, "");
    return (await registry.fetchManifestBytes(`${base}@${d.digest}`, { signal })).bytes;
  };
  const cache = await cacheOf(name, root.bytes, root.descriptor.mediaType, readDoc, readManifest, deps);
  return cache === undefined ? undefined : { name, cache, registryRef: spec.ref, fetch };
}

async function openLocalSource(spec: Extract<CacheImportSpec, { type: "local" }>, name: string, deps: ImportDeps): Promise<ImportSource | undefined> {
  const layout = new LocalLayout(resolve(deps.cwd, spec.src));
  const root = await layout.resolve({ tag: spec.tag, ...(spec.digest === undefined ? {} : { digest: spec.digest }) });
  if (root === undefined) {
    deps.warn(htkError("HTK-CACHE-0202", { source: name, detail: `${layout.dir}/index.json names no such cache` }));
    return undefined;
  }
  const fetch = async (d: OciDescriptor, store: ContentStore, sig: AbortSignal): Promise<void> => {
    if (await store.has(d.digest)) return;
    await store.put(layout.openBlob(d.digest, sig), { expected: { digest: d.digest, size: d.size }, mediaType: d.mediaType, signal: sig });
  };
  const read = (d: OciDescriptor): Promise<Uint8Array> => layout.readDocument(d);
  const cache = await cacheOf(name, await read(root), root.mediaType, read, read, deps);
  return cache === undefined ? undefined : { name, cache, fetch };
}

/** The records of a cache artifact, or of an image's inline cache. */
async function cacheOf(
  name: string,
  bytes: Uint8Array,
  mediaType: string | undefined,
  readBlob: (d: OciDescriptor) => Promise<Uint8Array>,
  readManifest: (d: OciDescriptor) => Promise<Uint8Array>,
  deps: ImportDeps,
): Promise<ImportedCache | undefined> {
  const invalid = (detail: string): HtkError => htkError("HTK-CACHE-0206", { source: name, detail });
  let root: CacheRoot;
  const parsed = readCacheRoot(bytes, mediaType);
  if (!parsed.ok) throw invalid(parsed.error);
  root = parsed.value;
  if (root.kind === "image-index") {
    const chosen = selectManifest(root.index.manifests, deps.platform);
    if (chosen === undefined) throw invalid("the image index has no image for this platform");
    const again = readCacheRoot(await readManifest(chosen), chosen.mediaType);
    if (!again.ok) throw invalid(again.error);
    root = again.value;
    if (root.kind === "image-index") throw invalid("the image index points at another index");
  }
  switch (root.kind) {
    case "cache": {
      const config = parseCacheConfig(await readBlob(root.config));
      if (!config.ok) throw invalid(`its cache config: ${config.error}`);
      return ImportedCache.from(config.value, root.blobs);
    }
    case "image": {
      const inline = await inlineOf(root.manifest, readBlob);
      if (!inline.ok) throw invalid(inline.error);
      if (inline.value === undefined) {
        deps.warn(htkError("HTK-CACHE-0202", { source: name, detail: "it is an image without an inline cache (build it with --cache-to type=inline)" }));
        return undefined;
      }
      return ImportedCache.from(inline.value.config, inline.value.blobs);
    }
  }
}

async function inlineOf(manifest: Manifest, readBlob: (d: OciDescriptor) => Promise<Uint8Array>): Promise<ReturnType<typeof inlineCacheWrapped>> {
  return inlineCacheWrapped(await readBlob(manifest.config), manifest);
}

function inlineCacheWrapped(configBytes: Uint8Array, manifest: Manifest): ReturnType<typeof inlineCacheOf> {
  const valid = parseImageConfig(configBytes);
  if (!valid.ok) return { ok: false, error: `its image config: ${valid.error}` };
  return inlineCacheOf(JSON.parse(new TextDecoder().decode(configBytes)) as unknown, manifest);
}

/** A bounded number of tasks at once; the rest wait in order. */
class Limiter {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

interface RemoteResult {
  readonly result: ImportedResult;
  readonly source: ImportSource;
  /** Keys handed to the solver for it: recorded locally once it is materialized. */
  readonly keys: Map<Digest, ImportHit>;
  materialized: Promise<string> | undefined;
  /** The snapshot it became, once it did. */
  snapshot: string | undefined;
}

export interface ImportSessionDeps {
  readonly worker: RuntimeWorker;
  readonly snapshotter: Snapshotter;
  readonly content: ContentStore;
  readonly warn: (err: HtkError) => void;
  readonly signal: AbortSignal;
}

/**
 * The imported caches of one build, put between the solver and the local key store and worker:
 * a key the local store lacks is looked up in the imported records (so the step shows CACHED), and
 * only when the solver needs that step's result (the end of a cached chain) are its layers fetched —
 * in parallel, bounded, skipping blobs and snapshots already here — and unpacked into snapshots the
 * way a pulled image is. The local store then records the key, so the next build needs no import.
 */
export class RemoteCacheImport {
  readonly sources: readonly ImportSource[];
  readonly #deps: ImportSessionDeps;
  readonly #results: RemoteResult[] = [];
  readonly #byResult = new Map<ImportedResult, number>();
  readonly #dead = new Set<string>();
  readonly #downloads = new Limiter(MAX_DOWNLOADS);
  #local: CacheKeyStore | undefined;
  /** Local records of imported hits, written in order; awaited before the store closes. */
  #writes: Promise<void> = Promise.resolve();

  constructor(sources: readonly ImportSource[], deps: ImportSessionDeps) {
    this.sources = sources;
    this.#deps = deps;
  }

  /** The key store the solver uses: local records first, then the imported ones. */
  wrapStore(local: CacheKeyStore): CacheKeyStore {
    this.#local = local;
    return {
      get: (key) => local.get(key) ?? this.#imported(key),
      put: async (record) => {
        if (!record.outputs.some(isRemoteRef)) return local.put(record);
        // An alias of an imported hit: recorded with the snapshot it became, never with a remote id.
        const ids = await Promise.all(record.outputs.map(async (id) => (isRemoteRef(id) ? this.#results[indexOf(id)]?.materialized?.catch(() => undefined) : id)));
        if (ids.every((id): id is string => id !== undefined)) await local.put({ ...record, outputs: ids });
      },
      delete: async (key) => {
        this.#dead.add(key);
        await local.delete(key);
      },
      records: () => local.records(),
      close: async () => {
        await this.#writes;
        await local.close();
      },
    };
  }

  /** The worker the solver uses: `loadRef` of an imported result fetches and unpacks it. */
  wrapWorker(inner: Worker): Worker {
    return {
      id: inner.id,
      platform: inner.platform,
      resolveImage: (source, platform, ctx) => inner.resolveImage(source, platform, ctx),
      loadSource: (op, resolved, ctx) => inner.loadSource(op, resolved, ctx),
      exec: (op, inputs, ctx) => inner.exec(op, inputs, ctx),
      fileOp: (op, inputs, ctx) => inner.fileOp(op, inputs, ctx),
      merge: (op, inputs, ctx) => inner.merge(op, inputs, ctx),
      diff: (op, inputs, ctx) => inner.diff(op, inputs, ctx),
      contentKey: (ref, selector, signal) => inner.contentKey(ref, selector, signal),
      ...(inner.sourceContentKey === undefined ? {} : { sourceContentKey: inner.sourceContentKey.bind(inner) }),
      ...(inner.pinSource === undefined ? {} : { pinSource: inner.pinSource.bind(inner) }),
      loadRef: (id) => (isRemoteRef(id) ? this.#load(id, inner) : inner.loadRef(id)),
    };
  }

  /** An imported result the solver never loaded (a cache export writes its blobs from the source). */
  remoteResult(id: string): { readonly result: ImportedResult; readonly source: ImportSource } | undefined {
    return this.#results[indexOf(id)];
  }

  /** The source an imported blob can be fetched from, if any record of the import names it. */
  sourceOf(digest: Digest): ImportSource | undefined {
    for (const r of this.#results) if (r.result.chain.some((l) => l.descriptor.digest === digest)) return r.source;
    return undefined;
  }

  #imported(key: Digest): CacheRecord | undefined {
    if (this.#dead.has(key)) return undefined;
    for (const source of this.sources) {
      const hit = source.cache.lookup(key);
      if (hit === undefined) continue;
      let n = this.#byResult.get(hit.result);
      if (n === undefined) {
        n = this.#results.length;
        this.#results.push({ result: hit.result, source, keys: new Map(), materialized: undefined, snapshot: undefined });
        this.#byResult.set(hit.result, n);
      }
      const entry = this.#results[n] as RemoteResult;
      entry.keys.set(key, hit);
      if (entry.snapshot !== undefined) this.#persist(entry);
      return { key, outputs: [`${REMOTE}${n}`], createdAt: hit.result.createdAt, vertexName: "", ...(hit.canonical === undefined ? {} : { canonical: hit.canonical }) };
    }
    return undefined;
  }

  async #load(id: string, inner: Worker): Promise<WorkerRef | undefined> {
    const entry = this.#results[indexOf(id)];
    if (entry === undefined) return undefined;
    entry.materialized ??= this.#materialize(entry);
    let snapshot: string;
    try {
      snapshot = await entry.materialized;
    } catch (err) {
      entry.materialized = undefined;
      if (isCancellation(err) || this.#deps.signal.aborted) throw err;
      const reason = isHtkError(err, "HTK-CACHE-0209") ? err : htkError("HTK-CACHE-0209", { digest: entry.result.chain.at(-1)?.descriptor.digest ?? "(none)", source: entry.source.name, detail: describe(err) }, { cause: err });
      this.#deps.warn(reason);
      return undefined;
    }
    const ref = await inner.loadRef(snapshot);
    if (ref === undefined) return undefined;
    if (entry.snapshot === undefined) {
      entry.snapshot = snapshot;
      this.#persist(entry);
      // The chain's prefixes are unpacked now too: every imported hit whose result is one of them
      // (the steps below this one in its stage) is recorded locally, so the next build needs no import.
      const ids = chainIds(entry.result.chain);
      for (const other of this.#results) {
        if (other.snapshot !== undefined || other.result.chain.length >= entry.result.chain.length) continue;
        if (!other.result.chain.every((l, i) => l.descriptor.digest === entry.result.chain[i]?.descriptor.digest)) continue;
        const id = ids[other.result.chain.length - 1];
        if (id === undefined || !this.#deps.snapshotter.has(id)) continue;
        other.snapshot = id;
        other.materialized = Promise.resolve(id);
        this.#persist(other);
      }
    }
    return ref;
  }

  /** Records an imported result's keys in the local store (for the next build), once. */
  #persist(entry: RemoteResult): void {
    const local = this.#local;
    const snapshot = entry.snapshot;
    if (local === undefined || snapshot === undefined) return;
    for (const [key, hit] of entry.keys) {
      if (local.get(key) !== undefined) continue;
      const record: CacheRecord = { key, outputs: [snapshot], createdAt: hit.result.createdAt, vertexName: "(imported cache)", ...(hit.canonical === undefined ? {} : { canonical: hit.canonical }) };
      this.#writes = this.#writes.then(() => local.put(record)).catch(() => undefined);
    }
  }

  /** Fetches what is missing of a result's chain (bounded, in parallel) and unpacks it in order. */
  async #materialize(entry: RemoteResult): Promise<string> {
    const { snapshotter, content, worker, signal } = this.#deps;
    const chain = entry.result.chain;
    // Chain ids are known up front when every diff_id is: what is already unpacked is not fetched.
    const ids = chainIds(chain);
    let start = 0;
    for (let i = chain.length - 1; i >= 0; i--) {
      const id = ids[i];
      if (id !== undefined && snapshotter.has(id)) {
        start = i + 1;
        break;
      }
    }
    const downloads = chain.map((l, i) => {
      if (i < start || l.diffId === EMPTY_LAYER_DIFF_ID) return Promise.resolve();
      const p = this.#downloads.run(async () => {
        signal.throwIfAborted();
        try {
          await entry.source.fetch(l.descriptor, content, signal);
        } catch (err) {
          if (isCancellation(err) || signal.aborted) throw err;
          throw htkError("HTK-CACHE-0209", { digest: l.descriptor.digest, source: entry.source.name, detail: describe(err) }, { cause: err });
        }
      });
      p.catch(() => undefined);
      return p;
    });
    let held: SnapshotRef | undefined = start === 0 ? undefined : snapshotter.acquire(ids[start - 1] as string);
    try {
      for (let i = start; i < chain.length; i++) {
        const l = chain[i] as (typeof chain)[number];
        const empty = l.diffId === EMPTY_LAYER_DIFF_ID;
        const download = downloads[i] as Promise<void>;
        const next = await snapshotter.unpack(
          held?.id,
          {
            ...(l.diffId === undefined ? {} : { diffId: l.diffId }),
            name: l.descriptor.digest,
            compression: empty ? "none" : "auto",
            open: (sig) => (empty ? emptyTar() : afterDownload(download, content, l.descriptor.digest, sig)),
          },
          signal,
        );
        held?.release();
        held = next;
      }
      if (held === undefined) throw new Error("an imported result without layers");
      // Image exports of these chains reuse the imported blobs, as they reuse a pulled image's.
      const known: { diffId: Digest; descriptor: OciDescriptor }[] = [];
      for (const [i, l] of chain.entries()) {
        const diffId = l.diffId ?? snapshotter.info(ids[i] ?? "")?.diffId;
        if (diffId !== undefined && diffId !== EMPTY_LAYER_DIFF_ID && (await content.has(l.descriptor.digest))) known.push({ diffId, descriptor: l.descriptor });
      }
      await worker.rememberLayerBlobs(known);
      return held.id;
    } finally {
      held?.release();
      await Promise.allSettled(downloads);
    }
  }
}

/** The snapshot ids of a chain's prefixes (OCI chain ids), as far as the diff_ids are known. */
function chainIds(chain: ImportedResult["chain"]): (string | undefined)[] {
  const ids: (string | undefined)[] = [];
  let parent: string | undefined;
  let known = true;
  for (const l of chain) {
    known &&= l.diffId !== undefined;
    parent = known && l.diffId !== undefined ? chainId(parent, l.diffId) : undefined;
    ids.push(parent);
  }
  return ids;
}

function indexOf(id: string): number {
  return Number(id.slice(REMOTE.length));
}

async function* emptyTar(): AsyncIterable<Uint8Array> {
  yield new Uint8Array(1024);
}

async function* afterDownload(download: Promise<void>, content: ContentStore, digest: Digest, signal: AbortSignal): AsyncIterable<Uint8Array> {
  await download;
  for await (const chunk of await content.get(digest, { signal })) yield chunk as Uint8Array;
}

export function renderWarning(err: HtkError): string {
  return renderError(err, { causes: false }).replace(/^ERROR /, "WARNING ");
}

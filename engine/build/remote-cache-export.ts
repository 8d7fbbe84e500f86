import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { resolve } from "node:path";
import { htkError, isCancellation, isHtkError, type HtkError } from "../../base/errors/index.ts";
import type { ContentStore, Digest } from "../../cache/index.ts";
import { MediaTypes, parseDockerReference, type OciDescriptor } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import {
  LocalLayout,
  buildCacheConfig,
  cacheManifest,
  computeKeys,
  configDocument,
  encodeCacheConfig,
  inlineCacheValue,
  otherLayoutOption,
  type ArtifactOptions,
  type CacheExportSpec,
  type CacheMode,
  type ExportLayer,
  type ExportLink,
  type ExportRecord,
} from "../../cache/remote/index.ts";
import { keyFromParts, type BuildRecord, type CacheKeyStore, type KeyPart, type VertexRecord } from "../../solver/index.ts";
import type { RuntimeWorker } from "../worker/runtime-worker.ts";
import { layerOf } from "./image-export.ts";
import { isRemoteRef, type RemoteCacheImport } from "./remote-cache-import.ts";

/** What a cache export reads: the finished build and where its results are. */
export interface CacheExportInput {
  readonly record: BuildRecord;
  /** The solver's key store (with the imported records, when the build imported a cache). */
  readonly store: CacheKeyStore;
  readonly worker: RuntimeWorker;
  readonly imports: RemoteCacheImport | undefined;
  /** The snapshot of the build's result. */
  readonly resultId: string | undefined;
  readonly exportsDir: string;
  readonly signal: AbortSignal;
}

/** The records to export and what mode=min left out. */
export interface ExportPlan {
  readonly records: readonly ExportRecord[];
  /** Stages with results that are not in the final image (mode=min leaves them out). */
  readonly lostStages: readonly string[];
  readonly lostSteps: number;
  /** Records whose key could not be recomputed from what is exported (a bug if ever non-zero). */
  readonly unreproducible: number;
}

const STAGE_NAME = /^\[([^\]\s]+) \d+\/\d+\]/;

/**
 * The records of a finished build, the way BuildKit's exporter walks its cache keys: one record per
 * key of every step (the content key and, for a step keyed by content, its fast key), linked to its
 * inputs' records; results are the layer chains of the steps' snapshots. mode=max gives every step
 * with a result its layers; mode=min only the steps whose results are part of the final image (every
 * step keeps its record, so keys can be recomputed). Local contexts never get results: the importing
 * build has its own context, and a context can be big and private.
 */
export async function planCacheExport(input: CacheExportInput, mode: CacheMode): Promise<ExportPlan> {
  const { record, store, worker, imports } = input;
  const vertices = new Map(record.vertices.filter((v) => v.key !== undefined).map((v) => [v.digest, v]));
  const finalChain = new Set<string>();
  for (let id = input.resultId; id !== undefined && !isRemoteRef(id); id = worker.snapshotter.info(id)?.parent) finalChain.add(id);
  if (input.resultId !== undefined && isRemoteRef(input.resultId)) finalChain.add(input.resultId);

  const records = new Map<string, ExportRecord>();
  const recordsOf = new Map<Digest, readonly string[] | undefined>();
  const linked = (digest: Digest, visiting: Set<Digest>): readonly string[] | undefined => {
    if (recordsOf.has(digest)) return recordsOf.get(digest);
    const v = vertices.get(digest);
    if (v?.key === undefined || visiting.has(digest)) return undefined;
    visiting.add(digest);
    const ids = recordsFor(v, visiting);
    visiting.delete(digest);
    recordsOf.set(digest, ids);
    return ids;
  };
  const slotsOf = (parts: readonly KeyPart[], visiting: Set<Digest>): ExportLink[][] | undefined => {
    const slots: ExportLink[][] = [];
    for (const p of parts) {
      if (p.kind !== "input" && p.kind !== "content") return undefined;
      // Output 0 is what every Dockerfile step reads; other outputs have no record form here.
      if (p.output !== 0) return undefined;
      const ids = linked(p.from, visiting);
      if (ids === undefined || ids.length === 0) return undefined;
      const selector = p.kind === "content" ? p.digest : p.selector;
      slots.push(ids.map((id) => ({ record: id, ...(selector === undefined ? {} : { selector }) })));
    }
    return slots;
  };
  const add = (r: ExportRecord): string => {
    if (!records.has(r.id)) records.set(r.id, r);
    return r.id;
  };
  const recordsFor = (v: VertexRecord, visiting: Set<Digest>): readonly string[] | undefined => {
    const pre = v.key;
    if (pre === undefined) return undefined;
    const { key, op, parts } = pre;
    if (parts.every((p) => p.kind === "pin" || p.kind === "source-content")) return [add({ id: key, digest: key, inputs: [] })];
    const made = keyFromParts(op, parts);
    const ids: string[] = [];
    if (made === key) {
      const slots = slotsOf(parts, visiting);
      if (slots === undefined) return undefined;
      ids.push(add({ id: key, digest: op, inputs: slots }));
      if (parts.some((p) => p.kind === "content")) {
        // The fast key: the same step keyed by its inputs' keys, with the paths as selectors.
        const fast = parts.map((p): KeyPart => {
          if (p.kind !== "content") return p;
          const inputKey = vertices.get(p.from)?.key?.key;
          return { kind: "input", index: p.index, from: p.from, output: p.output, name: p.name, key: inputKey ?? p.digest, selector: p.selectors.join("\n") };
        });
        const fastSlots = slotsOf(fast, visiting);
        if (fastSlots !== undefined) ids.push(add({ id: keyFromParts(op, fast), digest: op, inputs: fastSlots }));
      }
    } else {
      // The step hit by its fast key: its content key's parts are not in this build. It is written as
      // a record without inputs (its digest is the key itself), so it is still found by that key.
      ids.push(add({ id: key, digest: key, inputs: [] }));
      const slots = slotsOf(parts, visiting);
      if (slots !== undefined) ids.push(add({ id: made, digest: op, inputs: slots }));
    }
    return ids;
  };
  for (const d of vertices.keys()) linked(d, new Set());

  // Results: the layer chain of each step's snapshot.
  const layerMemo = new Map<string, Promise<ExportLayer>>();
  const chainOf = async (id: string): Promise<ExportLayer[] | undefined> => {
    if (isRemoteRef(id)) {
      const remote = imports?.remoteResult(id);
      if (remote === undefined || remote.result.chain.some((l) => l.diffId === undefined)) return undefined;
      return remote.result.chain.map((l) => ({ descriptor: plain(l.descriptor), diffId: l.diffId as Digest }));
    }
    const ids: string[] = [];
    for (let s: string | undefined = id; s !== undefined; s = worker.snapshotter.info(s)?.parent) {
      if (!worker.snapshotter.has(s)) return undefined;
      ids.unshift(s);
    }
    const out: ExportLayer[] = [];
    for (const s of ids) {
      let p = layerMemo.get(s);
      if (p === undefined) {
        p = layerOf(worker, s, input.exportsDir, input.signal).then((l) => ({ descriptor: plain(l.blob), diffId: l.diffId }));
        layerMemo.set(s, p);
      }
      out.push(await p);
    }
    return out;
  };
  const lost = new Map<string, number>();
  const withResults: ExportRecord[] = [];
  for (const v of vertices.values()) {
    const ids = recordsOf.get(v.digest);
    if (ids === undefined || v.key === undefined) continue;
    if (v.key.parts.some((p) => p.kind === "source-content" && p.what === "local")) continue;
    const saved = ids.map((k) => store.get(k as Digest)).find((r) => r !== undefined && r.outputs.length === 1);
    const snapshot = saved?.outputs[0];
    if (saved === undefined || snapshot === undefined) continue;
    if (mode === "min" && !finalChain.has(snapshot)) {
      if (v.opKind !== "source") {
        const stage = STAGE_NAME.exec(v.name)?.[1] ?? v.name;
        lost.set(stage, (lost.get(stage) ?? 0) + 1);
      }
      continue;
    }
    const chain = await chainOf(snapshot);
    if (chain === undefined || chain.length === 0) continue;
    for (const id of ids) {
      const r = records.get(id);
      if (r !== undefined) withResults.push({ ...r, result: { chain, createdAt: saved.createdAt } });
    }
  }
  const final = new Map(records);
  for (const r of withResults) final.set(r.id, r);
  // Every record must be found by its own key once imported: recompute the keys as an importer will.
  const list = [...final.values()];
  const { keys } = computeKeys(
    list.map((r) => r.id),
    (id) => {
      const r = final.get(id) as ExportRecord;
      return { digest: r.digest, inputs: r.inputs.map((slot) => slot.map((l) => ({ link: l.record, ...(l.selector === undefined ? {} : { selector: l.selector }) }))) };
    },
  );
  let unreproducible = 0;
  const checked = list.map((r) => {
    if (keys.get(r.id)?.includes(r.id as Digest) === true || r.result === undefined) return r;
    unreproducible++;
    const { result: _dropped, ...rest } = r;
    return rest;
  });
  return { records: checked, lostStages: [...lost.keys()].sort(), lostSteps: [...lost.values()].reduce((a, b) => a + b, 0), unreproducible };
}

function plain(d: OciDescriptor): OciDescriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** The `--cache-to type=inline` value for an image whose layers are `layerBlobs`. */
export function inlineValue(plan: ExportPlan, layerBlobs: readonly string[]): string | undefined {
  return inlineCacheValue(plan.records, layerBlobs);
}

// ---- writing ----------------------------------------------------------------------------------------

export interface CacheWriteDeps {
  readonly content: ContentStore;
  readonly registry: RegistryClient;
  readonly imports: RemoteCacheImport | undefined;
  readonly cwd: string;
  readonly signal: AbortSignal;
  /** Repositories the blobs may already be in (the build's base images, imported caches). */
  readonly mountFrom: readonly string[];
  /** A status of the export's progress vertex (`writing layer sha256:…`); call the result when done. */
  readonly oneOff: (id: string) => () => void;
}

/** What an export wrote: the root document and the blobs. */
export interface WrittenCache {
  readonly root: OciDescriptor;
  readonly config: OciDescriptor;
  readonly blobs: readonly OciDescriptor[];
}

/** Writes one `--cache-to` target (registry or local). Failures are HTK-CACHE-0204/0205. */
export async function writeCache(spec: Exclude<CacheExportSpec, { type: "inline" }>, plan: ExportPlan, deps: CacheWriteDeps): Promise<WrittenCache> {
  const target = spec.type === "registry" ? `registry ${spec.ref}` : `local ${spec.dest}`;
  try {
    const records = spec.compression === "uncompressed" ? await uncompressedRecords(plan.records, deps) : plan.records;
    const { config, blobs } = buildCacheConfig(records);
    const configDoc = configDocument(encodeCacheConfig(config));
    const root = cacheManifest(configDoc.descriptor, blobs, spec);
    await deps.content.put(configDoc.bytes, { mediaType: configDoc.descriptor.mediaType, signal: deps.signal });
    await deps.content.put(root.bytes, { mediaType: root.descriptor.mediaType, signal: deps.signal });
    if (spec.type === "registry") await pushCache(spec, blobs, configDoc.descriptor, root, deps);
    else await writeLocal(spec, blobs, configDoc.descriptor, root.descriptor, deps);
    return { root: root.descriptor, config: configDoc.descriptor, blobs };
  } catch (err) {
    if (deps.signal.aborted || isCancellation(err) || isHtkError(err, "HTK-CACHE-0204")) throw err;
    throw htkError("HTK-CACHE-0205", { target, detail: isHtkError(err) ? `${err.id}: ${err.plainCause}` : err instanceof Error ? err.message : String(err) }, { cause: err });
  }
}

/** A blob of the export into the content store, from wherever it is (an imported cache's source). */
async function ensureLocal(d: OciDescriptor, deps: CacheWriteDeps): Promise<void> {
  if (await deps.content.has(d.digest)) return;
  const source = deps.imports?.sourceOf(d.digest);
  if (source === undefined) throw new Error(`blob ${d.digest} is neither here nor in an imported cache`);
  await source.fetch(d, deps.content, deps.signal);
}

async function pushCache(spec: Extract<CacheExportSpec, { type: "registry" }>, blobs: readonly OciDescriptor[], config: OciDescriptor, root: { bytes: Uint8Array; descriptor: OciDescriptor }, deps: CacheWriteDeps): Promise<void> {
  const ref = parseDockerReference(spec.ref);
  if (!ref.ok) throw new Error(`"${spec.ref}" is not an image reference: ${ref.error}`);
  if (ref.value.digest !== undefined) throw new Error(`"${spec.ref}" names a digest; a cache is pushed under a tag`);
  const tag = ref.value.tag ?? "latest";
  const mountFrom = deps.mountFrom.flatMap((r) => {
    const p = parseDockerReference(r);
    return p.ok && p.value.domain === ref.value.domain && p.value.path !== ref.value.path ? [p.value.path] : [];
  });
  const queue = [...blobs, config];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const d = queue[next++];
      if (d === undefined) return;
      const done = deps.oneOff(`writing ${d === config ? "config" : "layer"} ${d.digest}`);
      // An imported blob this build never fetched is fetched only when the target lacks it.
      if (!(await deps.content.has(d.digest))) {
        if (await deps.registry.blobExists(spec.ref, d.digest, { action: "push", signal: deps.signal })) {
          done();
          continue;
        }
        await ensureLocal(d, deps);
      }
      await deps.registry.pushBlob(spec.ref, d, { store: deps.content, mountFrom, signal: deps.signal });
      done();
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  const manifestDone = deps.oneOff(`writing cache ${spec.layout === "image-manifest" ? "image manifest" : "manifest"} ${root.descriptor.digest} to ${spec.ref}`);
  try {
    await deps.registry.putManifest(spec.ref, tag, root.descriptor, root.bytes, { signal: deps.signal });
  } catch (err) {
    if (rejectsType(err)) {
      throw htkError(
        "HTK-CACHE-0204",
        { host: ref.value.domain, layout: spec.layout, mediaType: root.descriptor.mediaType, detail: String((err as HtkError).params["detail"] ?? (err as HtkError).plainCause), ref: spec.ref, option: otherLayoutOption(spec.layout) },
        { cause: err },
      );
    }
    throw err;
  }
  manifestDone();
}

/** A registry's refusal of the document itself (not of our access, not a server failure). */
function rejectsType(err: unknown): boolean {
  if (isHtkError(err, "HTK-REGISTRY-0012") || isHtkError(err, "HTK-REGISTRY-0013")) return true;
  if (!isHtkError(err, "HTK-REGISTRY-0018")) return false;
  const status = Number(err.params["status"]);
  return status === 400 || status === 415 || status === 422;
}

async function writeLocal(spec: Extract<CacheExportSpec, { type: "local" }>, blobs: readonly OciDescriptor[], config: OciDescriptor, root: OciDescriptor, deps: CacheWriteDeps): Promise<void> {
  const layout = new LocalLayout(resolve(deps.cwd, spec.dest));
  for (const d of [...blobs, config, root]) {
    if (await layout.has(d)) continue;
    const done = d === root ? () => undefined : deps.oneOff(`writing ${d === config ? "config" : "layer"} ${d.digest}`);
    await ensureLocal(d, deps);
    await layout.writeBlob(d, await deps.content.get(d.digest, { signal: deps.signal }), deps.signal);
    done();
  }
  const tagged = deps.oneOff(`writing cache ${spec.layout === "image-manifest" ? "image manifest" : "manifest"} ${root.digest} to ${layout.dir} (tag ${spec.tag})`);
  await layout.tag(root, spec.tag);
  tagged();
}

/** `compression=uncompressed`: every layer as its plain tar (its digest is its diff_id). */
async function uncompressedRecords(records: readonly ExportRecord[], deps: CacheWriteDeps): Promise<ExportRecord[]> {
  const memo = new Map<string, Promise<OciDescriptor>>();
  const plainOf = (l: ExportLayer): Promise<OciDescriptor> => {
    let p = memo.get(l.descriptor.digest);
    if (p === undefined) {
      p = (async () => {
        const gz = l.descriptor.mediaType === MediaTypes.ociLayerGzip || l.descriptor.mediaType === MediaTypes.dockerLayerGzip;
        if (!gz) return l.descriptor;
        if (!(await deps.content.has(l.diffId))) {
          await ensureLocal(l.descriptor, deps);
          const gunzip = createGunzip();
          const source = await deps.content.get(l.descriptor.digest, { signal: deps.signal });
          const piped = pipeline(source, gunzip, { signal: deps.signal });
          await Promise.all([deps.content.put(gunzip, { signal: deps.signal }), piped]);
        }
        const info = await deps.content.info(l.diffId);
        if (info === undefined) throw new Error(`the uncompressed layer ${l.diffId} was not stored`);
        return { mediaType: MediaTypes.ociLayer, digest: l.diffId, size: info.size };
      })();
      memo.set(l.descriptor.digest, p);
    }
    return p;
  };
  const out: ExportRecord[] = [];
  for (const r of records) {
    if (r.result === undefined) {
      out.push(r);
      continue;
    }
    const chain: ExportLayer[] = [];
    for (const l of r.result.chain) chain.push({ descriptor: await plainOf(l), diffId: l.diffId });
    out.push({ ...r, result: { chain, createdAt: r.result.createdAt } });
  }
  return out;
}

/** `ArtifactOptions` of a spec, for messages. */
export function describeSpec(spec: Exclude<CacheExportSpec, { type: "inline" }>): string {
  const o: ArtifactOptions = spec;
  return spec.type === "registry" ? `type=registry,ref=${spec.ref}${o.layout === "index" ? ",image-manifest=false" : ""}` : `type=local,dest=${spec.dest}`;
}

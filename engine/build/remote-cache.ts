import { join } from "node:path";
import { htkError, isCancellation, isHtkError, type HtkError } from "../../base/errors/index.ts";
import type { CacheExportSpec, CacheImportSpec, CacheMode } from "../../cache/remote/index.ts";
import type { BuildRecord, CacheKeyStore, Worker } from "../../solver/index.ts";
import type { Definition } from "../../llb/index.ts";
import { openCacheMountSeeds, writeCacheMounts } from "./remote-cache-mounts.ts";
import type { ImageExportOptions } from "./image-export.ts";
import { describeSpec, inlineValue, planCacheExport, writeCache, type ExportPlan } from "./remote-cache-export.ts";
import { RemoteCacheImport, openImportSources, type ImportSource } from "./remote-cache-import.ts";
import type { RuntimeStack } from "./runtime-stack.ts";

export interface BuildCacheRequest {
  readonly cacheFrom?: readonly CacheImportSpec[];
  readonly cacheTo?: readonly CacheExportSpec[];
  readonly dataRoot: string;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly progress: CacheProgress;
  /**
   * Where imported cache-mount contents go (a daemon build: its session); default: the worker's, for
   * the whole process (an in-process build is alone on its worker).
   */
  readonly onCacheMountSeed?: (seed: (id: string, dir: string, signal: AbortSignal) => Promise<void>) => void;
}

/** One progress vertex of a cache import or export (BuildKit's `exporting cache to registry`). */
export interface CacheVertex {
  /** A status line; the returned function marks it done. */
  oneOff(id: string): () => void;
  /** Ends the vertex (DONE, or its error). */
  close(error?: Error): Promise<void>;
}

/**
 * Where the caches' progress goes: rendered in this process (`hatake build`), or events the daemon
 * streams to its client. Warnings: a cache that is missing, an export that failed with
 * `ignore-error=true`, stages a `mode=min` export leaves out.
 */
export interface CacheProgress {
  /** A vertex after the build's, numbered `index` where the renderer numbers them. */
  vertex(index: number, name: string): CacheVertex;
  /** A vertex for each `--cache-from` source while it is read; none when undefined. */
  importVertex?(name: string): CacheVertex;
  warn(err: HtkError): void;
}

/** What the caches use of a runtime stack: the worker's snapshots and content store, a registry client. */
export type CacheStack = Pick<RuntimeStack, "worker" | "snapshotter" | "registry">;

/**
 * `--cache-from` and `--cache-to` of one in-process build: the imported caches sit between the solver
 * and the local key store and worker; after the build, the exports write the records of its steps.
 * Undefined when the build uses neither flag.
 */
export class BuildCaches {
  readonly #req: BuildCacheRequest;
  readonly #stack: CacheStack;
  readonly #imports: RemoteCacheImport | undefined;
  readonly #plans = new Map<CacheMode, Promise<ExportPlan>>();
  #store: CacheKeyStore | undefined;

  private constructor(req: BuildCacheRequest, stack: CacheStack, imports: RemoteCacheImport | undefined) {
    this.#req = req;
    this.#stack = stack;
    this.#imports = imports;
  }

  static async open(req: BuildCacheRequest, stack: CacheStack | undefined): Promise<BuildCaches | undefined> {
    const from = req.cacheFrom ?? [];
    const to = req.cacheTo ?? [];
    if (from.length === 0 && to.length === 0) return undefined;
    if (stack === undefined) throw htkError("HTK-RUNTIME-0001", { needs: "the runtime worker's snapshots and content store to import or export a build cache" });
    const warn = (err: HtkError): void => req.progress.warn(err);
    const deps = { registry: stack.registry, content: stack.worker.content, platform: stack.worker.platform, cwd: req.cwd, signal: req.signal, warn };
    const sources: ImportSource[] = [];
    const importVertex = req.progress.importVertex?.bind(req.progress);
    if (importVertex === undefined) sources.push(...(await openImportSources(from, deps)));
    else {
      for (const spec of from) {
        const vertex = importVertex(`importing cache manifest from ${spec.type === "registry" ? spec.ref : `local:${spec.src}`}`);
        try {
          sources.push(...(await openImportSources([spec], deps)));
          await vertex.close();
        } catch (err) {
          await vertex.close(err instanceof Error ? err : new Error(String(err)));
          throw err;
        }
      }
    }
    const imports = sources.length === 0 ? undefined : new RemoteCacheImport(sources, { worker: stack.worker, snapshotter: stack.snapshotter, content: stack.worker.content, warn, signal: req.signal });
    // Cache mounts exported with a cache (`cache-mounts=true`) seed this data root's new ones.
    if (sources.length > 0) {
      const seed = await openCacheMountSeeds(from, { registry: stack.registry, content: stack.worker.content, cwd: req.cwd, signal: req.signal, warn });
      if (seed !== undefined) {
        if (req.onCacheMountSeed === undefined) stack.worker.cacheMountSeed = seed;
        else req.onCacheMountSeed(seed);
      }
    }
    return new BuildCaches(req, stack, imports);
  }

  store(local: CacheKeyStore): CacheKeyStore {
    this.#store = this.#imports?.wrapStore(local) ?? local;
    return this.#store;
  }

  worker(inner: Worker): Worker {
    return this.#imports?.wrapWorker(inner) ?? inner;
  }

  get wantsInline(): boolean {
    return (this.#req.cacheTo ?? []).some((s) => s.type === "inline");
  }

  /** The image exporter's hook for `--cache-to type=inline`. */
  imageOptions(record: BuildRecord, resultId: string | undefined): ImageExportOptions {
    if (!this.wantsInline) return {};
    return { inlineCache: async (layers) => inlineValue(await this.#plan("min", record, resultId), layers) };
  }

  /**
   * Writes every registry and local `--cache-to`, each as a progress vertex numbered from
   * `firstIndex` (after the build's and the image export's); `imageExported`: whether an inline cache
   * had an image to go into.
   */
  async export(record: BuildRecord, resultId: string | undefined, imageExported: boolean, firstIndex: number, definition: Definition): Promise<void> {
    const warn = (err: HtkError): void => this.#req.progress.warn(err);
    if (this.wantsInline && !imageExported) warn(htkError("HTK-CACHE-0208", {}));
    let index = firstIndex;
    for (const spec of this.#req.cacheTo ?? []) {
      if (spec.type === "inline") continue;
      const progress = this.#req.progress.vertex(index++, `exporting cache to ${spec.type === "registry" ? "registry" : "client directory"}`);
      try {
        const preparing = progress.oneOff("preparing build cache for export");
        const plan = await this.#plan(spec.mode, record, resultId);
        preparing();
        if (spec.mode === "min" && plan.lostStages.length > 0) {
          warn(htkError("HTK-CACHE-0207", { target: spec.type === "registry" ? spec.ref : spec.dest, stages: plan.lostStages.map((s) => `"${s}"`).join(", "), count: plan.lostSteps, spec: describeSpec(spec) }));
        }
        await writeCache(spec, plan, {
          content: this.#stack.worker.content,
          registry: this.#stack.registry,
          imports: this.#imports,
          cwd: this.#req.cwd,
          signal: this.#req.signal,
          mountFrom: [...imageRefs(record), ...(this.#imports?.sources.flatMap((s) => (s.registryRef === undefined ? [] : [s.registryRef])) ?? [])],
          oneOff: (id) => progress.oneOff(id),
        });
        await writeCacheMounts(spec, definition, {
          worker: this.#stack.worker,
          content: this.#stack.worker.content,
          registry: this.#stack.registry,
          cwd: this.#req.cwd,
          signal: this.#req.signal,
          oneOff: (id) => progress.oneOff(id),
        });
        await progress.close();
      } catch (err) {
        await progress.close(err instanceof Error ? err : new Error(String(err)));
        if (this.#req.signal.aborted || isCancellation(err)) throw err;
        if (spec.ignoreError && isHtkError(err)) {
          warn(err);
          continue;
        }
        throw err;
      }
    }
  }

  #plan(mode: CacheMode, record: BuildRecord, resultId: string | undefined): Promise<ExportPlan> {
    let p = this.#plans.get(mode);
    if (p === undefined) {
      const store = this.#store;
      if (store === undefined) throw new Error("BuildCaches.store() was not called before an export");
      p = planCacheExport({ record, store, worker: this.#stack.worker, imports: this.#imports, resultId, exportsDir: join(this.#req.dataRoot, "worker", "exports"), signal: this.#req.signal }, mode);
      this.#plans.set(mode, p);
    }
    return p;
  }
}

/** The image references the build pinned (`FROM`): blobs of their layers may be mounted from there. */
function imageRefs(record: BuildRecord): string[] {
  const out = new Set<string>();
  for (const v of record.vertices) for (const p of v.key?.parts ?? []) if (p.kind === "pin" && p.what === "image") out.add(p.ref);
  return [...out];
}

/**
 * The solver's vocabulary, in one place (as BuildKit's `solver/types.go`). The solver runs an LLB
 * {@link Definition}: it computes a cache key for every vertex, finds what is already cached, runs the
 * rest on a bounded pool through a {@link Worker}, and shares identical work between concurrent builds.
 *
 * How a build proceeds (the "edge pipeline" of BuildKit, flattened):
 *
 * 1. **Keys first, results on demand.** A vertex's cache key is computed from its op digest and the
 *    keys of its inputs (see {@link CacheMap}). Computing a key never needs an input's *result* unless
 *    the op declares a content-based dependency (a COPY source, a local context) and its "fast" key
 *    (made of input keys alone) is not in the store: then the input is materialized and its content
 *    hashed. So a fully cached chain loads only the result at its end.
 * 2. **Jobs are shared by key.** Every key has at most one job in the process (`scheduler.ts`). Two builds
 *    that reach the same key (two builds of the same base stage) attach to the same job: it runs once,
 *    both get its result; one build record says `executed`, the other `shared`.
 * 3. **Interest is counted.** A job runs while some build (or some job that needs it as input) still
 *    wants it. A build whose client goes away cancels only the work nobody else wants.
 * 4. **Everything a step was keyed on is kept** ({@link KeyPreimage}) so that a later miss can be
 *    explained: which input, which file, which field changed.
 *
 * Import rule: the solver imports `llb`, `cache` and `base`, never `engine`. The container world is
 * reached only through {@link Worker}.
 */
import type { HtkError } from "../base/errors/index.ts";
import type { ChecksumChange, ChecksumTree } from "../cache/index.ts";
import type { Definition, Digest, ExecOp, FileOp, DiffOp, ImageSource, MergeOp, OpKind, Platform, Source, SourceOp } from "../llb/index.ts";

export type { Digest } from "../llb/index.ts";
import type { RecordedError, StatusUpdate } from "../base/progress/index.ts";
export type { ProgressEvent, ProgressEventKind, RecordedError, StatusUpdate } from "../base/progress/index.ts";

// ---- the worker contract -----------------------------------------------------------------------

/**
 * A filesystem snapshot the worker holds for the solver (BuildKit's `ImmutableRef`). Every ref handed
 * to the solver is owned by it and must be released exactly once; the solver counts its own clones
 * (see {@link SharedRef}) and releases the worker's ref when the last clone goes. Releasing twice is a
 * worker-side no-op so clean-up paths stay simple.
 */
export interface WorkerRef {
  /**
   * Durable identity of the snapshot: what the cache-key store records, and what
   * {@link Worker.loadRef} takes to get the snapshot back in a later build (or a later process).
   * Never reused for other content: the solver memoizes content checksums by it.
   */
  readonly id: string;
  release(): Promise<void>;
}

/** What the solver tells the worker about the build that needs an op. */
export interface SolveSession {
  /** Stable per client connection: the worker uses it to find the client's local directories. */
  readonly id: string;
  /** Local sources by name (`context`, `dockerfile`, named contexts) → directory, for in-process builds. */
  readonly locals: Readonly<Record<string, string>>;
  /**
   * Content versions of local directories, by name, where the owner of the directory knows one (the
   * build service's context copies: the client's manifest digest). Two syncs that see the same
   * version of the same directory may take it as unchanged without walking it.
   */
  readonly localVersions?: Readonly<Record<string, string>>;
}

/** The per-vertex progress sink a worker writes to while it runs an op. */
export interface VertexProgress {
  /**
   * Output of the op's process (1 = stdout, 2 = stderr). The bytes always reach the build record on
   * disk in full. The returned promise (if any) resolves once the bytes are buffered below the
   * high-water mark: a worker that awaits it gets backpressure instead of unbounded memory.
   */
  log(stream: 1 | 2, data: Uint8Array): Promise<void> | void;
  /** A transfer or sub-task status (`sha256:… 1.2MB / 3.4MB`); coalesced for slow consumers. */
  status(update: StatusUpdate): void;
}

/** Everything an op call gets besides its inputs. */
export interface OpContext {
  /** Aborted when no build needs the result any more; the worker must stop and free what it made. */
  readonly signal: AbortSignal;
  readonly session: SolveSession;
  /** The vertex the call is for (an op digest). */
  readonly vertex: Digest;
  readonly progress: VertexProgress;
  /**
   * The vertex's description (`OpMetadata.description`), for what a frontend passes to the worker
   * outside the op and so outside its digest and cache key (RUN's proxy variables, BuildKit's
   * `ProxyEnv`). When two builds share a vertex, the first one's.
   */
  readonly description?: Readonly<Record<string, string>>;
}

/** An image reference pinned to a manifest (BuildKit's `ResolveImageConfig`). */
export interface ResolvedImage {
  /** Manifest digest for the requested platform: the image source's cache key is made from it. */
  readonly digest: Digest;
  /** The image config JSON (for the frontend: ENV, WORKDIR, USER of the base image). */
  readonly config: Uint8Array;
}

/** What {@link Worker.pinSource} pinned a source to. */
export interface SourcePin {
  /** What it names, for explanations (`https://…/repo.git#main`). */
  readonly ref: string;
  /** What the key is made of (a digest of the resolved commit, subdirectory and options). */
  readonly digest: Digest;
  /** Shown when the pin changed (`commit 3f2a…`). */
  readonly resolved: string;
}

/** Which part of an input a content-based key covers, as a COPY source names it. */
export interface ContentSelector {
  readonly path: string;
  readonly wildcard: boolean;
  readonly followLinks: boolean;
  readonly allowEmptyWildcard: boolean;
  /** COPY --include / --exclude patterns: they narrow what is hashed. */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

/** A content checksum with the tree it was computed from, so a later miss can name the file. */
export interface ContentKey {
  readonly digest: Digest;
  /** Present when the worker can say what the checksum was made of (cache's `checksumTree`). */
  readonly tree?: ChecksumTree;
}

/**
 * The only way the solver reaches the container world. The engine implements it with crun and
 * overlay snapshots; tests implement it with fakes. Every method honours `ctx.signal`, returns refs
 * the solver owns, and throws an `HtkError` for failures a user should see (a non-zero exit, a
 * missing file); anything else is reported as an internal error.
 *
 * Inputs are passed in {@link inputsOf} order (`llb/graph.ts`), one ref per distinct input edge;
 * scratch inputs are not passed (the worker reads `{ kind: "scratch" }` in the op itself).
 */
export interface Worker {
  /** For build records and logs (`local`, `crun-overlayfs` …). */
  readonly id: string;
  /** The platform ops without one run for. */
  readonly platform: Platform;
  /** Pins an image reference to a manifest without pulling layers (`FROM` is keyed by this digest). */
  resolveImage(source: ImageSource, platform: Platform | undefined, ctx: OpContext): Promise<ResolvedImage>;
  /**
   * Materializes a source. For images, `resolved` is what {@link resolveImage} returned, so the pull
   * fetches exactly the pinned manifest.
   */
  loadSource(op: SourceOp, resolved: ResolvedImage | undefined, ctx: OpContext): Promise<WorkerRef>;
  /** Runs a process; returns one ref per exec output (`execOutputs` order). */
  exec(op: ExecOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef[]>;
  fileOp(op: FileOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef>;
  merge(op: MergeOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef>;
  diff(op: DiffOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef>;
  /**
   * The content checksum of part of a snapshot: a COPY source or a whole local context (selector
   * path `/`). Must ignore mtime (BuildKit's contenthash rule: `touch` keeps the cache).
   */
  contentKey(ref: WorkerRef, selector: ContentSelector, signal: AbortSignal): Promise<ContentKey>;
  /**
   * Optional: the content key of a source keyed by content (a local context) computed where it lies,
   * without materializing it: the same digest `contentKey(loadSource(op), "/")` would give, e.g. by
   * hashing the client's directory with the stat cache and the source's include/exclude patterns.
   * With it, a no-op rebuild never copies the context (steps reading it hit by key), and a context is
   * loaded only when a step that reads it runs. The solver re-checks the loaded snapshot against this
   * key (HTK-SOLVER-0006 when the files changed in between). Undefined: load, then key the snapshot.
   */
  sourceContentKey?(op: SourceOp, ctx: OpContext): Promise<ContentKey | undefined>;
  /**
   * Optional: pins a source that is neither an image nor keyed by content to what it names now, without
   * loading it (BuildKit's `CacheKey` of a git source: the commit a branch or tag points to). The source
   * is then keyed by `digest` alone and loaded only when a step needs it; `loadSource` must load
   * exactly what was pinned (the worker remembers its pins). Undefined: keyed by content as before.
   */
  pinSource?(op: SourceOp, ctx: OpContext): Promise<SourcePin | undefined>;
  /** A snapshot recorded in the cache-key store, or undefined when it no longer exists (pruned). */
  loadRef(id: string): Promise<WorkerRef | undefined>;
}

// ---- cache keys ----------------------------------------------------------------------------------

/**
 * How one input contributes to a vertex's key (BuildKit's `CacheMap.Deps[i]`).
 * - `input`: the input's own cache key (and the selector, when the op reads only part of it).
 * - `content`: a checksum of the selected paths of the input's result, computed once the input is
 *   ready. Used for COPY sources and readonly bind mounts, so that an edit elsewhere in the input (or a
 *   `touch`) does not invalidate the step.
 */
export type CacheDep =
  | { readonly kind: "input"; readonly selector?: string }
  | { readonly kind: "content"; readonly selectors: readonly ContentSelector[] };

/** The key recipe of an op: its digest plus one dep per input (in `inputsOf` order). */
export interface CacheMap {
  readonly digest: Digest;
  readonly deps: readonly CacheDep[];
  /**
   * How the vertex's own result is keyed when it has no inputs: `pin` for sources whose identity is
   * known before loading (an image's manifest digest), `content` for sources keyed by what was loaded
   * (a local context), `none` for ops without inputs that are not sources (none exist today).
   */
  readonly self: "pin" | "content" | "none";
}

/** What one part of a cache key was, for explaining a later miss. */
export type KeyPart =
  | {
      readonly kind: "input";
      /** Position in `inputsOf(op)`. */
      readonly index: number;
      /** The op digest and output of the input vertex. */
      readonly from: Digest;
      readonly output: number;
      readonly name: string;
      readonly key: Digest;
      readonly selector?: string;
    }
  | {
      readonly kind: "content";
      readonly index: number;
      readonly from: Digest;
      readonly output: number;
      readonly name: string;
      readonly selectors: readonly string[];
      readonly digest: Digest;
      /** Per selector, the checksum tree (absent when the worker did not provide one). */
      readonly trees: readonly (ChecksumTree | undefined)[];
    }
  | { readonly kind: "pin"; readonly what: "image"; readonly ref: string; readonly digest: Digest }
  /** A git source pinned to a commit (see {@link Worker.pinSource}). */
  | { readonly kind: "pin"; readonly what: "git"; readonly ref: string; readonly digest: Digest; readonly resolved: string }
  | {
      readonly kind: "source-content";
      readonly what: Source["kind"];
      readonly name: string;
      readonly digest: Digest;
      readonly tree?: ChecksumTree;
    };

/**
 * The pre-image of a cache key: everything it was computed from. Stored in the build record beside
 * the key, so `explainMiss` can compare two builds without re-running anything.
 */
export interface KeyPreimage {
  readonly key: Digest;
  readonly op: Digest;
  /** The vertex name (`[2/5] RUN …`): how the same step is found in an earlier build. */
  readonly name: string;
  readonly opKind: OpKind;
  /** The op's fields flattened to `path → value` (long values hashed), for field-level explanations. */
  readonly fields: Readonly<Record<string, string>>;
  readonly parts: readonly KeyPart[];
}

/** A persisted cache record: the key and the snapshots it resolved to. */
export interface CacheRecord {
  readonly key: Digest;
  /** Worker ref ids, one per output of the op. */
  readonly outputs: readonly string[];
  readonly createdAt: string;
  readonly vertexName: string;
  /**
   * Set on an alias record (a step's "fast" key): the step's canonical key. A hit by the alias keys
   * the step by the canonical key, so what depends on it keeps the keys it was recorded under.
   */
  readonly canonical?: Digest;
}

/**
 * Where key → result records persist. The JSONL store (`key-store.ts`) is the default; the engine can
 * move it to SQLite behind this interface. Synchronous reads on purpose: key look-ups are on the hot
 * path of a no-op rebuild and the store is small.
 */
export interface CacheKeyStore {
  get(key: Digest): CacheRecord | undefined;
  put(record: CacheRecord): Promise<void>;
  delete(key: Digest): Promise<void>;
  /** Every record (for prune/du in `cache/` later). */
  records(): Iterable<CacheRecord>;
  close(): Promise<void>;
}

// ---- why a step ran: explained misses -------------------------------------------------------------

export interface FieldChange {
  readonly field: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

/**
 * Why a vertex did not hit the cache, compared with the same vertex of a previous build. Vertices are
 * matched by name (`[2/5] RUN …`) and, failing that, by position among ops of the same kind.
 */
export type MissReason =
  | { readonly kind: "no-previous-build" }
  | { readonly kind: "new-step" }
  | { readonly kind: "ignore-cache" }
  /** A source keyed by what it loads (a local context) is loaded by every build; its content was unchanged. */
  | { readonly kind: "always-runs" }
  /** The key is unchanged but its result was pruned (or never stored: the previous build failed here). */
  | { readonly kind: "result-missing" }
  | { readonly kind: "op-changed"; readonly fields: readonly FieldChange[] }
  | { readonly kind: "files-changed"; readonly input: number; readonly from: string; readonly changes: readonly ChecksumChange[] }
  /** Content changed but no tree was kept to say which file (the worker returned no tree). */
  | { readonly kind: "content-changed"; readonly input: number; readonly from: string }
  | { readonly kind: "input-changed"; readonly input: number; readonly from: string; readonly because: readonly MissReason[] }
  | { readonly kind: "image-changed"; readonly ref: string; readonly before: Digest; readonly after: Digest }
  /** A git ref now names another commit. */
  | { readonly kind: "git-moved"; readonly ref: string; readonly before: string; readonly after: string };

// ---- results and reference counting ---------------------------------------------------------------

/**
 * A counted handle on a worker ref. The solver clones it for every holder (a job's result, a
 * dependent op in flight, the build's final result) and the worker ref is released when the last
 * clone is released. Each clone must be released exactly once; a second release is a bug, reported.
 */
export interface SharedRef {
  readonly id: string;
  readonly released: boolean;
  clone(): SharedRef;
  release(): Promise<void>;
  /** The worker ref, for passing to the worker; valid only while this clone is not released. */
  readonly ref: WorkerRef;
}

/**
 * How a build ended. Data, not an exception (the house rule for user-facing failures): the record is
 * there in every case. On `completed`, the caller owns `ref` (undefined for a `scratch` root) and
 * must release it.
 */
export type SolveOutcome =
  | { readonly kind: "completed"; readonly ref: SharedRef | undefined; readonly record: BuildRecord }
  | { readonly kind: "failed"; readonly error: HtkError; readonly record: BuildRecord }
  | { readonly kind: "canceled"; readonly record: BuildRecord };

// ---- vertex state (per build) ---------------------------------------------------------------------

/**
 * The final state of a vertex in one build. A union so that an impossible record (a cached vertex
 * with an error, a failed vertex without one) does not type-check.
 */
export type VertexOutcome =
  /** The result came from the key store (a previous build). */
  | { readonly status: "cached" }
  /** This build ran it. */
  | { readonly status: "executed"; readonly started: string; readonly completed: string; readonly miss: readonly MissReason[] }
  /** Another concurrent build ran it (same key); this build waited for it. */
  | { readonly status: "shared"; readonly withBuild: string; readonly completed: string }
  | { readonly status: "failed"; readonly started: string; readonly completed: string; readonly error: RecordedError }
  /** Not run: an input failed, or its result was never needed (every dependent was cached). */
  | { readonly status: "skipped"; readonly reason: "dependency-failed" | "not-needed"; readonly failedInput?: Digest }
  | { readonly status: "canceled"; readonly started?: string; readonly completed: string };

export type VertexStatus = VertexOutcome["status"];

// RecordedError: see ../base/progress/types.ts (re-exported above).

export interface VertexRecord {
  readonly digest: Digest;
  /**
   * BuildKit's progress index (`#N`), 1-based, in the order vertices were first reported; 0 for a
   * vertex that never appeared in the progress (skipped as not needed).
   */
  readonly index: number;
  readonly name: string;
  readonly opKind: OpKind;
  readonly inputs: readonly Digest[];
  readonly key?: KeyPreimage;
  readonly outcome: VertexOutcome;
  /** File name of the full log under the record's directory, when the vertex wrote any. */
  readonly logFile?: string;
  readonly logBytes: number;
}

export type BuildStatus = "running" | "completed" | "failed" | "canceled";

/**
 * The small part of a record that listing needs (`buildx history ls`), stored beside it as
 * `summary.json`: a record can be megabytes (checksum trees of a big context), a summary is not.
 */
export interface BuildSummary {
  readonly id: string;
  readonly target: string;
  readonly status: BuildStatus;
  readonly started: string;
  readonly completed?: string;
  /** Vertices per final status. */
  readonly counts: Readonly<Partial<Record<VertexStatus, number>>>;
  readonly error?: string;
}

/** What `buildx history` and the GUI's build graph read. Stored as `builds/<id>/record.json`. */
export interface BuildRecord {
  readonly id: string;
  /** Builds of the same target are compared to explain misses (`Dockerfile#stage` for the frontend). */
  readonly target: string;
  readonly status: BuildStatus;
  readonly started: string;
  readonly completed?: string;
  readonly worker: string;
  readonly vertices: readonly VertexRecord[];
  /** The ref id of the root result, when the build produced one. */
  readonly result?: string;
  readonly error?: RecordedError & { readonly vertex?: Digest };
  /** The build the miss explanations compare with. */
  readonly comparedWith?: string;
}

// ---- progress -------------------------------------------------------------------------------------

// StatusUpdate, ProgressEvent, ProgressEventKind: the renderers' input, defined in
// ../base/progress/types.ts (re-exported above) so clients render without the solver.

// ---- the solve request ----------------------------------------------------------------------------

export interface SolveRequest {
  readonly definition: Definition;
  readonly session: SolveSession;
  /** Builds of the same target are compared for `--explain-cache`. */
  readonly target?: string;
  /** Cancels the build (a client that disconnects). Shared work continues for other builds. */
  readonly signal?: AbortSignal;
  /** The build id (default: a random one). */
  readonly id?: string;
}

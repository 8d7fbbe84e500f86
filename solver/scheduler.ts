import { availableParallelism } from "node:os";
import PQueue from "p-queue";
import { HtkError, htkError, isCancellation, isHtkError } from "../base/errors/index.ts";
import { withSpan } from "../base/observability/index.ts";
import {
  CUSTOM_NAME_KEY,
  assertNever,
  describeOp,
  inputsOf,
  outputCount,
  validateDefinition,
  type Digest,
  type OutputRef,
  type Vertex,
} from "../llb/index.ts";
import type { BuildRecordStore, RecordWriter } from "./build-records.ts";
import { WHOLE, cacheMapOf, combineContent, explainMiss, keyFromParts, preimage } from "./cache-key.ts";
import { MemoryKeyStore } from "./key-store.ts";
import { ProgressBus, type ProgressBusOptions } from "./progress-bus.ts";
import { releaseAll, shareRef } from "./shared-ref.ts";
import type {
  BuildRecord,
  BuildStatus,
  CacheKeyStore,
  ContentKey,
  ContentSelector,
  KeyPart,
  KeyPreimage,
  MissReason,
  OpContext,
  ProgressEvent,
  RecordedError,
  ResolvedImage,
  SharedRef,
  SolveOutcome,
  SolveRequest,
  StatusUpdate,
  VertexOutcome,
  VertexProgress,
  VertexRecord,
  Worker,
  WorkerRef,
} from "./types.ts";

/**
 * The scheduler: BuildKit's `solver/scheduler.go` + `jobs.go` + `edge.go`, reduced to two objects.
 *
 * - A {@link Job} is the work behind one cache key, shared by every build in the process that reaches
 *   that key. It runs at most once at a time, on the solver's bounded pool, and only while someone
 *   still wants it ("strong" interest from builds and from dependent jobs that are running).
 * - A {@link BuildRun} is one client's solve: it walks its definition from the root, computes keys
 *   (demanding input results only for content-based keys), demands the root's result and writes the
 *   build record and progress stream. Builds also hold "weak" interest in every job of their graph so
 *   a job (and its result) stays put until every build that may still ask for it has ended.
 *
 * A pool task never waits for another pool task (inputs are awaited before a task is queued), so the
 * pool cannot deadlock however small the limit.
 */

export interface SolverOptions {
  readonly worker: Worker;
  /** Key → result records; in memory when absent. */
  readonly keyStore?: CacheKeyStore;
  /** Where build records go; records are only returned (not stored) when absent. */
  readonly records?: BuildRecordStore;
  /** How many worker calls run at once; default: the number of cores. */
  readonly concurrency?: number;
  readonly progress?: ProgressBusOptions;
}

/** A running build. `outcome` never rejects. */
export interface BuildHandle {
  readonly id: string;
  /** The display stream (bounded; see ProgressBus). Iterate it once. */
  readonly progress: ProgressBus;
  readonly outcome: Promise<SolveOutcome>;
  /** Cancels the build; work another build still needs keeps running. */
  cancel(): void;
}

type Owner = BuildRun | Job;

type JobState =
  | { readonly kind: "idle" }
  | {
      readonly kind: "running";
      readonly controller: AbortController;
      readonly runFor: BuildRun | undefined;
      readonly done: Promise<void>;
    }
  | { readonly kind: "done"; readonly outputs: readonly SharedRef[]; readonly how: "cached" | "executed"; readonly by: BuildRun | undefined }
  /** `origin` is the job whose own op failed: this one, or an input (then dependents are "skipped"). */
  | { readonly kind: "failed"; readonly error: HtkError; readonly origin: Job }
  | { readonly kind: "canceled" };

interface JobSpec {
  readonly key: Digest;
  /** Jobs that ignore the cache never share with ones that may use it. */
  readonly mapKey: string;
  readonly vertex: Vertex;
  readonly name: string;
  readonly inputs: readonly { readonly job: Job; readonly output: number }[];
  readonly pin: ResolvedImage | undefined;
  readonly ignoreCache: boolean;
  /**
   * Other keys the result is recorded under: the "fast" key (from input keys alone) of a step keyed
   * by content, so the next build finds it without materializing and hashing the input.
   */
  readonly aliases: readonly Digest[];
  /** For a source keyed in place: the digest the loaded snapshot must have (see Worker.sourceContentKey). */
  readonly verify: Digest | undefined;
}

/** Thrown by `Job.result` when the job, or one of its inputs, failed. */
class JobFailure extends Error {
  constructor(
    readonly error: HtkError,
    readonly origin: Job,
  ) {
    super(error.message);
  }
}

const now = (): string => new Date().toISOString();
/** Checksum-tree entries kept in the content-key memo (about 200 bytes each). */
const CONTENT_KEY_MEMO_ENTRIES = 200_000;
/** How many older builds of a target are searched when explaining a miss. */
const HISTORY = 5;

export class Solver {
  readonly worker: Worker;
  readonly store: CacheKeyStore;
  readonly records: BuildRecordStore | undefined;
  readonly pool: PQueue;
  readonly progressOptions: ProgressBusOptions;
  /** Every live job by key: the deduplication table (read it, never change it; tests count it). */
  readonly jobs = new Map<string, Job>();
  /**
   * Content keys by (snapshot id, selector). A snapshot never changes once made, so a checksum stays
   * true: a cached `COPY --from=stage` or a `COPY . .` after the context's own key is not re-hashed.
   * Bounded (oldest out first): trees of big contexts are large.
   */
  readonly contentKeys = new Map<string, ContentKey>();
  #builds = 0;

  constructor(opts: SolverOptions) {
    this.worker = opts.worker;
    this.store = opts.keyStore ?? new MemoryKeyStore();
    this.records = opts.records;
    this.pool = new PQueue({ concurrency: Math.max(1, opts.concurrency ?? availableParallelism()) });
    this.progressOptions = opts.progress ?? {};
  }

  /** Starts a build. Progress flows on `progress`; `outcome` settles when the build has ended. */
  solve(req: SolveRequest): BuildHandle {
    const id = req.id ?? `b${Date.now().toString(36)}${(this.#builds++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const run = new BuildRun(this, id, req);
    return { id, progress: run.bus, outcome: run.start(), cancel: () => run.cancel() };
  }

  /** Jobs alive right now (for tests: zero once every build has ended). */
  liveJobs(): number {
    return this.jobs.size;
  }

  async close(): Promise<void> {
    await this.pool.onIdle();
    await this.store.close();
  }

  rememberContentKey(memo: string, key: ContentKey): void {
    const size = (k: ContentKey | undefined): number => 1 + (k?.tree === undefined ? 0 : Object.keys(k.tree.entries).length);
    this.#memoSize -= this.contentKeys.has(memo) ? size(this.contentKeys.get(memo)) : 0;
    this.contentKeys.delete(memo);
    this.contentKeys.set(memo, key);
    this.#memoSize += size(key);
    // Bounded by tree entries, not by count: one tree of a big context is a hundred thousand entries.
    while (this.#memoSize > CONTENT_KEY_MEMO_ENTRIES && this.contentKeys.size > 1) {
      const oldest = this.contentKeys.keys().next();
      if (oldest.done === true) break;
      this.#memoSize -= size(this.contentKeys.get(oldest.value));
      this.contentKeys.delete(oldest.value);
    }
  }

  #memoSize = 0;

  /** The job for a key, created when it is the first build to reach it. */
  register(spec: JobSpec, build: BuildRun): Job {
    let job = this.jobs.get(spec.mapKey);
    if (job === undefined) {
      job = new Job(this, spec);
      this.jobs.set(spec.mapKey, job);
    }
    job.weak.add(build);
    return job;
  }
}

class Job {
  state: JobState = { kind: "idle" };
  readonly weak = new Set<BuildRun>();
  readonly strong = new Map<Owner, number>();

  constructor(
    readonly solver: Solver,
    readonly spec: JobSpec,
  ) {}

  get digest(): Digest {
    return this.spec.vertex.digest;
  }

  addStrong(owner: Owner): void {
    this.strong.set(owner, (this.strong.get(owner) ?? 0) + 1);
    this.#shift(owner instanceof BuildRun ? new Map([[owner, 1]]) : owner.#transitive, 1);
  }

  dropStrong(owner: Owner): void {
    const n = (this.strong.get(owner) ?? 0) - 1;
    if (n > 0) this.strong.set(owner, n);
    else this.strong.delete(owner);
    this.#shift(owner instanceof BuildRun ? new Map([[owner, 1]]) : owner.#transitive, -1);
    // Reference-counted interest: the last build that wanted this work is gone, so stop it.
    if (this.strong.size === 0 && this.state.kind === "running") this.state.controller.abort(new DOMException("No build needs this step any more", "AbortError"));
    this.maybeDispose();
  }

  dropWeak(build: BuildRun): void {
    this.weak.delete(build);
    this.maybeDispose();
  }

  /** Forgets the job (and releases its result) once nobody can ask for it again. */
  maybeDispose(): void {
    if (this.weak.size > 0 || this.strong.size > 0 || this.state.kind === "running") return;
    if (this.solver.jobs.get(this.spec.mapKey) === this) this.solver.jobs.delete(this.spec.mapKey);
    if (this.state.kind === "done") {
      const outputs = this.state.outputs;
      this.state = { kind: "idle" };
      releaseAll(outputs).catch(() => undefined);
    }
  }

  /**
   * Per build, over how many chains of strong interest it wants this job now. Kept up to date as
   * interest changes (pushed down to the inputs this job holds) rather than walked on every event:
   * walking up a chain of thousands of running steps for each log line was quadratic.
   */
  readonly #transitive = new Map<BuildRun, number>();
  /** The input jobs this job holds strong interest in while it runs. */
  readonly #holding: Job[] = [];

  #shift(delta: ReadonlyMap<BuildRun, number>, sign: 1 | -1): void {
    if (delta.size === 0) return;
    // Copied first: `delta` may be the map of a job this very update changes (a diamond).
    const change = [...delta].map(([b, n]) => [b, n * sign] as const);
    const stack: Job[] = [this];
    for (let j = stack.pop(); j !== undefined; j = stack.pop()) {
      for (const [b, n] of change) {
        const next = (j.#transitive.get(b) ?? 0) + n;
        if (next > 0) j.#transitive.set(b, next);
        else j.#transitive.delete(b);
      }
      stack.push(...j.#holding);
    }
  }

  hold(input: Job): void {
    input.addStrong(this);
    this.#holding.push(input);
  }

  letGo(input: Job): void {
    const at = this.#holding.indexOf(input);
    if (at >= 0) this.#holding.splice(at, 1);
    input.dropStrong(this);
  }

  /** The builds that (through any chain of running jobs) want this job's result now. */
  builds(): BuildRun[] {
    return [...this.#transitive.keys()];
  }

  /** A result loaded by a build during key computation (a local context): this job's result. */
  seed(ref: SharedRef, build: BuildRun): boolean {
    if (this.state.kind !== "idle" && this.state.kind !== "canceled") return false;
    this.state = { kind: "done", outputs: [ref], how: "executed", by: build };
    return true;
  }

  /** Clones of every output, owned by the caller, who must already hold strong interest. */
  async result(): Promise<SharedRef[]> {
    for (;;) {
      if (this.state.kind === "idle" || this.state.kind === "canceled") this.#start();
      if (this.state.kind !== "running") break;
      await this.state.done;
      // Someone may have joined while the last holder's cancellation was winding the job down: the
      // run ended "canceled" although it is wanted again, so it starts over instead of failing them.
      if ((this.state as JobState).kind !== "canceled" || this.strong.size === 0) break;
    }
    const s = this.state as JobState;
    switch (s.kind) {
      case "done":
        return s.outputs.map((r) => r.clone());
      case "failed":
        throw new JobFailure(s.error, s.origin);
      case "canceled":
      case "idle":
      case "running":
        throw new DOMException(`The step "${this.spec.name}" was cancelled`, "AbortError");
      default:
        return assertNever(s, "job state");
    }
  }

  #start(): void {
    const controller = new AbortController();
    const runFor = this.builds()[0];
    const done = this.#run(controller.signal, runFor).then(
      (end) => {
        this.state = end;
        this.maybeDispose();
      },
      (err: unknown) => {
        // #run handles its own errors; reaching here is a solver bug, kept as a failed step.
        this.state = { kind: "failed", error: stepError(err, this.spec.name), origin: this };
        this.maybeDispose();
      },
    );
    this.state = { kind: "running", controller, runFor, done };
  }

  async #run(signal: AbortSignal, runFor: BuildRun | undefined): Promise<JobState> {
    const spec = this.spec;
    if (!spec.ignoreCache) {
      const cached = await this.#fromStore();
      if (cached !== undefined) {
        for (const b of this.builds()) b.onCached(this);
        return { kind: "done", outputs: cached, how: "cached", by: undefined };
      }
    }
    const attrs = { "hatake.vertex": this.digest, "hatake.vertex.name": spec.name, "hatake.cache_key": spec.key };
    return withSpan("solver.vertex", attrs, () => this.#execute(signal, runFor));
  }

  async #fromStore(): Promise<SharedRef[] | undefined> {
    const record = this.solver.store.get(this.spec.key);
    if (record === undefined) return undefined;
    const loaded = await Promise.all(record.outputs.map((id) => this.solver.worker.loadRef(id).catch(() => undefined)));
    if (loaded.every((r): r is WorkerRef => r !== undefined)) {
      for (const key of this.spec.aliases) {
        if (this.solver.store.get(key) === undefined) await this.solver.store.put({ ...record, key, canonical: this.spec.key }).catch(() => undefined);
      }
      return loaded.map(shareRef);
    }
    // A pruned snapshot: the record is stale, the step runs again (and records a fresh result).
    await Promise.all(loaded.flatMap((r) => (r === undefined ? [] : [r.release()])));
    await this.solver.store.delete(this.spec.key).catch(() => undefined);
    return undefined;
  }

  async #execute(signal: AbortSignal, runFor: BuildRun | undefined): Promise<JobState> {
    const spec = this.spec;
    const held: Job[] = [];
    let inputs: SharedRef[] = [];
    try {
      for (const input of spec.inputs) {
        this.hold(input.job);
        held.push(input.job);
      }
      // Waiting for inputs honours this job's signal too: a job nobody wants must let go of its
      // inputs at once, so that they stop as well.
      const settled = await Promise.allSettled(spec.inputs.map((i) => untilAborted(i.job.result(), signal)));
      for (const [i, s] of settled.entries()) {
        if (s.status !== "fulfilled") continue;
        const want = spec.inputs[i]?.output ?? 0;
        for (const [n, r] of s.value.entries()) if (n === want) inputs.push(r);
        else await r.release();
      }
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (failed !== undefined) throw failed.reason;
      signal.throwIfAborted();
      const ctx = this.#context(signal);
      const refs = inputs.map((r) => r.ref);
      let running: Promise<WorkerRef[]> | undefined;
      let outs: WorkerRef[];
      try {
        outs = await this.solver.pool.add(
          () => {
            // Started means running, not queued: step times and the tty view match what the pool runs.
            const started = now();
            for (const b of this.builds()) b.onStarted(this, started);
            running = this.#call(refs, ctx);
            return running;
          },
          { signal },
        );
      } catch (err) {
        // On abort the pool stops waiting at once, but the worker call is still stopping its process,
        // unmounting and discarding: the job ends only when it has (a cancelled build must leave no
        // container, mount or ref behind, and the process may exit right after), and what it made
        // anyway is released.
        const late = running === undefined ? undefined : await (running as Promise<WorkerRef[]>).catch(() => undefined);
        if (late !== undefined) await Promise.all(late.map((r) => r.release()));
        throw err;
      }
      if (signal.aborted) {
        await Promise.all(outs.map((r) => r.release()));
        signal.throwIfAborted();
      }
      const expected = outputCount(spec.vertex.op);
      if (outs.length !== expected) {
        await Promise.all(outs.map((r) => r.release()));
        throw htkError("HTK-SOLVER-0003", { worker: this.solver.worker.id, step: spec.name, actual: outs.length, expected });
      }
      const shared = outs.map(shareRef);
      try {
        const record = { outputs: outs.map((r) => r.id), createdAt: now(), vertexName: spec.name };
        await this.solver.store.put({ ...record, key: spec.key });
        for (const key of spec.aliases) await this.solver.store.put({ ...record, key, canonical: spec.key });
      } catch (err) {
        await releaseAll(shared);
        throw err;
      }
      const completed = now();
      for (const b of this.builds()) b.onCompleted(this, completed, runFor);
      return { kind: "done", outputs: shared, how: "executed", by: runFor };
    } catch (err) {
      if (err instanceof JobFailure) return { kind: "failed", error: err.error, origin: err.origin };
      if (signal.aborted || isCancellation(err)) {
        const at = now();
        for (const b of this.builds()) b.onCanceled(this, at);
        return { kind: "canceled" };
      }
      const error = stepError(err, spec.name);
      const at = now();
      for (const b of this.builds()) b.onErrored(this, at, error);
      return { kind: "failed", error, origin: this };
    } finally {
      await releaseAll(inputs).catch(() => undefined);
      inputs = [];
      for (const j of held) this.letGo(j);
    }
  }

  #context(signal: AbortSignal): OpContext {
    const progress: VertexProgress = {
      log: (stream, data) => {
        const waits = this.builds().map((b) => b.onLog(this, stream, data));
        const pending = waits.filter((w): w is Promise<void> => w !== undefined);
        return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
      },
      status: (update) => {
        for (const b of this.builds()) b.onStatus(this, update);
      },
    };
    const session = this.builds()[0]?.req.session ?? { id: "", locals: {} };
    return { signal, session, vertex: this.digest, progress, description: this.spec.vertex.metadata.description };
  }

  async #call(inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef[]> {
    const w = this.solver.worker;
    const op = this.spec.vertex.op;
    switch (op.kind) {
      case "source": {
        const ref = await w.loadSource(op, this.spec.pin, ctx);
        const verify = this.spec.verify;
        if (verify === undefined) return [ref];
        // Keyed where it lay, loaded now: the files must not have changed in between.
        try {
          const loaded = await w.contentKey(ref, WHOLE, ctx.signal);
          if (loaded.digest !== verify) throw htkError("HTK-SOLVER-0006", { source: this.spec.name, before: verify, after: loaded.digest });
        } catch (err) {
          await ref.release();
          throw err;
        }
        return [ref];
      }
      case "exec":
        return w.exec(op, inputs, ctx);
      case "file":
        return [await w.fileOp(op, inputs, ctx)];
      case "merge":
        return [await w.merge(op, inputs, ctx)];
      case "diff":
        return [await w.diff(op, inputs, ctx)];
      default:
        return assertNever(op, "op");
    }
  }
}

/**
 * Waits for `work` unless `signal` aborts first. A job shared with another build keeps running after
 * this build gives up on it, so the clones it would have handed over are released when they arrive.
 */
function untilAborted(work: Promise<SharedRef[]>, signal: AbortSignal): Promise<SharedRef[]> {
  if (signal.aborted) {
    work.then((outs) => releaseAll(outs), () => undefined).catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<SharedRef[]>((resolve, reject) => {
    const onAbort = (): void => {
      work.then((outs) => releaseAll(outs), () => undefined).catch(() => undefined);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (outs) => {
        signal.removeEventListener("abort", onAbort);
        resolve(outs);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err as Error);
      },
    );
  });
}

/** How long a content input's prefetch waits for the step's other input keys (see #prefetchContentInputs). */
const FAST_KEY_GRACE_MS = 25;

/** The value of `p` if it settles within `ms`, else undefined (also when it fails). */
function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

/** BuildKit's fast key parts of a content-keyed step: its inputs' keys, the paths as selectors. */
function fastParts(v: Vertex, inputs: readonly OutputRef[], inputJobs: readonly Job[]): KeyPart[] {
  return cacheMapOf(v).deps.map((d, i): KeyPart => {
    const r = inputs[i];
    const job = inputJobs[i];
    if (r === undefined || job === undefined) throw new Error("inputsOf and the cache map disagree");
    const selector = d.kind === "content" ? d.selectors.map((sel) => sel.path).join("\n") : d.selector;
    return { kind: "input", index: i, from: r.digest, output: r.index, name: job.spec.name, key: job.spec.key, ...(selector === undefined ? {} : { selector }) };
  });
}

function fastKeyOf(v: Vertex, inputs: readonly OutputRef[], inputJobs: readonly Job[]): Digest {
  return keyFromParts(v.digest, fastParts(v, inputs, inputJobs));
}

/** A worker failure as the error of a step: HtkErrors pass through, anything else is named by step. */
function stepError(err: unknown, step: string): HtkError {
  if (err instanceof HtkError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return htkError("HTK-SOLVER-0001", { step, detail }, { cause: err });
}

const recorded = (e: HtkError): RecordedError => ({ id: e.id, message: e.plainCause, next: e.nextStep });

interface KeyedParts {
  /** The content digest a lazily loaded source must still have when it is loaded. */
  readonly verify?: Digest;
  readonly parts: KeyPart[];
  /** The key when it is not the one `parts` make (a hit by a fast key resolves to the canonical key). */
  readonly key?: Digest;
  readonly pin: ResolvedImage | undefined;
  readonly seed: SharedRef | undefined;
  readonly aliases: Digest[];
}

type Phase =
  | { readonly kind: "pending" }
  | { readonly kind: "cached" }
  | { readonly kind: "running"; readonly started: string }
  | { readonly kind: "final"; readonly outcome: VertexOutcome };

interface BuildVertex {
  readonly vertex: Vertex;
  readonly name: string;
  index: number | undefined;
  phase: Phase;
  key: KeyPreimage | undefined;
  job: Job | undefined;
  keying: Promise<Job> | undefined;
  /** A started or cached event (which carries the name) went out for it. */
  announced: boolean;
}

class BuildRun {
  readonly bus: ProgressBus;
  readonly #controller = new AbortController();
  readonly #vertices = new Map<Digest, BuildVertex>();
  readonly #strong = new Set<Job>();
  readonly #weak = new Set<Job>();
  readonly #inflight = new Set<Promise<unknown>>();
  #nextIndex = 1;
  #writer: RecordWriter | undefined;
  #previous: BuildRecord | undefined;
  /** Older builds of the target (see explainMiss): a step that hit by its fast key kept no checksum. */
  #history: readonly BuildRecord[] = [];
  readonly #started = now();
  readonly target: string;

  constructor(
    readonly solver: Solver,
    readonly id: string,
    readonly req: SolveRequest,
  ) {
    this.bus = new ProgressBus(solver.progressOptions);
    this.target = req.target ?? "";
    // Interest ends the moment the build is cancelled, so work nobody else wants stops now.
    this.#controller.signal.addEventListener("abort", () => this.#dropStrongAll(), { once: true });
  }

  #dropStrongAll(): void {
    const jobs = [...this.#strong];
    this.#strong.clear();
    for (const job of jobs) job.dropStrong(this);
  }

  cancel(): void {
    this.#controller.abort(new DOMException("The build was cancelled", "AbortError"));
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  start(): Promise<SolveOutcome> {
    const external = this.req.signal;
    const onAbort = (): void => this.cancel();
    if (external !== undefined) {
      if (external.aborted) this.cancel();
      // Removed when the build ends: a client's signal may outlive many builds.
      else external.addEventListener("abort", onAbort, { once: true });
    }
    return withSpan("solver.build", { "hatake.build": this.id, "hatake.target": this.target }, async (scope) => {
      const outcome = await this.#run().finally(() => external?.removeEventListener("abort", onAbort));
      const counts: Record<string, number> = {};
      for (const v of outcome.record.vertices) counts[v.outcome.status] = (counts[v.outcome.status] ?? 0) + 1;
      scope.span.setAttribute("hatake.build.status", outcome.kind);
      scope.log.debug({ build: this.id, status: outcome.kind, vertices: counts }, "build finished");
      return outcome;
    }).catch(
      (err: unknown): SolveOutcome => ({ kind: "failed", error: stepError(err, "(build)"), record: this.#record("failed") }),
    );
  }

  async #run(): Promise<SolveOutcome> {
    const def = this.req.definition;
    const valid = validateDefinition(def);
    if (!valid.ok) {
      const error = htkError("HTK-SOLVER-0002", { detail: valid.error.message });
      this.bus.close();
      return { kind: "failed", error, record: this.#record("failed", error) };
    }
    for (const v of def.vertices) {
      const name = v.metadata.description[CUSTOM_NAME_KEY] ?? describeOp(v.op);
      this.#vertices.set(v.digest, { vertex: v, name, index: undefined, phase: { kind: "pending" }, key: undefined, job: undefined, keying: undefined, announced: false });
    }
    const records = this.solver.records;
    let outcome: SolveOutcome;
    try {
      if (records !== undefined) {
        this.#writer = await records.begin(this.#record("running"));
      }
      // Keys are started inputs-first (the definition's order), so computing one never recurses
      // into its inputs: a chain of thousands of steps must not grow the stack.
      for (const v of def.vertices) this.#keyOf(v.digest).catch(() => undefined);
      const root = def.root;
      const ref = root.kind === "scratch" ? undefined : await this.#resultOf(root);
      outcome = { kind: "completed", ref, record: this.#record("completed") };
    } catch (err) {
      const canceled = !(err instanceof JobFailure) && (this.signal.aborted || isCancellation(err));
      // One failed step ends the build: the rest of its work is cancelled (BuildKit does the same).
      this.cancel();
      if (err instanceof JobFailure) {
        const v = this.#vertices.get(err.origin.digest);
        const error = err.error;
        // The build's error names the step as this build calls it, whatever the worker said.
        const step = v?.name ?? err.origin.spec.name;
        const inner = error.id === "HTK-SOLVER-0001" ? String(error.params["detail"] ?? error.plainCause) : error.plainCause;
        const buildError =
          error.id === "HTK-SOLVER-0001" && error.params["step"] === step
            ? error
            : htkError("HTK-SOLVER-0001", { step, detail: inner.replace(/\.$/, "") }, { cause: error, details: { vertex: err.origin.digest, id: error.id } });
        outcome = { kind: "failed", error: buildError, record: this.#record("failed", buildError, err.origin.digest) };
      } else if (canceled) {
        outcome = { kind: "canceled", record: this.#record("canceled") };
      } else {
        const error = isHtkError(err) ? err : stepError(err, "(build)");
        outcome = { kind: "failed", error, record: this.#record("failed", error) };
      }
    }
    const final = await this.#finish(outcome);
    return final;
  }

  /** Ends interest in every job, settles every vertex's outcome and writes the record. */
  async #finish(outcome: SolveOutcome): Promise<SolveOutcome> {
    const failedOrigin = outcome.kind === "failed" ? outcome.record.error?.vertex : undefined;
    this.#dropStrongAll();
    // The outcome settles only once the work this build alone wanted has stopped and every key
    // computation has let go of what it loaded: a cancelled build must leave no ref behind.
    await Promise.allSettled([...this.#inflight, ...[...this.#vertices.values()].map((v) => v.keying)]);
    for (;;) {
      const stopping = [...this.#weak].flatMap((j) => (j.state.kind === "running" && j.strong.size === 0 ? [j.state.done] : []));
      if (stopping.length === 0) break;
      await Promise.all(stopping);
    }
    this.#settleAll(outcome.kind, failedOrigin);
    await this.#explainAll();
    const status: BuildStatus = outcome.kind;
    const error = outcome.kind === "failed" ? outcome.error : undefined;
    const record = this.#record(status, error, failedOrigin, outcome.kind === "completed" ? outcome.ref?.id : undefined);
    for (const job of this.#weak) job.dropWeak(this);
    this.#weak.clear();
    this.bus.close();
    const writer = this.#writer;
    if (writer !== undefined) {
      try {
        await writer.close();
        await writer.save(record);
      } catch (err) {
        if (outcome.kind === "completed") await outcome.ref?.release();
        const e = isHtkError(err) ? err : stepError(err, "(build record)");
        return { kind: "failed", error: e, record };
      }
    }
    return { ...outcome, record };
  }

  #settleAll(kind: SolveOutcome["kind"], failedOrigin: Digest | undefined): void {
    const at = now();
    // Which vertices read the failed one, directly or not: one pass in definition (inputs-first) order.
    const downstream = new Set<Digest>();
    if (failedOrigin !== undefined) {
      downstream.add(failedOrigin);
      for (const bv of this.#vertices.values()) {
        if (inputsOf(bv.vertex.op).some((r) => downstream.has(r.digest))) downstream.add(bv.vertex.digest);
      }
    }
    const dependsOnFailed = (d: Digest): boolean => downstream.has(d);
    for (const bv of this.#vertices.values()) {
      const fromJob = this.#fromJob(bv);
      if (fromJob !== undefined) {
        bv.phase = { kind: "final", outcome: fromJob };
        continue;
      }
      switch (bv.phase.kind) {
        case "final":
          break;
        case "cached":
          bv.phase = { kind: "final", outcome: { status: "cached" } };
          break;
        case "running":
          bv.phase = { kind: "final", outcome: { status: "canceled", started: bv.phase.started, completed: at } };
          this.#emit(bv, { kind: "vertex-canceled", vertex: bv.vertex.digest, index: this.#indexOf(bv), time: at });
          break;
        case "pending":
          if (failedOrigin !== undefined && bv.vertex.digest !== failedOrigin && dependsOnFailed(bv.vertex.digest)) {
            bv.phase = { kind: "final", outcome: { status: "skipped", reason: "dependency-failed", failedInput: failedOrigin } };
          } else if (kind === "completed") {
            bv.phase = { kind: "final", outcome: { status: "skipped", reason: "not-needed" } };
          } else {
            bv.phase = { kind: "final", outcome: { status: "canceled", completed: at } };
          }
          break;
        default:
          assertNever(bv.phase, "phase");
      }
    }
  }

  /** A vertex whose job finished without telling this build (it joined late): take the job's word. */
  #fromJob(bv: BuildVertex): VertexOutcome | undefined {
    const job = bv.job;
    if (job === undefined || bv.phase.kind === "final" || bv.phase.kind === "running") return undefined;
    const s = job.state;
    if (s.kind !== "done") return undefined;
    if (s.how === "cached" || bv.phase.kind === "cached") return { status: "cached" };
    if (s.by === this) return undefined;
    return { status: "shared", withBuild: s.by?.id ?? "", completed: now() };
  }

  #record(status: BuildStatus, error?: HtkError, vertex?: Digest, result?: string): BuildRecord {
    const vertices: VertexRecord[] = [];
    for (const bv of this.#vertices.values()) {
      const outcome: VertexOutcome =
        bv.phase.kind === "final"
          ? bv.phase.outcome
          : bv.phase.kind === "cached"
            ? { status: "cached" }
            : bv.phase.kind === "running"
              ? { status: "canceled", started: bv.phase.started, completed: now() }
              : { status: "skipped", reason: "not-needed" };
      const index = bv.index ?? 0;
      const logged = this.#writer?.hasLog(index) === true;
      vertices.push({
        digest: bv.vertex.digest,
        index,
        name: bv.name,
        opKind: bv.vertex.op.kind,
        inputs: inputsOf(bv.vertex.op).map((r) => r.digest),
        ...(bv.key === undefined ? {} : { key: bv.key }),
        outcome,
        ...(logged ? { logFile: `vertex-${index}.log` } : {}),
        logBytes: this.#writer?.logBytes(index) ?? 0,
      });
    }
    return {
      id: this.id,
      target: this.target,
      status,
      started: this.#started,
      ...(status === "running" ? {} : { completed: now() }),
      worker: this.solver.worker.id,
      vertices,
      ...(result === undefined ? {} : { result }),
      ...(error === undefined ? {} : { error: { ...recorded(error), ...(vertex === undefined ? {} : { vertex }) } }),
      ...(this.#previous === undefined ? {} : { comparedWith: this.#previous.id }),
    };
  }

  // ---- keys and results --------------------------------------------------------------------------

  #bv(d: Digest): BuildVertex {
    const bv = this.#vertices.get(d);
    if (bv === undefined) throw new Error(`Vertex ${d} is not in the definition`);
    return bv;
  }

  #keyOf(d: Digest): Promise<Job> {
    const bv = this.#bv(d);
    bv.keying ??= this.#computeKey(bv);
    return bv.keying;
  }

  async #resultOf(r: OutputRef): Promise<SharedRef> {
    const job = await this.#keyOf(r.digest);
    this.signal.throwIfAborted();
    if (!this.#strong.has(job)) {
      this.#strong.add(job);
      job.addStrong(this);
    }
    const outs = await untilAborted(job.result(), this.signal);
    let picked: SharedRef | undefined;
    for (const [i, o] of outs.entries()) {
      if (i === r.index) picked = o;
      else await o.release();
    }
    if (picked === undefined) throw new Error(`Output ${r.index} of ${r.digest} is missing`);
    const bv = this.#bv(r.digest);
    const outcome = this.#fromJob(bv);
    if (outcome !== undefined) {
      bv.phase = { kind: "final", outcome };
      if (outcome.status === "shared") {
        this.#emit(bv, { kind: "vertex-completed", vertex: bv.vertex.digest, index: this.#indexOf(bv), time: now(), sharedWith: outcome.withBuild });
      }
    }
    return picked;
  }

  /** A pool task on behalf of this build only (key computation: image pins, local loads, checksums). */
  #task<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.solver.pool.add(fn, { signal: this.signal });
    this.#inflight.add(p);
    const forget = (): void => void this.#inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  #ctx(bv: BuildVertex): OpContext {
    const progress: VertexProgress = {
      log: (stream, data) => this.#log(bv, stream, data),
      status: (update) => this.#status(bv, update),
    };
    return { signal: this.signal, session: this.req.session, vertex: bv.vertex.digest, progress };
  }

  async #computeKey(bv: BuildVertex): Promise<Job> {
    const v = bv.vertex;
    const inputs = inputsOf(v.op);
    const prefetched = this.#prefetchContentInputs(v, inputs);
    const inputJobs = await Promise.all(inputs.map((r) => this.#keyOf(r.digest)));
    this.signal.throwIfAborted();
    const ignoreCache = v.metadata.ignoreCache || inputJobs.some((j) => j.spec.ignoreCache);
    let keyed: KeyedParts;
    try {
      keyed = await this.#keyParts(bv, inputs, inputJobs, ignoreCache, prefetched);
    } catch (err) {
      // A failed input stays the input's failure (this step is skipped); anything else failed
      // *this* step: a COPY source that does not exist, a context that could not be read.
      if (err instanceof JobFailure) throw err;
      const at = now();
      const started = bv.phase.kind === "running" ? bv.phase.started : undefined;
      if (isCancellation(err) || this.signal.aborted) {
        bv.phase = { kind: "final", outcome: { status: "canceled", ...(started === undefined ? {} : { started }), completed: at } };
        this.#emit(bv, { kind: "vertex-canceled", vertex: v.digest, index: this.#indexOf(bv), time: at });
        throw err;
      }
      const error = stepError(err, bv.name);
      bv.phase = { kind: "final", outcome: { status: "failed", started: started ?? at, completed: at, error: recorded(error) } };
      this.#emit(bv, { kind: "vertex-errored", vertex: v.digest, index: this.#indexOf(bv), time: at, error: recorded(error) });
      throw new JobFailure(error, this.#pseudoJob(bv, error));
    }
    const { parts, pin, seed, aliases } = keyed;
    const made = preimage(v, bv.name, parts);
    const key = keyed.key === undefined ? made : { ...made, key: keyed.key };
    bv.key = key;
    const job = this.solver.register(
      {
        key: key.key,
        mapKey: ignoreCache ? `${key.key}!fresh` : key.key,
        vertex: v,
        name: bv.name,
        inputs: inputs.map((r, i) => ({ job: inputJobs[i] as Job, output: r.index })),
        pin,
        ignoreCache,
        aliases,
        verify: keyed.verify,
      },
      this,
    );
    this.#weak.add(job);
    bv.job = job;
    if (seed !== undefined) {
      const at = now();
      if (!job.seed(seed, this)) await seed.release();
      const started = bv.phase.kind === "running" ? bv.phase.started : at;
      bv.phase = { kind: "final", outcome: { status: "executed", started, completed: at, miss: [] } };
      this.#emit(bv, { kind: "vertex-completed", vertex: v.digest, index: this.#indexOf(bv), time: at });
    } else if (!ignoreCache && bv.phase.kind === "pending" && this.solver.store.get(key.key) !== undefined) {
      this.onCached(job);
    }
    return job;
  }

  /** The parts of a vertex's key; loads what content-based parts need. */
  /**
   * Starts building the inputs a content-keyed step will have to hash, as soon as each is known to be
   * uncached — without waiting for the step's other inputs. Otherwise `COPY --from=a`, then
   * `COPY --from=b` would build stage b only once stage a is done (each key waits for the one before),
   * and independent stages would run one after another. A cached input is not loaded here: the step may
   * hit by its inputs' keys alone. Nor is an uncached one whose step hits by its fast key once the other
   * inputs' keys are known (a stage whose results are not in an imported mode=min cache, but whose
   * COPY --from result is): those keys are waited for briefly, unless they wait on execution.
   */
  #prefetchContentInputs(v: Vertex, inputs: readonly OutputRef[]): Map<number, Promise<SharedRef | undefined>> {
    const out = new Map<number, Promise<SharedRef | undefined>>();
    if (v.metadata.ignoreCache) return out;
    const allKeys = Promise.all(inputs.map((r) => this.#keyOf(r.digest)));
    allKeys.catch(() => undefined);
    for (const [i, dep] of cacheMapOf(v).deps.entries()) {
      const r = inputs[i];
      if (dep.kind !== "content" || r === undefined) continue;
      const p = this.#keyOf(r.digest).then(async (job) => {
        if (this.solver.store.get(job.spec.key) !== undefined) return undefined;
        const jobs = await settledWithin(allKeys, FAST_KEY_GRACE_MS);
        if (jobs !== undefined && this.solver.store.get(fastKeyOf(v, inputs, jobs)) !== undefined) return undefined;
        return this.#resultOf(r);
      });
      // A failure here is reported where the result is used (the step's own key computation).
      p.catch(() => undefined);
      out.set(i, p);
    }
    return out;
  }

  async #keyParts(
    bv: BuildVertex,
    inputs: readonly OutputRef[],
    inputJobs: readonly Job[],
    ignoreCache: boolean,
    prefetched: Map<number, Promise<SharedRef | undefined>>,
  ): Promise<KeyedParts> {
    try {
      return await this.#keyPartsWith(bv, inputs, inputJobs, ignoreCache, prefetched);
    } finally {
      // Whatever was fetched ahead and not used (a hit by inputs' keys, or a failure) is released.
      for (const p of prefetched.values()) void p.then((ref) => ref?.release(), () => undefined);
    }
  }

  async #keyPartsWith(
    bv: BuildVertex,
    inputs: readonly OutputRef[],
    inputJobs: readonly Job[],
    ignoreCache: boolean,
    prefetched: Map<number, Promise<SharedRef | undefined>>,
  ): Promise<KeyedParts> {
    const v = bv.vertex;
    const cmap = cacheMapOf(v);
    // BuildKit's two-phase keys: a step keyed by content first tries the key made of its inputs' keys
    // (equal input keys mean equal content, so a hit is sound) and materializes inputs only on a miss.
    const aliases: Digest[] = [];
    if (cmap.deps.some((d) => d.kind === "content")) {
      const fast = fastParts(v, inputs, inputJobs);
      const fastKey = keyFromParts(v.digest, fast);
      aliases.push(fastKey);
      const hit = ignoreCache ? undefined : this.solver.store.get(fastKey);
      // The step keeps its canonical (content) key, so dependents find what they were recorded under.
      if (hit !== undefined) return { parts: fast, pin: undefined, seed: undefined, aliases, key: hit.canonical ?? fastKey };
    }
    const parts: KeyPart[] = [];
    for (const [i, dep] of cmap.deps.entries()) {
      const r = inputs[i];
      const job = inputJobs[i];
      if (r === undefined || job === undefined) throw new Error("inputsOf and the cache map disagree");
      switch (dep.kind) {
        case "input":
          parts.push({ kind: "input", index: i, from: r.digest, output: r.index, name: job.spec.name, key: job.spec.key, ...(dep.selector === undefined ? {} : { selector: dep.selector }) });
          break;
        case "content": {
          const ahead = prefetched.get(i);
          prefetched.delete(i);
          const ref = (await ahead) ?? (await this.#resultOf(r));
          try {
            const keys = await Promise.all(dep.selectors.map((s) => this.#contentKey(ref.ref, s)));
            parts.push({
              kind: "content",
              index: i,
              from: r.digest,
              output: r.index,
              name: job.spec.name,
              selectors: dep.selectors.map((s) => s.path),
              digest: combineContent(keys.map((k) => k.digest)),
              trees: keys.map((k) => k.tree),
            });
          } finally {
            await ref.release();
          }
          break;
        }
        default:
          assertNever(dep, "cache dep");
      }
    }
    const op = v.op;
    if (op.kind !== "source") return { parts, pin: undefined, seed: undefined, aliases };
    const src = op.source;
    if (src.kind === "image") {
      const pin = await this.#task(() => this.solver.worker.resolveImage(src, op.platform, this.#ctx(bv)));
      parts.push({ kind: "pin", what: "image", ref: src.ref, digest: pin.digest });
      return { parts, pin, seed: undefined, aliases };
    }
    const worker = this.solver.worker;
    // A git source is keyed by the commit its ref names now (BuildKit's git CacheKey), loaded only if needed.
    if (src.kind === "git" && worker.pinSource !== undefined) {
      const pinned = await this.#task(async () => worker.pinSource?.(op, this.#ctx(bv)));
      if (pinned !== undefined) {
        parts.push({ kind: "pin", what: "git", ref: pinned.ref, digest: pinned.digest, resolved: pinned.resolved });
        return { parts, pin: undefined, seed: undefined, aliases };
      }
    }
    // A source the worker can key in place is loaded later, by its job, and only if a step needs it.
    const inPlace = worker.sourceContentKey === undefined ? undefined : await this.#task(async () => worker.sourceContentKey?.(op, this.#ctx(bv)));
    if (inPlace !== undefined) {
      parts.push({ kind: "source-content", what: src.kind, name: bv.name, digest: inPlace.digest, ...(inPlace.tree === undefined ? {} : { tree: inPlace.tree }) });
      return { parts, pin: undefined, seed: undefined, aliases, verify: inPlace.digest };
    }
    // Otherwise it is loaded by each build (it belongs to its session), then keyed.
    this.#onStartedDirect(bv, now());
    const seed = shareRef(await this.#task(() => this.solver.worker.loadSource(op, undefined, this.#ctx(bv))));
    try {
      const ck = await this.#contentKey(seed.ref, WHOLE);
      parts.push({ kind: "source-content", what: src.kind, name: bv.name, digest: ck.digest, ...(ck.tree === undefined ? {} : { tree: ck.tree }) });
    } catch (err) {
      await seed.release();
      throw err;
    }
    return { parts, pin: undefined, seed, aliases };
  }

  /** A stand-in job for a failure during key computation, so the failure has an origin digest. */
  #pseudoJob(bv: BuildVertex, error: HtkError): Job {
    const job = new Job(this.solver, {
      key: bv.vertex.digest,
      mapKey: `${bv.vertex.digest}!failed-${this.id}`,
      vertex: bv.vertex,
      name: bv.name,
      inputs: [],
      pin: undefined,
      ignoreCache: true,
      aliases: [],
      verify: undefined,
    });
    job.state = { kind: "failed", error, origin: job };
    return job;
  }

  async #contentKey(ref: WorkerRef, selector: ContentSelector): Promise<ContentKey> {
    const memo = `${ref.id}\0${JSON.stringify(selector)}`;
    const known = this.solver.contentKeys.get(memo);
    if (known !== undefined) return known;
    const key = await this.#task(() => this.solver.worker.contentKey(ref, selector, this.signal));
    this.solver.rememberContentKey(memo, key);
    return key;
  }

  /**
   * Fills in why each executed vertex missed. Done once at the end, reading the previous record of
   * the target (and older ones only when a step needs a checksum the previous build skipped), so a
   * no-op rebuild reads one record. A record that cannot be read costs the explanation, not the build.
   */
  async #explainAll(): Promise<void> {
    const records = this.solver.records;
    const executed = [...this.#vertices.values()].filter((bv) => bv.phase.kind === "final" && bv.phase.outcome.status === "executed");
    if (executed.length === 0) return;
    if (records !== undefined && this.target !== "") {
      try {
        const needsHistory = executed.some((bv) => bv.key?.parts.some((p) => p.kind === "content") === true);
        const recent = await records.recent(this.target, { except: this.id, limit: needsHistory ? 1 + HISTORY : 1 });
        this.#previous = recent[0];
        this.#history = recent.slice(1);
      } catch {
        // Explanations degrade to "no earlier build"; the build itself is fine.
      }
    }
    for (const bv of executed) {
      if (bv.phase.kind === "final" && bv.phase.outcome.status === "executed") {
        bv.phase = { kind: "final", outcome: { ...bv.phase.outcome, miss: this.#explain(bv) } };
      }
    }
  }

  #explain(bv: BuildVertex): readonly MissReason[] {
    if (bv.vertex.metadata.ignoreCache) return [{ kind: "ignore-cache" }];
    if (bv.key === undefined) return [];
    const reasons = explainMiss(this.#previous, bv.key, (d) => this.#vertices.get(d)?.key, this.#history);
    const op = bv.vertex.op;
    // Content-keyed sources run every build; "the result is gone" would be a wrong explanation.
    const loadedEveryBuild = op.kind === "source" && op.source.kind !== "image";
    return loadedEveryBuild && reasons.every((r) => r.kind === "result-missing") ? [{ kind: "always-runs" }] : reasons;
  }

  // ---- progress ----------------------------------------------------------------------------------

  #indexOf(bv: BuildVertex): number {
    bv.index ??= this.#nextIndex++;
    return bv.index;
  }

  /**
   * Every vertex a build shows starts with an event that names it: a build that joined a shared step
   * after it started (or whose step ends before it was announced) gets a start line first, so a
   * renderer never has to print a nameless `#N`.
   */
  #emit(bv: BuildVertex, event: ProgressEvent): void {
    if (event.kind === "vertex-started" || event.kind === "vertex-cached") bv.announced = true;
    else if (!bv.announced) {
      bv.announced = true;
      this.bus.emit({ kind: "vertex-started", vertex: bv.vertex.digest, index: this.#indexOf(bv), name: bv.name, time: event.time });
    }
    this.bus.emit(event);
  }

  #onStartedDirect(bv: BuildVertex, time: string): void {
    bv.phase = { kind: "running", started: time };
    this.#emit(bv, { kind: "vertex-started", vertex: bv.vertex.digest, index: this.#indexOf(bv), name: bv.name, time });
  }

  #log(bv: BuildVertex, stream: 1 | 2, data: Uint8Array): Promise<void> | void {
    const index = this.#indexOf(bv);
    this.#emit(bv, { kind: "log", vertex: bv.vertex.digest, index, time: now(), stream, data });
    return this.#writer?.log(index, data);
  }

  #status(bv: BuildVertex, status: StatusUpdate): void {
    this.#emit(bv, { kind: "status", vertex: bv.vertex.digest, index: this.#indexOf(bv), time: now(), status });
  }

  onCached(job: Job): void {
    const bv = this.#vertices.get(job.digest);
    if (bv === undefined || bv.phase.kind !== "pending") return;
    bv.phase = { kind: "cached" };
    this.#emit(bv, { kind: "vertex-cached", vertex: bv.vertex.digest, index: this.#indexOf(bv), name: bv.name, time: now() });
  }

  onStarted(job: Job, time: string): void {
    const bv = this.#vertices.get(job.digest);
    if (bv === undefined || bv.phase.kind === "final") return;
    this.#onStartedDirect(bv, time);
  }

  onLog(job: Job, stream: 1 | 2, data: Uint8Array): Promise<void> | void {
    const bv = this.#vertices.get(job.digest);
    return bv === undefined ? undefined : this.#log(bv, stream, data);
  }

  onStatus(job: Job, update: StatusUpdate): void {
    const bv = this.#vertices.get(job.digest);
    if (bv !== undefined) this.#status(bv, update);
  }

  onCompleted(job: Job, time: string, runFor: BuildRun | undefined): void {
    const bv = this.#vertices.get(job.digest);
    if (bv === undefined || bv.phase.kind === "final") return;
    const started = bv.phase.kind === "running" ? bv.phase.started : time;
    if (runFor === this || runFor === undefined) {
      bv.phase = { kind: "final", outcome: { status: "executed", started, completed: time, miss: [] } };
      this.#emit(bv, { kind: "vertex-completed", vertex: job.digest, index: this.#indexOf(bv), time });
    } else {
      bv.phase = { kind: "final", outcome: { status: "shared", withBuild: runFor.id, completed: time } };
      this.#emit(bv, { kind: "vertex-completed", vertex: job.digest, index: this.#indexOf(bv), time, sharedWith: runFor.id });
    }
  }

  onErrored(job: Job, time: string, error: HtkError): void {
    const bv = this.#vertices.get(job.digest);
    if (bv === undefined || bv.phase.kind === "final") return;
    const started = bv.phase.kind === "running" ? bv.phase.started : time;
    bv.phase = { kind: "final", outcome: { status: "failed", started, completed: time, error: recorded(error) } };
    this.#emit(bv, { kind: "vertex-errored", vertex: job.digest, index: this.#indexOf(bv), time, error: recorded(error) });
  }

  onCanceled(job: Job, time: string): void {
    const bv = this.#vertices.get(job.digest);
    if (bv === undefined || bv.phase.kind === "final") return;
    const started = bv.phase.kind === "running" ? bv.phase.started : undefined;
    bv.phase = { kind: "final", outcome: { status: "canceled", ...(started === undefined ? {} : { started }), completed: time } };
    this.#emit(bv, { kind: "vertex-canceled", vertex: job.digest, index: this.#indexOf(bv), time });
  }
}

import { createHash, randomBytes } from "node:crypto";
import { readFile, rm, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { loadDockerignore } from "../../base/dockerignore/index.ts";
import { htkError, isCancellation, isHtkError, toHtkError, type HtkError } from "../../base/errors/index.ts";
import { withSpan, type Logger } from "../../base/observability/index.ts";
import { formatFindingShort, runChecks, checksFailedMessage } from "../../frontend-dockerfile/checks/index.ts";
import {
  compileDockerfile,
  type CompileOptions,
  parseDockerfile,
  renderDiagnostic,
  type CompiledStage,
  type Entitlement,
  type NamedContext,
  type Diagnostic,
  type ImageSpec,
  type ParsedDockerfile,
} from "../../frontend-dockerfile/index.ts";
import type { Definition, Digest } from "../../llb/index.ts";
import { BuildRecordStore, JsonlKeyStore, Solver, type BuildRecord, type BuildSummary, type CacheKeyStore, type ProgressEvent } from "../../solver/index.ts";
import { anonymous, type CredentialSource } from "../../base/registry/index.ts";
import { LocalMirrors } from "../worker/local-mirror.ts";
import { parseGitUrl, redactRemote } from "../worker/git.ts";
import type { SshAgentSource } from "../worker/ssh-agent.ts";
import { buildResolutionScope, type RuntimeSession, type RuntimeWorker } from "../worker/runtime-worker.ts";
import { cacheUsage, pruneCache, type CacheUsage, type ContextCopies, type PruneOptions, type PruneResult } from "./cache-usage.ts";
import { exportImage, writeImageArchive, type ExportedImage } from "./image-export.ts";
import type { StepLimits } from "./step-limits.ts";
import { composeWorker, imageConfigResolver, type RuntimeParts } from "./runtime-stack.ts";
import { BuildGate, Semaphore } from "./build-gate.ts";
import { exportFiles } from "./file-export.ts";
import { pushImage } from "./push.ts";
import { checkEntitlements } from "./local-build.ts";
import { dockerfileFailure, type DockerfileFailure } from "./parse-error.ts";
import { BuildCaches, type BuildCacheRequest, type CacheProgress, type CacheVertex } from "./remote-cache.ts";
import type { CacheExportSpec, CacheImportSpec } from "../../cache/remote/index.ts";

/**
 * Builds inside the daemon (see README.md, "Builds in the daemon"): one runtime worker over the
 * daemon's own snapshotter, image store, runtime and registry client; one solver (its cache-key store
 * and build records under the data root, shared by every build so identical work runs once); at most
 * `maxParallelBuilds` builds at a time; results exported into the daemon's image store.
 *
 * Transports are thin layers over `solve`: the classic `POST /build` (engine/api/build.ts) and the
 * BuildKit-style gRPC service of the buildx plugin.
 */

/** Where a build's Dockerfile comes from. */
export type DockerfileSource =
  /** A file on the daemon's disk (inside the context, or anywhere for an in-process caller). */
  | { readonly kind: "file"; readonly path: string }
  /** The text itself (a Dockerfile the client sent on its own); `name` is shown in diagnostics. */
  | { readonly kind: "inline"; readonly text: Uint8Array; readonly name: string };

/** Where the result goes. `image` records it in the daemon's image store under `tags` (and pushes them with `push`). */
export type BuildOutput =
  | { readonly type: "image"; readonly push?: boolean }
  | { readonly type: "local"; readonly dest: string }
  | { readonly type: "tar"; readonly dest: string }
  | { readonly type: "oci"; readonly dest: string }
  | { readonly type: "docker"; readonly dest: string };

export interface ExtraHost {
  readonly host: string;
  readonly ip: string;
}

/** A build context the engine fetches itself: a git repository (`https://…/repo.git#ref:subdir`). */
export interface GitBuildContext {
  readonly kind: "git";
  readonly url: string;
}

export interface BuildRequest {
  /**
   * The build context: a directory on the daemon's disk, or a git repository that becomes the build's
   * git source (BuildKit's git context: resolved to a commit, the Dockerfile read from it, cached by it).
   */
  readonly context: string | GitBuildContext;
  /** The context's content version, when its owner knows one (see SolveSession.localVersions). */
  readonly contextVersion?: string;
  /** Default: `<context>/Dockerfile`. */
  readonly dockerfile?: DockerfileSource;
  readonly target?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** Labels set on the image over the Dockerfile's (`--label`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Names for the `image` output (`-t`). */
  readonly tags?: readonly string[];
  /** Default `[{ type: "image" }]`: every daemon build leaves an image, as `docker build` does. */
  readonly outputs?: readonly BuildOutput[];
  /** Run steps even when cached: all (`--no-cache`), or those of the named stages (`--no-cache-filter`). */
  readonly noCache?: boolean | readonly string[];
  /**
   * `--allow`: entitlements granted to the build (`network.host` for RUN --network=host,
   * `security.insecure` for RUN --security=insecure). Undefined: not checked (the classic POST /build).
   */
  readonly entitlements?: readonly Entitlement[];
  /** `--annotation`: annotations of the image's manifest. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `--build-context`: what replaces a stage or image of that name (BuildKit's named contexts). */
  readonly namedContexts?: Readonly<Record<string, NamedContext>>;
  /** Directories on the daemon's disk the named contexts of kind `local` read, by their name. */
  readonly locals?: Readonly<Record<string, string>>;
  /**
   * How FROM images are found: `pull` always asks the registry (`--pull`); `local` prefers an image
   * already in the store (the classic builder's default); `default` asks the registry once per build.
   */
  readonly resolveMode?: "default" | "pull" | "local";
  /** `os/arch[/variant]`; default this machine's. */
  readonly platform?: string;
  /** The network of RUN steps without their own `--network`. */
  readonly network?: "default" | "none" | "host";
  readonly extraHosts?: readonly ExtraHost[];
  /** `--shm-size`, `--ulimit`, `--cgroup-parent`: set on every RUN step (step-limits.ts). */
  readonly limits?: StepLimits;
  /** `--secret`: values by id; never written to disk by the engine. */
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  /** `--ssh`: the agents RUN --mount=type=ssh may use, by id (relayed to the client; no key kept here). */
  readonly ssh?: Readonly<Record<string, SshAgentSource>>;
  /** Registry credentials for a push and the cache references (the client's, asked on demand); default: anonymous. */
  readonly registryCredentials?: CredentialSource;
  /** `--cache-from`: caches whose records the build may use (layers fetched when a hit needs them); local sources are daemon-side paths. */
  readonly cacheFrom?: readonly CacheImportSpec[];
  /** `--cache-to`: where the build's cache goes after it succeeds; local destinations are daemon-side paths. */
  readonly cacheTo?: readonly CacheExportSpec[];
  /** The build id (for `cancel`, records, `buildx history`); default: a fresh one. */
  readonly id?: string;
  /**
   * The client's session: local-context mirrors are kept per session, so a client that sends the same
   * directory again transfers only what changed. Default: the build id.
   */
  readonly session?: string;
  /**
   * `build`: the context directory is this build's alone (an uploaded tar): its mirrors are removed when
   * the build ends. `session` (default): they stay for the session's next build.
   */
  readonly contextLifetime?: "build" | "session";
  /** Aborted when the client goes away: the build is cancelled; work other builds share goes on. */
  readonly signal: AbortSignal;
  /**
   * Every event of the build, in order. Awaited: a slow consumer slows the stream, and the solver's
   * bounded progress bus coalesces what piles up meanwhile (never the build itself).
   */
  readonly onEvent?: (event: BuildEvent) => Promise<void> | void;
}

/** What a transport needs to show a build as it runs. */
export type BuildEvent =
  /** Waiting for one of the `maxParallelBuilds` slots (or for a prune to finish). */
  | { readonly kind: "queued"; readonly id: string }
  | { readonly kind: "started"; readonly id: string }
  /** The Dockerfile compiled: the graph about to run and where each vertex came from. */
  | { readonly kind: "compiled"; readonly id: string; readonly plan: BuildPlan }
  | { readonly kind: "progress"; readonly id: string; readonly event: ProgressEvent }
  | { readonly kind: "exported"; readonly id: string; readonly image: ExportedImage; readonly tags: readonly string[] }
  /** A status line of the exporter after `exported` (a push: `pushing layers`, `pushing manifest for …`), started, then completed. */
  | { readonly kind: "export-status"; readonly id: string; readonly status: string; readonly started: string; readonly completed?: string }
  /** The exporter's work after `exported` ended (only when an output pushes): `error` when it failed. */
  | { readonly kind: "export-ended"; readonly id: string; readonly error?: HtkError }
  /**
   * Progress of a cache import (before the solve) or export (after the image): vertices of their own,
   * numbered from 1 in the order they start (the transport places them in its own sequence).
   */
  | { readonly kind: "cache-progress"; readonly id: string; readonly event: ProgressEvent }
  /** Something the user should know that does not fail the build (a missing cache, an ignored export error). */
  | { readonly kind: "warning"; readonly id: string; readonly warning: HtkError };

export interface BuildPlan {
  readonly parsed: ParsedDockerfile;
  readonly fileName: string;
  readonly definition: Definition;
  readonly stages: readonly CompiledStage[];
  readonly target: string;
  /** Base images: manifest digest (as `CompiledStage.base` pins it) → image ID (config digest). */
  readonly baseImages: ReadonlyMap<string, Digest>;
  readonly image: ImageSpec;
}

export type BuildResult =
  | {
      readonly kind: "completed";
      readonly id: string;
      readonly record: BuildRecord;
      /** Set when an `image`, `oci` or `docker` output made an image. */
      readonly image?: ExportedImage;
      readonly tags: readonly string[];
      readonly imageSpec: ImageSpec;
      /** Parser and compiler warnings, rendered with code frames. */
      readonly warnings: string;
      /** The same warnings as one line each, BuildKit's text where it has one (`[Warning] One or more build-args [X] were not consumed`). */
      readonly warningMessages: readonly string[];
      /** Build-check findings, one line each. */
      readonly checkWarnings: readonly string[];
    }
  /** The Dockerfile could not be used (syntax, unknown target, failing checks …): nothing ran. */
  | { readonly kind: "invalid"; readonly id: string; readonly message: string; readonly rendered: string; readonly failure?: DockerfileFailure }
  | { readonly kind: "failed"; readonly id: string; readonly error: HtkError; readonly record?: BuildRecord }
  | { readonly kind: "canceled"; readonly id: string; readonly record?: BuildRecord };

export interface ActiveBuild {
  readonly id: string;
  readonly state: "queued" | "running";
  readonly started: Date;
}

export interface BuildsOptions {
  /** The daemon's data root: `worker/`, `cache-keys.jsonl`, `records/` beside its `snapshots/`. */
  readonly dataRoot: string;
  readonly parts: RuntimeParts;
  readonly maxParallelBuilds: number;
  readonly log: Logger;
}

interface Running {
  readonly id: string;
  readonly controller: AbortController;
  state: "queued" | "running";
  readonly started: Date;
}

export class Builds {
  readonly worker: RuntimeWorker;
  /** Build history (`buildx history`): summaries, records, logs, removal. */
  readonly records: BuildRecordStore;
  readonly #dataRoot: string;
  readonly #solver: Solver;
  readonly #keyStore: JsonlKeyStore;
  readonly #log: Logger;
  readonly #slots: Semaphore;
  readonly #gate = new BuildGate();
  #contextCopies: ContextCopies | undefined;
  readonly #running = new Map<string, Running>();
  readonly #mirrors: LocalMirrors;
  readonly #images: RuntimeParts["images"];
  readonly #registry: RuntimeParts["registry"];
  #closed = false;

  private constructor(dataRoot: string, worker: RuntimeWorker, keyStore: JsonlKeyStore, records: BuildRecordStore, opts: BuildsOptions) {
    this.#dataRoot = dataRoot;
    this.worker = worker;
    this.#keyStore = keyStore;
    this.records = records;
    this.#log = opts.log;
    this.#images = opts.parts.images;
    this.#registry = opts.parts.registry;
    this.#slots = new Semaphore(Math.max(1, opts.maxParallelBuilds));
    this.#mirrors = new LocalMirrors(join(dataRoot, "worker", "locals"));
    this.#solver = new Solver({
      worker,
      keyStore,
      records,
      // RUN steps mostly wait (processes, the network), not on our cores: BuildKit runs independent
      // steps without a limit by default (as `hatake build` does on the runtime worker).
      concurrency: Math.max(8, availableParallelism() * 4),
    });
  }

  static async open(opts: BuildsOptions): Promise<Builds> {
    const worker = await composeWorker(opts.parts, join(opts.dataRoot, "worker"));
    const keyStore = JsonlKeyStore.open(opts.dataRoot);
    return new Builds(opts.dataRoot, worker, keyStore, new BuildRecordStore(join(opts.dataRoot, "records")), opts);
  }

  /** Builds that are queued or running. */
  active(): ActiveBuild[] {
    return [...this.#running.values()].map((r) => ({ id: r.id, state: r.state, started: r.started }));
  }

  /** Cancels a queued or running build; false when no such build is active. */
  cancel(id: string): boolean {
    const r = this.#running.get(id);
    if (r === undefined) return false;
    r.controller.abort(new DOMException(`build ${id} was cancelled`, "AbortError"));
    return true;
  }

  /** Runs a build. Never rejects for a failure of the build itself: that is `failed` (or `invalid`). */
  async solve(req: BuildRequest): Promise<BuildResult> {
    if (this.#closed) throw htkError("HTK-ENGINE-0550", {});
    const id = req.id ?? randomBytes(13).toString("hex").slice(0, 25);
    if (this.#running.has(id)) throw htkError("HTK-ENGINE-0551", { id });
    const controller = new AbortController();
    const signal = AbortSignal.any([req.signal, controller.signal]);
    const entry: Running = { id, controller, state: "queued", started: new Date() };
    this.#running.set(id, entry);
    const emit = async (event: BuildEvent): Promise<void> => {
      if (req.onEvent !== undefined) await req.onEvent(event);
    };
    try {
      return await withSpan("build.engine", { "build.id": id }, async () => {
        await emit({ kind: "queued", id });
        const releaseSlot = await this.#slots.acquire(signal);
        try {
          const leave = await this.#gate.enterBuild(signal);
          try {
            entry.state = "running";
            await emit({ kind: "started", id });
            return await this.#run(id, req, signal, emit);
          } finally {
            leave();
          }
        } finally {
          releaseSlot();
        }
      });
    } catch (err) {
      if (signal.aborted && isCancellation(err)) return { kind: "canceled", id };
      if (isHtkError(err)) return { kind: "failed", id, error: err };
      if (signal.aborted) return { kind: "canceled", id };
      return { kind: "failed", id, error: toHtkError(err, { operation: "build" }) };
    } finally {
      this.#running.delete(id);
    }
  }

  async #run(id: string, req: BuildRequest, signal: AbortSignal, emit: (e: BuildEvent) => Promise<void>): Promise<BuildResult> {
    const session = req.session ?? id;
    const input = typeof req.context === "string" ? await localInput(req.context, req.dockerfile) : await this.#gitInput(req.context, req.dockerfile, buildResolutionScope(id), req.buildArgs ?? {}, signal);
    const { text, fileName, dockerfilePath, contextDir, ignore } = input;
    const sourceText = new TextDecoder().decode(text);
    const render = (ds: readonly Diagnostic[]): string => ds.map((d) => renderDiagnostic(d, sourceText, fileName)).join("\n");
    const invalid = (ds: readonly Diagnostic[]): BuildResult => {
      const failure = dockerfileFailure(ds, fileName, text);
      if (failure === undefined) return { kind: "invalid", id, message: "the Dockerfile cannot be built", rendered: render(ds) };
      return { kind: "invalid", id, message: failure.message, rendered: render(ds), failure };
    };
    const parsed = parseDockerfile(text, { fileName });
    if (parsed.result === undefined) return invalid(parsed.diagnostics);
    const buildArgs = req.buildArgs ?? {};
    const checks = runChecks(parsed.result, { buildArgs, dockerignore: ignore.patterns, ...(req.target === undefined ? {} : { target: req.target }) });
    const checkWarnings = checks.findings.map(formatFindingShort);
    if (checks.configError !== undefined || checks.asErrors) {
      const message = checks.configError?.message ?? checksFailedMessage(checks.findings);
      return { kind: "invalid", id, message, rendered: message };
    }
    const baseImages = new Map<string, Digest>();
    const compiled = await compileDockerfile(parsed.result, {
      fileName,
      resolveImageConfig: imageConfigResolver(this.worker, {
        sessionId: session,
        build: id,
        resolveMode: req.resolveMode ?? "default",
        signal,
        onResolved: (_ref, manifestDigest, configDigest) => baseImages.set(manifestDigest as Digest, configDigest as Digest),
      }),
      buildArgs,
      dockerignorePatterns: ignore.patterns,
      noCache: req.noCache ?? false,
      ...(req.entitlements === undefined ? {} : { entitlements: req.entitlements }),
      ...(req.namedContexts === undefined ? {} : { namedContexts: req.namedContexts }),
      signal,
      ...(input.context === undefined ? {} : { context: input.context }),
      ...(req.target === undefined ? {} : { target: req.target }),
      ...(req.labels === undefined ? {} : { labels: req.labels }),
      ...(req.platform === undefined ? {} : { platform: req.platform }),
      ...(req.network === undefined ? {} : { network: req.network }),
      ...(req.extraHosts === undefined ? {} : { extraHosts: req.extraHosts }),
      ...req.limits,
    });
    signal.throwIfAborted();
    if (compiled.result === undefined) return invalid(compiled.diagnostics);
    const plan = compiled.result;
    if (req.entitlements !== undefined) checkEntitlements(plan.definition, req.network === "host" ? [...req.entitlements, "network.host"] : req.entitlements);
    const warningDiagnostics = [...parsed.diagnostics, ...compiled.diagnostics].filter((d) => d.severity === "warning");
    const warnings = render(warningDiagnostics);
    await emit({
      kind: "compiled",
      id,
      plan: { parsed: parsed.result, fileName, definition: plan.definition, stages: plan.stages, target: plan.target, baseImages, image: plan.image },
    });
    let runtimeSession: RuntimeSession = {
      id: session,
      build: id,
      locals: { ...req.locals, ...(contextDir === undefined ? {} : { context: contextDir, ...(dockerfilePath === undefined ? {} : { dockerfile: dirname(dockerfilePath) }) }) },
      ...(req.contextVersion === undefined ? {} : { localVersions: { context: req.contextVersion } }),
      ...(req.secrets === undefined ? {} : { secrets: req.secrets }),
      ...(req.ssh === undefined ? {} : { ssh: req.ssh }),
    };
    let seed: RuntimeSession["cacheMountSeed"];
    const caches = await this.#openCaches(id, req, signal, emit, (s) => (seed = s));
    if (seed !== undefined) runtimeSession = { ...runtimeSession, cacheMountSeed: seed };
    // A build with imported caches gets a solver of its own: the imported records sit between it and the
    // shared key store and worker (other builds must not see another client's cache).
    const solver = caches === undefined ? this.#solver : caches.solver;
    try {
      const handle = solver.solve({ definition: plan.definition, session: runtimeSession, target: `${fileName}#${plan.target}`, signal, id });
      const pump = (async () => {
        let consumer = true;
        for await (const event of handle.progress) {
          if (!consumer) continue;
          try {
            await emit({ kind: "progress", id, event });
          } catch (err) {
            // The consumer (a client connection) failed: the build goes on until its signal says otherwise.
            consumer = false;
            this.#log.debug({ err, build: id }, "build progress consumer failed");
          }
        }
      })();
      const [outcome] = await Promise.all([handle.outcome, pump]);
      switch (outcome.kind) {
        case "canceled":
          return { kind: "canceled", id, record: outcome.record };
        case "failed":
          return { kind: "failed", id, error: outcome.error, record: outcome.record };
        case "completed": {
          const tags = req.tags ?? [];
          let image: ExportedImage | undefined;
          try {
            const outputs = req.outputs ?? [{ type: "image" }];
            const needsImage = outputs.some((o) => o.type === "image" || o.type === "oci" || o.type === "docker");
            const ref = outcome.ref?.ref;
            if (needsImage) {
              const spec = this.#stamped(plan.image, outcome.record, caches?.store ?? this.#keyStore);
              const names = outputs.some((o) => o.type === "image") ? tags : [];
              const imageOptions = { ...caches?.caches.imageOptions(outcome.record, ref?.id), ...(req.annotations === undefined ? {} : { annotations: req.annotations }) };
              image = await exportImage(this.worker, this.#images, ref?.id, spec, names, join(this.#dataRoot, "worker", "exports"), signal, undefined, imageOptions);
              await emit({ kind: "exported", id, image, tags: names });
            }
            for (const out of outputs) {
              switch (out.type) {
                case "image":
                  if (out.push === true && image !== undefined) await this.#push(id, image, tags, req, signal, emit);
                  break;
                case "local":
                case "tar":
                  await exportFiles(this.worker, ref, out, signal);
                  break;
                case "oci":
                case "docker":
                  if (image === undefined) throw new Error("an image output without an image");
                  await writeImageArchive(this.#images, out.type, image, tags, out.dest, signal);
                  break;
              }
            }
            await caches?.caches.export(outcome.record, ref?.id, image !== undefined, 1, plan.definition);
            await caches?.progress.flush();
          } finally {
            await outcome.ref?.release();
          }
          return {
            kind: "completed",
            id,
            record: outcome.record,
            ...(image === undefined ? {} : { image }),
            tags,
            imageSpec: plan.image,
            warnings,
            warningMessages: warningDiagnostics.map((d) => d.buildkitMessage ?? d.message),
            checkWarnings,
          };
        }
      }
      return unreachable(outcome);
    } finally {
      if (caches !== undefined) {
        await caches.solver.close();
        await caches.registry.close().catch(() => undefined);
      }
      if (req.contextLifetime === "build") await this.#dropMirrors(plan.definition, session, runtimeSession.locals);
    }
  }

  /** Pushes the exported image under each name with the client's credentials, the exporter's statuses as events. */
  async #push(id: string, image: ExportedImage, names: readonly string[], req: BuildRequest, signal: AbortSignal, emit: (e: BuildEvent) => Promise<void>): Promise<void> {
    // pushImage reports synchronously; the events go out in order, each awaited (backpressure).
    let events = Promise.resolve();
    const send = (e: BuildEvent): void => {
      events = events.then(() => emit(e)).catch((err: unknown) => this.#log.debug({ err, build: id }, "build progress consumer failed"));
    };
    const progress = {
      oneOff: (status: string): (() => void) => {
        const started = new Date().toISOString();
        send({ kind: "export-status", id, status, started });
        return () => send({ kind: "export-status", id, status, started, completed: new Date().toISOString() });
      },
    };
    // As dockerd: only what the client sent, never a config.json of the daemon's own.
    const registry = this.#registry.withCredentials(req.registryCredentials ?? anonymous);
    try {
      await pushImage(registry, this.#images.content, image, names, progress, signal);
    } catch (err) {
      send({ kind: "export-ended", id, error: isHtkError(err) ? err : toHtkError(err, { operation: "push" }) });
      await events;
      throw err;
    } finally {
      await registry.close().catch(() => undefined);
    }
    send({ kind: "export-ended", id });
    await events;
  }

  /**
   * `--cache-from` / `--cache-to`: the imports are read now (their own progress vertices), and a solver
   * for this build alone runs over the imported records; undefined when the build names no cache.
   */
  async #openCaches(
    id: string,
    req: BuildRequest,
    signal: AbortSignal,
    emit: (e: BuildEvent) => Promise<void>,
    onCacheMountSeed: NonNullable<BuildCacheRequest["onCacheMountSeed"]>,
  ): Promise<{ caches: BuildCaches; solver: Solver; store: CacheKeyStore; progress: CacheEvents; registry: RuntimeParts["registry"] } | undefined> {
    if ((req.cacheFrom ?? []).length === 0 && (req.cacheTo ?? []).length === 0) return undefined;
    // As dockerd: only what the client sent, never a config.json of the daemon's own.
    const registry = this.#registry.withCredentials(req.registryCredentials ?? anonymous);
    const progress = new CacheEvents(id, emit, this.#log);
    let caches: BuildCaches | undefined;
    try {
      caches = await BuildCaches.open(
        { ...(req.cacheFrom === undefined ? {} : { cacheFrom: req.cacheFrom }), ...(req.cacheTo === undefined ? {} : { cacheTo: req.cacheTo }), dataRoot: this.#dataRoot, cwd: "/", signal, progress, onCacheMountSeed },
        { worker: this.worker, snapshotter: this.worker.snapshotter, registry },
      );
    } finally {
      if (caches === undefined) await registry.close().catch(() => undefined);
    }
    if (caches === undefined) return undefined;
    // The shared key store stays open when this build's solver closes.
    const shared = this.#keyStore;
    const local: CacheKeyStore = { get: (k) => shared.get(k), put: (r) => shared.put(r), delete: (k) => shared.delete(k), records: () => shared.records(), close: async () => undefined };
    const store = caches.store(local);
    const solver = new Solver({ worker: caches.worker(this.worker), keyStore: store, records: this.records, concurrency: Math.max(8, availableParallelism() * 4) });
    return { caches, solver, store, progress, registry };
  }

  /**
   * The Dockerfile of a git context without a build (`--call check|outline|targets`): read from the
   * commit the URL's ref names, as a build would read it.
   */
  async gitDockerfile(ctx: GitBuildContext, path: string, signal: AbortSignal): Promise<{ readonly text: Uint8Array; readonly fileName: string }> {
    const input = await this.#gitInput(ctx, { kind: "file", path }, buildResolutionScope(`call-${randomBytes(8).toString("hex")}`), {}, signal);
    return { text: input.text, fileName: input.fileName };
  }

  /**
   * A git context: its ref resolved for the session (the build's git source pins the same commit), the
   * Dockerfile read from that commit unless the client sent one. BuildKit applies no .dockerignore to
   * a git context; BUILDKIT_CONTEXT_KEEP_GIT_DIR=1 keeps its `.git`.
   */
  async #gitInput(ctx: GitBuildContext, dockerfile: DockerfileSource | undefined, scope: string, buildArgs: Readonly<Record<string, string>>, signal: AbortSignal): Promise<BuildInput> {
    const target = parseGitUrl(ctx.url);
    const ref = target.subdir === "" ? target.ref : `${target.ref}:${target.subdir}`;
    const { commit } = await this.worker.resolveGit(scope, { remote: target.remote, ref }, signal);
    const keepGitDir = /^(1|true|t|yes)$/i.test(buildArgs["BUILDKIT_CONTEXT_KEEP_GIT_DIR"] ?? "");
    const context = { kind: "git", remote: target.remote, ref, keepGitDir, url: redactRemote(ctx.url) } as const;
    if (dockerfile?.kind === "inline") return { text: dockerfile.text, fileName: dockerfile.name, ignore: { patterns: [] }, context };
    const path = (dockerfile?.path ?? "Dockerfile").replace(/^\/+/, "");
    const text = await this.worker.git.readFile(target, commit, path, signal);
    if (text === undefined) throw htkError("HTK-BUILD-0400", { url: redactRemote(ctx.url), path, commit });
    return { text, fileName: basename(path), ignore: { patterns: [] }, context };
  }

  /**
   * The image's `created` (and that of history entries without one): when the result was first made,
   * from the cache-key store, so a fully cached rebuild yields the same image ID (as Docker's classic
   * builder reuses its cached image). A SOURCE_DATE_EPOCH the Dockerfile set is kept.
   */
  #stamped(image: ImageSpec, record: BuildRecord, store: Pick<CacheKeyStore, "get">): ImageSpec {
    if (image.created !== undefined) return image;
    const root = record.vertices.find((v) => v.index > 0 && v.key !== undefined && record.result !== undefined && store.get(v.key.key)?.outputs.includes(record.result));
    const at = (root?.key === undefined ? undefined : store.get(root.key.key)?.createdAt) ?? new Date().toISOString();
    return { ...image, created: at, ...(image.history === undefined ? {} : { history: image.history.map((h) => (h.created === undefined ? { ...h, created: at } : h)) }) };
  }

  /** Removes the local-context mirrors a build made for a context that exists for it alone. */
  async #dropMirrors(definition: Definition, session: string, locals: Readonly<Record<string, string>>): Promise<void> {
    for (const v of definition.vertices) {
      if (v.op.kind !== "source" || v.op.source.kind !== "local") continue;
      const s = v.op.source;
      const dir = locals[s.name];
      if (dir === undefined) continue;
      const path = this.#mirrors.pathFor({ sessionId: session, name: s.name, dir, include: s.include, exclude: s.exclude });
      await rm(path, { recursive: true, force: true }).catch((err: unknown) => this.#log.warn({ err, path }, "removing a context mirror failed"));
    }
  }

  /**
   * The build service's context store, so prune removes its copies through it (under its locks) rather
   * than behind its back. Set once by the build service that owns `<data-root>/buildx/contexts`.
   */
  useContextCopies(copies: ContextCopies): void {
    this.#contextCopies = copies;
  }

  /** The build cache (`docker system df`, `buildx du`): step results, context mirrors and copies, cache mounts. */
  async diskUsage(): Promise<CacheUsage> {
    return cacheUsage(this.#dataRoot);
  }

  /**
   * Removes build cache (`docker builder prune`). Waits for running builds to end and holds new ones
   * back until it is done; snapshots something still uses (a container, an image being unpacked) are
   * skipped.
   */
  async prune(opts: Omit<PruneOptions, "notice" | "live">): Promise<PruneResult> {
    const leave = await this.#gate.enterPrune(opts.signal);
    try {
      const live = { snapshotter: this.worker.snapshotter, keyStore: this.#keyStore, images: this.#images, ...(this.#contextCopies === undefined ? {} : { contexts: this.#contextCopies }) };
      return await pruneCache(this.#dataRoot, { ...opts, notice: () => undefined, live });
    } finally {
      leave();
    }
  }

  /** History: summaries, newest first. */
  async history(): Promise<BuildSummary[]> {
    return this.records.list();
  }

  /** One build's record; HTK-ENGINE-0552 when there is none. */
  async record(id: string): Promise<BuildRecord> {
    const rec = await this.records.get(id);
    if (rec === undefined) throw htkError("HTK-ENGINE-0552", { id });
    return rec;
  }

  /** Cancels every build, waits for them, and closes the solver and the worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#running.values()) r.controller.abort(new DOMException("the engine is stopping", "AbortError"));
    await this.#gate.drain();
    await this.#solver.close();
    await this.worker.close();
    await this.#keyStore.close();
  }
}

/**
 * The caches' progress as build events: each vertex numbered from 1 in the order it starts, statuses
 * and ends in order (a queue, so the vertex's events never overtake each other), warnings as events.
 */
class CacheEvents implements CacheProgress {
  readonly #id: string;
  readonly #emit: (e: BuildEvent) => Promise<void>;
  readonly #log: Logger;
  #count = 0;
  #queue: Promise<void> = Promise.resolve();

  constructor(id: string, emit: (e: BuildEvent) => Promise<void>, log: Logger) {
    this.#id = id;
    this.#emit = emit;
    this.#log = log;
  }

  vertex(_index: number, name: string): CacheVertex {
    const index = ++this.#count;
    const vertex = `sha256:${createHash("sha256").update(`${this.#id}\0cache:${index}:${name}`).digest("hex")}` as const;
    this.#send({ kind: "vertex-started", vertex, index, name, time: new Date().toISOString() });
    let closed = false;
    return {
      oneOff: (status) => {
        const started = new Date().toISOString();
        this.#send({ kind: "status", vertex, index, time: started, status: { id: status, current: 0, started } });
        return () => {
          const completed = new Date().toISOString();
          this.#send({ kind: "status", vertex, index, time: completed, status: { id: status, current: 0, started, completed } });
        };
      },
      close: async (error) => {
        if (!closed) {
          closed = true;
          const time = new Date().toISOString();
          if (error === undefined) this.#send({ kind: "vertex-completed", vertex, index, time });
          else this.#send({ kind: "vertex-errored", vertex, index, time, error: { id: isHtkError(error) ? error.id : "HTK-CORE-0001", message: isHtkError(error) ? error.plainCause : error.message } });
        }
        await this.#queue;
      },
    };
  }

  importVertex(name: string): CacheVertex {
    return this.vertex(0, name);
  }

  warn(err: HtkError): void {
    this.#queue = this.#queue.then(() => this.#emit({ kind: "warning", id: this.#id, warning: err })).catch((e: unknown) => this.#log.debug({ err: e }, "a cache warning was not delivered"));
  }

  /** Waits until every event so far is delivered. */
  flush(): Promise<void> {
    return this.#queue;
  }

  #send(event: ProgressEvent): void {
    this.#queue = this.#queue.then(() => this.#emit({ kind: "cache-progress", id: this.#id, event })).catch((e: unknown) => this.#log.debug({ err: e }, "cache progress was not delivered"));
  }
}

/** What a build starts from: the Dockerfile's bytes, the context's ignore patterns, where the context is. */
interface BuildInput {
  readonly text: Uint8Array;
  readonly fileName: string;
  readonly ignore: { readonly patterns: readonly string[] };
  /** A local context directory (the session's `context` local). */
  readonly contextDir?: string;
  readonly dockerfilePath?: string;
  /** A context that is not a local directory (the compiler's `context`). */
  readonly context?: NonNullable<CompileOptions["context"]>;
}

async function localInput(context: string, dockerfile: DockerfileSource | undefined): Promise<BuildInput> {
  const contextDir = resolve(context);
  const st = await stat(contextDir).catch(() => undefined);
  if (st?.isDirectory() !== true) throw htkError("HTK-DOCKERFILE-0111", { path: JSON.stringify(context), detail: "it is not a directory" });
  const source = dockerfile ?? { kind: "file", path: join(contextDir, "Dockerfile") };
  if (source.kind === "inline") return { text: source.text, fileName: source.name, contextDir, ignore: await loadDockerignore(contextDir, {}) };
  const dockerfilePath = isAbsolute(source.path) ? source.path : join(contextDir, source.path);
  let text: Uint8Array;
  try {
    text = await readFile(dockerfilePath);
  } catch (err) {
    throw htkError("HTK-DOCKERFILE-0013", { path: dockerfilePath, detail: (err as Error).message, cwd: contextDir }, { cause: err });
  }
  const ignore = await loadDockerignore(contextDir, { dockerfile: dockerfilePath, cwd: contextDir });
  return { text, fileName: basename(dockerfilePath), contextDir, dockerfilePath, ignore };
}

function unreachable(x: never): never {
  throw new Error(`unexpected solve outcome ${JSON.stringify(x)}`);
}

/** The error a failed step threw, under the solver's "step failed" wrapper (HTK-SOLVER-0001). */
export function stepError(err: HtkError): HtkError {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isHtkError(e) && e.id !== "HTK-SOLVER-0001") return e;
  }
  return err;
}

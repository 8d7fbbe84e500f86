import { createHash } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { formatBytes } from "../../base/progress/index.ts";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { checksJson, formatChecksText, runChecks } from "../../frontend-dockerfile/checks/index.ts";
import { type Entitlement, type NamedContext, formatOutline, formatTargets, listTargets, outlineDockerfile, parseDockerfile, renderDiagnostic } from "../../frontend-dockerfile/index.ts";
import type { Definition } from "../../llb/index.ts";
import type { ProgressEvent } from "../../solver/index.ts";
import {
  BuildErrorSchema,
  BuildWarningSchema,
  ExportHandleSchema,
  SolveEventSchema,
  SolveResultSchema,
  progressToWire,
  type BuildError,
  type SolveEvent,
  type SolveRequest,
} from "../../wire/index.ts";
import { stepError, type BuildEvent, type BuildOutput, type BuildRequest, type BuildResult, type Builds } from "../build/engine-builds.ts";
import type { ExportedImage } from "../build/image-export.ts";
import { credentialsOf, type CredentialSource, type Credentials } from "../../base/registry/index.ts";
import type { SshAgentSource } from "../worker/ssh-agent.ts";
import type { AuthConfig } from "./registry-auth.ts";
import { ClientRequests } from "./build-service-session.ts";
import { solveCaches, type SolveCaches } from "./build-service-cache.ts";
import type { ContextStore } from "./build-service-contexts.ts";
import { remoteContext } from "./build-service-remote.ts";
import { parseGitRef } from "../../frontend-dockerfile/compile/git-ref.ts";
import { ingestOciLayout, parseOciLayoutAttr } from "./build-service-oci-layout.ts";
import type { ExportStore } from "./build-service-exports.ts";
import type { BuildHistory } from "./build-service-history.ts";
import { stepLimitsFromAttrs } from "../build/step-limits.ts";

/**
 * Solve: one build as a stream of SolveEvents over the daemon's `Builds` (engine/build). What the
 * transport adds to a build:
 *
 * - the context copy the client synced (leased for the build, so it cannot change under it);
 * - BuildKit's frontend attributes and exporters mapped onto a BuildRequest;
 * - secrets asked of the client once the Dockerfile is compiled, only the ids the graph mounts, kept in
 *   this build's memory (the `secrets` object handed to Builds is filled before the solver starts,
 *   since Builds awaits the `compiled` event before it solves);
 * - the progress BuildKit shows around the solver's vertices: `[internal] load build definition`,
 *   `load metadata for …`, `load .dockerignore`, `transferring context` on the context's vertex, and
 *   the exporter (`exporting to image`, …), numbered in one sequence with the solver's;
 * - `--call` subrequests (check, outline, targets) answered from the frontend without a build;
 * - file outputs written under the data root for ReadExport, and the build's history entry.
 */
export interface SolveDeps {
  readonly builds: Builds;
  readonly contexts: ContextStore;
  readonly exports: ExportStore;
  readonly history: BuildHistory;
  readonly secrets: SecretRequests;
  /** Registry credentials asked of the client (ProvideCredentials). */
  readonly credentials: ClientRequests<AuthConfig>;
  /** SSH agent answers from the client (ProvideSshReply): the answer, or the client's agent's failure. */
  readonly ssh: ClientRequests<Uint8Array | Error>;
  /** What `--allow` may grant on this engine (daemon.json builder.entitlements). */
  readonly allowedEntitlements: readonly Entitlement[];
  readonly running: RunningBuilds;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** Secrets the engine asked a client for, answered by ProvideSecrets. */
export class SecretRequests {
  readonly #pending = new Map<string, (values: ReadonlyMap<string, Uint8Array>) => void>();

  /** Waits for the client's answer (bounded by `signal`); an unanswered request gives no secrets. */
  wait(ref: string, requestId: string, signal: AbortSignal): Promise<ReadonlyMap<string, Uint8Array>> {
    const key = `${ref}\0${requestId}`;
    return new Promise((resolve) => {
      const done = (v: ReadonlyMap<string, Uint8Array>): void => {
        this.#pending.delete(key);
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      };
      const onAbort = (): void => done(new Map());
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(key, done);
    });
  }

  provide(ref: string, requestId: string, values: Readonly<Record<string, Uint8Array>>): boolean {
    const resolve = this.#pending.get(`${ref}\0${requestId}`);
    if (resolve === undefined) return false;
    resolve(new Map(Object.entries(values)));
    return true;
  }
}

/**
 * Running builds' progress for Status (attach): the last events of each (bounded), and the watchers
 * that follow it. A watcher that falls behind by more than its buffer misses events (it only watches).
 */
export class RunningBuilds {
  readonly #builds = new Map<string, { readonly events: SolveEvent[]; readonly watchers: Set<Channel<SolveEvent>> }>();
  static readonly KEEP = 2000;

  start(ref: string): void {
    this.#builds.set(ref, { events: [], watchers: new Set() });
  }

  publish(ref: string, ev: SolveEvent): void {
    const b = this.#builds.get(ref);
    if (b === undefined) return;
    b.events.push(ev);
    if (b.events.length > RunningBuilds.KEEP) b.events.splice(0, b.events.length - RunningBuilds.KEEP);
    for (const w of b.watchers) w.offer(ev);
  }

  end(ref: string): void {
    const b = this.#builds.get(ref);
    this.#builds.delete(ref);
    for (const w of b?.watchers ?? []) w.close();
  }

  /** The build's events so far, then live ones until it ends; HTK-ENGINE-0609 when it is not running. */
  async *watch(ref: string, signal: AbortSignal): AsyncGenerator<SolveEvent> {
    const b = this.#builds.get(ref);
    if (b === undefined) throw htkError("HTK-ENGINE-0609", { ref });
    const channel = new Channel<SolveEvent>(RunningBuilds.KEEP);
    for (const ev of b.events) channel.offer(ev);
    b.watchers.add(channel);
    const onAbort = (): void => channel.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      yield* channel;
    } finally {
      b.watchers.delete(channel);
      signal.removeEventListener("abort", onAbort);
    }
  }
}

/** A bounded queue between the build's callbacks and the response stream (backpressure, not memory). */
class Channel<T> {
  readonly #items: T[] = [];
  readonly #capacity: number;
  #closed = false;
  #readable: (() => void) | undefined;
  #writable: Array<() => void> = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Adds without waiting; dropped when full (for watchers, who must never slow the build). */
  offer(item: T): void {
    if (this.#closed || this.#items.length >= this.#capacity) return;
    this.#items.push(item);
    this.#readable?.();
  }

  async push(item: T): Promise<void> {
    while (!this.#closed && this.#items.length >= this.#capacity) await new Promise<void>((r) => this.#writable.push(r));
    if (this.#closed) return;
    this.#items.push(item);
    this.#readable?.();
  }

  close(): void {
    this.#closed = true;
    this.#readable?.();
    for (const w of this.#writable.splice(0)) w();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item !== undefined) {
        for (const w of this.#writable.splice(0)) w();
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((r) => (this.#readable = r));
      this.#readable = undefined;
    }
  }
}

const now = (): string => new Date().toISOString();
const syntheticDigest = (ref: string, what: string): `sha256:${string}` => `sha256:${createHash("sha256").update(`${ref}\0${what}`).digest("hex")}`;

export async function* solve(req: SolveRequest, ctx: HandlerContext, deps: SolveDeps): AsyncGenerator<SolveEvent> {
  const attrs = req.frontendAttrs;
  const signal = AbortSignal.any([ctx.signal, deps.signal]);
  if (req.ref === "") throw htkError("HTK-ENGINE-0603", { detail: "the request has no ref" });
  if (req.frontend !== "" && req.frontend !== "dockerfile.v0") throw htkError("HTK-ENGINE-0603", { detail: `the frontend "${req.frontend}" is not available (only dockerfile.v0)` });
  const fileName = basename(attrs["filename"] ?? "Dockerfile") || "Dockerfile";
  const contextRef = req.localRefs["context"];
  const remote = contextRef === undefined && (attrs["context"] ?? "") !== "" ? attrs["context"] : undefined;
  const requestId = attrs["requestid"];
  if (requestId !== undefined && requestId !== "") {
    // A URL context brings its Dockerfile unless the client sent one (-f -): read it as a build would.
    const source = remote !== undefined && req.dockerfile.length === 0 ? await remoteDockerfile(remote, attrs["filename"] ?? "Dockerfile", req.ref, deps, signal) : { text: req.dockerfile, fileName };
    yield create(SolveEventSchema, { event: { case: "result", value: await subrequest(requestId, { ...req, dockerfile: source.text }, source.fileName) } });
    return;
  }
  if (contextRef === undefined && remote === undefined) throw htkError("HTK-ENGINE-0601", { ref: "(none: the request names no context)" });
  // A URL context (git, http) is fetched by the engine (build-service-remote.ts); a directory was synced.
  const mainLease =
    remote !== undefined
      ? await remoteContext(remote, attrs["filename"] ?? "Dockerfile", { repos: deps.builds.worker.git, scratch: await deps.exports.dirFor(req.ref), signal })
      : await (async () => {
          const l = await deps.contexts.lease(contextRef as string, signal);
          return { context: l.dir, dockerfile: undefined, version: l.version, release: async () => l.release() };
        })();
  // --build-context directories: their copies are leased with the context's.
  let namedLease: { readonly named: Record<string, string>; readonly images: Record<string, string>; release(): void };
  try {
    namedLease = await leaseNamed(req, deps, signal);
  } catch (err) {
    await mainLease.release();
    throw err;
  }
  const lease = {
    ...mainLease,
    release: async (): Promise<void> => {
      namedLease.release();
      await mainLease.release();
    },
  };
  const channel = new Channel<SolveEvent>(256);
  const started = now();
  let index = 0;
  let offset = 0;
  let maxIndex = 0;
  let plan: { definition: Definition } | undefined;
  const secrets: Record<string, Uint8Array> = {};
  const emit = (ev: ProgressEvent): Promise<void> => {
    maxIndex = Math.max(maxIndex, ev.index);
    return channel.push(create(SolveEventSchema, { event: { case: "progress", value: progressToWire(ev) } }));
  };
  const instant = async (name: string, statuses: readonly string[] = [], at = now()): Promise<void> => {
    const i = ++index;
    const vertex = syntheticDigest(req.ref, `${i}:${name}`);
    await emit({ kind: "vertex-started", vertex, index: i, name, time: at });
    // A transfer the client made before the build: shown as done, without a duration (BuildKit's own
    // transfers take no measurable time for a Dockerfile either).
    for (const id of statuses) {
      const t = now();
      await emit({ kind: "status", vertex, index: i, time: t, status: { id, current: 0, started: t, completed: t } });
    }
    await emit({ kind: "vertex-completed", vertex, index: i, time: now() });
  };
  const transferred = Number(req.clientAttrs["context.transferred"] ?? "0");
  const onEvent = async (e: BuildEvent): Promise<void> => {
    switch (e.kind) {
      case "queued":
        await channel.push(create(SolveEventSchema, { event: { case: "queued", value: {} } }));
        return;
      case "started":
        await instant(`[internal] load build definition from ${fileName}`, [`transferring dockerfile: ${formatBytes(req.dockerfile.length)}`], started);
        return;
      case "compiled": {
        plan = e.plan;
        const stageNames = new Set(e.plan.stages.map((s) => s.name));
        const bases = new Set(e.plan.stages.filter((s) => s.reachable && s.base !== "scratch" && !stageNames.has(s.base)).map((s) => baseName(s.base)));
        for (const b of bases) await instant(`[internal] load metadata for ${b}`, [], started);
        await instant("[internal] load .dockerignore", [`transferring context: ${formatBytes(Number(req.clientAttrs["dockerignore.size"] ?? "0") || 2)}`]);
        offset = index;
        await askSecrets(e.plan.definition, req, channel, deps, secrets, signal);
        return;
      }
      case "progress": {
        solving = true;
        const ev = { ...e.event, index: e.event.index + offset };
        await emit(ev);
        if (ev.kind === "vertex-started" && ev.name.startsWith("[internal] load build context")) {
          await emit({ kind: "status", vertex: ev.vertex, index: ev.index, time: now(), status: { id: `transferring context: ${formatBytes(transferred)}`, current: 0, started: ev.time, completed: now() } });
        }
        return;
      }
      case "exported":
        exportedImage = e.image;
        await exporterVertex(e.image, e.tags);
        return;
      case "export-status":
        await emit({ kind: "status", vertex: syntheticDigest(req.ref, "exporter"), index, time: now(), status: { id: e.status, current: 0, started: e.started, ...(e.completed === undefined ? {} : { completed: e.completed }) } });
        return;
      case "export-ended": {
        const vertex = syntheticDigest(req.ref, "exporter");
        if (e.error === undefined) await emit({ kind: "vertex-completed", vertex, index, time: now() });
        else await emit({ kind: "vertex-errored", vertex, index, time: now(), error: { id: e.error.id, message: e.error.plainCause } });
        return;
      }
      case "cache-progress": {
        // Cache vertices take the next number when they start: imports before the solver's first
        // vertex (which is then numbered after them), exports after the image's.
        let i = cacheIndexes.get(e.event.vertex);
        if (i === undefined) {
          i = index = Math.max(index, maxIndex) + 1;
          if (!solving) offset = i;
          cacheIndexes.set(e.event.vertex, i);
        }
        await emit({ ...e.event, index: i });
        return;
      }
      case "warning":
        cacheWarnings.push(e.warning);
        return;
    }
  };
  // A push goes on after the image is written: the exporter's vertex ends with export-ended.
  const pushing = req.exporters.some((e) => e.type === "registry" || ((e.type === "image" || e.type === "moby") && e.attrs["push"] === "true"));
  const cacheIndexes = new Map<string, number>();
  const cacheWarnings: HtkError[] = [];
  let solving = false;
  let exportedImage: ExportedImage | undefined;
  const exporterVertex = async (image: ExportedImage, tags: readonly string[]): Promise<void> => {
    const i = (index = Math.max(index, maxIndex) + 1);
    const vertex = syntheticDigest(req.ref, "exporter");
    const t = now();
    await emit({ kind: "vertex-started", vertex, index: i, name: "exporting to image", time: t });
    const statuses = ["exporting layers", `writing image ${image.id}`, ...tags.map((n) => `naming to ${fullName(n)}`)];
    for (const id of statuses) await emit({ kind: "status", vertex, index: i, time: now(), status: { id, current: 0, started: t, completed: now() } });
    if (!pushing) await emit({ kind: "vertex-completed", vertex, index: i, time: now() });
  };

  let request: BuildRequest;
  let fileOutputs: Array<{ readonly type: string; readonly path: string }> = [];
  let caches: SolveCaches;
  try {
    caches = await solveCaches(req, deps.contexts, await deps.exports.dirFor(req.ref), signal);
  } catch (err) {
    await lease.release();
    throw err;
  }
  try {
    const session = {
      credentials: clientCredentials(req, channel, deps, signal),
      ssh: Object.fromEntries(req.sshIds.map((id) => [id, clientAgent(req, id, channel, deps, signal)])),
    };
    const mapped = await buildRequest(req, lease.context, fileName, deps, secrets, session, signal, onEvent, "version" in lease ? lease.version : undefined, namedLease.named, namedLease.images);
    // A remote context brings its own Dockerfile unless the client sent one (-f - or a local file).
    const base = lease.dockerfile !== undefined && req.dockerfile.length === 0 ? { ...mapped.request, dockerfile: lease.dockerfile } : mapped.request;
    request = { ...base, cacheFrom: caches.cacheFrom, cacheTo: caches.cacheTo };
    fileOutputs = mapped.files;
  } catch (err) {
    await lease.release();
    caches.release();
    throw err;
  }
  deps.running.start(req.ref);
  try {
    const building = deps.builds
      .solve(request)
      .finally(async () => {
        await lease.release().catch(() => undefined);
        caches.release();
        channel.close();
      });
    // Pump events while the build runs; the result comes after the last event.
    for await (const ev of channel) {
      deps.running.publish(req.ref, ev);
      yield ev;
    }
    const result = await building;
    // A local cache export is handed to the client only with a completed build.
    if (result.kind !== "completed") for (const dir of caches.localExports) await rm(dir, { recursive: true, force: true });
    for await (const ev of finish(result, req, deps, fileName, plan, exportedImage, fileOutputs, started, { warnings: cacheWarnings, localExports: caches.localExports })) {
      deps.running.publish(req.ref, ev);
      yield ev;
    }
  } finally {
    deps.running.end(req.ref);
  }
}

async function* finish(
  result: BuildResult,
  req: SolveRequest,
  deps: SolveDeps,
  fileName: string,
  plan: { definition: Definition } | undefined,
  image: ExportedImage | undefined,
  files: ReadonlyArray<{ readonly type: string; readonly path: string }>,
  started: string,
  cache: { readonly warnings: readonly HtkError[]; readonly localExports: readonly string[] },
): AsyncGenerator<SolveEvent> {
  switch (result.kind) {
    case "completed": {
      const response: Record<string, string> = {};
      if (image !== undefined) {
        response["containerimage.config.digest"] = image.id;
        response["containerimage.digest"] = image.manifest.digest;
        response["containerimage.descriptor"] = Buffer.from(JSON.stringify({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size })).toString("base64");
      }
      if (result.tags.length > 0) response["image.name"] = result.tags.map((t) => fullName(t)).join(",");
      const exports = [];
      for (const f of files) exports.push(create(ExportHandleSchema, deps.exports.register(f.path, f.type === "local" ? "local" : "file")));
      const cacheExports = cache.localExports.map((dir) => create(ExportHandleSchema, deps.exports.register(dir, "local")));
      const warnings = [...result.warningMessages, ...result.checkWarnings, ...cache.warnings.map(warningText)].map((short) => create(BuildWarningSchema, { short }));
      await deps.history.save(req, fileName, { status: "completed", createdAt: started, exporterResponse: response });
      yield create(SolveEventSchema, { event: { case: "result", value: create(SolveResultSchema, { exporterResponse: response, warnings, exports, cacheExports }) } });
      return;
    }
    case "invalid":
      await deps.history.save(req, fileName, { status: "error", createdAt: started, error: result.message });
      yield create(SolveEventSchema, { event: { case: "error", value: invalidError(result) } });
      return;
    case "canceled":
      await deps.history.save(req, fileName, { status: "canceled", createdAt: started, error: "context canceled" });
      yield create(SolveEventSchema, { event: { case: "error", value: create(BuildErrorSchema, { message: "context canceled", canceled: true }) } });
      return;
    case "failed": {
      const error = buildError(result.error, result.record?.error?.vertex, plan?.definition, req.dockerfile, fileName);
      await deps.history.save(req, fileName, { status: "error", createdAt: started, error: error.message });
      yield create(SolveEventSchema, { event: { case: "error", value: error } });
      return;
    }
  }
}

/** A cache warning in buildx's list of warnings: the cause, and our ID with what to do. */
function warningText(err: HtkError): string {
  return `${err.plainCause} (${err.id}: ${err.nextStep})`;
}

/**
 * A Dockerfile that cannot be built, in BuildKit's layout: the code frame of its lines and BuildKit's
 * message ("dockerfile parse error on line 2: unknown instruction: FOO"), our diagnostic after them.
 */
function invalidError(result: Extract<BuildResult, { kind: "invalid" }>): BuildError {
  const f = result.failure;
  if (f === undefined) return create(BuildErrorSchema, { message: result.message, rendered: result.rendered, diagnosticId: "HTK-DOCKERFILE" });
  return create(BuildErrorSchema, {
    message: f.message,
    diagnosticId: f.diagnosticId,
    nextStep: f.nextStep,
    ...(f.lines.start > 0 ? { source: { filename: f.fileName, data: f.source, ranges: [{ startLine: f.lines.start, endLine: f.lines.end }] } } : {}),
  });
}

/** BuildKit's error: the step's message (the solver's wrapper removed), the step, its Dockerfile lines. */
function buildError(err: HtkError, vertex: string | undefined, definition: Definition | undefined, dockerfile: Uint8Array, fileName: string): BuildError {
  const inner = stepError(err);
  const v = definition?.vertices.find((x) => x.digest === vertex);
  const loc = v?.metadata.locations?.[0];
  const ranges = (loc?.ranges ?? []).map((r) => ({ startLine: r.start.line, endLine: r.end.line }));
  return create(BuildErrorSchema, {
    message: inner.plainCause,
    diagnosticId: inner.id,
    nextStep: inner.nextStep,
    vertex: vertex ?? "",
    vertexName: v?.metadata.description["llb.customname"] ?? "",
    ...(ranges.length > 0 ? { source: { filename: fileName, data: dockerfile, ranges } } : {}),
  });
}

/** The BuildRequest a Solve asks for: BuildKit's frontend attributes and exporters in Builds' terms. */
async function buildRequest(
  req: SolveRequest,
  context: BuildRequest["context"],
  fileName: string,
  deps: SolveDeps,
  secrets: Record<string, Uint8Array>,
  session: { readonly credentials: CredentialSource; readonly ssh: Readonly<Record<string, SshAgentSource>> },
  signal: AbortSignal,
  onEvent: (e: BuildEvent) => Promise<void>,
  contextVersion?: string,
  namedLocals: Readonly<Record<string, string>> = {},
  namedImages: Readonly<Record<string, string>> = {},
): Promise<{ request: BuildRequest; files: Array<{ type: string; path: string }> }> {
  const a = req.frontendAttrs;
  const buildArgs: Record<string, string> = {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) {
    if (k.startsWith("build-arg:")) buildArgs[k.slice("build-arg:".length)] = v;
    else if (k.startsWith("label:")) labels[k.slice("label:".length)] = v;
  }
  const outputs: BuildOutput[] = [];
  const tags: string[] = [];
  const files: Array<{ type: string; path: string }> = [];
  const dir = await deps.exports.dirFor(req.ref);
  for (const [n, e] of req.exporters.entries()) {
    switch (e.type) {
      case "image":
      case "moby":
      case "registry": {
        for (const name of (e.attrs["name"] ?? "").split(",")) if (name.trim() !== "") tags.push(name.trim());
        const push = e.type === "registry" || e.attrs["push"] === "true";
        // BuildKit's exporter refuses a push without a name before the build runs.
        if (push && tags.length === 0) throw htkError("HTK-BUILD-0202", {});
        outputs.push(push ? { type: "image", push } : { type: "image" });
        break;
      }
      case "docker":
      case "oci":
      case "tar":
      case "local": {
        // A docker export without a destination is --load: into the engine's image store.
        if (e.type === "docker" && e.attrs["dest"] === undefined) {
          for (const name of (e.attrs["name"] ?? "").split(",")) if (name.trim() !== "") tags.push(name.trim());
          outputs.push({ type: "image" });
          break;
        }
        const path = join(dir, `${n}-${e.type}`);
        if (e.type === "local") await mkdir(path, { recursive: true });
        outputs.push({ type: e.type, dest: path });
        files.push({ type: e.type, path });
        if (e.type !== "local" && e.type !== "tar") for (const name of (e.attrs["name"] ?? "").split(",")) if (name.trim() !== "") tags.push(name.trim());
        break;
      }
      default:
        throw htkError("HTK-ENGINE-0603", { detail: `the exporter "${e.type}" is not available (image, docker, oci, tar, local)` });
    }
  }
  // "" is --no-cache; stage names are --no-cache-filter's.
  const noCache = a["no-cache"];
  const entitlements: Entitlement[] = [];
  for (const e of req.entitlements) {
    if (e !== "network.host" && e !== "security.insecure") throw htkError("HTK-ENGINE-0603", { detail: `unknown entitlement ${e}` });
    if (!deps.allowedEntitlements.includes(e)) throw htkError("HTK-ENGINE-0721", { entitlement: e });
    entitlements.push(e);
  }
  const network = a["force-network-mode"];
  const extraHosts = (a["add-hosts"] ?? "")
    .split(",")
    .filter((h) => h !== "")
    .map((h) => {
      const eq = h.indexOf("=");
      return { host: h.slice(0, eq), ip: h.slice(eq + 1) };
    });
  const mode = a["image-resolve-mode"];
  const limits = stepLimitsFromAttrs(a);
  const namedContexts = parseNamedContexts(a, namedLocals, namedImages);
  const annotations = manifestAnnotations(req.exporters);
  return {
    files,
    request: {
      id: req.ref,
      context,
      ...(contextVersion === undefined ? {} : { contextVersion }),
      ...(Object.keys(namedContexts).length === 0 ? {} : { namedContexts, locals: namedLocals }),
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      dockerfile: { kind: "inline", text: req.dockerfile, name: fileName },
      ...(a["target"] === undefined || a["target"] === "" ? {} : { target: a["target"] }),
      buildArgs,
      labels,
      tags,
      outputs,
      noCache: noCache === undefined ? false : noCache === "" ? true : noCache.split(",").filter((s) => s !== ""),
      entitlements,
      resolveMode: mode === "pull" ? "pull" : mode === "local" ? "local" : "default",
      ...(a["platform"] === undefined || a["platform"] === "" ? {} : { platform: a["platform"] }),
      ...(network === "none" || network === "host" || network === "default" ? { network } : {}),
      ...(extraHosts.length === 0 ? {} : { extraHosts }),
      ...(Object.keys(limits).length === 0 ? {} : { limits }),
      secrets,
      ...(Object.keys(session.ssh).length === 0 ? {} : { ssh: session.ssh }),
      registryCredentials: session.credentials,
      session: req.clientAttrs["client.id"] ?? req.ref,
      contextLifetime: "session",
      signal,
      onEvent,
    },
  };
}

/**
 * `--annotation` as the exporters' attributes carry them (`annotation.KEY`, `annotation-manifest.KEY`,
 * `annotation-manifest[PLATFORM].KEY`): the image manifest's. The exporters here make one manifest
 * without an index, so index and descriptor annotations are refused (HTK-ENGINE-0723), as BuildKit
 * refuses them for a single-platform image.
 */
export function manifestAnnotations(exporters: ReadonlyArray<{ readonly type: string; readonly attrs: Readonly<Record<string, string>> }>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of exporters) {
    for (const [k, v] of Object.entries(e.attrs)) {
      const m = /^annotation(?:-([a-z-]+))?(?:\[([^\]]*)\])?\.(.+)$/.exec(k);
      if (m === null) continue;
      const type = m[1] ?? "manifest";
      if (type !== "manifest") throw htkError("HTK-ENGINE-0723", { type, key: m[3] as string });
      out[m[3] as string] = v;
    }
  }
  return out;
}

/**
 * The directories --build-context NAME=PATH sent (`context:NAME=local:NAME` attributes), leased for
 * the build so that they cannot change under it; OCI layouts (`oci-layout://LOCAL@sha256:…`, synced
 * the same way) have their image's blobs stored and leased, and become pinned images (`images`).
 */
async function leaseNamed(req: SolveRequest, deps: SolveDeps, signal: AbortSignal): Promise<{ named: Record<string, string>; images: Record<string, string>; release(): void }> {
  const leases: Array<{ release(): void }> = [];
  const release = (): void => {
    for (const l of leases.splice(0)) l.release();
  };
  try {
    const named: Record<string, string> = {};
    const images: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.frontendAttrs)) {
      if (!k.startsWith("context:")) continue;
      const layout = parseOciLayoutAttr(v);
      if (!v.startsWith("local:") && layout === undefined) continue;
      const local = layout?.local ?? v.slice("local:".length);
      const name = k.slice("context:".length);
      const ref = req.localRefs[local];
      if (ref === undefined) throw htkError("HTK-ENGINE-0601", { ref: `(none: the request names no directory for the build context "${name}")` });
      const l = await deps.contexts.lease(ref, signal);
      leases.push(l);
      if (layout === undefined) {
        named[local] = l.dir;
        continue;
      }
      const blobs = deps.builds.worker.blobLeases(`oci-layout:${req.ref}`);
      leases.push(blobs);
      const [os, architecture, variant] = (req.frontendAttrs["platform"] ?? "").split(",")[0]?.split("/") ?? [];
      const platform = os !== undefined && os !== "" && architecture !== undefined ? { os, architecture, ...(variant === undefined ? {} : { variant }) } : deps.builds.worker.platform;
      const manifest = await ingestOciLayout(name, l.dir, layout.digest, platform, deps.builds.worker.content, blobs, signal);
      images[name] = `${name.includes("@") ? name.slice(0, name.indexOf("@")) : name}@${manifest}`;
    }
    return { named, images, release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * BuildKit's named contexts (`context:NAME` attributes, --build-context): `docker-image://REF`,
 * `local:NAME` (a directory the client synced), a git repository URL. Others are refused with the
 * reason (HTK-ENGINE-0722).
 */
export function parseNamedContexts(attrs: Readonly<Record<string, string>>, locals: Readonly<Record<string, string>>, images: Readonly<Record<string, string>> = {}): Record<string, NamedContext> {
  const out: Record<string, NamedContext> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (!k.startsWith("context:")) continue;
    const name = k.slice("context:".length);
    if (v.startsWith("docker-image://")) out[name] = { kind: "image", ref: v.slice("docker-image://".length) };
    else if (v.startsWith("local:") && locals[v.slice("local:".length)] !== undefined) out[name] = { kind: "local", name: v.slice("local:".length) };
    else if (v.startsWith("oci-layout://") && images[name] !== undefined) out[name] = { kind: "image", ref: images[name] };
    else if (v.startsWith("oci-layout://")) throw htkError("HTK-ENGINE-0722", { name, value: v, reason: "the OCI layout did not come with the build (the plugin syncs the layout directory and names its digest: oci-layout://LOCAL@sha256:…)" });
    else if (v.startsWith("target:")) throw htkError("HTK-ENGINE-0722", { name, value: v, reason: "target: names a bake target, which exists only in docker buildx bake; name the stage in the Dockerfile instead" });
    else if (v.startsWith("input:")) throw htkError("HTK-ENGINE-0722", { name, value: v, reason: "inputs of other builds exist only in docker buildx bake" });
    else {
      const g = parseGitRef(v);
      if (g === undefined) throw htkError("HTK-ENGINE-0722", { name, value: v, reason: /^https?:\/\//.test(v) ? "only git repositories are fetched from URLs (an http(s) URL ending in .git, git://, ssh://, git@); a tarball URL is not" : "it is not docker-image://, a git repository or a directory the client sent" });
      if (g.subdir !== "") throw htkError("HTK-ENGINE-0722", { name, value: v, reason: "a subdirectory of a git repository (#ref:subdir) is not a named context yet" });
      out[name] = { kind: "git", remote: g.remote, ...(g.ref === "" ? {} : { ref: g.ref }) };
    }
  }
  return out;
}

/** Registry credentials asked of the client once per host and build (BuildKit's session auth provider). */
function clientCredentials(req: SolveRequest, channel: Channel<SolveEvent>, deps: SolveDeps, signal: AbortSignal): CredentialSource {
  const asked = new Map<string, Promise<Credentials | undefined>>();
  const ask = async (host: string): Promise<Credentials | undefined> => {
    const requestId = ClientRequests.id();
    const answered = deps.credentials.wait(req.ref, requestId, AbortSignal.any([signal, AbortSignal.timeout(60_000)]));
    await channel.push(create(SolveEventSchema, { event: { case: "credentialsRequest", value: { requestId, host } } }));
    const config = await answered;
    return config === undefined ? undefined : credentialsOf(config);
  };
  return {
    get: (host) => {
      let p = asked.get(host);
      if (p === undefined) asked.set(host, (p = ask(host)));
      return p;
    },
  };
}

/** An --ssh id the client serves: each agent message of a step goes to the client and back. */
function clientAgent(req: SolveRequest, id: string, channel: Channel<SolveEvent>, deps: SolveDeps, signal: AbortSignal): SshAgentSource {
  return {
    kind: "remote",
    ask: async (message) => {
      const requestId = ClientRequests.id();
      const answered = deps.ssh.wait(req.ref, requestId, AbortSignal.any([signal, AbortSignal.timeout(120_000)]));
      await channel.push(create(SolveEventSchema, { event: { case: "sshRequest", value: { requestId, id, message } } }));
      const answer = await answered;
      if (answer === undefined) throw new Error(`the client did not answer for its SSH agent "${id}"`);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

/** Asks the client for the secrets the compiled graph mounts and it said it has; fills `into`. */
async function askSecrets(definition: Definition, req: SolveRequest, channel: Channel<SolveEvent>, deps: SolveDeps, into: Record<string, Uint8Array>, signal: AbortSignal): Promise<void> {
  const used = new Set<string>();
  for (const v of definition.vertices) {
    if (v.op.kind !== "exec") continue;
    for (const m of v.op.mounts) if (m.kind === "secret") used.add(m.id);
    for (const s of v.op.secretEnv) used.add(s.id);
  }
  const ids = [...used].filter((id) => req.secretIds.includes(id)).sort();
  if (ids.length === 0) return;
  const requestId = createHash("sha256").update(`${req.ref}:${ids.join(",")}`).digest("hex").slice(0, 16);
  const answered = deps.secrets.wait(req.ref, requestId, AbortSignal.any([signal, AbortSignal.timeout(60_000)]));
  await channel.push(create(SolveEventSchema, { event: { case: "secretRequest", value: { requestId, ids } } }));
  for (const [id, value] of await answered) if (ids.includes(id)) into[id] = value;
}

/** The Dockerfile of a git or http(s) context, for a subrequest (no build, no context kept). */
async function remoteDockerfile(url: string, filename: string, ref: string, deps: SolveDeps, signal: AbortSignal): Promise<{ readonly text: Uint8Array; readonly fileName: string }> {
  const lease = await remoteContext(url, filename, { repos: deps.builds.worker.git, scratch: await deps.exports.dirFor(ref), signal });
  try {
    const d = lease.dockerfile;
    if (d.kind === "inline") return { text: d.text, fileName: d.name };
    if (typeof lease.context !== "string") return await deps.builds.gitDockerfile(lease.context, d.path, signal);
    return { text: await readFile(join(lease.context, d.path)), fileName: basename(d.path) };
  } finally {
    await lease.release();
  }
}

/** `--call check|outline|targets`: BuildKit's subrequests, answered from the frontend alone. */
async function subrequest(id: string, req: SolveRequest, fileName: string): Promise<ReturnType<typeof create<typeof SolveResultSchema>>> {
  const a = req.frontendAttrs;
  const buildArgs: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (k.startsWith("build-arg:")) buildArgs[k.slice("build-arg:".length)] = v;
  const target = a["target"] === undefined || a["target"] === "" ? undefined : a["target"];
  const text = new TextDecoder().decode(req.dockerfile);
  const response: Record<string, string> = {};
  const fail = (diags: readonly Parameters<typeof renderDiagnostic>[0][]): never => {
    throw htkError("HTK-ENGINE-0605", { detail: diags.map((d) => renderDiagnostic(d, text, fileName)).join("\n") });
  };
  switch (id) {
    case "frontend.lint": {
      const parsed = parseDockerfile(req.dockerfile, { fileName });
      if (parsed.result === undefined) fail(parsed.diagnostics.filter((d) => d.severity === "error"));
      const checks = runChecks(parsed.result as NonNullable<typeof parsed.result>, { buildArgs, dockerignore: req.dockerignore, ...(target === undefined ? {} : { target }) });
      const source = { fileName, text };
      response["result.json"] = JSON.stringify(checksJson(checks, source));
      response["result.txt"] = formatChecksText(checks, source);
      if (checks.findings.length > 0 || checks.configError !== undefined || checks.stopped !== undefined) response["result.statuscode"] = "1";
      break;
    }
    case "frontend.outline": {
      const { result, diagnostics } = await outlineDockerfile(req.dockerfile, { fileName, buildArgs, ...(target === undefined ? {} : { target }) });
      if (result === undefined) fail(diagnostics.filter((d) => d.severity === "error"));
      response["result.json"] = JSON.stringify(result);
      response["result.txt"] = formatOutline(result as NonNullable<typeof result>);
      break;
    }
    case "frontend.targets": {
      const { result, diagnostics } = listTargets(req.dockerfile, fileName);
      if (result === undefined) fail(diagnostics.filter((d) => d.severity === "error"));
      response["result.json"] = JSON.stringify(result);
      response["result.txt"] = formatTargets(result as NonNullable<typeof result>);
      break;
    }
    default:
      throw htkError("HTK-ENGINE-0603", { detail: `the subrequest "${id}" is not available (frontend.lint, frontend.outline, frontend.targets)` });
  }
  response["version"] = "1.0.0";
  return create(SolveResultSchema, { exporterResponse: response });
}

/**
 * A reference as docker's reference.ParseNormalizedNamed prints it: `busybox` → `docker.io/library/
 * busybox` (the exporter's `naming to …`, `image.name`); with `latest`, the tag is added as the
 * frontend does for bases (`load metadata for docker.io/library/busybox:latest`).
 */
export function fullName(ref: string, latest = false): string {
  let name = ref;
  const at = name.indexOf("@");
  const digest = at >= 0 ? name.slice(at) : "";
  if (at >= 0) name = name.slice(0, at);
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const hasDomain = slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasDomain) name = `docker.io/${slash < 0 ? `library/${name}` : name}`;
  const lastSlash = name.lastIndexOf("/");
  if (latest && digest === "" && !name.slice(lastSlash + 1).includes(":")) name += ":latest";
  return `${name}${digest}`;
}

/** A base as the progress names it: the reference without a pinned digest (`load metadata for …`). */
function baseName(base: string): string {
  return fullName(base.replace(/@sha256:[0-9a-f]{64}$/, ""), true);
}


import { hostname } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { htkError, isCancellation, isHtkError, toHtkError, type HtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import type { ProgressEvent, VertexRecord } from "../../solver/index.ts";
import { explainBuild } from "../../solver/index.ts";
import {
  BUILD_SERVICE_PREFIX,
  BuildService,
  CancelResponseSchema,
  ContextReadySchema,
  DiskUsageResponseSchema,
  ExportChunkSchema,
  ListHistoryResponseSchema,
  ListWorkersResponseSchema,
  NeedFilesSchema,
  NeedManifestSchema,
  PruneResponseSchema,
  SyncContextResponseSchema,
  UsageRecordSchema,
  progressToWire,
  type FileEntry,
  type SyncContextResponse,
} from "../../wire/index.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { CACHE_RECORD_TYPES, type CacheRecordType, type CacheUsageRecord } from "../build/cache-usage.ts";
import type { Builds } from "../build/engine-builds.ts";
import type { DaemonInfo, EngineServices } from "../daemon/services.ts";
import { ContextStore, type ManifestEntry, type SyncResult } from "./build-service-contexts.ts";
import { ExportStore } from "./build-service-exports.ts";
import { BuildHistory } from "./build-service-history.ts";
import { RunningBuilds, SecretRequests, solve } from "./build-service-solve.ts";
import { ClientRequests } from "./build-service-session.ts";
import type { AuthConfig } from "./registry-auth.ts";
import type { Entitlement } from "../../frontend-dockerfile/index.ts";
import { goArch } from "./system.ts";
import type { Route } from "./types.ts";

/**
 * The build service (wire/build.proto) on the engine's API socket: a Connect handler under
 * `/hatake.build.v1.BuildService/`, a thin layer over the daemon's builds (engine/build) plus what only
 * a transport has: the incremental context copies (build-service-contexts.ts), secrets asked of the
 * client during a build (kept in memory for that build only), file outputs streamed back.
 *
 * Errors: an HtkError becomes a Connect error whose code follows its HTTP status, with the diagnostic
 * ID and next step in the `htk-id` / `htk-next` metadata, so the plugin shows them as the engine meant.
 */
export interface BuildServiceDeps {
  readonly dataRoot: string;
  readonly info: DaemonInfo;
  readonly log: Logger;
  /** Aborted when the daemon stops. */
  readonly signal: AbortSignal;
  /** The daemon's builds; without them only workers and context transfer are served (tests). */
  readonly builds?: Builds;
  /** What `--allow` may grant (daemon.json builder.entitlements); default dockerd's: network.host. */
  readonly allowedEntitlements?: readonly Entitlement[];
}

/** The version shown where buildx shows BuildKit's: the BuildKit release whose frontend we follow. */
export const BUILDKIT_COMPATIBLE = "v0.13.2";

export function buildServiceRoutes(services: EngineServices): Route[] {
  const service = createBuildService({
    dataRoot: services.config.dataRoot,
    info: services.info,
    log: services.log.child({ component: "build-service" }),
    signal: services.signal,
    builds: services.builds,
    allowedEntitlements: [
      ...(services.config.builderEntitlements.networkHost ? (["network.host"] as const) : []),
      ...(services.config.builderEntitlements.securityInsecure ? (["security.insecure"] as const) : []),
    ],
  });
  return service.routes;
}

export interface BuildServiceHandle {
  readonly routes: Route[];
  readonly contexts: ContextStore;
}

export function createBuildService(deps: BuildServiceDeps): BuildServiceHandle {
  const contexts = new ContextStore({ root: join(deps.dataRoot, "buildx", "contexts") });
  deps.builds?.useContextCopies(contexts);
  deps.signal.addEventListener("abort", () => void contexts.close(), { once: true });
  const exports = new ExportStore(join(deps.dataRoot, "buildx", "exports"));
  const opened = exports.open();
  const history = new BuildHistory(join(deps.dataRoot, "buildx", "history"));
  const secrets = new SecretRequests();
  const credentials = new ClientRequests<AuthConfig>();
  const ssh = new ClientRequests<Uint8Array | Error>();
  const running = new RunningBuilds();
  const builds = (): Builds => {
    if (deps.builds === undefined) throw htkError("HTK-ENGINE-0604", { what: "builds (this engine was started without its build stores)" });
    return deps.builds;
  };
  const impl: Partial<ServiceImpl<typeof BuildService>> = {
    listWorkers: unary(deps.log, async () =>
      create(ListWorkersResponseSchema, {
        buildkitVersion: `${BUILDKIT_COMPATIBLE}-hatake.${deps.info.version}`,
        engine: `HATAKE ${deps.info.version}`,
        workers: [
          {
            id: hostname(),
            platforms: [`linux/${goArch()}`],
            labels: {
              "org.mobyproject.buildkit.worker.executor": "crun",
              "org.mobyproject.buildkit.worker.hostname": hostname(),
              "org.mobyproject.buildkit.worker.snapshotter": "overlayfs",
              "org.mobyproject.buildkit.worker.hatake.version": deps.info.version,
            },
          },
        ],
      }),
    ),
    syncContext: unary(deps.log, async (req, ctx) => {
      const entries = req.withEntries ? req.entries.map(manifestEntry) : undefined;
      const result = await contexts.sync({ clientId: req.clientId, name: req.name, dir: req.dir }, req.manifestDigest, entries, signalOf(ctx, deps));
      return create(SyncContextResponseSchema, { result: syncResultToWire(result) });
    }),
    uploadFiles: unary(deps.log, async (req) => {
      await contexts.upload(req.transferId, req.chunks);
      return {};
    }),
    commitContext: unary(deps.log, async (req) => {
      const r = await contexts.commit(req.transferId);
      return { ready: create(ContextReadySchema, { contextRef: r.ref, transferredBytes: BigInt(r.transferredBytes), filesReceived: r.filesReceived }) };
    }),
    solve: streaming(deps.log, async function* (req, ctx) {
      await opened;
      yield* solve(req, ctx, { builds: builds(), contexts, exports, history, secrets, credentials, ssh, allowedEntitlements: deps.allowedEntitlements ?? ["network.host"], running, log: deps.log, signal: deps.signal });
    }),
    status: streaming(deps.log, async function* (req, ctx) {
      yield* running.watch(req.ref, signalOf(ctx, deps));
    }),
    provideSecrets: unary(deps.log, async (req) => {
      if (!secrets.provide(req.ref, req.requestId, req.secrets)) throw htkError("HTK-ENGINE-0608", { ref: req.ref });
      return {};
    }),
    provideCredentials: unary(deps.log, async (req) => {
      const config: AuthConfig = { username: req.username, password: req.password, identitytoken: req.identityToken, registrytoken: req.registryToken };
      if (!credentials.provide(req.ref, req.requestId, config)) throw htkError("HTK-ENGINE-0720", { ref: req.ref, what: "Registry credentials" });
      return {};
    }),
    provideSshReply: unary(deps.log, async (req) => {
      const answer = req.error !== "" ? new Error(req.error) : req.message;
      if (!ssh.provide(req.ref, req.requestId, answer)) throw htkError("HTK-ENGINE-0720", { ref: req.ref, what: "An SSH agent answer" });
      return {};
    }),
    cancel: unary(deps.log, async (req) => create(CancelResponseSchema, { canceled: builds().cancel(req.ref) })),
    readExport: streaming(deps.log, async function* (req, ctx) {
      for await (const data of exports.read(req.id, signalOf(ctx, deps))) yield create(ExportChunkSchema, { data });
    }),
    diskUsage: unary(deps.log, async (req) => {
      const usage = await builds().diskUsage();
      const f = pruneFilters(req.filters);
      const records = usage.records.filter((r) => (f.types === undefined || f.types.includes(r.type)) && (f.ids === undefined || f.ids.some((id) => r.id.startsWith(id))));
      return create(DiskUsageResponseSchema, { records: records.map(usageToWire) });
    }),
    prune: unary(deps.log, async (req, ctx) => {
      const f = pruneFilters(req.filters);
      const keep = Number(req.keepStorage);
      const r = await builds().prune({
        all: req.all,
        signal: signalOf(ctx, deps),
        ...(keep > 0 ? { keepStorage: keep } : {}),
        ...(f.untilMs === undefined ? {} : { untilMs: f.untilMs }),
        ...(f.types === undefined ? {} : { types: f.types }),
        ...(f.ids === undefined ? {} : { ids: f.ids }),
      });
      return create(PruneResponseSchema, { removed: r.removed.map(usageToWire), reclaimed: BigInt(r.total) });
    }),
    listHistory: unary(deps.log, async () => create(ListHistoryResponseSchema, { records: await Promise.all((await builds().history()).map((s) => history.toWire(s))) })),
    getHistory: unary(deps.log, async (req) => {
      const summary = (await builds().history()).find((s) => s.id === req.ref);
      if (summary === undefined) throw htkError("HTK-ENGINE-0552", { id: req.ref });
      const wire = await history.toWire(summary);
      if (req.explainCache) wire.cacheExplanation = explainBuild(await builds().record(req.ref));
      return wire;
    }),
    historyLogs: streaming(deps.log, async function* (req) {
      const record = await builds().record(req.ref);
      for (const v of [...record.vertices].filter((x) => x.index > 0).sort((a, b) => a.index - b.index)) {
        for (const ev of vertexEvents(v)) yield progressToWire(ev);
        if (v.index > 0) {
          const log = await builds().records.readLog(req.ref, v.index).catch(() => Buffer.alloc(0));
          if (log.length > 0) yield progressToWire({ kind: "log", vertex: v.digest, index: v.index, time: v.outcome.status === "executed" ? v.outcome.started : record.started, stream: 1, data: log });
        }
        for (const ev of vertexEnd(v)) yield progressToWire(ev);
      }
    }),
    removeHistory: unary(deps.log, async (req) => {
      if (!(await builds().records.remove(req.ref))) throw htkError("HTK-ENGINE-0552", { id: req.ref });
      await history.remove(req.ref);
      return {};
    }),
  };
  const handler = connectNodeAdapter({
    routes: (router: ConnectRouter) => router.service(BuildService, impl),
    connect: true,
    grpc: false,
    grpcWeb: false,
    // Bounded requests: uploads come in pieces of at most 4 MiB; a manifest of ~500,000 entries fits.
    readMaxBytes: 64 * 1024 * 1024,
  });
  const route: Route = {
    method: "POST",
    pattern: `${BUILD_SERVICE_PREFIX}{method}`,
    handle: (ctx) =>
      new Promise<void>((resolve) => {
        ctx.res.once("close", () => resolve());
        handler(ctx.req, ctx.res);
      }),
  };
  return { routes: [route], contexts };
}

function manifestEntry(e: FileEntry): ManifestEntry {
  return { path: e.path, mode: e.mode, size: e.size, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, ino: e.ino, linkTarget: e.linkTarget };
}

function syncResultToWire(r: SyncResult): SyncContextResponse["result"] {
  switch (r.kind) {
    case "ready":
      return { case: "ready", value: create(ContextReadySchema, { contextRef: r.ref, transferredBytes: BigInt(r.transferredBytes), filesReceived: r.filesReceived }) };
    case "need-manifest":
      return { case: "needManifest", value: create(NeedManifestSchema) };
    case "need-files":
      return { case: "needFiles", value: create(NeedFilesSchema, { transferId: r.transferId, indexes: [...r.indexes], totalBytes: BigInt(r.totalBytes) }) };
  }
}

/** The call's signal, ended also by the daemon stopping. */
export function signalOf(ctx: HandlerContext, deps: BuildServiceDeps): AbortSignal {
  return AbortSignal.any([ctx.signal, deps.signal]);
}

/** A server-streaming method whose HtkErrors reach the client with their ID and next step. */
function streaming<I, O>(log: Logger, fn: (req: I, ctx: HandlerContext) => AsyncGenerator<O>): (req: I, ctx: HandlerContext) => AsyncGenerator<O> {
  return async function* (req, ctx) {
    try {
      yield* fn(req, ctx);
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}

/** BuildKit's prune/du filters: `until=24h`, `type=regular`, `id=abc` (`==` too). */
function pruneFilters(filters: readonly string[]): { untilMs?: number; types?: CacheRecordType[]; ids?: string[] } {
  const out: { untilMs?: number; types?: CacheRecordType[]; ids?: string[] } = {};
  for (const f of filters.flatMap((x) => x.split(","))) {
    const m = /^([a-z-]+)(==|=)(.*)$/.exec(f.trim());
    if (m === null) throw htkError("HTK-ENGINE-0603", { detail: `the filter "${f}" is not KEY=VALUE` });
    const [, key, , value] = m as unknown as [string, string, string, string];
    if (key === "until" || key === "unused-for") {
      const ns = parseGoDuration(value);
      if (ns === undefined) throw htkError("HTK-ENGINE-0603", { detail: `"${value}" is not a duration such as 24h or 90m` });
      out.untilMs = ns / 1e6;
    } else if (key === "type") {
      if (!(CACHE_RECORD_TYPES as readonly string[]).includes(value)) throw htkError("HTK-ENGINE-0603", { detail: `"${value}" is not a cache record type (${CACHE_RECORD_TYPES.join(", ")})` });
      (out.types ??= []).push(value as CacheRecordType);
    } else if (key === "id") (out.ids ??= []).push(value);
    else throw htkError("HTK-ENGINE-0603", { detail: `the filter "${key}" is not supported (until, type, id)` });
  }
  return out;
}

function usageToWire(r: CacheUsageRecord) {
  return create(UsageRecordSchema, {
    id: r.id,
    parents: r.parent === undefined ? [] : [r.parent],
    type: r.type,
    description: r.description,
    inUse: r.inUse,
    shared: false,
    mutable: r.type === "exec.cachemount",
    size: BigInt(r.size),
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsed.toISOString(),
    usageCount: BigInt(r.usageCount),
  });
}

/** A recorded vertex's start as progress (history logs replays a build as its progress showed it). */
function vertexEvents(v: VertexRecord): ProgressEvent[] {
  const o = v.outcome;
  if (o.status === "cached") return [{ kind: "vertex-cached", vertex: v.digest, index: v.index, name: v.name, time: "" }];
  const time = "started" in o && o.started !== undefined ? o.started : "completed" in o ? o.completed : "";
  return [{ kind: "vertex-started", vertex: v.digest, index: v.index, name: v.name, time }];
}

function vertexEnd(v: VertexRecord): ProgressEvent[] {
  const o = v.outcome;
  switch (o.status) {
    case "cached":
    case "skipped":
      return [];
    case "executed":
    case "shared":
      return [{ kind: "vertex-completed", vertex: v.digest, index: v.index, time: o.completed }];
    case "failed":
      return [{ kind: "vertex-errored", vertex: v.digest, index: v.index, time: o.completed, error: o.error }];
    case "canceled":
      return [{ kind: "vertex-canceled", vertex: v.digest, index: v.index, time: o.completed }];
  }
}

/** A unary method whose HtkErrors reach the client with their ID and next step. */
function unary<I, O>(log: Logger, fn: (req: I, ctx: HandlerContext) => Promise<O>): (req: I, ctx: HandlerContext) => Promise<O> {
  return async (req, ctx) => {
    try {
      return await fn(req, ctx);
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}

/** The Connect error for a thrown value (exported for the streaming methods). */
export function toConnectError(err: unknown, log: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isCancellation(err)) return new ConnectError("context canceled", Code.Canceled);
  const e: HtkError = isHtkError(err) ? err : toHtkError(err, { operation: "build service" });
  if (e.id === "HTK-CORE-0001") log.error({ err }, "build service call failed");
  const metadata = new Headers({ "htk-id": e.id, "htk-next": encodeURIComponent(e.nextStep) });
  return new ConnectError(e.plainCause, codeOf(e.http), metadata);
}

function codeOf(http: number): Code {
  switch (http) {
    case 400:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 409:
      return Code.FailedPrecondition;
    case 501:
      return Code.Unimplemented;
    case 503:
      return Code.Unavailable;
    default:
      return Code.Internal;
  }
}

import { hostname } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { isCancellation, isHtkError, toHtkError, type HtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { BUILD_SERVICE_PREFIX, BuildService, ContextReadySchema, ListWorkersResponseSchema, NeedFilesSchema, NeedManifestSchema, SyncContextResponseSchema, type FileEntry, type SyncContextResponse } from "../../wire/index.ts";
import type { DaemonInfo, EngineServices } from "../daemon/services.ts";
import { ContextStore, type ManifestEntry, type SyncResult } from "./build-service-contexts.ts";
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
}

/** The version shown where buildx shows BuildKit's: the BuildKit release whose frontend we follow. */
export const BUILDKIT_COMPATIBLE = "v0.13.2";

export function buildServiceRoutes(services: EngineServices): Route[] {
  const service = createBuildService({ dataRoot: services.config.dataRoot, info: services.info, log: services.log.child({ component: "build-service" }), signal: services.signal });
  return service.routes;
}

export interface BuildServiceHandle {
  readonly routes: Route[];
  readonly contexts: ContextStore;
}

export function createBuildService(deps: BuildServiceDeps): BuildServiceHandle {
  const contexts = new ContextStore({ root: join(deps.dataRoot, "buildx", "contexts") });
  deps.signal.addEventListener("abort", () => void contexts.close(), { once: true });
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
  };
  const handler = connectNodeAdapter({
    routes: (router: ConnectRouter) => router.service(BuildService, impl),
    connect: true,
    grpc: false,
    grpcWeb: false,
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

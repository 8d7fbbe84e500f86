import { createHash } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { dirname, join } from "node:path";
import { buildCacheBlobs } from "./cache-usage.ts";
import { RegistryClient } from "../../base/registry/index.ts";
import type { BaseImageConfig, ImageConfigResolver } from "../../frontend-dockerfile/index.ts";
import type { Platform } from "../../llb/index.ts";
import type { OpContext } from "../../solver/index.ts";
import { ImageStore } from "../images/index.ts";
import { CrunRuntime, goArch } from "../runtime/index.ts";
import { Snapshotter } from "../snapshots/index.ts";
import { RuntimeWorker, type RuntimeSession, type StepNetwork } from "../worker/runtime-worker.ts";
import { BuildBridge } from "../networks/index.ts";
import { buildStepNetwork } from "../containers/index.ts";

/** The runtime worker and what it runs on, opened on one data root by one process. */
export interface RuntimeStack {
  readonly worker: RuntimeWorker;
  readonly images: ImageStore;
  readonly snapshotter: Snapshotter;
  readonly runtime: CrunRuntime;
  /** The registry client the worker pulls with; `--push` pushes with it, cache import and export use it. */
  readonly registry: RegistryClient;
  /** For the Dockerfile compiler: FROM gets the base image's config (ENV, WORKDIR, USER, ONBUILD). */
  readonly resolveImageConfig: ImageConfigResolver;
  close(): Promise<void>;
}

let probed: Promise<string | undefined> | undefined;

/**
 * Why builds here cannot run containers, or undefined when they can: crun on PATH, root (mounts,
 * overlay snapshots, cgroups). Probed once per process. A host where crun then fails to start a
 * container reports that on the first RUN (HTK-RUNTIME-0100/0101), not here.
 */
export function runtimeUnavailableReason(): Promise<string | undefined> {
  probed ??= Promise.resolve(probe());
  return probed;
}

function probe(): string | undefined {
  if (process.platform !== "linux") return `containers need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "not running as root";
  const dirs = (process.env["PATH"] ?? "/usr/bin:/bin").split(":");
  const found = dirs.some((d) => {
    try {
      accessSync(join(d, "crun"), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return found ? undefined : "crun is not installed (Debian package crun)";
}

export function hostPlatform(): Platform {
  return { os: "linux", architecture: goArch() };
}

/** What a runtime worker runs on: opened once by their owner (the daemon's services, or `openRuntimeStack`). */
export interface RuntimeParts {
  readonly snapshotter: Snapshotter;
  readonly images: ImageStore;
  readonly runtime: CrunRuntime;
  readonly registry: RegistryClient;
  /** Network namespaces with outbound network for RUN steps with network `default` (the daemon's bridge). */
  readonly stepNetwork?: StepNetwork;
}

/** The worker over the given parts, with its files under `workerRoot` (`<data-root>/worker`). */
export async function composeWorker(parts: RuntimeParts, workerRoot: string): Promise<RuntimeWorker> {
  // The image store's garbage collection keeps what this build cache needs (`buildCacheBlobs`).
  parts.images.addBlobRoots(() => buildCacheBlobs(dirname(workerRoot)));
  return RuntimeWorker.open({
    root: workerRoot,
    snapshotter: parts.snapshotter,
    runtime: parts.runtime,
    registry: parts.registry,
    images: parts.images,
    platform: hostPlatform(),
    ...(parts.stepNetwork === undefined ? {} : { stepNetwork: parts.stepNetwork }),
  });
}

/**
 * The Dockerfile compiler's FROM resolver on a worker: pins a reference to a manifest and returns its
 * config. `sessionId` and `build` scope the worker's per-build resolution memo (the compiler's pin and the
 * solver's agree); `resolveMode` is `local` to prefer an image already in the store (classic `docker build`
 * without `--pull`), `pull` to always ask the registry. `onResolved` learns each image's config digest.
 */
export function imageConfigResolver(
  worker: RuntimeWorker,
  opts: { readonly sessionId: string; readonly build?: string; readonly resolveMode?: "default" | "pull" | "local"; readonly signal: AbortSignal; readonly onResolved?: (ref: string, manifestDigest: string, configDigest: string) => void },
): ImageConfigResolver {
  return async (ref, platform, sig) => {
    const ctx: OpContext = {
      signal: sig ?? opts.signal,
      // The build's id keys the worker's resolution memo as the solver's ops do (RuntimeSession.build).
      session: { id: opts.sessionId, locals: {}, ...(opts.build === undefined ? {} : { build: opts.build }) } as RuntimeSession,
      vertex: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
      progress: { log: () => undefined, status: () => undefined },
    };
    const r = await worker.resolveImage({ kind: "image", ref, resolveMode: opts.resolveMode ?? "default" }, platform, ctx);
    opts.onResolved?.(ref, r.digest, `sha256:${createHash("sha256").update(r.config).digest("hex")}`);
    return { digest: r.digest, config: JSON.parse(new TextDecoder().decode(r.config)) as BaseImageConfig };
  };
}

/**
 * Opens the snapshotter (`<data-root>/snapshots`), the image and content stores (`<data-root>/images`,
 * `<data-root>/content`), the crun runtime (`<data-root>/runtime`, clearing what a crash left) and the
 * worker (`<data-root>/worker`), for a build in this process. The daemon composes the same worker over
 * its own stores (`composeWorker`, in `engine-builds.ts`). 127.0.0.1 registries are insecure by
 * Docker's rule (the client's default).
 */
export interface RuntimeStackOptions {
  /** Registries reached over plain HTTP or unverified TLS (host[:port] or CIDR), besides loopback. */
  readonly insecureRegistries?: readonly string[];
  /** Observes every registry request (tests count downloads). */
  readonly onRegistryRequest?: (method: string, url: URL) => void;
}

export async function openRuntimeStack(dataRoot: string, signal: AbortSignal, options: RuntimeStackOptions = {}): Promise<RuntimeStack> {
  const snapshotter = await Snapshotter.open({ root: join(dataRoot, "snapshots"), signal });
  const bridge = new BuildBridge({ dataRoot });
  try {
    const images = await ImageStore.openAt(dataRoot);
    const runtime = new CrunRuntime({ dataRoot });
    await runtime.cleanup();
    // After the runtime's clean-up: a killed build's step container is gone before its namespace goes.
    await bridge.recover();
    const registry = new RegistryClient({
      ...(options.insecureRegistries === undefined ? {} : { insecureRegistries: [...options.insecureRegistries] }),
      ...(options.onRegistryRequest === undefined ? {} : { onRequest: options.onRegistryRequest }),
    });
    const worker = await composeWorker({ snapshotter, images, runtime, registry, stepNetwork: buildStepNetwork(bridge) }, join(dataRoot, "worker"));
    return {
      worker,
      images,
      snapshotter,
      runtime,
      registry,
      resolveImageConfig: imageConfigResolver(worker, { sessionId: "resolve", signal }),
      close: async () => {
        await worker.close();
        await bridge.close();
        await registry.close();
        await snapshotter.close();
      },
    };
  } catch (err) {
    await bridge.close().catch(() => undefined);
    await snapshotter.close();
    throw err;
  }
}

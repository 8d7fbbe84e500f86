import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { RegistryClient } from "../../cache/registry/index.ts";
import type { BaseImageConfig, ImageConfigResolver } from "../../frontend-dockerfile/index.ts";
import type { Platform } from "../../llb/index.ts";
import type { OpContext } from "../../solver/index.ts";
import { ImageStore } from "../images/index.ts";
import { CrunRuntime, goArch } from "../runtime/index.ts";
import { Snapshotter } from "../snapshots/index.ts";
import { RuntimeWorker } from "../worker/runtime-worker.ts";

/** The runtime worker and what it runs on, opened on one data root by one process. */
export interface RuntimeStack {
  readonly worker: RuntimeWorker;
  readonly images: ImageStore;
  readonly snapshotter: Snapshotter;
  readonly runtime: CrunRuntime;
  /** The registry client the worker pulls with; `--push` pushes with it too. */
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

/**
 * Opens the snapshotter (`<data-root>/snapshots`), the image and content stores (`<data-root>/images`,
 * `<data-root>/content`), the crun runtime (`<data-root>/runtime`, clearing what a crash left) and the
 * worker (`<data-root>/worker`). 127.0.0.1 registries are insecure by Docker's rule (the client's default).
 */
export interface RuntimeStackOptions {
  /** Registries reached over plain HTTP or unverified TLS (host[:port] or CIDR), besides loopback. */
  readonly insecureRegistries?: readonly string[];
}

export async function openRuntimeStack(dataRoot: string, signal: AbortSignal, options: RuntimeStackOptions = {}): Promise<RuntimeStack> {
  const snapshotter = await Snapshotter.open({ root: join(dataRoot, "snapshots"), signal });
  try {
    const images = await ImageStore.openAt(dataRoot);
    const runtime = new CrunRuntime({ dataRoot });
    await runtime.cleanup();
    const registry = new RegistryClient(options.insecureRegistries === undefined ? {} : { insecureRegistries: [...options.insecureRegistries] });
    const worker = await RuntimeWorker.open({ root: join(dataRoot, "worker"), snapshotter, runtime, registry, images, platform: hostPlatform() });
    const resolveImageConfig: ImageConfigResolver = async (ref, platform, sig) => {
      const ctx: OpContext = {
        signal: sig ?? signal,
        session: { id: "resolve", locals: {} },
        vertex: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        progress: { log: () => undefined, status: () => undefined },
      };
      const r = await worker.resolveImage({ kind: "image", ref, resolveMode: "default" }, platform, ctx);
      return { digest: r.digest, config: JSON.parse(new TextDecoder().decode(r.config)) as BaseImageConfig };
    };
    return {
      worker,
      images,
      snapshotter,
      runtime,
      registry,
      resolveImageConfig,
      close: async () => {
        await worker.close();
        await registry.close();
        await snapshotter.close();
      },
    };
  } catch (err) {
    await snapshotter.close();
    throw err;
  }
}

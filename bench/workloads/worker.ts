import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ContentStore } from "../../cache/index.ts";
import { RegistryClient } from "../../base/registry/index.ts";
import { exportImage } from "../../engine/build/image-export.ts";
import { runLocalBuild } from "../../engine/build/local-build.ts";
import { openRuntimeStack, runtimeUnavailableReason } from "../../engine/build/runtime-stack.ts";
import { pushSizedImage } from "../../testing/sized-image.ts";
import { timedHatakeBuild } from "../timing.ts";
import type { OpenResult, Target, Workload } from "../types.ts";

/**
 * Issue 5's figures for the build worker: pulling a 100 MB image from the local registry, the cost of
 * one `RUN true` step, and exporting a 5-layer result as an image. The builder is measured as
 * `hatake build --data-root` runs it (a process per build, as a user runs it) where start-up cancels out
 * of the figure, and in this process where only the part itself is timed (the client pull, the export).
 */

const SIZED_MB = 100;
/** Steps of the RUN-true build; the figure is (N steps − 1 step) / (N − 1). */
const RUN_STEPS = 20;
const EXPORT_LAYERS = 5;
/** Per exported layer: incompressible bytes, so the gzip of the export does real work. */
const EXPORT_LAYER_BYTES = 4_000_000;

function hatakeOnly(target: Target): OpenResult | undefined {
  if (target.kind === "reference") {
    return { kind: "unavailable", reason: "measures the in-process builder (hatake build --data-root); compare with Docker through the build-0N workloads" };
  }
  return undefined;
}

async function runtimeReason(): Promise<string | undefined> {
  const why = await runtimeUnavailableReason();
  return why === undefined ? undefined : `no container runtime here (${why})`;
}


function project(dir: string, dockerfile: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), dockerfile);
  return dir;
}

export const workerPull100mb: Workload = {
  name: "worker-pull-100mb",
  description: `pull of a ${SIZED_MB} MB image (4 incompressible layers + busybox) from the local registry: FROM in hatake build (pull + verify + unpack), and the registry client alone`,
  metrics: [
    { name: "build-from", unit: "ms", better: "lower" },
    { name: "client-pull", unit: "ms", better: "lower" },
    { name: "client-MB/s", unit: "MB/s", better: "higher" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    const only = hatakeOnly(target);
    if (only !== undefined) return only;
    const why = await runtimeReason();
    if (why !== undefined) return { kind: "unavailable", reason: why };
    const registry = await ctx.registry(ctx.signal);
    const ref = `${registry}/bench-worker-${SIZED_MB}mb:latest`;
    await pushSizedImage(ref, { megabytes: SIZED_MB, signal: ctx.signal });
    const work = join(ctx.scratch, "worker-pull");
    const dir = project(join(work, "ctx"), `FROM ${ref}\n`);
    const client = new RegistryClient({});
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          round++;
          const dataRoot = join(work, `data-${round}`);
          const buildFrom = await timedHatakeBuild(ctx.repo, dir, dataRoot, [], signal);
          rmSync(dataRoot, { recursive: true, force: true });
          const storeDir = join(work, `content-${round}`);
          const store = await ContentStore.open(storeDir);
          const t = performance.now();
          const pulled = await client.pull(ref, { store, signal });
          const clientPull = performance.now() - t;
          rmSync(storeDir, { recursive: true, force: true });
          return { "build-from": buildFrom, "client-pull": clientPull, "client-MB/s": pulled.bytesFetched / 1e6 / (clientPull / 1000) };
        },
        async close() {
          await client.close();
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};

export const workerRunTrue: Workload = {
  name: "worker-run-true",
  description: `RUN true step overhead: a ${RUN_STEPS}-step build minus a 1-step build, --no-cache, base already pulled (ms per step)`,
  metrics: [
    { name: "per-step", unit: "ms", better: "lower" },
    { name: `build-${RUN_STEPS}-steps`, unit: "ms", better: "lower" },
  ],
  runs: 3,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    const only = hatakeOnly(target);
    if (only !== undefined) return only;
    const why = await runtimeReason();
    if (why !== undefined) return { kind: "unavailable", reason: why };
    const registry = await ctx.registry(ctx.signal);
    const work = join(ctx.scratch, "worker-run-true");
    const steps = (n: number): string => `FROM ${registry}/busybox\n${Array.from({ length: n }, (_, i) => `RUN true # ${i}\n`).join("")}`;
    const many = project(join(work, "many"), steps(RUN_STEPS));
    const one = project(join(work, "one"), steps(1));
    const dataRoot = join(work, "data");
    // The base is pulled once, outside the figures.
    await timedHatakeBuild(ctx.repo, project(join(work, "pull"), `FROM ${registry}/busybox\n`), dataRoot, [], ctx.signal);
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          const tOne = await timedHatakeBuild(ctx.repo, one, dataRoot, ["--no-cache"], signal);
          const tMany = await timedHatakeBuild(ctx.repo, many, dataRoot, ["--no-cache"], signal);
          return { "per-step": (tMany - tOne) / (RUN_STEPS - 1), [`build-${RUN_STEPS}-steps`]: tMany };
        },
        async close() {
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};

export const workerExport5Layers: Workload = {
  name: "worker-export-5-layers",
  description: `export of a build result with ${EXPORT_LAYERS} new layers of ${EXPORT_LAYER_BYTES / 1e6} MB (diff, gzip, store, manifest), timed in this process`,
  metrics: [
    { name: "export", unit: "ms", better: "lower" },
    { name: "MB/s", unit: "MB/s", better: "higher" },
  ],
  runs: 3,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    const only = hatakeOnly(target);
    if (only !== undefined) return only;
    const why = await runtimeReason();
    if (why !== undefined) return { kind: "unavailable", reason: why };
    const registry = await ctx.registry(ctx.signal);
    const work = join(ctx.scratch, "worker-export");
    const layers = Array.from({ length: EXPORT_LAYERS }, (_, i) => `RUN head -c ${EXPORT_LAYER_BYTES} /dev/urandom > /layer-${i}.bin\n`).join("");
    const dir = project(join(work, "ctx"), `FROM ${registry}/busybox\n${layers}`);
    const dataRoot = join(work, "data");
    const built = await runLocalBuild({
      dataRoot,
      contextDir: dir,
      buildArgs: {},
      noCache: false,
      outputs: [],
      progress: "quiet",
      progressOut: { write: () => true },
      explainCache: false,
      signal: ctx.signal,
      cwd: dir,
    });
    if (built.kind !== "completed" || built.record.result === undefined) throw new Error(`the build to export failed: ${built.kind}`);
    const resultId = built.record.result;
    const image = built.image;
    const stack = await openRuntimeStack(dataRoot, ctx.signal);
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          // A fresh export record folder each time: every layer is diffed and compressed again.
          const exportsDir = join(work, `exports-${round++}`);
          const t = performance.now();
          await exportImage(stack.worker, stack.images, resultId, image, [`bench/export:${round}`], exportsDir, signal);
          const ms = performance.now() - t;
          rmSync(exportsDir, { recursive: true, force: true });
          return { export: ms, "MB/s": (EXPORT_LAYERS * EXPORT_LAYER_BYTES) / 1e6 / (ms / 1000) };
        },
        async close() {
          await stack.close();
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};

export const workerWorkloads: readonly Workload[] = [workerPull100mb, workerRunTrue, workerExport5Layers];

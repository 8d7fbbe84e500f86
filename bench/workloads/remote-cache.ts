import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeUnavailableReason } from "../../engine/build/runtime-stack.ts";
import { builtPlugin, installPlugin } from "../../testing/index.ts";
import { startEngineProcess } from "./engine-process.ts";
import { timedDocker, timedHatakeBuild } from "../timing.ts";
import type { OpenResult, Workload } from "../types.ts";

/**
 * Issue 6's figure: what a registry cache saves a CI machine that starts empty. Data root A builds a
 * multi-stage Dockerfile and exports its cache (`--cache-to type=registry,mode=max`); each sample
 * then builds the same Dockerfile on two fresh data roots: one without a cache (every step runs),
 * one with `--cache-from` (every step is CACHED; only the final image's layers are fetched). Both
 * pull the base image's manifest, both export the image (`-t`). The ratio of the two is the figure.
 *
 * The steps stand for a CI build's work: a second of "compiling" per stage plus a few MB of output
 * each (incompressible, so the layers cost what real artifacts cost to compress, push and fetch).
 */

const STAGES = 3;
const STAGE_SECONDS = 1;
const STAGE_MB = 8;

function dockerfile(registry: string): string {
  const stages = Array.from(
    { length: STAGES },
    (_, i) => `FROM ${registry}/busybox AS stage-${i}
COPY src-${i}/ /src/
RUN sleep ${STAGE_SECONDS} && head -c ${STAGE_MB * 1_000_000} /dev/urandom > /out-${i}.bin && sha256sum /src/* > /out-${i}.sum
`,
  ).join("\n");
  const copies = Array.from({ length: STAGES }, (_, i) => `COPY --from=stage-${i} /out-${i}.bin /out-${i}.sum /app/\n`).join("");
  return `${stages}\nFROM ${registry}/busybox\n${copies}RUN cat /app/*.sum > /app/all.sum\n`;
}


export const remoteCacheCold: Workload = {
  name: "remote-cache-cold",
  description: `cold build on an empty data root of a ${STAGES}-stage Dockerfile (${STAGE_SECONDS} s + ${STAGE_MB} MB per stage): without a cache, and with --cache-from a registry cache (mode=max) another data root exported; ratio = with / without`,
  metrics: [
    { name: "cold-no-cache", unit: "ms", better: "lower" },
    { name: "cold-registry-cache", unit: "ms", better: "lower" },
    { name: "export-mode-max", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") {
      return { kind: "unavailable", reason: "measures hatake build --data-root (in-process); a Docker comparison needs a buildx builder with registry cache, not a plain engine" };
    }
    const why = await runtimeUnavailableReason();
    if (why !== undefined) return { kind: "unavailable", reason: `no container runtime here (${why})` };
    const registry = await ctx.registry(ctx.signal);
    const work = join(ctx.scratch, "remote-cache");
    const dir = join(work, "ctx");
    rmSync(work, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile(registry));
    for (let i = 0; i < STAGES; i++) {
      mkdirSync(join(dir, `src-${i}`), { recursive: true });
      writeFileSync(join(dir, `src-${i}`, "main.c"), `int stage_${i}(void) { return ${i}; }\n`);
    }
    const repo = `${registry}/bench-remote-cache-${randomBytes(4).toString("hex")}`;
    // Data root A: built once; its cache export is timed as a fully cached build with and without it.
    const a = join(work, "A");
    await timedHatakeBuild(ctx.repo, dir, a, ["-t", "bench/remote-cache:a"], ctx.signal);
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          round++;
          // A new repository each round: the export uploads every blob, as a pipeline's first one does.
          const ref = `${repo}-${round}:cache`;
          const cachedOnly = await timedHatakeBuild(ctx.repo, dir, a, ["-t", "bench/remote-cache:a"], signal);
          const withExport = await timedHatakeBuild(ctx.repo, dir, a, ["-t", "bench/remote-cache:a", "--cache-to", `type=registry,ref=${ref},mode=max`], signal);
          const none = join(work, `none-${round}`);
          const cached = join(work, `cached-${round}`);
          const cold = await timedHatakeBuild(ctx.repo, dir, none, ["-t", "bench/remote-cache:b"], signal);
          const warm = await timedHatakeBuild(ctx.repo, dir, cached, ["-t", "bench/remote-cache:b", "--cache-from", `type=registry,ref=${ref}`], signal);
          rmSync(none, { recursive: true, force: true });
          rmSync(cached, { recursive: true, force: true });
          return { "cold-no-cache": cold, "cold-registry-cache": warm, "export-mode-max": Math.max(0, withExport - cachedOnly) };
        },
        async close() {
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};


/**
 * The same figure through the engine's build path, as CI runs it: `docker build` (the buildx plugin)
 * on two `hatake engine` processes with their own data roots. Engine A exports the cache
 * (`--cache-to type=registry,mode=max`, a new repository each round); engine B, its build cache
 * pruned before each build, builds once without a cache and once with `--cache-from`.
 */
export const remoteCacheEngine: Workload = {
  name: "remote-cache-engine-cold",
  description: `docker build on engine B (build cache pruned) of the ${STAGES}-stage Dockerfile: without a cache, and with --cache-from the registry cache engine A exported (mode=max); ratio = with / without`,
  metrics: [
    { name: "engine-cold-no-cache", unit: "ms", better: "lower" },
    { name: "engine-cold-registry-cache", unit: "ms", better: "lower" },
    { name: "engine-export-mode-max", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") {
      return { kind: "unavailable", reason: "two engines with their own data roots are HATAKE's; a Docker comparison needs a buildx builder with registry cache support on two machines" };
    }
    const why = await runtimeUnavailableReason();
    if (why !== undefined) return { kind: "unavailable", reason: `no container runtime here (${why})` };
    const registry = await ctx.registry(ctx.signal);
    const work = join(ctx.scratch, "remote-cache-engine");
    const dir = join(work, "ctx");
    rmSync(work, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile(registry));
    for (let i = 0; i < STAGES; i++) {
      mkdirSync(join(dir, `src-${i}`), { recursive: true });
      writeFileSync(join(dir, `src-${i}`, "main.c"), `int stage_${i}(void) { return ${i}; }\n`);
    }
    await builtPlugin();
    const a = await startEngineProcess(ctx.repo, work, "engine-a", ctx.signal);
    const b = await startEngineProcess(ctx.repo, work, "engine-b", ctx.signal).catch(async (err: unknown) => {
      await a.stop();
      throw err;
    });
    const config = join(work, "docker-config");
    mkdirSync(config, { recursive: true });
    await installPlugin(config);
    const envOf = (socket: string): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: `unix://${socket}` };
      delete env["DOCKER_CONTEXT"];
      delete env["BUILDX_BUILDER"];
      return env;
    };
    const envA = envOf(a.socket);
    const envB = envOf(b.socket);
    const repo = `${registry}/bench-remote-cache-engine-${randomBytes(4).toString("hex")}`;
    const build = (env: NodeJS.ProcessEnv, extra: readonly string[], signal: AbortSignal): Promise<number> => timedDocker(["build", "--progress=quiet", "-t", "bench/remote-cache:engine", ...extra, "."], dir, env, signal);
    await build(envA, [], ctx.signal);
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          round++;
          const ref = `${repo}-${round}:cache`;
          const cachedOnly = await build(envA, [], signal);
          const withExport = await build(envA, ["--cache-to", `type=registry,ref=${ref},mode=max`], signal);
          await timedDocker(["builder", "prune", "-af"], dir, envB, signal);
          const cold = await build(envB, [], signal);
          await timedDocker(["builder", "prune", "-af"], dir, envB, signal);
          const warm = await build(envB, ["--cache-from", `type=registry,ref=${ref}`], signal);
          return { "engine-cold-no-cache": cold, "engine-cold-registry-cache": warm, "engine-export-mode-max": Math.max(0, withExport - cachedOnly) };
        },
        async close() {
          await a.stop();
          await b.stop();
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};

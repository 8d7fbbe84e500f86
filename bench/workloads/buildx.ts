import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { builtPlugin, installPlugin } from "../../testing/index.ts";
import { timedDocker } from "../timing.ts";
import type { BenchContext, OpenResult, Target, Workload } from "../types.ts";
import { readBenchEnv, sharedDir, editLine } from "./builds.ts";
import { answers, startEngineProcess, type EngineProcess } from "./engine-process.ts";

/**
 * The docker buildx plugin, as users meet it: the real docker CLI with the plugin installed in a
 * private DOCKER_CONFIG (bundled as tools/up.sh installs it).
 *
 * - `buildx-version`: `docker buildx version` end to end (the CLI asks the plugin for its metadata,
 *   then runs it), beside `docker --version` (the CLI alone) — the plugin's start-up is the difference;
 * - `buildx-03-many-files`: `docker build` of the shared 5,000-file workload on a `hatake engine`
 *   process (or, with --vs-docker-host, Docker's own buildx/BuildKit): cold, no-op and edit, and the
 *   no-op rebuild of a one-file context.
 */
export const buildxVersion: Workload = {
  name: "docker-buildx-version",
  description: "docker buildx version with the plugin installed (metadata + run), vs docker --version",
  metrics: [
    { name: "buildxVersion", unit: "ms", better: "lower" },
    { name: "dockerVersion", unit: "ms", better: "lower" },
  ],
  runs: 10,
  warmupRuns: 2,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "a client start-up figure (Docker's buildx is not installed here)" };
    const config = join(ctx.scratch, "buildx-version-config");
    mkdirSync(config, { recursive: true });
    await installPlugin(config);
    const env = { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: "unix:///nonexistent.sock" };
    return {
      kind: "ready",
      session: {
        async sample() {
          const t0 = performance.now();
          const r = spawnSync("docker", ["buildx", "version"], { env, encoding: "utf8" });
          const buildxVersionMs = performance.now() - t0;
          if (r.status !== 0) throw new Error(`docker buildx version exited ${r.status}: ${r.stderr}`);
          const t1 = performance.now();
          spawnSync("docker", ["--version"], { env });
          return { buildxVersion: buildxVersionMs, dockerVersion: performance.now() - t1 };
        },
        async close() {
          rmSync(config, { recursive: true, force: true });
        },
      },
    };
  },
};

export const buildx03ManyFiles: Workload = {
  name: "docker-build-03-many-files",
  description: "docker build (buildx plugin → hatake engine) of shared workload 03: cold, no-op, edit; no-op of a one-file context",
  metrics: [
    { name: "cold", unit: "ms", better: "lower" },
    { name: "noop", unit: "ms", better: "lower" },
    { name: "edit", unit: "ms", better: "lower" },
    { name: "noopSmall", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    const source = join(sharedDir(ctx.repo), "bench", "workloads", "03-many-files");
    if (!existsSync(source)) return { kind: "unavailable", reason: `${source} not found (set HATAKE_SHARED_DIR)` };
    let engine: EngineProcess | undefined;
    let env: NodeJS.ProcessEnv;
    const work = join(ctx.scratch, `buildx-03-${target.kind}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    if (target.kind === "reference") {
      if (!(await answers(target.dockerHost))) return { kind: "unavailable", reason: `${target.dockerHost} does not answer` };
      env = { ...process.env, DOCKER_HOST: target.dockerHost, DOCKER_BUILDKIT: "1" };
    } else {
      await builtPlugin();
      engine = await startEngineProcess(ctx.repo, work, "engine", ctx.signal);
      const config = join(work, "docker-config");
      mkdirSync(config, { recursive: true });
      await installPlugin(config);
      env = { ...process.env, DOCKER_CONFIG: config, DOCKER_HOST: `unix://${engine.socket}` };
      delete env["DOCKER_CONTEXT"];
      delete env["BUILDX_BUILDER"];
    }
    const registry = await ctx.registry(ctx.signal);
    const bench = readBenchEnv(source);
    const contextDir = join(work, "context");
    cpSync(source, contextDir, { recursive: true });
    if (bench.prepare !== "") spawnSync("bash", ["-c", bench.prepare], { cwd: contextDir });
    const small = join(work, "small");
    mkdirSync(small, { recursive: true });
    writeFileSync(join(small, "Dockerfile"), `FROM ${registry}/busybox\nCOPY hello.txt /hello.txt\n`);
    writeFileSync(join(small, "hello.txt"), "hello\n");
    const args = ["build", "--progress=plain", "--build-arg", `REGISTRY=${registry}`, ...bench.buildArgs, "-t", "hatake-bench/buildx-03:latest", "."];
    const editPath = join(contextDir, bench.editFile);
    const original = readFileSync(editPath);
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          round++;
          writeFileSync(editPath, original);
          spawnSync("docker", ["builder", "prune", "-af"], { env });
          const cold = await timedDocker(args, contextDir, env, signal);
          const noop = await timedDocker(args, contextDir, env, signal);
          appendFileSync(editPath, editLine(bench.editFile, round));
          const edit = await timedDocker(args, contextDir, env, signal);
          await timedDocker(["build", "--progress=plain", "-t", "hatake-bench/small:latest", "."], small, env, signal);
          const noopSmall = await timedDocker(["build", "--progress=plain", "-t", "hatake-bench/small:latest", "."], small, env, signal);
          return { cold, noop, edit, noopSmall };
        },
        async close() {
          await engine?.stop();
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};


export type { BenchContext, Target };

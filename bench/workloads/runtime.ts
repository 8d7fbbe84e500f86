import { join } from "node:path";
import { run, runChecked } from "../../testing/process.ts";
import { pushSizedImage } from "../../testing/sized-image.ts";
import { timed } from "../timing.ts";
import type { BenchContext, OpenResult, Target, Workload } from "../types.ts";
import { answers, dockerHostPool, startEngineProcess, type EngineProcess } from "./engine-process.ts";

/**
 * The runtime workloads of issue 10, measured as REFERENCE.md measured Docker: the real `docker` CLI
 * (wall time of the command, CLI start-up included) against our engine or the reference one, with the
 * images pulled from the bench's local registry first.
 */

interface DockerTarget {
  readonly host: string;
  readonly engine: EngineProcess | undefined;
  docker(args: readonly string[], signal: AbortSignal): Promise<string>;
}

async function openDocker(target: Target, ctx: BenchContext, name: string): Promise<DockerTarget> {
  let host: string;
  let engine: EngineProcess | undefined;
  if (target.kind === "reference") {
    if (!(await answers(target.dockerHost))) throw new Error(`the reference engine ${target.dockerHost} does not answer /_ping`);
    host = target.dockerHost;
  } else {
    engine = await startEngineProcess(ctx.repo, ctx.scratch, name, ctx.signal);
    host = `unix://${engine.socket}`;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(ctx.scratch, `${name}-docker-config`) };
  delete env["DOCKER_CONTEXT"];
  return {
    host,
    engine,
    async docker(args, signal) {
      const r = await runChecked("docker", args, { env, signal, timeoutMs: 600_000 });
      return r.stdout;
    },
  };
}


/** A workload that pulls busybox, then times `body` per sample. */
function withBusybox(
  name: string,
  description: string,
  metric: string,
  body: (d: DockerTarget, busybox: string, signal: AbortSignal) => Promise<number>,
): Workload {
  return {
    name,
    description,
    metrics: [{ name: metric, unit: "ms", better: "lower" }],
    runs: 10,
    warmupRuns: 1,
    async open(target, ctx): Promise<OpenResult> {
      const registry = await ctx.registry(ctx.signal);
      const busybox = `${registry}/busybox:latest`;
      const d = await openDocker(target, ctx, name);
      try {
        await d.docker(["pull", "-q", busybox], ctx.signal);
      } catch (err) {
        await d.engine?.stop();
        throw err;
      }
      return {
        kind: "ready",
        session: {
          async sample(signal) {
            return { [metric]: await body(d, busybox, signal) };
          },
          async close() {
            await d.engine?.stop();
          },
        },
      };
    },
  };
}

export const runRmBusybox = withBusybox("run-rm-busybox", "`docker run --rm busybox true` (CLI wall time)", "run", (d, busybox, signal) =>
  timed(() => d.docker(["run", "--rm", busybox, "true"], signal)),
);

export const createStartWait = withBusybox(
  "create-start-wait",
  "`docker create` + `docker start` + `docker wait` of `busybox true` (three CLI calls; rm not timed)",
  "create_start_wait",
  async (d, busybox, signal) => {
    let id = "";
    const ms = await timed(async () => {
      id = (await d.docker(["create", busybox, "true"], signal)).trim();
      await d.docker(["start", id], signal);
      await d.docker(["wait", id], signal);
    });
    await d.docker(["rm", id], signal);
    return ms;
  },
);

/** GET /containers/json?all=1 with 10 created containers, 16 connections, as REFERENCE.md measured. */
export const apiContainersJson: Workload = {
  name: "api-containers-json",
  description: "GET /containers/json?all=1 with 10 containers, 16 connections, 4,000 requests",
  metrics: [{ name: "throughput", unit: "req/s", better: "higher" }],
  runs: 5,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    const registry = await ctx.registry(ctx.signal);
    const busybox = `${registry}/busybox:latest`;
    const d = await openDocker(target, ctx, "api-containers-json");
    const ids: string[] = [];
    const pool = dockerHostPool(d.host, 16);
    const close = async (): Promise<void> => {
      await pool.close();
      if (ids.length > 0) await run("docker", ["rm", "-f", ...ids], { env: { ...process.env, DOCKER_HOST: d.host } });
      await d.engine?.stop();
    };
    try {
      await d.docker(["pull", "-q", busybox], ctx.signal);
      for (let i = 0; i < 10; i++) ids.push((await d.docker(["create", "--label", "bench=api", busybox, "true"], ctx.signal)).trim());
    } catch (err) {
      await close();
      throw err;
    }
    const requests = 4_000;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          let next = 0;
          const started = performance.now();
          const worker = async (): Promise<void> => {
            while (next < requests) {
              next++;
              signal.throwIfAborted();
              const r = await pool.request({ method: "GET", path: "/v1.45/containers/json?all=1" });
              await r.body.dump();
              if (r.statusCode !== 200) throw new Error(`GET /containers/json answered ${r.statusCode}`);
            }
          };
          await Promise.all(Array.from({ length: 16 }, worker));
          return { throughput: requests / ((performance.now() - started) / 1000) };
        },
        close,
      },
    };
  },
};

/**
 * Pull and push of a 50 MB image (busybox + 4 incompressible layers, deterministic) through the
 * engine: pull after `rmi` (so every layer is downloaded and unpacked), push to a new repository
 * name per sample (the registry already has the blobs under the source repository, so a client that
 * mounts across repositories, as Docker does, uploads nothing — the figure is the push protocol's cost).
 */
export const pullPush50mb: Workload = {
  name: "pull-push-50mb",
  description: "`docker pull` of a 50 MB image after rmi, `docker push` of it to a new repository",
  metrics: [
    { name: "pull", unit: "ms", better: "lower" },
    { name: "push", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    const registry = await ctx.registry(ctx.signal);
    const ref = `${registry}/bench-50mb:latest`;
    await pushSizedImage(ref, { megabytes: 50, signal: ctx.signal });
    const d = await openDocker(target, ctx, "pull-push-50mb");
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          await run("docker", ["rmi", "-f", ref], { env: { ...process.env, DOCKER_HOST: d.host } });
          const pull = await timed(() => d.docker(["pull", "-q", ref], signal));
          const pushed = `${registry}/bench-50mb-push-${process.pid}-${round++}:latest`;
          await d.docker(["tag", ref, pushed], signal);
          const push = await timed(() => d.docker(["push", "-q", pushed], signal));
          await d.docker(["rmi", pushed], signal);
          return { pull, push };
        },
        async close() {
          await d.engine?.stop();
        },
      },
    };
  },
};

export const runtimeWorkloads: readonly Workload[] = [runRmBusybox, createStartWait, apiContainersJson, pullPush50mb];

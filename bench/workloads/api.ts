import { readFileSync } from "node:fs";
import { htkError } from "../../base/errors/index.ts";
import type { BenchContext, OpenResult, Target, Workload } from "../types.ts";
import { answers, dockerHostPool, startEngineProcess, type EngineProcess } from "./engine-process.ts";

const CONNECTIONS = 16;
const REQUESTS = 8_000;

async function hostFor(target: Target, ctx: BenchContext, name: string): Promise<{ host: string; engine?: EngineProcess }> {
  if (target.kind === "reference") {
    if (!(await answers(target.dockerHost))) throw htkError("HTK-BENCH-0002", { host: target.dockerHost, detail: "GET /_ping did not answer 200" });
    return { host: target.dockerHost };
  }
  const engine = await startEngineProcess(ctx.repo, ctx.scratch, name, ctx.signal);
  return { host: `unix://${engine.socket}`, engine };
}

/** Requests per second of one endpoint, 16 connections from one Node client (REFERENCE.md's method). */
function throughput(name: string, path: string, description: string): Workload {
  return {
    name,
    description,
    metrics: [{ name: "throughput", unit: "req/s", better: "higher" }],
    runs: 5,
    warmupRuns: 1,
    async open(target, ctx): Promise<OpenResult> {
      const { host, engine } = await hostFor(target, ctx, name);
      const pool = dockerHostPool(host, CONNECTIONS);
      return {
        kind: "ready",
        session: {
          async sample(signal) {
            let next = 0;
            const started = performance.now();
            const worker = async (): Promise<void> => {
              while (next < REQUESTS) {
                next++;
                signal.throwIfAborted();
                const r = await pool.request({ method: "GET", path });
                await r.body.dump();
                if (r.statusCode !== 200) throw new Error(`GET ${path} answered ${r.statusCode}`);
              }
            };
            await Promise.all(Array.from({ length: CONNECTIONS }, worker));
            return { throughput: REQUESTS / ((performance.now() - started) / 1000) };
          },
          async close() {
            await pool.close();
            await engine?.stop();
          },
        },
      };
    },
  };
}

export const apiPing = throughput("api-ping", "/_ping", "GET /_ping over the unix socket, 16 connections, 8,000 requests");
export const apiVersion = throughput("api-version", "/v1.45/version", "GET /version (a JSON body), 16 connections, 8,000 requests");

/** Resident memory of an idle daemon two seconds after start (hatake only: a reference's PID is not known). */
export const daemonIdleRss: Workload = {
  name: "daemon-idle-rss",
  description: "resident memory of an idle hatake engine, 2 s after it started serving",
  metrics: [{ name: "rss", unit: "MiB", better: "lower" }],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "the reference daemon's process is not visible from here" };
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          const engine = await startEngineProcess(ctx.repo, ctx.scratch, "rss", signal);
          try {
            await new Promise((r) => setTimeout(r, 2_000));
            const status = readFileSync(`/proc/${engine.pid}/status`, "utf8");
            const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
            return { rss: kb / 1024 };
          } finally {
            await engine.stop();
          }
        },
        async close() {},
      },
    };
  },
};

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isHtkError } from "../base/errors/index.ts";
import { renderTable, runBench, selectWorkloads } from "./harness.ts";
import { median, summarize } from "./stats.ts";
import type { BenchContext, BenchReport, Workload } from "./types.ts";
import { apiPing } from "./workloads/api.ts";
import { allWorkloads } from "./workloads/index.ts";
import { readBenchEnv, sharedDir } from "./workloads/builds.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const scratch = mkdtempSync(join(tmpdir(), "htk-bench-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const ctx: BenchContext = {
  repo,
  scratch,
  signal: new AbortController().signal,
  log: () => {},
  registry: () => Promise.reject(new Error("no registry in this test")),
};

function fake(name: string, values: number[]): Workload {
  let i = 0;
  return {
    name,
    description: "fake",
    metrics: [{ name: "wall", unit: "ms", better: "lower" }],
    runs: values.length,
    async open() {
      return { kind: "ready", session: { sample: async () => ({ wall: values[i++] ?? Number.NaN }), close: async () => {} } };
    },
  };
}

describe("bench statistics", () => {
  it("computes median, min and max", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const [s] = summarize([{ name: "wall", unit: "ms", better: "lower" }], [{ wall: 5 }, { wall: 1 }, { wall: 3 }]);
    expect(s).toMatchObject({ median: 3, min: 1, max: 5, samples: [5, 1, 3] });
  });
});

describe("the bench harness", () => {
  it("runs workloads and prints ratios against the last run", async () => {
    const previous = await runBench({ workloads: [fake("w", [10, 20, 30])], ctx });
    const report = await runBench({ workloads: [fake("w", [5, 10, 15])], ctx });
    const table = renderTable(report, previous);
    expect(table).toContain("| w | wall (lower is better) | 10 ms (5.00 ms–15 ms) | 0.50× |");
  });

  it("says why a workload did not run instead of inventing a figure", async () => {
    const unavailable: Workload = { ...fake("u", [1]), open: async () => ({ kind: "unavailable", reason: "no build command yet" }) };
    const table = renderTable(await runBench({ workloads: [unavailable], ctx }));
    expect(table).toContain("| u | – | not run: no build command yet | – |");
  });

  it("rejects an unknown workload with HTK-BENCH-0001 and selects by prefix", () => {
    expect(selectWorkloads(allWorkloads, ["build"]).map((w) => w.name)).toHaveLength(6);
    let err: unknown;
    try {
      selectWorkloads(allWorkloads, ["api-pong"]);
    } catch (e) {
      err = e;
    }
    expect(isHtkError(err, "HTK-BENCH-0001")).toBe(true);
  });

  it("reports an unreachable reference host as HTK-BENCH-0002", async () => {
    const report = await runBench({ workloads: [{ ...apiPing, runs: 1, warmupRuns: 0 }], ctx, referenceHost: `unix://${join(scratch, "nobody.sock")}` });
    const ref = report.results[0]?.reference;
    expect(ref?.kind).toBe("failed");
    expect(ref?.kind === "failed" ? ref.error : "").toContain("HTK-BENCH-0002");
  });

  it("reads the shared workloads' bench.env through bash", () => {
    const env = readBenchEnv(join(sharedDir(repo), "bench", "workloads", "04-buildarg-target"));
    expect(env).toEqual({ editFile: "app.sh", needsSecret: false, prepare: "", buildArgs: ["--target", "test", "--build-arg", "GREETING=hi", "--build-arg", "MODE=ci"] });
    expect(readBenchEnv(join(sharedDir(repo), "bench", "workloads", "05-secret-mount")).needsSecret).toBe(true);
  });
});

describe("--vs-docker-host against a second hatake engine", () => {
  it("measures both in one run and prints ours/ref", async () => {
    const { startEngineProcess } = await import("./workloads/engine-process.ts");
    const reference = await startEngineProcess(repo, scratch, "reference", ctx.signal);
    try {
      const report: BenchReport = await runBench({ workloads: [{ ...apiPing, runs: 1, warmupRuns: 0 }], ctx, referenceHost: `unix://${reference.socket}` });
      const r = report.results[0];
      expect(r?.hatake.kind).toBe("measured");
      expect(r?.reference?.kind).toBe("measured");
      expect(renderTable(report)).toMatch(/\| api-ping \| throughput \(higher is better\) \| [\d,]+ req\/s .*\| [\d,]+ req\/s .*\| \d+\.\d\d× \| – \|/);
    } finally {
      await reference.stop();
    }
  });
});

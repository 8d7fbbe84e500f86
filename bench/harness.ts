import { cpus, release, totalmem } from "node:os";
import { htkError, isCancellation } from "../base/errors/index.ts";
import { formatValue, ratio, summarize } from "./stats.ts";
import type { BenchContext, BenchReport, Sample, Target, TargetResult, Workload, WorkloadResult } from "./types.ts";

export interface RunOptions {
  readonly workloads: readonly Workload[];
  readonly runs?: number;
  readonly referenceHost?: string;
  readonly ctx: BenchContext;
}

/** Runs every workload on hatake and, when a reference host is given, on it too, in the same run. */
export async function runBench(opts: RunOptions): Promise<BenchReport> {
  const results: WorkloadResult[] = [];
  const startedAt = new Date().toISOString();
  for (const w of opts.workloads) {
    opts.ctx.log(`${w.name}: hatake`);
    const hatake = await measure(w, { kind: "hatake" }, opts.runs ?? w.runs, opts.ctx);
    let reference: TargetResult | undefined;
    if (opts.referenceHost !== undefined) {
      opts.ctx.log(`${w.name}: reference`);
      reference = await measure(w, { kind: "reference", dockerHost: opts.referenceHost }, opts.runs ?? w.runs, opts.ctx);
    }
    results.push(reference === undefined ? { workload: w.name, hatake } : { workload: w.name, hatake, reference });
  }
  return {
    startedAt,
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() },
    ...(opts.referenceHost === undefined ? {} : { referenceHost: opts.referenceHost }),
    results,
  };
}

async function measure(w: Workload, target: Target, runs: number, ctx: BenchContext): Promise<TargetResult> {
  let opened;
  try {
    opened = await w.open(target, ctx);
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { kind: "failed", error: err instanceof Error ? err.message : String(err) };
  }
  if (opened.kind === "unavailable") return opened;
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < (w.warmupRuns ?? 0); i++) await opened.session.sample(ctx.signal);
    for (let i = 0; i < runs; i++) samples.push(await opened.session.sample(ctx.signal));
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { kind: "failed", error: err instanceof Error ? err.message : String(err) };
  } finally {
    await opened.session.close();
  }
  return { kind: "measured", metrics: summarize(w.metrics, samples) };
}

/** Picks workloads by name; an unknown name is HTK-BENCH-0001 with a suggestion. */
export function selectWorkloads(all: readonly Workload[], names: readonly string[]): Workload[] {
  if (names.length === 0) return [...all];
  return names.map((name) => {
    const found = all.filter((w) => w.name === name || w.name.startsWith(`${name}`));
    if (found.length === 0) {
      const close = all.map((w) => w.name).find((n) => n.includes(name) || name.includes(n));
      throw htkError("HTK-BENCH-0001", { name, suggestion: close === undefined ? "" : ` Did you mean "${close}"?` });
    }
    return found;
  }).flat();
}

/**
 * The Markdown table: one row per workload and metric, hatake's median (min–max), the reference's, the
 * ratio ours/reference, and the ratio against the previous run's median.
 */
export function renderTable(report: BenchReport, previous?: BenchReport): string {
  const rows: string[] = [];
  const hasRef = report.referenceHost !== undefined;
  const header = ["workload", "metric", "hatake median (min–max)"];
  if (hasRef) header.push("reference median (min–max)", "ours/ref");
  header.push("vs last run");
  rows.push(`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`);
  for (const r of report.results) {
    const prev = previous?.results.find((p) => p.workload === r.workload)?.hatake;
    if (r.hatake.kind !== "measured") {
      const why = r.hatake.kind === "unavailable" ? `not run: ${r.hatake.reason}` : `FAILED: ${r.hatake.error}`;
      const cells = [r.workload, "–", why];
      if (hasRef) cells.push(describeRef(r.reference, undefined), "–");
      cells.push("–");
      rows.push(`| ${cells.join(" | ")} |`);
      continue;
    }
    for (const m of r.hatake.metrics) {
      const cells = [r.workload, `${m.metric} (${m.better} is better)`, `${formatValue(m.median, m.unit)} (${formatValue(m.min, m.unit)}–${formatValue(m.max, m.unit)})`];
      if (hasRef) {
        const refMetric = r.reference?.kind === "measured" ? r.reference.metrics.find((x) => x.metric === m.metric) : undefined;
        cells.push(describeRef(r.reference, m.metric));
        const q = ratio(m.median, refMetric?.median);
        cells.push(q === undefined ? "–" : `${q.toFixed(2)}×`);
      }
      const prevMetric = prev?.kind === "measured" ? prev.metrics.find((x) => x.metric === m.metric) : undefined;
      const q = ratio(m.median, prevMetric?.median);
      cells.push(q === undefined ? "–" : `${q.toFixed(2)}×`);
      rows.push(`| ${cells.join(" | ")} |`);
    }
  }
  return rows.join("\n");
}

function describeRef(ref: TargetResult | undefined, metric: string | undefined): string {
  if (ref === undefined) return "–";
  if (ref.kind === "unavailable") return `not run: ${ref.reason}`;
  if (ref.kind === "failed") return `FAILED: ${ref.error}`;
  const m = ref.metrics.find((x) => x.metric === metric);
  return m === undefined ? "–" : `${formatValue(m.median, m.unit)} (${formatValue(m.min, m.unit)}–${formatValue(m.max, m.unit)})`;
}

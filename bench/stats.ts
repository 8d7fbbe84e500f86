import type { Metric, MetricSummary, Sample } from "./types.ts";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Per-metric median, min and max over the samples; a metric missing from a sample is left out of it. */
export function summarize(metrics: readonly Metric[], samples: readonly Sample[]): MetricSummary[] {
  return metrics.map((m) => {
    const values = samples.map((s) => s[m.name]).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    return {
      metric: m.name,
      unit: m.unit,
      better: m.better,
      samples: values,
      median: median(values),
      min: values.length > 0 ? Math.min(...values) : Number.NaN,
      max: values.length > 0 ? Math.max(...values) : Number.NaN,
    };
  });
}

/** ours / reference, for printing as "0.42×"; undefined when either side is missing. */
export function ratio(ours: number | undefined, reference: number | undefined): number | undefined {
  if (ours === undefined || reference === undefined || !Number.isFinite(ours) || !Number.isFinite(reference) || reference === 0) return undefined;
  return ours / reference;
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "–";
  if (unit === "ms") return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(value < 10 ? 2 : 0)} ms`;
  return `${value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1)} ${unit}`;
}

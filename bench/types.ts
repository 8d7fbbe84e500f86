/**
 * The benchmark harness's vocabulary. A workload opens a session on a target (our engine/builder, or a
 * reference Docker Engine given by --vs-docker-host), takes samples, and closes. The harness runs each
 * workload several times and reports median/min/max per metric, and ratios against the reference and
 * against the last run.
 */

/** Where a workload runs. `hatake` = this checkout's product; `reference` = a Docker Engine (or another hatake). */
export type Target =
  | { readonly kind: "hatake" }
  | { readonly kind: "reference"; readonly dockerHost: string };

export type Unit = "ms" | "req/s" | "MB/s" | "MiB" | "instr/s";

export interface Metric {
  readonly name: string;
  readonly unit: Unit;
  /** Which way is better: ratios are printed as ours/reference either way, this says how to read them. */
  readonly better: "lower" | "higher";
}

/** One sample: a value per metric name. */
export type Sample = Readonly<Record<string, number>>;

export interface WorkloadSession {
  sample(signal: AbortSignal): Promise<Sample>;
  close(): Promise<void>;
}

/** A workload either runs on a target or says plainly why it cannot (yet): never a fake figure. */
export type OpenResult =
  | { readonly kind: "ready"; readonly session: WorkloadSession }
  | { readonly kind: "unavailable"; readonly reason: string };

export interface BenchContext {
  /** The repository root (for bin/hatake). */
  readonly repo: string;
  /** A scratch folder for this run, removed at the end. */
  readonly scratch: string;
  /** `host:port` of a registry holding the bench bases, made on demand by `registry()`. */
  registry(signal: AbortSignal): Promise<string>;
  readonly signal: AbortSignal;
  log(message: string): void;
}

export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly metrics: readonly Metric[];
  /** Default number of samples (each is a full run of the workload). */
  readonly runs: number;
  /** Samples taken first and thrown away (JIT, connection pools and page cache warm up). */
  readonly warmupRuns?: number;
  open(target: Target, ctx: BenchContext): Promise<OpenResult>;
}

export interface MetricSummary {
  readonly metric: string;
  readonly unit: Unit;
  readonly better: "lower" | "higher";
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export type TargetResult =
  | { readonly kind: "measured"; readonly metrics: readonly MetricSummary[] }
  | { readonly kind: "unavailable"; readonly reason: string }
  | { readonly kind: "failed"; readonly error: string };

export interface WorkloadResult {
  readonly workload: string;
  readonly hatake: TargetResult;
  readonly reference?: TargetResult;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly machine: { readonly cpus: number; readonly memGiB: number; readonly node: string; readonly kernel: string };
  readonly referenceHost?: string;
  readonly results: readonly WorkloadResult[];
}

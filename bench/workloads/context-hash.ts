import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { ContextHasher } from "../../cache/index.ts";
import { timed } from "../timing.ts";
import type { OpenResult, Workload } from "../types.ts";

/**
 * Micro-benchmark of context hashing on the shape of workload 03-many-files: `files` small files of four
 * text lines in directories of 100 (`src/dNN/fNNNN.txt`, as `gen.sh` makes them; the files
 * `.dockerignore` excludes there are never hashed, so they are not generated here).
 *
 * Figures (milliseconds, medians of `repeat` runs where a run is cheap enough to repeat):
 * - `coldMs`: first hash, empty metadata cache (every file read);
 * - `noopMs`: re-hash of the untouched tree by the same hasher (one lstat per file);
 * - `noopRestartMs`: the same by a new hasher that loads the persisted metadata cache, as after a restart;
 * - `touchedMs`: re-hash after `touch` of every file (stat tuples changed: every file re-read, digest equal);
 * - `statOnlyMs`: a plain parallel readdir + lstat walk of the tree, the floor a no-op is compared with;
 * - `hashMBps`: throughput hashing one `hashMiB` MiB file (MB = 10^6 bytes).
 * The target: `noopMs` within 3x of `statOnlyMs`.
 */
export interface ContextHashBench {
  readonly files: number;
  readonly coldMs: number;
  readonly noopMs: number;
  readonly noopRestartMs: number;
  readonly touchedMs: number;
  readonly statOnlyMs: number;
  readonly hashMBps: number;
  /** noopMs / statOnlyMs. */
  readonly noopOverStat: number;
  /**
   * The same two figures as CPU time (user + system, all threads): steadier than wall time on a
   * shared machine, where other processes' load lands on wall-clock figures.
   */
  readonly noopCpuMs: number;
  readonly statOnlyCpuMs: number;
}

export interface ContextHashBenchOptions {
  readonly files?: number;
  readonly hashMiB?: number;
  readonly repeat?: number;
  readonly signal?: AbortSignal;
}

export async function benchContextHash(opts: ContextHashBenchOptions = {}): Promise<ContextHashBench> {
  const files = opts.files ?? 5000;
  const repeat = Math.max(1, opts.repeat ?? 5);
  const { signal } = opts;
  const work = await fsp.mkdtemp(join(tmpdir(), "htk-bench-ctxhash-"));
  try {
    const context = join(work, "context");
    const cacheDir = join(work, "cache");
    await generate(context, files, signal);
    // Files changed within the racy window are re-read on purpose (see context-hash.ts); a real
    // context is rarely written the second before a build, so let the window pass first.
    await sleep(1100, signal);

    const hasher = new ContextHasher({ cacheDir });
    const coldMs = await timed(() => hasher.checksum(context, ".", withSignal(signal)));
    const digest = await hasher.checksum(context, ".", withSignal(signal));
    await hasher.flush();

    const statRuns: Run[] = [];
    const noopRuns: Run[] = [];
    // Interleaved, so a burst of load elsewhere hits both sides alike.
    for (let i = 0; i < repeat; i++) {
      statRuns.push(await measure(() => statWalk(context, signal)));
      noopRuns.push(await measure(async () => check(await hasher.checksum(context, ".", withSignal(signal)), digest)));
    }
    const statOnlyMs = medianOf(statRuns.map((r) => r.wallMs));
    const noopMs = medianOf(noopRuns.map((r) => r.wallMs));
    const statOnlyCpuMs = medianOf(statRuns.map((r) => r.cpuMs));
    const noopCpuMs = medianOf(noopRuns.map((r) => r.cpuMs));
    const noopRestartMs = await median(repeat, async () => {
      check(await new ContextHasher({ cacheDir }).checksum(context, ".", withSignal(signal)), digest);
    });

    const now = new Date();
    await forEachFile(context, (p) => fsp.utimes(p, now, now), signal);
    const touchedMs = await timed(async () => check(await hasher.checksum(context, ".", withSignal(signal)), digest));

    const hashMBps = await hashThroughput(work, opts.hashMiB ?? 256, signal);
    return { files, coldMs, noopMs, noopRestartMs, touchedMs, statOnlyMs, hashMBps, noopOverStat: noopMs / statOnlyMs, noopCpuMs, statOnlyCpuMs };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

async function generate(context: string, files: number, signal: AbortSignal | undefined): Promise<void> {
  const dirs = Math.ceil(files / 100);
  for (let d = 0; d < dirs; d++) {
    signal?.throwIfAborted();
    const dir = join(context, "src", `d${String(d).padStart(2, "0")}`);
    await fsp.mkdir(dir, { recursive: true });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 100 && d * 100 + i < files; i++) {
      const n = d * 100 + i;
      let text = "";
      for (let l = 0; l < 4; l++) text += `file ${n} line ${l}: the quick brown fox jumps over the lazy dog\n`;
      writes.push(fsp.writeFile(join(dir, `f${String(n).padStart(4, "0")}.txt`), text));
    }
    await Promise.all(writes);
  }
}

/** The comparison floor: what any correct no-op must at least do (see every entry's metadata). */
async function statWalk(dir: string, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  const names = await fsp.readdir(dir);
  await Promise.all(
    names.map(async (name) => {
      const p = join(dir, name);
      const st = await fsp.lstat(p);
      if (st.isDirectory()) await statWalk(p, signal);
    }),
  );
}

async function forEachFile(dir: string, fn: (path: string) => Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await forEachFile(p, fn, signal);
    else await fn(p);
  }
}

async function hashThroughput(work: string, mib: number, signal: AbortSignal | undefined): Promise<number> {
  const dir = join(work, "big");
  await fsp.mkdir(dir);
  const fh = await fsp.open(join(dir, "blob.bin"), "w");
  try {
    // Not all zeros: some file systems store those sparsely and the read would not touch the disk.
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let i = 0; i < mib; i++) {
      signal?.throwIfAborted();
      chunk.writeUInt32LE(i, 0);
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
  await sleep(1100, signal);
  const ms = await timed(() => new ContextHasher().checksum(dir, "blob.bin", withSignal(signal)));
  return (mib * 1024 * 1024) / 1e6 / (ms / 1000);
}

function withSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

function check(actual: string, expected: string): void {
  if (actual !== expected) throw new Error(`Benchmark invariant broken: digest ${actual} differs from ${expected}.`);
}


interface Run {
  readonly wallMs: number;
  readonly cpuMs: number;
}

async function measure(fn: () => Promise<unknown>): Promise<Run> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await fn();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

async function median(n: number, fn: () => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < n; i++) runs.push(await timed(fn));
  return medianOf(runs);
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

// `npx tsx bench/workloads/context-hash.ts [files]` prints the figures as JSON.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const files = Number(process.argv[2] ?? 5000);
  benchContextHash({ files }).then(
    (r) => console.log(JSON.stringify(r, (_, v: unknown) => (typeof v === "number" ? Math.round(v * 10) / 10 : v), 2)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

/** The harness's view: one sample = one full run of benchContextHash on 5,000 files (hatake only). */
export const contextHash5000: Workload = {
  name: "context-hash-5000",
  description: "content checksums of a 5,000-file context: cold, no-op, after touch, vs a plain lstat walk",
  metrics: [
    { name: "cold", unit: "ms", better: "lower" },
    { name: "noop", unit: "ms", better: "lower" },
    { name: "noopRestart", unit: "ms", better: "lower" },
    { name: "touched", unit: "ms", better: "lower" },
    { name: "statOnly", unit: "ms", better: "lower" },
    { name: "hash", unit: "MB/s", better: "higher" },
  ],
  runs: 3,
  async open(target): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "an in-process builder figure" };
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          const r = await benchContextHash({ files: 5000, signal });
          return { cold: r.coldMs, noop: r.noopMs, noopRestart: r.noopRestartMs, touched: r.touchedMs, statOnly: r.statOnlyMs, hash: r.hashMBps };
        },
        async close() {},
      },
    };
  },
};

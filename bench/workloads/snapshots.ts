import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { compressGzip, encodeTarHeader, Snapshotter, tarEnd, tarPadding, type SnapshotMode } from "../../engine/snapshots/index.ts";
import type { OpenResult, Workload } from "../types.ts";

/**
 * Layer snapshot figures (MB = 10^6 bytes):
 * - `unpackMBps`: unpacking a generated gzip layer of about `layerMB` MB of tar (2,600 files: many
 *   small, some large; half-compressible content) into a committed snapshot — decompression, the
 *   diff_id hash and the file writes together; per uncompressed MB per second;
 * - `diffMs5Layers`: five build steps on that base each write ~4 MB in 200 files and delete one file;
 *   the time to diff all five (upper dir → tar, whiteouts included) and gzip them (the export path),
 *   milliseconds in total;
 * - `mode`: "overlay" or "copy" (the copying fallback is much slower to prepare steps and to diff).
 */
export interface SnapshotsBench {
  readonly mode: SnapshotMode;
  readonly layerMB: number;
  readonly unpackSeconds: number;
  readonly unpackMBps: number;
  readonly diffMs5Layers: number;
  readonly exportMB5Layers: number;
}

export interface SnapshotsBenchOptions {
  readonly signal?: AbortSignal;
  /** Scratch parent folder; default the OS temp folder. */
  readonly scratch?: string;
  readonly mode?: "auto" | SnapshotMode;
  /** Rough size of the generated layer in MB (default 100). */
  readonly layerMB?: number;
}

/** Deterministic content: a repeated pseudo-random block, so gzip finds some but not much redundancy. */
function content(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf.writeUInt32LE(i % 8192 < 4096 ? x : 0x61616161, Math.min(i, size - 4));
  }
  return buf;
}

async function* layerTar(totalMB: number): AsyncGenerator<Buffer> {
  // 2,000 files of 4 KiB, 500 of 64 KiB, the rest in 1 MiB files.
  const small = 2000;
  const medium = 500;
  const bigCount = Math.max(1, Math.round((totalMB * 1e6 - small * 4096 - medium * 65536) / 1048576));
  yield encodeTarHeader({ name: "data", type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
  for (let d = 0; d < 20; d++) yield encodeTarHeader({ name: `data/d${d}`, type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
  const file = function* (name: string, size: number, seed: number): Generator<Buffer> {
    yield encodeTarHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size, mtime: 0 });
    yield content(size, seed);
    yield tarPadding(size);
  };
  let n = 0;
  for (let i = 0; i < small; i++) yield* file(`data/d${i % 20}/s${i}`, 4096, n++);
  for (let i = 0; i < medium; i++) yield* file(`data/d${i % 20}/m${i}`, 65536, n++);
  for (let i = 0; i < bigCount; i++) yield* file(`data/d${i % 20}/b${i}`, 1048576, n++);
  yield tarEnd();
}

export async function benchSnapshots(opts: SnapshotsBenchOptions = {}): Promise<SnapshotsBench> {
  const signal = opts.signal ?? new AbortController().signal;
  const scratch = await mkdtemp(join(opts.scratch ?? tmpdir(), "htk-bench-snapshots-"));
  let snapshotter: Snapshotter | undefined;
  try {
    const layerFile = join(scratch, "layer.tar.gz");
    let tarBytes = 0;
    const counted = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of layerTar(opts.layerMB ?? 100)) {
        tarBytes += chunk.length;
        yield chunk;
      }
    };
    await pipeline(Readable.from(counted()), createGzip({ level: 6 }), createWriteStream(layerFile), { signal });

    snapshotter = await Snapshotter.open({ root: join(scratch, "snapshots"), mode: opts.mode ?? "auto", signal });
    const started = performance.now();
    const base = await snapshotter.unpack(undefined, { name: "bench-layer", open: () => createReadStream(layerFile) }, signal);
    const unpackSeconds = (performance.now() - started) / 1000;

    // Five steps on the base, each committed: what a 5-RUN build leaves to export.
    const steps: string[] = [];
    let parent = base.id;
    for (let s = 0; s < 5; s++) {
      const active = await snapshotter.prepare(parent, signal);
      for (let i = 0; i < 200; i++) await writeFile(join(active.path, "data", `d${i % 20}`, `step${s}-${i}`), content(20_000, s * 1000 + i));
      await rm(join(active.path, "data", "d0", `s${s * 20}`));
      const ref = await active.commit();
      steps.push(ref.id);
      parent = ref.id;
    }
    const diffStarted = performance.now();
    let exported = 0;
    for (const id of steps) {
      const tar = snapshotter.diff(id, { signal });
      const gz = compressGzip(tar.stream, { signal });
      for await (const chunk of gz.stream) exported += (chunk as Buffer).length;
      await tar.done;
      await gz.done;
    }
    const diffMs5Layers = performance.now() - diffStarted;
    return {
      mode: snapshotter.mode,
      layerMB: tarBytes / 1e6,
      unpackSeconds,
      unpackMBps: tarBytes / 1e6 / unpackSeconds,
      diffMs5Layers,
      exportMB5Layers: exported / 1e6,
    };
  } finally {
    await snapshotter?.close();
    // A second open unmounts anything a failure left mounted before the tree is removed.
    await Snapshotter.open({ root: join(scratch, "snapshots"), mode: "copy" }).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The harness's view: unpack of a ~100 MB layer and diff+gzip export of 5 step layers. */
export const snapshotsWorkload: Workload = {
  name: "snapshots-unpack-export",
  description: "unpack a ~100 MB gzip layer into a snapshot (MB/s); diff + gzip 5 step layers (ms)",
  metrics: [
    { name: "unpack", unit: "MB/s", better: "higher" },
    { name: "export5Layers", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "an engine-internal figure" };
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          const r = await benchSnapshots({ signal, scratch: ctx.scratch });
          return { unpack: r.unpackMBps, export5Layers: r.diffMs5Layers };
        },
        async close() {},
      },
    };
  },
};

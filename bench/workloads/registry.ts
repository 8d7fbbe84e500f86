import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { ContentStore, sha256Of } from "../../cache/index.ts";
import { MediaTypes, type OciDescriptor } from "../../base/oci/index.ts";
import { RegistryClient, anonymous } from "../../base/registry/index.ts";
import type { OpenResult, Workload } from "../types.ts";

export interface RegistryBenchOptions {
  /** "127.0.0.1:5000": a registry reachable over plain HTTP or HTTPS, without credentials. */
  readonly registryHost: string;
  readonly signal?: AbortSignal;
  /** Uncompressed size of the one layer; default 16 MiB of random bytes (gzip cannot shrink it). */
  readonly layerBytes?: number;
}

export interface RegistryBench {
  /** Push of a fresh image (config + one layer, nothing in the repository yet). */
  readonly pushMs: number;
  /** Pull of that image by tag into an empty content store, every blob verified. */
  readonly pullMs: number;
  /** The compressed layer size, to turn the times into throughput. */
  readonly layerBytes: number;
}

/**
 * Push, then pull, a generated single-layer image through `RegistryClient` against a local registry.
 * Each call uses a new repository (so the push uploads everything) and a new store (so the pull
 * downloads everything); both temp stores are removed afterwards.
 */
export async function benchRegistry(opts: RegistryBenchOptions): Promise<RegistryBench> {
  const { registryHost, signal } = opts;
  const work = await mkdtemp(join(tmpdir(), "htk-bench-registry-"));
  const client = new RegistryClient({ credentials: anonymous, certsDir: "/nonexistent" });
  try {
    const src = await ContentStore.open(join(work, "src"), signal !== undefined ? { signal } : {});
    const raw = randomBytes(opts.layerBytes ?? 16 * 1024 * 1024);
    const gz = gzipSync(raw, { level: 1 });
    const layer = await src.put(gz);
    const config = await src.put(
      Buffer.from(
        JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [sha256Of(raw)] }, history: [{ created_by: "bench layer" }] }),
      ),
    );
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: config.digest, size: config.size },
        layers: [{ mediaType: MediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size }],
      }),
    );
    const m = await src.put(manifestBytes);
    const root: OciDescriptor = { mediaType: MediaTypes.ociManifest, digest: m.digest, size: m.size };
    const ref = `${registryHost}/hatake-bench/registry-${Date.now()}-${randomBytes(3).toString("hex")}:latest`;
    // Warm the connection and the host's scheme probe so both figures measure transfer, not set-up.
    await client.ping(registryHost, signal !== undefined ? { signal } : {});

    const t0 = performance.now();
    await client.push(ref, { store: src, root, ...(signal !== undefined ? { signal } : {}) });
    const t1 = performance.now();
    const dst = await ContentStore.open(join(work, "dst"));
    const t2 = performance.now();
    const pulled = await client.pull(ref, { store: dst, ...(signal !== undefined ? { signal } : {}) });
    const t3 = performance.now();
    if (pulled.root.digest !== root.digest) throw new Error(`pulled ${pulled.root.digest}, pushed ${root.digest}`);
    return { pushMs: t1 - t0, pullMs: t3 - t2, layerBytes: layer.size };
  } finally {
    await client.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** The harness's view: push then pull a new image with one 16 MiB layer, against the bench registry. */
export const registryPushPull: Workload = {
  name: "registry-push-pull-16mib",
  description: "push a new image with a 16 MiB layer, then pull it into an empty store (our registry client)",
  metrics: [
    { name: "push", unit: "ms", better: "lower" },
    { name: "pull", unit: "ms", better: "lower" },
  ],
  runs: 5,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "measures our registry client, not an engine" };
    const registryHost = await ctx.registry(ctx.signal);
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          const r = await benchRegistry({ registryHost, signal });
          return { push: r.pushMs, pull: r.pullMs };
        },
        async close() {},
      },
    };
  },
};

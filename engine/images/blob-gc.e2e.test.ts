import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fixtures, tempDir } from "../../testing/index.ts";
import { pushSizedImage } from "../../testing/sized-image.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/** The blobs of the engine's content store, by hex digest. */
function blobs(engine: TestEngine): string[] {
  const dir = join(engine.dataRoot, "content", "blobs", "sha256");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Bytes of the content store's blobs on disk (what `du -b` of blobs/ counts, the directory aside). */
function blobBytes(engine: TestEngine): number {
  const dir = join(engine.dataRoot, "content", "blobs", "sha256");
  return blobs(engine).reduce((n, b) => n + statSync(join(dir, b)).size, 0);
}

/** `docker system df`'s Images row: TOTAL, ACTIVE, SIZE, RECLAIMABLE. */
async function imagesRow(engine: TestEngine): Promise<string[]> {
  const df = await engine.docker(["system", "df"]);
  expect(df.code, df.stderr).toBe(0);
  const line = df.stdout.split("\n").find((l) => l.startsWith("Images")) ?? "";
  return line.split(/ {2,}/).slice(1);
}

const hex = (d: string): string => d.replace(/^sha256:/, "");

async function ok(engine: TestEngine, args: readonly string[]): Promise<string> {
  const r = await engine.docker(args);
  expect(r.code, `docker ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/**
 * Issue 5: garbage collection of the content store. Removing images (rmi, image prune) and build
 * cache (builder prune) deletes the blobs nothing references any more; what an image, the build
 * cache or a pull in progress still needs stays.
 */
describe("content-store garbage collection through the docker CLI", () => {
  let engine: TestEngine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  it("pull + rmi frees the blobs on disk (system df agrees); a layer shared by two images survives removing one", async () => {
    const { busybox } = fixtures();
    engine = await startTestEngine();
    expect(blobs(engine)).toEqual([]);
    await ok(engine, ["pull", "-q", busybox.reference]);
    expect(blobs(engine)).toEqual([busybox.manifestDigest, busybox.configDigest, busybox.layerDigest].map(hex).sort());
    expect((await imagesRow(engine))[0]).toBe("1");

    // Another image on busybox's layer (plus one of its own), pulled beside it.
    const other = `${fixtures().registry.host}/gc/other:1`;
    await pushSizedImage(other, { megabytes: 1, layers: 1, seed: "blob-gc-other" });
    await ok(engine, ["pull", "-q", other]);
    await ok(engine, ["rmi", busybox.reference]);
    const left = blobs(engine);
    expect(left).toContain(hex(busybox.layerDigest));
    expect(left).not.toContain(hex(busybox.manifestDigest));
    expect(left).not.toContain(hex(busybox.configDigest));
    expect(left.length).toBe(4);
    // Every blob of the remaining image is whole (save reads and verifies them).
    const dir = await tempDir("gc-save");
    await ok(engine, ["save", "-o", join(dir, "other.tar"), other]);

    await ok(engine, ["rmi", other]);
    expect(blobs(engine)).toEqual([]);
    expect(blobBytes(engine)).toBe(0);
    expect(await imagesRow(engine)).toEqual(["0", "0", "0B", "0B"]);
  });

  it("the build cache keeps the blobs it needs until builder prune; then they go", async () => {
    const { busybox } = fixtures();
    engine = await startTestEngine();
    await ok(engine, ["pull", "-q", busybox.reference]);
    const ctx = join(await tempDir("gc-build"), "ctx");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), `FROM ${busybox.reference}\nRUN echo built > /built.txt\n`);
    const r = await engine.daemon.services.builds.solve({ context: ctx, tags: ["gc/built:1"], signal: new AbortController().signal });
    expect(r.kind).toBe("completed");
    const withImage = blobs(engine);

    // Both images removed: the base image's blobs (a FROM of the build cache) and the RUN step's
    // exported layer stay, so a rebuild needs no registry and exports the same digests; the built
    // image's config and manifest go.
    await ok(engine, ["rmi", "gc/built:1", busybox.reference]);
    const cached = blobs(engine);
    expect(cached).toEqual(expect.arrayContaining([busybox.layerDigest, busybox.manifestDigest, busybox.configDigest].map(hex)));
    expect(cached.length).toBe(4);
    expect(withImage.length).toBeGreaterThan(cached.length);
    const rebuilt = await engine.daemon.services.builds.solve({ context: ctx, tags: ["gc/built:2"], signal: new AbortController().signal });
    expect(rebuilt.kind).toBe("completed");
    expect(blobs(engine)).toEqual(expect.arrayContaining(cached));
    await ok(engine, ["rmi", "gc/built:2"]);

    await ok(engine, ["builder", "prune", "-af"]);
    expect(blobs(engine)).toEqual([]);
  });

  it("a pull running while rmi, image prune and builder prune run is not damaged", async () => {
    const { busybox, registry } = fixtures();
    // Busybox's layer plus three data layers: the pull finds busybox's layer present and skips it.
    await pushSizedImage(`${registry.host}/gc/big:1`, { megabytes: 6, layers: 3, seed: "blob-gc" });
    // The pull goes through a proxy that holds the data layers back until the removals are done, so
    // they run exactly while the pull has decided busybox's layer is there and has not recorded it.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const proxy = createServer((req, res) => {
      const forward = (): void => {
        const up = request({ host: "127.0.0.1", port: registry.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on("error", () => res.destroy());
        req.pipe(up);
      };
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
      if (req.method === "GET" && blob !== undefined && blob !== busybox.layerDigest) {
        held();
        void gate.then(forward);
      } else forward();
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const big = `127.0.0.1:${(proxy.address() as AddressInfo).port}/gc/big:1`;
      engine = await startTestEngine();
      const e = engine;
      await ok(e, ["pull", "-q", busybox.reference]);
      const pulling = e.docker(["pull", big]);
      await holding;
      await ok(e, ["rmi", busybox.reference]);
      await ok(e, ["image", "prune", "-af"]);
      await ok(e, ["builder", "prune", "-af"]);
      open();
      const pulled = await pulling;
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout).toContain("Already exists");
      expect(blobs(e)).toContain(hex(busybox.layerDigest));
      const dir = await tempDir("gc-save");
      await ok(e, ["save", "-o", join(dir, "big.tar"), big]);
      expect(await ok(e, ["run", "--rm", big, "ls", "/data"])).toBe("blob-0.bin\nblob-1.bin\nblob-2.bin\n");
      await ok(e, ["rmi", big]);
      expect(blobs(e)).toEqual([]);
    } finally {
      open();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

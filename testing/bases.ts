import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import { ensureBusyboxImage } from "./busybox-image.ts";
import { publishCacheEntry, readCacheMeta } from "./fixture-cache.ts";
import {
  assembleImage,
  blobPath,
  hostArchitecture,
  tarEntriesFromDirectory,
  writeLayer,
  writeOciLayout,
  type Digest,
} from "./oci/index.ts";
import { fixtureCacheDir, testLogDir } from "./paths.ts";
import { describeExit, run } from "./process.ts";
import { skopeoCopy } from "./skopeo.ts";
import { PROGRAMS, requireProgram } from "./system.ts";
import { makeTempDir, removeTree } from "./temp.ts";

/**
 * The base images of the benchmarks: busybox (the test fixture) and a Debian bookworm minbase root
 * file system as one layer. Used by bench/ (not only by tests), so this module must not import vitest.
 */

export interface BenchBases {
  /** "<registry>/busybox:latest" */
  readonly busybox: string;
  /** "<registry>/debian:bookworm" */
  readonly debian: string;
}

export interface DebianFixture {
  readonly ociDir: string;
  readonly ociRef: string;
  readonly manifestDigest: Digest;
  readonly layerDigest: Digest;
  readonly diffId: Digest;
  readonly layerPath: string;
}

interface DebianMeta {
  readonly builderVersion: number;
  readonly suite: string;
  readonly mirror: string;
  readonly ociRef: string;
  readonly manifestDigest: Digest;
  readonly layerDigest: Digest;
  readonly diffId: Digest;
  readonly builtAt: string;
}

const BUILDER_VERSION = 1;
const DEFAULT_MIRROR = "http://deb.debian.org/debian";

export interface BaseOptions {
  readonly signal?: AbortSignal;
  /** Default: `.cache/fixtures` (or $HATAKE_FIXTURE_CACHE). */
  readonly cacheDir?: string;
}

/**
 * Make sure both bench bases exist locally (building Debian takes minutes the first time, then it
 * is cached) and push them to `registryHost` (plain HTTP). Returns the references.
 */
export async function ensureBenchBases(registryHost: string, options: BaseOptions = {}): Promise<BenchBases> {
  const cacheDir = options.cacheDir ?? fixtureCacheDir();
  const sig = options.signal ? { signal: options.signal } : {};
  const busybox = await ensureBusyboxImage(cacheDir, sig);
  const debian = await ensureDebianBookworm({ ...options, cacheDir });
  const refs: BenchBases = { busybox: `${registryHost}/busybox:latest`, debian: `${registryHost}/debian:bookworm` };
  await skopeoCopy(`oci:${busybox.ociDir}:${busybox.ociRef}`, `docker://${refs.busybox}`, sig);
  await skopeoCopy(`oci:${debian.ociDir}:${debian.ociRef}`, `docker://${refs.debian}`, { ...sig, timeoutMs: 600_000 });
  return refs;
}

function fixtureFrom(dir: string, meta: DebianMeta): DebianFixture {
  const ociDir = join(dir, "oci");
  return {
    ociDir,
    ociRef: meta.ociRef,
    manifestDigest: meta.manifestDigest,
    layerDigest: meta.layerDigest,
    diffId: meta.diffId,
    layerPath: blobPath(ociDir, meta.layerDigest),
  };
}

/** What of the debootstrapped tree goes into the image (relative paths, no leading "/"). */
function debianFilter(path: string): "keep" | "skip" | "contents" {
  // Kernel and runtime file systems: the runtime mounts them; the image has empty folders.
  if (path === "dev" || path === "proc" || path === "sys") return "contents";
  // The host's resolver and name were copied in by debootstrap; the runtime provides its own.
  if (path === "etc/resolv.conf" || path === "etc/hostname") return "skip";
  // Package caches, as Docker's debian image leaves them out.
  if (/^var\/cache\/apt\/(archives\/.*\.deb|.*\.bin)$/.test(path)) return "skip";
  if (/^var\/lib\/apt\/lists\/[^/]+$/.test(path) && !/\/(lock|partial)$/.test(path)) return "skip";
  if (path === "debootstrap") return "skip";
  return "keep";
}

/**
 * `debian:bookworm` under `<cacheDir>/debian-bookworm/` as an OCI layout (ref "bookworm"): a
 * `debootstrap --variant=minbase` tree imported as ONE layer, owners and mtimes as dpkg left them.
 * Built once (needs root and the Debian mirror; ~3 min), then reused.
 */
export async function ensureDebianBookworm(options: BaseOptions & { readonly mirror?: string } = {}): Promise<DebianFixture> {
  const cacheDir = options.cacheDir ?? fixtureCacheDir();
  const dir = join(cacheDir, "debian-bookworm");
  const cached = await readCacheMeta<DebianMeta>(dir);
  if (cached?.builderVersion === BUILDER_VERSION) return fixtureFrom(dir, cached);

  requireProgram(PROGRAMS.debootstrap);
  const mirror = options.mirror ?? DEFAULT_MIRROR;
  const sig = options.signal ? { signal: options.signal } : {};
  const logDir = testLogDir();
  await mkdir(logDir, { recursive: true });
  const logFile = join(logDir, "debootstrap-bookworm.log");
  await publishCacheEntry(dir, async (staging) => {
    // The root file system is built in the system temp folder, not in the repository: test
    // runners scanning the working tree would otherwise wander into it while debootstrap runs.
    const work = await makeTempDir("debootstrap");
    const rootfs = join(work, "rootfs");
    try {
      const args = ["--variant=minbase", "bookworm", rootfs, mirror];
      const result = await run("debootstrap", args, { timeoutMs: 20 * 60_000, dieWithParent: true, processGroup: true, ...sig });
      await writeFile(logFile, `$ debootstrap ${args.join(" ")}\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
      if (result.code !== 0) {
        const tail = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(-5).join("\n");
        throw htkError("HTK-TEST-0004", {
          command: `debootstrap ${args.join(" ")}`,
          status: describeExit(result, 20 * 60_000),
          detail: tail === "" ? "(no output)" : tail,
          logFile,
        });
      }
      const layer = await writeLayer(tarEntriesFromDirectory(rootfs, { filter: debianFilter }), join(staging, "layer.tar.gz"), sig);
      const created = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      const image = assembleImage(
        {
          architecture: hostArchitecture(),
          os: "linux",
          created,
          config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["bash"] },
          history: [{ created, created_by: `hatake testing: debootstrap --variant=minbase bookworm ${mirror}` }],
        },
        [layer],
      );
      await writeOciLayout(join(staging, "oci"), [{ image, refName: "bookworm" }]);
      await removeTree(join(staging, "layer.tar.gz"));
      const meta: DebianMeta = {
        builderVersion: BUILDER_VERSION,
        suite: "bookworm",
        mirror,
        ociRef: "bookworm",
        manifestDigest: image.manifestDescriptor.digest,
        layerDigest: layer.descriptor.digest,
        diffId: layer.diffId,
        builtAt: created,
      };
      await writeFile(join(staging, "fixture.json"), JSON.stringify(meta, null, 2));
    } finally {
      // The root file system is only a step; the layer is what is kept. removeTree unmounts first.
      await removeTree(work);
    }
  });
  const meta = await readCacheMeta<DebianMeta>(dir);
  if (meta === undefined) throw new Error(`debian fixture was not published in ${dir}`);
  return fixtureFrom(dir, meta);
}

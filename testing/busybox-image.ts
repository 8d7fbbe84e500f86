import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readCacheMeta, publishCacheEntry } from "./fixture-cache.ts";
import {
  assembleImage,
  hostArchitecture,
  writeDockerArchive,
  writeLayer,
  writeOciLayout,
  blobPath,
  type Digest,
  type TarEntry,
} from "./oci/index.ts";
import { runChecked } from "./process.ts";
import { PROGRAMS, requireProgram, requireStaticBinary } from "./system.ts";

/** Bump when the image contents or format change, so cached copies are rebuilt. */
const BUILDER_VERSION = 2;

/** The tag the fixture carries in its OCI layout and docker archive. */
export const BUSYBOX_REF = "latest";

/** The busybox fixture image as the tests see it (all paths absolute, all values plain JSON). */
export interface BusyboxFixture {
  /** OCI image layout folder: `oci:${ociDir}:latest` for skopeo. */
  readonly ociDir: string;
  readonly ociRef: string;
  /** `docker save` archive tagged busybox:latest: `docker-archive:${dockerArchive}`. */
  readonly dockerArchive: string;
  readonly manifestDigest: Digest;
  readonly configDigest: Digest;
  /** The one gzip layer: its blob digest, diff ID and path inside the layout. */
  readonly layerDigest: Digest;
  readonly diffId: Digest;
  readonly layerPath: string;
  /** The applet names linked in /bin (busybox itself included). */
  readonly applets: readonly string[];
}

interface BusyboxMeta extends Omit<BusyboxFixture, "ociDir" | "dockerArchive" | "layerPath"> {
  readonly builderVersion: number;
  readonly busyboxSha256: string;
}

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The rootfs of Docker's official busybox image, made from the host's static busybox: every applet is
 * a hard link in /bin (the first name in archive order is the file itself, as in Docker's layer),
 * plus the folders and user database a shell expects. All owned by 0:0 at mtime 0.
 */
export function busyboxRootfsEntries(busybox: Uint8Array, applets: readonly string[]): TarEntry[] {
  const names = [...new Set([...applets, "busybox"])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const [first, ...rest] = names;
  if (first === undefined) throw new Error("no applets");
  const dirs: Array<[string, number]> = [
    ["bin", 0o755],
    ["dev", 0o755],
    ["etc", 0o755],
    ["home", 0o755],
    ["proc", 0o555],
    ["root", 0o700],
    ["sys", 0o555],
    ["tmp", 0o1777],
    ["usr", 0o755],
    ["usr/sbin", 0o755],
    ["var", 0o755],
    ["var/spool", 0o755],
    ["var/spool/mail", 0o755],
    ["var/www", 0o755],
  ];
  return [
    ...dirs.map(([path, mode]): TarEntry => ({ type: "directory", path, mode })),
    { type: "file", path: `bin/${first}`, mode: 0o755, content: busybox },
    ...rest.map((name): TarEntry => ({ type: "hardlink", path: `bin/${name}`, mode: 0o755, target: `bin/${first}` })),
    { type: "file", path: "etc/passwd", content: Buffer.from("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n") },
    { type: "file", path: "etc/group", content: Buffer.from("root:x:0:\nnobody:x:65534:\n") },
  ];
}

function fixtureFrom(dir: string, meta: BusyboxMeta): BusyboxFixture {
  const ociDir = join(dir, "oci");
  return {
    ociDir,
    ociRef: meta.ociRef,
    dockerArchive: join(dir, "busybox.docker.tar"),
    manifestDigest: meta.manifestDigest,
    configDigest: meta.configDigest,
    layerDigest: meta.layerDigest,
    diffId: meta.diffId,
    layerPath: blobPath(ociDir, meta.layerDigest),
    applets: meta.applets,
  };
}

/**
 * The busybox fixture under `<cacheDir>/busybox/`, built if missing or if the host's busybox binary
 * changed. The build is deterministic: same binary, same digests.
 */
export async function ensureBusyboxImage(cacheDir: string, options: { readonly signal?: AbortSignal } = {}): Promise<BusyboxFixture> {
  const busyboxPath = requireProgram(PROGRAMS.busybox);
  await requireStaticBinary(busyboxPath, PROGRAMS.busybox.aptPackage);
  const binary = await readFile(busyboxPath);
  const busyboxSha256 = createHash("sha256").update(binary).digest("hex");
  const dir = join(cacheDir, "busybox");
  const cached = await readCacheMeta<BusyboxMeta>(dir);
  if (cached?.builderVersion === BUILDER_VERSION && cached.busyboxSha256 === busyboxSha256) {
    return fixtureFrom(dir, cached);
  }
  await publishCacheEntry(dir, async (staging) => {
    const meta = await buildBusyboxImage(staging, busyboxPath, binary, busyboxSha256, options.signal);
    await writeFile(join(staging, "fixture.json"), JSON.stringify(meta, null, 2));
  });
  const meta = await readCacheMeta<BusyboxMeta>(dir);
  if (meta === undefined) throw new Error(`busybox fixture was not published in ${dir}`);
  return fixtureFrom(dir, meta);
}

async function buildBusyboxImage(
  outDir: string,
  busyboxPath: string,
  binary: Buffer,
  busyboxSha256: string,
  signal: AbortSignal | undefined,
): Promise<BusyboxMeta> {
  const sig = signal ? { signal } : {};
  const list = await runChecked(busyboxPath, ["--list-full"], { timeoutMs: 10_000, ...sig });
  const applets = list.stdout
    .split("\n")
    .map((l) => l.trim().split("/").pop() ?? "")
    .filter((n) => n !== "");
  const banner = (await runChecked(busyboxPath, ["--help"], { timeoutMs: 10_000, ...sig }).catch(() => undefined))?.stdout ?? "";
  const version = /BusyBox (v[^\s]+)/.exec(banner)?.[1] ?? "unknown";
  const layerFile = join(outDir, "layer.tar.gz");
  const layer = await writeLayer(busyboxRootfsEntries(binary, applets), layerFile, sig);
  // Go's RFC 3339 form (no fractional seconds) and Go's field order: tools that re-serialise the
  // config (skopeo converting a docker-archive to OCI) then produce the very same bytes and digest.
  const created = "1970-01-01T00:00:00Z";
  const image = assembleImage(
    {
      architecture: hostArchitecture(),
      os: "linux",
      created,
      config: { Env: [PATH_ENV], Cmd: ["sh"] },
      history: [{ created, created_by: `hatake testing: busybox-static ${version} (${busyboxSha256.slice(0, 12)}) as /bin/* links` }],
    },
    [layer],
  );
  const [stored] = await writeOciLayout(join(outDir, "oci"), [{ image, refName: BUSYBOX_REF }]);
  if (stored === undefined) throw new Error("layout writer returned nothing");
  await rm(layerFile);
  await writeDockerArchive(join(outDir, "busybox.docker.tar"), stored, [`busybox:${BUSYBOX_REF}`], sig);
  return {
    builderVersion: BUILDER_VERSION,
    busyboxSha256,
    ociRef: BUSYBOX_REF,
    manifestDigest: image.manifestDescriptor.digest,
    configDigest: image.manifest.config.digest,
    layerDigest: layer.descriptor.digest,
    diffId: layer.diffId,
    applets: [...new Set([...applets, "busybox"])].sort(),
  };
}

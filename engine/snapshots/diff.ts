import { createHash } from "node:crypto";
import { type BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import type { Digest } from "../../cache/index.ts";
import { getXattrsTree } from "./fs-tools.ts";
import { encodeTarHeader, tarEnd, tarPadding, type TarEntryType, type TarWriteHeader } from "./tar.ts";
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX } from "./whiteouts.ts";

export interface DiffOptions {
  readonly signal: AbortSignal;
  /**
   * SOURCE_DATE_EPOCH (seconds). When set, every time later than it is clamped to it, and whiteouts
   * carry it: BuildKit's `rewrite-timestamp` behaviour, which keeps older times (from a base image)
   * and makes everything a build touched reproducible.
   */
  readonly sourceDateEpoch?: number;
}

/** A layer being produced: read `stream` to the end; `done` then gives its digest and size. */
export interface LayerStream {
  readonly stream: Readable;
  /** Resolves once `stream` has ended; rejects with the stream's error. Never an unhandled rejection. */
  readonly done: Promise<{ readonly digest: Digest; readonly size: number }>;
}

/**
 * The layer of an overlayfs upper directory (a finished step or a committed overlay snapshot): its
 * entries as they are, with overlay whiteouts (0/0 character devices) turned into `.wh.<name>` and
 * opaque directories followed by `.wh..wh..opq` (containerd's overlay differ, Docker's
 * `overlayWhiteoutConverter.ConvertWrite`). `done.digest` is the layer's diff_id.
 */
export function diffOverlayUpper(upper: string, options: DiffOptions): LayerStream {
  return hashed(tarFrom(upper, undefined, "overlay", options), options.signal);
}

/**
 * The layer that turns `lower` into `upper` (two plain trees; the copying fallback and any two
 * directories): entries that are new or differ in type, mode, owner, size, mtime, link target, device
 * or attributes, with the directories above them, and `.wh.<name>` for what `upper` no longer has.
 * Files whose size and nanosecond mtime match are taken as unchanged (containerd's double-walk rule).
 * `lower` undefined means "from scratch": every entry.
 */
export function diffDirectories(lower: string | undefined, upper: string, options: DiffOptions): LayerStream {
  return hashed(tarFrom(upper, lower, "compare", options), options.signal);
}

/**
 * gzip of a layer tar, streamed, with the blob's digest and size: the separate step an export runs once
 * per layer (the diff_id belongs to the tar, the digest to this).
 */
export function compressGzip(tar: AsyncIterable<Uint8Array>, options: { readonly signal: AbortSignal; readonly level?: number }): LayerStream {
  const gzip = createGzip({ level: options.level ?? 6 });
  const input = Readable.from(tar, { objectMode: false });
  input.on("error", (err) => gzip.destroy(err));
  // A consumer that stops early ends the walk too (its open file handle included).
  gzip.on("close", () => input.destroy());
  input.pipe(gzip);
  return hashed(gzip, options.signal);
}

function hashed(source: AsyncIterable<Uint8Array>, signal: AbortSignal): LayerStream {
  let resolve!: (v: { digest: Digest; size: number }) => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<{ digest: Digest; size: number }>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A caller that only reads the stream sees the error there; this keeps `done` from being unhandled.
  done.catch(() => undefined);
  const gen = async function* (): AsyncGenerator<Uint8Array> {
    const hash = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of source) {
        signal.throwIfAborted();
        hash.update(chunk);
        size += chunk.byteLength;
        yield chunk;
      }
      resolve({ digest: `sha256:${hash.digest("hex")}`, size });
    } catch (err) {
      reject(err);
      throw err;
    } finally {
      // Ended early by the consumer (destroy): the digest would be of a prefix, so it is no result.
      reject(new Error("the layer stream was closed before its end"));
    }
  };
  return { stream: Readable.from(gen(), { objectMode: false, highWaterMark: 4 }), done };
}

const compareBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

type Mode = "overlay" | "compare";

interface Ctx {
  readonly upper: string;
  readonly lower: string | undefined;
  readonly mode: Mode;
  readonly signal: AbortSignal;
  readonly epoch: number | undefined;
  readonly upperXattrs: Map<string, Map<string, Buffer>>;
  readonly lowerXattrs: Map<string, Map<string, Buffer>>;
  /** dev:ino of multiply linked files already written → their archive path (hard links follow it). */
  readonly links: Map<string, string>;
  /** Directories whose header is due before anything below them (compare mode writes them lazily). */
  readonly pending: Array<{ readonly header: TarWriteHeader; emitted: boolean }>;
}

async function* tarFrom(upper: string, lower: string | undefined, mode: Mode, options: DiffOptions): AsyncGenerator<Buffer> {
  const { signal } = options;
  const upperXattrs = await xattrsOf(upper, mode === "overlay", signal);
  const lowerXattrs = lower === undefined ? new Map<string, Map<string, Buffer>>() : await xattrsOf(lower, false, signal);
  const ctx: Ctx = { upper, lower, mode, signal, epoch: options.sourceDateEpoch, upperXattrs, lowerXattrs, links: new Map(), pending: [] };
  yield* walk(ctx, "", lower !== undefined);
  yield tarEnd();
}

async function xattrsOf(root: string, required: boolean, signal: AbortSignal): Promise<Map<string, Map<string, Buffer>>> {
  try {
    return await getXattrsTree(root, signal);
  } catch (err) {
    // Without getfattr a plain-tree diff loses only extended attributes; an overlay diff would lose
    // opaque directories, which changes what the layer means, so it fails instead.
    if (!required && (err as { code?: unknown }).code === "ENOENT") return new Map();
    throw err;
  }
}

function clampTime(ctx: Ctx, seconds: number): number {
  const s = Math.floor(seconds);
  return ctx.epoch !== undefined && s > ctx.epoch ? ctx.epoch : s;
}

function typeOf(st: BigIntStats): TarEntryType | undefined {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char-device";
  if (st.isBlockDevice()) return "block-device";
  if (st.isFIFO()) return "fifo";
  return undefined; // sockets: not archivable, skipped as tar does
}

/** Linux's dev_t split (glibc gnu_dev_major/minor). */
function devNumbers(rdev: bigint): { major: number; minor: number } {
  return {
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

function layerXattrs(all: Map<string, Map<string, Buffer>>, path: string): Map<string, Buffer> | undefined {
  const attrs = all.get(path);
  if (attrs === undefined) return undefined;
  const kept = new Map([...attrs].filter(([k]) => !k.startsWith(OVERLAY_XATTR_PREFIX)));
  return kept.size === 0 ? undefined : kept;
}

function sameXattrs(a: Map<string, Buffer> | undefined, b: Map<string, Buffer> | undefined): boolean {
  if ((a?.size ?? 0) !== (b?.size ?? 0)) return false;
  for (const [k, v] of a ?? []) if (b?.get(k)?.equals(v) !== true) return false;
  return true;
}

function* flushPending(ctx: Ctx): Generator<Buffer> {
  for (const p of ctx.pending) {
    if (p.emitted) continue;
    p.emitted = true;
    yield encodeTarHeader(p.header);
  }
}

async function statOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
}

async function* walk(ctx: Ctx, rel: string, lowerHasDir: boolean): AsyncGenerator<Buffer> {
  ctx.signal.throwIfAborted();
  const dirU = rel === "" ? ctx.upper : `${ctx.upper}/${rel}`;
  const dirL = ctx.lower === undefined || !lowerHasDir ? undefined : rel === "" ? ctx.lower : `${ctx.lower}/${rel}`;
  const join = (name: string): string => (rel === "" ? name : `${rel}/${name}`);
  const upperNames = await readdir(dirU);
  const lowerNames = dirL === undefined ? [] : await readdir(dirL);
  const upperSet = new Set(upperNames);

  interface Child {
    readonly tarName: string;
    readonly name: string;
    readonly whiteout: boolean;
  }
  const children: Child[] = [];
  for (const name of upperNames) children.push({ tarName: name, name, whiteout: false });
  // Compare mode: what the lower tree has and the upper lost is deleted.
  for (const name of lowerNames) if (!upperSet.has(name)) children.push({ tarName: `${WHITEOUT_PREFIX}${name}`, name, whiteout: true });
  children.sort((a, b) => compareBytes(a.tarName, b.tarName));

  const whiteoutTime = ctx.epoch ?? 0;
  for (const child of children) {
    ctx.signal.throwIfAborted();
    const childRel = join(child.name);
    if (child.whiteout) {
      yield* flushPending(ctx);
      yield encodeTarHeader({ name: join(child.tarName), type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: whiteoutTime });
      continue;
    }
    const abs = `${ctx.upper}/${childRel}`;
    const st = await lstat(abs, { bigint: true });
    const type = typeOf(st);
    if (type === undefined) continue;
    if (ctx.mode === "overlay" && type === "char-device" && st.rdev === 0n) {
      // overlayfs records a deletion as a 0/0 character device: the OCI form is an empty ".wh." file.
      yield encodeTarHeader({ name: join(`${WHITEOUT_PREFIX}${child.name}`), type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: whiteoutTime });
      continue;
    }
    if (ctx.mode === "overlay") {
      const own = ctx.upperXattrs.get(abs);
      // Snapshots mount with redirect_dir=off and metacopy=off; an upper made otherwise (a renamed
      // lower directory, a metadata-only copy-up) does not hold the data its layer needs.
      for (const key of ["trusted.overlay.redirect", "trusted.overlay.metacopy"]) {
        if (own?.has(key) === true) throw new Error(`"${abs}" carries ${key}: this upper directory cannot be archived as a layer (mount with redirect_dir=off,metacopy=off)`);
      }
    }
    const xattrs = layerXattrs(ctx.upperXattrs, abs);
    const header: TarWriteHeader = {
      name: childRel,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === "file" ? Number(st.size) : 0,
      mtime: clampTime(ctx, Number(st.mtimeNs / 1_000_000_000n)),
      ...(type === "symlink" ? { linkname: await readlink(abs) } : {}),
      ...(type === "char-device" || type === "block-device" ? (({ major, minor }) => ({ devmajor: major, devminor: minor }))(devNumbers(st.rdev)) : {}),
      ...(xattrs !== undefined ? { xattrs } : {}),
    };
    let lowerSt: BigIntStats | undefined;
    let unchanged = false;
    if (ctx.mode === "compare" && dirL !== undefined) {
      const lowerAbs = `${dirL}/${child.name}`;
      lowerSt = await statOrUndefined(lowerAbs);
      if (lowerSt !== undefined && typeOf(lowerSt) === type) {
        unchanged =
          lowerSt.mode === st.mode &&
          lowerSt.uid === st.uid &&
          lowerSt.gid === st.gid &&
          (type === "directory" || (lowerSt.size === st.size && lowerSt.mtimeNs === st.mtimeNs)) &&
          lowerSt.rdev === st.rdev &&
          (type !== "symlink" || (await readlink(lowerAbs)) === header.linkname) &&
          sameXattrs(layerXattrs(ctx.lowerXattrs, lowerAbs), xattrs);
      }
    }
    if (type === "directory") {
      const opaque = ctx.mode === "overlay" && ctx.upperXattrs.get(abs)?.get(OVERLAY_OPAQUE_XATTR)?.toString() === "y";
      const entry = { header, emitted: false };
      ctx.pending.push(entry);
      // A directory is written when it changed itself, or (lazily) when something below it did.
      if (!unchanged) yield* flushPending(ctx);
      if (opaque) {
        yield encodeTarHeader({ name: `${childRel}/${OPAQUE_MARKER}`, type: "file", mode: 0, uid: 0, gid: 0, size: 0, mtime: whiteoutTime });
      }
      yield* walk(ctx, childRel, lowerSt?.isDirectory() === true);
      ctx.pending.pop();
      continue;
    }
    if (unchanged) continue;
    yield* flushPending(ctx);
    if (type === "file" && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = ctx.links.get(key);
      if (first !== undefined) {
        yield encodeTarHeader({ ...header, type: "hardlink", size: 0, linkname: first });
        continue;
      }
      ctx.links.set(key, childRel);
    }
    yield encodeTarHeader(header);
    if (type === "file") yield* fileData(abs, header.size, ctx.signal);
  }
}

async function* fileData(path: string, size: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await open(path, "r");
  try {
    let left = size;
    while (left > 0) {
      signal.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(left, 256 * 1024));
      const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
      if (bytesRead === 0) throw new Error(`"${path}" shrank while it was being archived`);
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
  yield tarPadding(size);
}

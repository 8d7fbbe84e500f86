import { createHash, randomUUID } from "node:crypto";
import * as nodeFs from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable, addAbortSignal } from "node:stream";
import { htkError, isCancellation, isHtkError } from "../base/errors/index.ts";
import { digestHex, isDigest, type Digest } from "../base/oci/digest.ts";
import type { DeleteResult, Descriptor, ExpectedBlob } from "./types.ts";

/**
 * The file-system calls the store makes, injectable so tests can simulate a full disk or an unreadable
 * root without needing one. Defaults to `node:fs/promises`.
 */
export type StoreFs = Pick<typeof nodeFs, "open" | "opendir" | "rename" | "unlink" | "readdir" | "stat" | "mkdir" | "rm">;

export interface ContentStoreOptions {
  /**
   * How many leases hold a blob; `delete` refuses while it is above zero. The reference counter
   * (`RefCounter.blobLeaseCount`) is plugged in here so the store does not depend on it.
   */
  readonly leaseCount?: (digest: Digest) => number;
  readonly fs?: StoreFs;
  readonly signal?: AbortSignal;
}

export interface PutOptions {
  /** When given, data that does not hash to this digest and size is refused (HTK-CACHE-0002). */
  readonly expected?: ExpectedBlob;
  readonly mediaType?: string;
  readonly signal?: AbortSignal;
  /**
   * Called once with the blob's digest, before the blob is confirmed present or made visible, under
   * the store's lock for that digest — the one `delete` takes too. The place to take a lease: a
   * concurrent garbage collection then either deleted the blob before (and this put stores it
   * again) or sees the lease. A put that fails after the call leaves the lease to its caller.
   */
  readonly lease?: (digest: Digest) => void;
}

/**
 * What `put` reads from. A Node stream is owned by `put` from then on: it is consumed to the end, or
 * destroyed on failure, cancellation, or when the blob is already stored (so its file handle or socket
 * is never left dangling).
 */
export type PutSource = Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** Read size for verified reads: large enough for throughput, small enough to keep memory bounded. */
const READ_CHUNK = 256 * 1024;
/** `readBytes` refuses bigger blobs: it is for manifests and configs, layers must be streamed. */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A local content-addressed store of sha256 blobs, laid out as in an OCI image layout
 * (`<root>/blobs/sha256/<hex>`), written the way containerd's local store writes: every blob is first
 * streamed into `<root>/ingest/`, fsynced, verified, and only then renamed into place, so a blob that
 * exists is always complete and correct at the time it was written. Reads verify again, because disks
 * and people do change files behind our back.
 *
 * One engine process owns a store root: `open` removes whatever is left in `ingest/`, which is only
 * ever the debris of a crashed or killed writer.
 */
export class ContentStore {
  readonly root: string;
  readonly #fs: StoreFs;
  readonly #leaseCount: (digest: Digest) => number;
  readonly #blobDir: string;
  readonly #ingestDir: string;
  readonly #quarantineDir: string;
  /** Per-digest critical sections (a put's presence check or rename, a delete): the tail of each chain. */
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(root: string, opts: ContentStoreOptions) {
    this.root = root;
    this.#fs = opts.fs ?? nodeFs;
    this.#leaseCount = opts.leaseCount ?? (() => 0);
    this.#blobDir = join(root, "blobs", "sha256");
    this.#ingestDir = join(root, "ingest");
    this.#quarantineDir = join(root, "quarantine");
  }

  /** Opens (creating if needed) the store at `root` and removes stale ingest files of a crash. */
  static async open(root: string, opts: ContentStoreOptions = {}): Promise<ContentStore> {
    const store = new ContentStore(root, opts);
    opts.signal?.throwIfAborted();
    try {
      await store.#fs.mkdir(store.#blobDir, { recursive: true });
      await store.#fs.mkdir(store.#ingestDir, { recursive: true });
      for (const name of await store.#fs.readdir(store.#ingestDir)) {
        opts.signal?.throwIfAborted();
        await store.#fs.rm(join(store.#ingestDir, name), { force: true, recursive: true });
      }
    } catch (err) {
      throw store.#mapError(err, "open the store");
    }
    return store;
  }

  /** The path a blob lives at (for hard-linking or mounting; never write to it). */
  blobPath(digest: Digest): string {
    return join(this.#blobDir, digestHex(checkDigest(digest)));
  }

  /**
   * Stores a blob and returns its descriptor. Atomic: the blob appears complete or not at all, and a
   * failed or cancelled write leaves neither a blob nor an ingest file behind.
   */
  async put(source: PutSource, opts: PutOptions = {}): Promise<Descriptor> {
    const { expected, signal } = opts;
    const withType = (d: Descriptor): Descriptor =>
      opts.mediaType === undefined ? d : { ...d, mediaType: opts.mediaType };
    try {
      signal?.throwIfAborted();
      if (expected !== undefined) {
        checkDigest(expected.digest);
        // Writing what is already there would only cost I/O: content addressing makes it identical.
        const present = await this.#locked(expected.digest, async () => {
          opts.lease?.(expected.digest);
          const info = await this.info(expected.digest);
          return info !== undefined && info.size === expected.size ? info : undefined;
        });
        if (present !== undefined) {
          destroySource(source);
          return withType(present);
        }
      }
      return withType(await this.#ingest(source, expected, signal, expected === undefined ? opts.lease : undefined));
    } catch (err) {
      destroySource(source, err);
      throw this.#mapError(err, "store a blob");
    }
  }

  async #ingest(source: PutSource, expected: ExpectedBlob | undefined, signal: AbortSignal | undefined, lease: ((digest: Digest) => void) | undefined): Promise<Descriptor> {
    const tmp = join(this.#ingestDir, `${randomUUID()}.tmp`);
    let fh: FileHandle | undefined;
    try {
      fh = await this.#fs.open(tmp, "wx", 0o600);
      const hash = createHash("sha256");
      let size = 0;
      for await (const chunk of chunksOf(source, signal)) {
        signal?.throwIfAborted();
        size += chunk.byteLength;
        if (expected !== undefined && size > expected.size) {
          // Stop at the first surplus byte: a misbehaving source must not fill the disk.
          throw htkError("HTK-CACHE-0002", {
            expected: expected.digest,
            actual: "a longer stream",
            size: `more than ${expected.size}`,
            expectedSize: expected.size,
          });
        }
        hash.update(chunk);
        await writeAll(fh, chunk);
      }
      signal?.throwIfAborted();
      const digest: Digest = `sha256:${hash.digest("hex")}`;
      if (expected !== undefined && (digest !== expected.digest || size !== expected.size)) {
        throw htkError("HTK-CACHE-0002", { expected: expected.digest, actual: digest, size, expectedSize: expected.size });
      }
      // Blobs are immutable: read-only on disk makes an accidental write fail loudly.
      await fh.chmod(0o444);
      await fh.sync();
      await fh.close();
      fh = undefined;
      await this.#locked(digest, async () => {
        lease?.(digest);
        await this.#fs.rename(tmp, join(this.#blobDir, digestHex(digest)));
      });
      await this.#syncDir(this.#blobDir);
      return { digest, size };
    } finally {
      if (fh !== undefined) await fh.close().catch(() => undefined);
      // After a successful rename there is nothing to remove; otherwise the temp file must go.
      await this.#fs.unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * A stream of the blob's bytes that verifies the digest while it reads. On a mismatch the stream
   * errors with HTK-CACHE-0001 (after the blob was moved to `quarantine/`), so a consumer that treats
   * the end of the stream as success never accepts damaged data. Consume it or destroy it.
   */
  async get(digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const fh = await this.#openBlob(digest, opts.signal);
    const stream = Readable.from(this.#verifiedChunks(fh, digest), { objectMode: false });
    // A stream destroyed before its first read never runs the generator, nor its clean-up.
    stream.once("close", () => void fh.close().catch(() => undefined));
    if (opts.signal !== undefined) addAbortSignal(opts.signal, stream);
    return stream;
  }

  /** A small blob's bytes, verified before anything is returned (manifests, configs, cache records). */
  async readBytes(digest: Digest, opts: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<Buffer> {
    const fh = await this.#openBlob(digest, opts.signal);
    const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const parts: Buffer[] = [];
    let total = 0;
    const iter = this.#verifiedChunks(fh, digest);
    try {
      for await (const chunk of iter) {
        opts.signal?.throwIfAborted();
        total += chunk.byteLength;
        if (total > max) throw new RangeError(`Blob ${digest} is larger than ${max} bytes; stream it with get().`);
        parts.push(chunk);
      }
    } finally {
      await iter.return(undefined);
      await fh.close().catch(() => undefined);
    }
    return Buffer.concat(parts, total);
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: Digest): Promise<Descriptor | undefined> {
    try {
      const st = await this.#fs.stat(this.blobPath(digest));
      return st.isFile() ? { digest, size: st.size } : undefined;
    } catch (err) {
      if (codeOf(err) === "ENOENT") return undefined;
      throw this.#mapError(err, "look up a blob");
    }
  }

  /**
   * Deletes a blob unless a lease holds it. Under the digest's lock: a put of the same blob that
   * takes a lease (`PutOptions.lease`) is either before (the blob stays) or after (it is stored again).
   */
  async delete(digest: Digest): Promise<DeleteResult> {
    return this.#locked(checkDigest(digest), async (): Promise<DeleteResult> => {
      const leases = this.#leaseCount(digest);
      if (leases > 0) return { kind: "in-use", leases };
      try {
        await this.#fs.unlink(this.blobPath(digest));
        return { kind: "deleted" };
      } catch (err) {
        if (codeOf(err) === "ENOENT") return { kind: "not-found" };
        throw this.#mapError(err, "delete a blob");
      }
    });
  }

  /** Runs `fn` after every earlier critical section of `digest` has settled. */
  async #locked<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(digest) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(digest, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(digest) === tail) this.#locks.delete(digest);
    }
  }

  /** Every stored blob, read from the directory entry by entry so a large store is never listed in memory. */
  async *list(opts: { signal?: AbortSignal } = {}): AsyncGenerator<Descriptor> {
    let dir: Awaited<ReturnType<StoreFs["opendir"]>>;
    try {
      dir = await this.#fs.opendir(this.#blobDir);
    } catch (err) {
      throw this.#mapError(err, "list blobs");
    }
    // Iterating a Dir closes it at the end, on break and on error.
    for await (const entry of dir) {
      opts.signal?.throwIfAborted();
      const digest = `sha256:${entry.name}`;
      if (!isDigest(digest)) continue;
      const info = await this.info(digest);
      if (info !== undefined) yield info;
    }
  }

  async #openBlob(digest: Digest, signal: AbortSignal | undefined): Promise<FileHandle> {
    signal?.throwIfAborted();
    try {
      return await this.#fs.open(this.blobPath(digest), "r");
    } catch (err) {
      if (codeOf(err) === "ENOENT") throw htkError("HTK-CACHE-0005", { root: this.root, digest }, { cause: err });
      throw this.#mapError(err, "read a blob");
    }
  }

  async *#verifiedChunks(fh: FileHandle, digest: Digest): AsyncGenerator<Buffer> {
    const hash = createHash("sha256");
    let position = 0;
    let failure: Error | undefined;
    try {
      const { size } = await fh.stat();
      while (position < size) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position));
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        const chunk = bytesRead === buf.byteLength ? buf : buf.subarray(0, bytesRead);
        hash.update(chunk);
        yield chunk;
      }
      const actual = `sha256:${hash.digest("hex")}`;
      if (position !== size) failure = new Error(`the file shrank from ${size} to ${position} bytes while it was read`);
      else if (actual !== digest) failure = new Error(`its ${size} bytes hash to ${actual}`);
    } catch (err) {
      throw this.#mapError(err, "read a blob");
    } finally {
      await fh.close().catch(() => undefined);
    }
    if (failure !== undefined) {
      const quarantine = await this.#quarantine(digest);
      throw htkError("HTK-CACHE-0001", { digest, detail: failure.message, quarantine, root: this.root }, { cause: failure });
    }
  }

  /** Moves a damaged blob aside so the next build refetches it instead of failing on it again. */
  async #quarantine(digest: Digest): Promise<string> {
    const target = join(this.#quarantineDir, `${digestHex(digest)}.${Date.now()}`);
    try {
      await this.#fs.mkdir(this.#quarantineDir, { recursive: true });
      await this.#fs.rename(this.blobPath(digest), target);
      return target;
    } catch {
      return "(could not be moved; it is still at " + this.blobPath(digest) + ")";
    }
  }

  /** A rename is durable only once its directory is synced; without it a power cut can lose the blob. */
  async #syncDir(dir: string): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await this.#fs.open(dir, "r");
      await fh.sync();
    } catch {
      // Some file systems refuse fsync on directories; the data itself is already synced.
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  #mapError(err: unknown, operation: string): unknown {
    if (isHtkError(err) || isCancellation(err)) return err;
    const code = codeOf(err);
    if (code === "ENOSPC" || code === "EDQUOT") return htkError("HTK-CACHE-0004", { root: this.root, operation }, { cause: err });
    if (code !== undefined && STORE_UNUSABLE.has(code)) {
      const detail = err instanceof Error ? err.message : String(err);
      return htkError("HTK-CACHE-0003", { root: this.root, operation, detail }, { cause: err });
    }
    return err;
  }
}

/** File-system errors that mean the store as a whole cannot be used (not one missing blob). */
const STORE_UNUSABLE = new Set(["EACCES", "EPERM", "EROFS", "EIO", "ENOTDIR", "ENOENT", "ELOOP", "EISDIR", "EMFILE", "ENFILE"]);

function checkDigest(digest: Digest): Digest {
  // A bug, not a user error: digests from outside are validated with parseDigest where they enter.
  if (!isDigest(digest)) throw new TypeError(`Invalid digest "${String(digest)}": expected sha256:<64 hex digits>.`);
  return digest;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function destroySource(source: PutSource, err?: unknown): void {
  if (source instanceof Readable && !source.destroyed) source.destroy(err instanceof Error && !isCancellation(err) ? err : undefined);
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.byteLength - offset);
    offset += bytesWritten;
  }
}

/**
 * The chunks of any source, stopping promptly on abort: a stalled network stream must not keep a
 * cancelled `put` waiting for its next chunk.
 */
async function* chunksOf(source: PutSource, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  if (source instanceof Readable) {
    if (signal !== undefined) addAbortSignal(signal, source);
    for await (const chunk of source) yield typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Uint8Array);
    return;
  }
  const iter = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted =
    signal === undefined
      ? undefined
      : new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        });
  aborted?.catch(() => undefined);
  try {
    for (;;) {
      const next = aborted === undefined ? await iter.next() : await Promise.race([iter.next(), aborted]);
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
    // Not awaited: after an abort the source may be stuck in next(), and its return() would wait for it.
    iter.return?.()?.catch(() => undefined);
  }
}

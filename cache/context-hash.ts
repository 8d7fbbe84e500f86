import { expandPattern, hasMeta, unescapeLiteral } from "./glob.ts";
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import type { BigIntStats } from "node:fs";
import * as nodeFs from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, posix, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import PQueue from "p-queue";
import { htkError, isCancellation, isHtkError } from "../base/errors/index.ts";
import { sha256Of, type Digest } from "../base/oci/digest.ts";

/**
 * Content-based checksums of local directory trees: the cache key of a COPY/ADD source, computed the
 * way BuildKit's `cache/contenthash` defines it conceptually.
 *
 * - A file's digest covers its type, permission bits (incl. setuid/setgid/sticky), uid, gid, symlink
 *   target, device number and content. Not its mtime: `touch` keeps the digest, an edit changes it.
 *   (Content enters as its own sha256, so a header-only change can be recomputed without re-reading.)
 * - A directory's digest covers its own header and its children, sorted by name, as (name, digest)
 *   pairs: renaming a child changes the directory. The context root's own header is left out, as
 *   BuildKit does, so `COPY . .` does not depend on the mode of the folder the context lives in.
 * - A wildcard source combines the matches' base names and digests; a single match whose base name the
 *   pattern spells literally keeps that match's digest.
 *
 * Speed comes from a metadata cache: per path the stat tuple (size, mtime, ctime, inode, mode, uid,
 * gid) and the content digest, persisted under `cacheDir`. An unchanged file costs one `lstat`; its
 * content is read only when the tuple changed. ctime is in the tuple because a same-size edit within
 * the same mtime is still a ctime change, and because nothing can set ctime back. Entries for files
 * changed very recently (within `racyWindowMs` of being read) are not trusted, as git does with "racy"
 * index entries: file-system clocks are coarse (a jiffy on ext4), so a second same-size write in the
 * same tick would otherwise go unseen.
 */

export type NodeType = "file" | "dir" | "symlink" | "fifo" | "socket" | "char" | "block";

/** What the checksum of one path was made of: the pre-image `diffChecksums` explains changes with. */
export interface NodeRecord {
  readonly type: NodeType;
  /** Permission bits, `st_mode & 0o7777`. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly linkTarget?: string;
  readonly contentDigest?: Digest;
  readonly rdev?: number;
  readonly digest: Digest;
}

/**
 * A checksum with everything it was computed from, keyed by context-relative path ("/src/a.txt",
 * "/" for the root). Plain JSON: the solver can store it beside a cache record and explain a miss on a
 * later build (`--explain-cache`).
 */
export interface ChecksumTree {
  readonly source: string;
  readonly digest: Digest;
  readonly entries: Readonly<Record<string, NodeRecord>>;
}

export interface ChecksumOptions {
  /** Treat `path` as a pattern (`*`, `?`, `[a-z]`, `\` escapes, Go `path.Match` rules; `*` stops at `/`). */
  readonly wildcard?: boolean;
  /** Follow a symbolic link at the source itself (links in the middle of the path are always followed). */
  readonly followLinks?: boolean;
  /** A wildcard matching nothing gives the empty digest instead of HTK-CACHE-0006. */
  readonly allowEmptyWildcard?: boolean;
  readonly signal?: AbortSignal;
}

/** The file reads a hasher makes, injectable to count them or to simulate failures. */
export interface HashFs {
  lstat(path: string): Promise<BigIntStats>;
  /** Optional: when present, directory entries are stat'ed synchronously in small batches (faster). */
  lstatSync?: (path: string) => BigIntStats;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  open(path: string): Promise<ReadHandle>;
}

export interface ReadHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

export interface ContextHasherOptions {
  /** Where metadata caches persist (one file per context root); memory-only when absent. */
  readonly cacheDir?: string;
  /** How many files are read at once; default: the number of cores. */
  readonly concurrency?: number;
  /** Files changed this recently before they were read are re-read next time; default 1000 ms. */
  readonly racyWindowMs?: number;
  readonly fs?: Partial<HashFs>;
  /**
   * Stat directory entries synchronously in small batches (default true; see `#lstatBatch`). Off
   * means every lstat goes through the thread pool, as for file systems known to be slow.
   */
  readonly syncStat?: boolean;
}

/** Counters since the hasher was created, for tests and benchmarks. */
export interface HashStats {
  lstats: number;
  readdirs: number;
  filesRead: number;
  bytesRead: number;
  cacheHits: number;
}

/**
 * The callback API, promisified by hand: on a warm dentry cache `fs.promises.lstat` measured 2-3x
 * slower than `fs.lstat` (its per-call bookkeeping, not the syscall, dominates), and a no-op re-hash is
 * nothing but lstat calls.
 */
const nodeHashFs: HashFs = {
  lstatSync: (p) => fs.lstatSync(p, { bigint: true }),
  lstat: (p) => new Promise((res, rej) => fs.lstat(p, { bigint: true }, (e, st) => (e === null ? res(st) : rej(e)))),
  readdir: (p) => new Promise((res, rej) => fs.readdir(p, (e, names) => (e === null ? res(names) : rej(e)))),
  readlink: (p) => new Promise((res, rej) => fs.readlink(p, (e, target) => (e === null ? res(target) : rej(e)))),
  open: (p) => new Promise((res, rej) => fs.open(p, "r", (e, fd) => (e === null ? res(fdHandle(fd)) : rej(e)))),
};

function fdHandle(fd: number): ReadHandle {
  return {
    read: (buffer, offset, length, position) =>
      new Promise((res, rej) => fs.read(fd, buffer, offset, length, position, (e, bytesRead) => (e === null ? res({ bytesRead }) : rej(e)))),
    close: () => new Promise((res, rej) => fs.close(fd, (e) => (e === null ? res() : rej(e)))),
  };
}

/** BuildKit's bound on symlink hops when resolving a path. */
const MAX_SYMLINKS = 255;
const READ_CHUNK = 1024 * 1024;
/**
 * Files up to this size are read in one call under the metadata limiter: for them the cost is I/O
 * latency, not hashing, and two reads in flight (one per core) left the disk idle most of the time.
 */
const SMALL_FILE = 64 * 1024;
const CACHE_FORMAT = 2;
const SYNC_BATCH = 256;
/**
 * Children of one directory hashed at once. Bounds the pending work (and its memory) on huge trees
 * while nested directories still give the limiters plenty to overlap.
 */
const CHILDREN_IN_FLIGHT = 64;
/** Context roots whose metadata stay in memory, as BuildKit keeps an LRU of 20 cache contexts. */
const MAX_ROOTS_IN_MEMORY = 16;
const SYNC_BATCH_BUDGET_MS = 25;
const EMPTY_DIGEST = sha256Of("");
/** The root's header is a constant: see the module comment. */
const ROOT_HEADER = "dir\0root";

/** One cached file or symlink: the stat tuple it was seen with and what it held. */
interface MetaEntry {
  readonly type: "file" | "symlink";
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  /** Full st_mode, type bits included. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Content digest (files) or link target (symlinks). */
  readonly value: string;
}

type MetaRow = [string, "file" | "symlink", number, string, string, string, string, number, number, number, string];

interface RootCache {
  readonly root: string;
  readonly file: string | undefined;
  readonly entries: Map<string, MetaEntry>;
  dirty: boolean;
  saving: Promise<void>;
}

interface Walk {
  /** Set when synchronous lstat turned out slow on this tree (see `#lstatBatch`). */
  asyncOnly: boolean;
  readonly rc: RootCache;
  readonly signal: AbortSignal;
  readonly collect: Map<string, NodeRecord> | undefined;
  readonly visited: Set<string>;
}

interface Resolved {
  readonly rel: string;
  readonly st: BigIntStats;
}

export class ContextHasher {
  readonly #fs: HashFs;
  readonly #cacheDir: string | undefined;
  readonly #racyWindowNs: bigint;
  /** Small metadata operations: many in flight keeps libuv's thread pool busy without flooding it. */
  readonly #io: Limiter;
  /** Content reads: bounded so memory stays at `concurrency` read buffers. */
  readonly #reads: PQueue;
  readonly #roots = new Map<string, Promise<RootCache>>();
  readonly #pendingSaves = new Set<Promise<void>>();
  readonly #stats: HashStats = { lstats: 0, readdirs: 0, filesRead: 0, bytesRead: 0, cacheHits: 0 };

  constructor(opts: ContextHasherOptions = {}) {
    const merged: HashFs = { ...nodeHashFs, ...opts.fs };
    if (opts.syncStat === false) delete merged.lstatSync;
    this.#fs = merged;
    this.#cacheDir = opts.cacheDir;
    this.#racyWindowNs = BigInt(Math.round((opts.racyWindowMs ?? 1000) * 1e6));
    const concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
    this.#reads = new PQueue({ concurrency });
    this.#io = new Limiter(Math.max(16, concurrency * 8));
  }

  stats(): HashStats {
    return { ...this.#stats };
  }

  /** The checksum of a COPY source: a file, a directory, or (with `wildcard`) a pattern. */
  async checksum(root: string, path: string, opts: ChecksumOptions = {}): Promise<Digest> {
    return (await this.#run(root, path, opts, false)).digest;
  }

  /** The checksum and every record it was computed from, for explaining a later change. */
  async checksumTree(root: string, path: string, opts: ChecksumOptions = {}): Promise<ChecksumTree> {
    return this.#run(root, path, opts, true);
  }

  /** Waits for pending metadata-cache writes (each checksum call starts one when something changed). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pendingSaves]);
  }

  async #run(root: string, path: string, opts: ChecksumOptions, collect: boolean): Promise<ChecksumTree> {
    opts.signal?.throwIfAborted();
    const rc = await this.#rootCache(root);
    // The first failure stops the rest of the walk instead of letting it finish for nothing.
    // Linked by hand rather than with AbortSignal.any, whose signals Node 20 keeps alive as long as the
    // caller's signal lives (a build's signal outlives thousands of checksum calls).
    const stop = new AbortController();
    const forward = (): void => stop.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", forward, { once: true });
    const walk: Walk = { asyncOnly: false, rc, signal: stop.signal, collect: collect ? new Map() : undefined, visited: new Set() };
    try {
      const source = cleanPath(path);
      const digest =
        opts.wildcard === true && hasMeta(source)
          ? await this.#wildcard(walk, source, opts)
          : await this.#single(walk, source, opts.followLinks ?? false);
      const entries = walk.collect === undefined ? {} : Object.fromEntries([...walk.collect].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      return { source, digest, entries };
    } catch (err) {
      stop.abort();
      if (opts.signal?.aborted === true && !isHtkError(err)) throw opts.signal.reason;
      throw err;
    } finally {
      opts.signal?.removeEventListener("abort", forward);
      if (rc.dirty) this.#save(rc);
    }
  }

  async #single(walk: Walk, source: string, followLinks: boolean): Promise<Digest> {
    const target = await this.#resolve(walk, source, followLinks);
    if (target === undefined) throw htkError("HTK-CACHE-0006", { path: displayPath(source) });
    return (await this.#top(walk, target)).digest;
  }

  async #wildcard(walk: Walk, pattern: string, opts: ChecksumOptions): Promise<Digest> {
    const candidates = await expandPattern(pattern, async (base) => {
      const dir = await this.#resolve(walk, base, true);
      return dir === undefined || !dir.st.isDirectory() ? undefined : this.#readdir(walk, dir.rel);
    });
    const matches: { path: string; digest: Digest }[] = [];
    for (const candidate of candidates) {
      const target = await this.#resolve(walk, candidate, opts.followLinks ?? false);
      if (target !== undefined) matches.push({ path: candidate, digest: (await this.#top(walk, target)).digest });
    }
    const first = matches[0];
    if (first === undefined) {
      if (opts.allowEmptyWildcard === true) return EMPTY_DIGEST;
      throw htkError("HTK-CACHE-0006", { path: displayPath(pattern) });
    }
    // BuildKit parity: one match that the pattern names literally is keyed like a plain source.
    if (matches.length === 1 && unescapeLiteral(posix.basename(pattern)) === posix.basename(first.path)) return first.digest;
    const h = createHash("sha256");
    matches.forEach((m, i) => {
      if (i > 0) h.update("\0");
      h.update(posix.basename(m.path));
      h.update(m.digest);
    });
    return `sha256:${h.digest("hex")}`;
  }

  /** Hashes one source and forgets cached entries below it that the walk no longer saw. */
  async #top(walk: Walk, target: Resolved): Promise<NodeRecord> {
    const record = await this.#node(walk, target.rel, target.st);
    if (record.type === "dir") {
      const prefix = target.rel === "/" ? "/" : `${target.rel}/`;
      for (const key of walk.rc.entries.keys()) {
        if (key.startsWith(prefix) && !walk.visited.has(key)) {
          walk.rc.entries.delete(key);
          walk.rc.dirty = true;
        }
      }
    }
    return record;
  }

  async #node(walk: Walk, rel: string, st: BigIntStats): Promise<NodeRecord> {
    const type = typeOf(st);
    const mode = Number(st.mode) & 0o7777;
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    let record: NodeRecord;
    switch (type) {
      case "dir": {
        const names = await this.#readdir(walk, rel);
        const prefix = rel === "/" ? "/" : `${rel}/`;
        const synced = await this.#lstatBatch(walk, prefix, names);
        const children = await mapLimit(names, CHILDREN_IN_FLIGHT, walk.signal, async (name, i): Promise<[string, NodeRecord] | undefined> => {
          const childRel = prefix + name;
          const cst = synced === undefined ? await this.#lstat(walk, childRel) : synced[i];
          // Gone between readdir and lstat: it is simply not part of this snapshot.
          return cst === undefined ? undefined : [name, await this.#node(walk, childRel, cst)];
        });
        const h = createHash("sha256");
        h.update("htk.dir.v1\0");
        h.update(rel === "/" ? ROOT_HEADER : header(type, mode, uid, gid, "", 0));
        const present = children.filter((c) => c !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const [name, child] of present) h.update(`\n${name}\0${child.digest}`);
        record = { type, mode, uid, gid, digest: `sha256:${h.digest("hex")}` };
        break;
      }
      case "file": {
        walk.visited.add(rel);
        const contentDigest = await this.#content(walk, rel, st);
        record = { type, mode, uid, gid, contentDigest, digest: leafDigest(header(type, mode, uid, gid, "", 0), contentDigest) };
        break;
      }
      case "symlink": {
        walk.visited.add(rel);
        const linkTarget = await this.#linkTarget(walk, rel, st);
        record = { type, mode, uid, gid, linkTarget, digest: leafDigest(header(type, mode, uid, gid, linkTarget, 0), "") };
        break;
      }
      case "char":
      case "block": {
        const rdev = Number(st.rdev);
        record = { type, mode, uid, gid, rdev, digest: leafDigest(header(type, mode, uid, gid, "", rdev), "") };
        break;
      }
      case "fifo":
      case "socket":
        // Never opened: reading a FIFO would block the build on whoever writes to it.
        record = { type, mode, uid, gid, digest: leafDigest(header(type, mode, uid, gid, "", 0), "") };
        break;
      default:
        return assertNever(type);
    }
    walk.collect?.set(rel, record);
    return record;
  }

  async #content(walk: Walk, rel: string, st: BigIntStats): Promise<Digest> {
    const cached = walk.rc.entries.get(rel);
    if (cached !== undefined && cached.type === "file" && sameStat(cached, st)) {
      this.#stats.cacheHits++;
      return cached.value as Digest;
    }
    const readStart = nowNs();
    const size = Number(st.size);
    const digest =
      size <= SMALL_FILE
        ? await this.#io.run(() => this.#hashFile(walk, rel, size), walk.signal)
        : await this.#reads.add(() => this.#hashFile(walk, rel, size));
    this.#remember(walk.rc, rel, "file", st, digest, readStart);
    return digest;
  }

  async #linkTarget(walk: Walk, rel: string, st: BigIntStats): Promise<string> {
    const cached = walk.rc.entries.get(rel);
    if (cached !== undefined && cached.type === "symlink" && sameStat(cached, st)) {
      this.#stats.cacheHits++;
      return cached.value;
    }
    const readStart = nowNs();
    const target = await this.#io.run(() => this.#guard(rel, () => this.#fs.readlink(this.#abs(walk, rel))), walk.signal);
    this.#remember(walk.rc, rel, "symlink", st, target, readStart);
    return target;
  }

  #remember(rc: RootCache, rel: string, type: "file" | "symlink", st: BigIntStats, value: string, readStart: bigint): void {
    const changed = st.mtimeNs > st.ctimeNs ? st.mtimeNs : st.ctimeNs;
    if (changed + this.#racyWindowNs < readStart) {
      rc.entries.set(rel, {
        type,
        size: Number(st.size),
        mtimeNs: st.mtimeNs,
        ctimeNs: st.ctimeNs,
        ino: st.ino,
        dev: st.dev,
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        value,
      });
      rc.dirty = true;
    } else if (rc.entries.delete(rel)) {
      rc.dirty = true;
    }
  }

  async #hashFile(walk: Walk, rel: string, size: number): Promise<Digest> {
    return this.#guard(rel, async (): Promise<Digest> => {
      // Checked when the task starts rather than via p-queue's signal option, which would add one
      // abort listener per queued file to the same signal.
      walk.signal.throwIfAborted();
      const fh = await this.#fs.open(this.#abs(walk, rel));
      try {
        const h = createHash("sha256");
        // One byte more than the size seen, so a small file is read (and its end found) in one call.
        const buf = Buffer.allocUnsafe(Math.min(size + 1, READ_CHUNK));
        let position = 0;
        for (;;) {
          walk.signal.throwIfAborted();
          const { bytesRead } = await fh.read(buf, 0, buf.byteLength, position);
          if (bytesRead === 0) break;
          h.update(buf.subarray(0, bytesRead));
          position += bytesRead;
          // A short read at or past the size seen is the end; earlier, it may be a network file
          // system returning less than asked, so keep reading until a read returns nothing.
          if (bytesRead < buf.byteLength && position >= size) break;
        }
        this.#stats.filesRead++;
        this.#stats.bytesRead += position;
        return `sha256:${h.digest("hex")}`;
      } finally {
        await fh.close().catch(() => undefined);
      }
    });
  }

  /**
   * Resolves a context path the way BuildKit scopes it: symlinks are followed inside the context, an
   * absolute target means the context root, and `..` never climbs above it.
   */
  async #resolve(walk: Walk, path: string, followFinal: boolean): Promise<Resolved | undefined> {
    const pending = path.split("/").filter((c) => c !== "" && c !== ".");
    const done: string[] = [];
    let hops = 0;
    let st = await this.#lstat(walk, "/");
    if (st === undefined) return undefined;
    while (pending.length > 0) {
      const c = pending.shift() as string;
      if (c === "..") {
        done.pop();
        continue;
      }
      const rel = `/${[...done, c].join("/")}`;
      const cst = await this.#lstat(walk, rel);
      if (cst === undefined) return undefined;
      if (cst.isSymbolicLink() && (pending.length > 0 || followFinal)) {
        if (++hops > MAX_SYMLINKS) throw htkError("HTK-CACHE-0007", { path: displayPath(path), limit: MAX_SYMLINKS });
        const target = await this.#guard(rel, () => this.#fs.readlink(this.#abs(walk, rel)));
        if (target.startsWith("/")) done.length = 0;
        pending.unshift(...target.split("/").filter((x) => x !== "" && x !== "."));
        continue;
      }
      if (pending.length > 0 && !cst.isDirectory()) return undefined;
      done.push(c);
      st = cst;
    }
    return { rel: `/${done.join("/")}`, st };
  }

  /**
   * The lstat of a directory's entries done synchronously, yielding to the event loop every
   * `SYNC_BATCH` calls. On a warm dentry cache a synchronous lstat costs about a microsecond while
   * the thread-pool round trip of an asynchronous one costs ten times that on the main thread alone,
   * and a no-op re-hash is nothing but lstat calls. Slow file systems (network, FUSE) would block the
   * event loop, so a batch that takes longer than `SYNC_BATCH_BUDGET_MS` switches the walk to
   * asynchronous calls for good. Undefined means: use the asynchronous path.
   */
  async #lstatBatch(walk: Walk, prefix: string, names: readonly string[]): Promise<(BigIntStats | undefined)[] | undefined> {
    const lstatSync = this.#fs.lstatSync;
    if (lstatSync === undefined || walk.asyncOnly) return undefined;
    const out: (BigIntStats | undefined)[] = [];
    for (let start = 0; start < names.length; start += SYNC_BATCH) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      walk.signal.throwIfAborted();
      const began = performance.now();
      for (const name of names.slice(start, start + SYNC_BATCH)) {
        const rel = prefix + name;
        this.#stats.lstats++;
        try {
          out.push(lstatSync(this.#abs(walk, rel)));
        } catch (err) {
          if (codeOf(err) !== "ENOENT" && codeOf(err) !== "ENOTDIR") throw this.#mapError(rel, err);
          out.push(undefined);
        }
      }
      if (performance.now() - began > SYNC_BATCH_BUDGET_MS) walk.asyncOnly = true;
      if (walk.asyncOnly && start + SYNC_BATCH < names.length) {
        const rest = await Promise.all(names.slice(start + SYNC_BATCH).map((n) => this.#lstat(walk, prefix + n)));
        return out.concat(rest);
      }
    }
    return out;
  }

  async #lstat(walk: Walk, rel: string): Promise<BigIntStats | undefined> {
    return this.#io.run(async () => {
      try {
        this.#stats.lstats++;
        return await this.#fs.lstat(this.#abs(walk, rel));
      } catch (err) {
        if (codeOf(err) === "ENOENT" || codeOf(err) === "ENOTDIR") return undefined;
        throw this.#mapError(rel, err);
      }
    }, walk.signal);
  }

  async #readdir(walk: Walk, rel: string): Promise<string[]> {
    return this.#io.run(
      () =>
        this.#guard(rel, () => {
          this.#stats.readdirs++;
          return this.#fs.readdir(this.#abs(walk, rel));
        }),
      walk.signal,
    );
  }

  #abs(walk: Walk, rel: string): string {
    return rel === "/" ? walk.rc.root : walk.rc.root + rel;
  }

  async #guard<T>(rel: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#mapError(rel, err);
    }
  }

  #mapError(rel: string, err: unknown): unknown {
    if (isHtkError(err) || isCancellation(err)) return err;
    const code = codeOf(err);
    if (code === "ENOENT") return htkError("HTK-CACHE-0006", { path: displayPath(rel) }, { cause: err });
    if (code === "ELOOP") return htkError("HTK-CACHE-0007", { path: displayPath(rel), limit: MAX_SYMLINKS }, { cause: err });
    if (code !== undefined) {
      const detail = err instanceof Error ? err.message : String(err);
      return htkError("HTK-CACHE-0008", { path: displayPath(rel), detail }, { cause: err });
    }
    return err;
  }

  #rootCache(root: string): Promise<RootCache> {
    const abs = resolve(root);
    let p = this.#roots.get(abs);
    if (p === undefined) {
      p = this.#loadRoot(abs);
      // A failed load is retried next time rather than remembered.
      p.catch(() => this.#roots.delete(abs));
    }
    // Most recently used last; the least recently used root leaves memory (its file stays on disk).
    this.#roots.delete(abs);
    this.#roots.set(abs, p);
    for (const key of this.#roots.keys()) {
      if (this.#roots.size <= MAX_ROOTS_IN_MEMORY) break;
      this.#roots.delete(key);
    }
    return p;
  }

  async #loadRoot(abs: string): Promise<RootCache> {
    let root = abs;
    try {
      root = await nodeFs.realpath(abs);
    } catch (err) {
      if (codeOf(err) === "ENOENT") throw htkError("HTK-CACHE-0006", { path: abs }, { cause: err });
      throw this.#mapError("/", err);
    }
    const file = this.#cacheDir === undefined ? undefined : join(this.#cacheDir, "contenthash", `${sha256Of(root).slice(7, 39)}.json`);
    const rc: RootCache = { root, file, entries: new Map(), dirty: false, saving: Promise.resolve() };
    if (file !== undefined) {
      try {
        const data: unknown = JSON.parse(await nodeFs.readFile(file, "utf8"));
        for (const [rel, entry] of parseRows(data, root)) rc.entries.set(rel, entry);
      } catch {
        // Missing or unreadable: the cache is only an accelerator, start empty.
      }
    }
    return rc;
  }

  /** Writes the metadata cache atomically (temp file, rename); writes of one root never overlap. */
  #save(rc: RootCache): void {
    if (rc.file === undefined) {
      rc.dirty = false;
      return;
    }
    const file = rc.file;
    rc.saving = rc.saving.then(async () => {
      if (!rc.dirty) return;
      rc.dirty = false;
      const rows: MetaRow[] = [];
      for (const [rel, e] of rc.entries) rows.push([rel, e.type, e.size, String(e.mtimeNs), String(e.ctimeNs), String(e.ino), String(e.dev), e.mode, e.uid, e.gid, e.value]);
      const tmp = `${file}.${randomUUID()}.tmp`;
      try {
        await nodeFs.mkdir(join(file, ".."), { recursive: true });
        await nodeFs.writeFile(tmp, JSON.stringify({ v: CACHE_FORMAT, root: rc.root, rows }));
        await nodeFs.rename(tmp, file);
      } catch {
        // Losing the cache costs re-reading files next time, never a wrong digest: not worth failing a build.
        await nodeFs.unlink(tmp).catch(() => undefined);
      }
    });
    const saving = rc.saving;
    this.#pendingSaves.add(saving);
    saving.finally(() => this.#pendingSaves.delete(saving)).catch(() => undefined);
  }
}

/** The checksum of a COPY source with a throw-away hasher (no persistent cache). */
export async function checksum(root: string, path: string, opts: ChecksumOptions = {}): Promise<Digest> {
  return new ContextHasher().checksum(root, path, opts);
}

// ---------------------------------------------------------------------------------------------------
// Explaining a change

export type ChangeField = "content" | "mode" | "uid" | "gid" | "type" | "link-target" | "device";

export type ChecksumChange =
  | { readonly kind: "added"; readonly path: string; readonly after: NodeRecord; readonly descendants: number }
  | { readonly kind: "removed"; readonly path: string; readonly before: NodeRecord; readonly descendants: number }
  | {
      readonly kind: "modified";
      readonly path: string;
      readonly fields: readonly ChangeField[];
      readonly before: NodeRecord;
      readonly after: NodeRecord;
    };

/**
 * Which paths made two checksums differ, and how. A directory is listed only when its own header
 * changed (its children's changes are listed as themselves); an added or removed directory is listed
 * once, with the number of entries below it, not entry by entry.
 */
export function diffChecksums(oldTree: ChecksumTree, newTree: ChecksumTree): ChecksumChange[] {
  if (oldTree.digest === newTree.digest) return [];
  const before = oldTree.entries;
  const after = newTree.entries;
  const changes: ChecksumChange[] = [];
  const coveredBy = (p: string, tops: Set<string>): boolean => {
    for (let d = posix.dirname(p); ; d = posix.dirname(d)) {
      if (tops.has(d)) return true;
      if (d === "/" || d === ".") return false;
    }
  };
  const addedTops = new Set<string>();
  const removedTops = new Set<string>();
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const path of paths) {
    const b = before[path];
    const a = after[path];
    if (b !== undefined && a !== undefined) {
      const fields = changedFields(b, a);
      if (fields.length > 0) changes.push({ kind: "modified", path, fields, before: b, after: a });
      // A file replaced by a directory (or back): the children on either side are additions/removals.
      if (fields.includes("type")) {
        if (a.type === "dir") addedTops.add(path);
        if (b.type === "dir") removedTops.add(path);
      }
    } else if (a !== undefined) {
      if (coveredBy(path, addedTops)) continue;
      if (a.type === "dir") addedTops.add(path);
      changes.push({ kind: "added", path, after: a, descendants: 0 });
    } else if (b !== undefined) {
      if (coveredBy(path, removedTops)) continue;
      if (b.type === "dir") removedTops.add(path);
      changes.push({ kind: "removed", path, before: b, descendants: 0 });
    }
  }
  // Count what lies below each added or removed directory in one pass (per path, its ancestors).
  const counts = new Map<string, number>();
  const countBelow = (entries: Readonly<Record<string, NodeRecord>>, tops: Set<string>, kind: string): void => {
    for (const p of Object.keys(entries)) {
      if (p === "/") continue;
      for (let d = posix.dirname(p); ; d = posix.dirname(d)) {
        if (tops.has(d)) counts.set(`${kind}${d}`, (counts.get(`${kind}${d}`) ?? 0) + 1);
        if (d === "/") break;
      }
    }
  };
  countBelow(after, addedTops, "+");
  countBelow(before, removedTops, "-");
  return changes.map((c) =>
    c.kind === "added" ? { ...c, descendants: counts.get(`+${c.path}`) ?? 0 } : c.kind === "removed" ? { ...c, descendants: counts.get(`-${c.path}`) ?? 0 } : c,
  );
}

function changedFields(b: NodeRecord, a: NodeRecord): ChangeField[] {
  if (b.type !== a.type) return ["type"];
  const fields: ChangeField[] = [];
  if (b.contentDigest !== a.contentDigest) fields.push("content");
  if (b.mode !== a.mode) fields.push("mode");
  if (b.uid !== a.uid) fields.push("uid");
  if (b.gid !== a.gid) fields.push("gid");
  if (b.linkTarget !== a.linkTarget) fields.push("link-target");
  if (b.rdev !== a.rdev) fields.push("device");
  return fields;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** `Promise.all(items.map(fn))` with at most `limit` calls in flight; results keep the input order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal.throwIfAborted();
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A bare concurrency limit for the metadata calls of a walk. p-queue (used for content reads) costs
 * several microseconds per task in bookkeeping; with one lstat per file that overhead was most of a
 * no-op re-hash.
 */
class Limiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly max: number) {}

  async run<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.#active >= this.max) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      signal.throwIfAborted();
      return await fn();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}

function typeOf(st: BigIntStats): NodeType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "char";
  return "block";
}

/** NUL separates fields: no field (a path component, a link target) can contain it. */
function header(type: NodeType, mode: number, uid: number, gid: number, linkTarget: string, rdev: number): string {
  return `${type}\0${mode.toString(8)}\0${uid}\0${gid}\0${rdev}\0${linkTarget}`;
}

function leafDigest(head: string, content: string): Digest {
  return `sha256:${createHash("sha256").update("htk.file.v1\0").update(head).update("\0").update(content).digest("hex")}`;
}

function sameStat(e: MetaEntry, st: BigIntStats): boolean {
  return (
    e.size === Number(st.size) &&
    e.mtimeNs === st.mtimeNs &&
    e.ctimeNs === st.ctimeNs &&
    e.ino === st.ino &&
    e.dev === st.dev &&
    e.mode === Number(st.mode) &&
    e.uid === Number(st.uid) &&
    e.gid === Number(st.gid)
  );
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** "/a/b" form: rooted, no `.`, no trailing slash; `..` cannot climb above the root. */
function cleanPath(path: string): string {
  return posix.join("/", path);
}

function displayPath(rel: string): string {
  return rel === "/" ? "." : rel.replace(/^\/+/, "");
}

function parseRows(data: unknown, root: string): [string, MetaEntry][] {
  if (typeof data !== "object" || data === null) return [];
  const d = data as { v?: unknown; root?: unknown; rows?: unknown };
  if (d.v !== CACHE_FORMAT || d.root !== root || !Array.isArray(d.rows)) return [];
  const out: [string, MetaEntry][] = [];
  for (const row of d.rows as unknown[]) {
    if (!Array.isArray(row) || row.length !== 11) continue;
    const [rel, type, size, mtimeNs, ctimeNs, ino, dev, mode, uid, gid, value] = row as unknown[];
    if (
      typeof rel === "string" &&
      (type === "file" || type === "symlink") &&
      typeof size === "number" &&
      typeof mtimeNs === "string" &&
      /^\d+$/.test(mtimeNs) &&
      typeof ctimeNs === "string" &&
      /^\d+$/.test(ctimeNs) &&
      typeof ino === "string" &&
      /^\d+$/.test(ino) &&
      typeof dev === "string" &&
      /^\d+$/.test(dev) &&
      typeof mode === "number" &&
      typeof uid === "number" &&
      typeof gid === "number" &&
      typeof value === "string"
    ) {
      out.push([rel, { type, size, mtimeNs: BigInt(mtimeNs), ctimeNs: BigInt(ctimeNs), ino: BigInt(ino), dev: BigInt(dev), mode, uid, gid, value }]);
    }
  }
  return out;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function assertNever(value: never): never {
  throw new Error(`Unexpected node type: ${String(value)}`);
}

import { createHash, randomBytes } from "node:crypto";
import { closeSync, fchmodSync, futimesSync, openSync, rmSync, writeSync } from "node:fs";
import { chmod, lstat, lutimes, mkdir, open, readdir, readFile, rename, rm, symlink, utimes, writeFile, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { manifestDigest, type ManifestFields } from "../../wire/index.ts";

/**
 * The engine's copies of clients' local directories (build contexts), kept per client and directory
 * and brought up to date incrementally, as BuildKit's filesync does over a session:
 *
 * 1. `sync(key, digest)`: the client's manifest digest equals the copy's → `ready` (nothing travels);
 * 2. `sync(key, digest, entries)`: the copy is compared entry by entry (mode, size, mtime, ctime,
 *    inode as the client saw them). Removed paths go, directories and symbolic links are made at once,
 *    and the files whose metadata changed are asked for (`need-files`);
 * 3. `upload(transfer, chunks)` writes them (each file into a temporary name, renamed into place when
 *    complete: a changed file is a new inode, so the worker's mirror sees it change);
 * 4. `commit(transfer)`: directory modes and times are set, the manifest is written → `ready`.
 *
 * The copy keeps the client's modes and times (owners are the engine's: images never carry the
 * client's uids), so the worker's mirror of it (engine/worker/local-mirror.ts) sees exactly what
 * changed, and an unchanged second build costs a digest comparison here and a stat walk there.
 *
 * Builds hold a lease on the copy they read (`lease`); a sync that changes the copy waits for them.
 * Bounded memory: a transfer keeps its entry list and one open file at a time; transfers idle for
 * `idleMs` are dropped (their files and lease with them).
 */
export interface ContextKey {
  readonly clientId: string;
  readonly name: string;
  readonly dir: string;
}

export type ManifestEntry = ManifestFields;

export type SyncResult =
  | { readonly kind: "ready"; readonly ref: string; readonly transferredBytes: number; readonly filesReceived: number }
  | { readonly kind: "need-manifest" }
  | { readonly kind: "need-files"; readonly transferId: string; readonly indexes: readonly number[]; readonly totalBytes: number };

export interface Chunk {
  readonly index: number;
  readonly offset: bigint;
  readonly data: Uint8Array;
  readonly eof: boolean;
}

/** The bits the process umask takes off a new file's mode (then restored with fchmod). */
const UMASK = process.umask();
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

interface StoredEntry {
  readonly m: number;
  readonly s: string;
  readonly t: string;
  readonly c: string;
  readonly i: string;
  readonly l?: string;
}

interface State {
  readonly digest: string;
  readonly entries: Record<string, StoredEntry>;
}

interface Transfer {
  readonly id: string;
  readonly copy: Copy;
  readonly entries: readonly ManifestEntry[];
  readonly digest: string;
  readonly needed: Set<number>;
  /** Needed files that exist in the copy (an older version): unlinked before the new one is made. */
  readonly replaces: ReadonlySet<number>;
  readonly totalBytes: number;
  /** How many files were asked for. */
  readonly files: number;
  received: number;
  open: { index: number; handle: FileHandle; written: bigint; tmp: string } | undefined;
  timer: NodeJS.Timeout;
  release: () => void;
}

/** One client's copy of one directory, with its lock: syncs are exclusive, builds share. */
class Copy {
  readonly root: string;
  readers = 0;
  writer = false;
  readonly #waiters: Array<() => void> = [];

  constructor(root: string) {
    this.root = root;
  }

  get fs(): string {
    return join(this.root, "fs");
  }

  async acquire(mode: "read" | "write", signal: AbortSignal): Promise<() => void> {
    for (;;) {
      signal.throwIfAborted();
      if (mode === "read" ? !this.writer : !this.writer && this.readers === 0) break;
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
        signal.addEventListener("abort", onAbort, { once: true });
        this.#waiters.push(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    }
    if (mode === "read") this.readers++;
    else this.writer = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (mode === "read") this.readers--;
      else this.writer = false;
      for (const w of this.#waiters.splice(0)) w();
    };
  }
}

export interface ContextStoreOptions {
  /** `<dataRoot>/buildx/contexts`. */
  readonly root: string;
  /** A transfer idle this long is dropped; default 2 minutes. */
  readonly idleMs?: number;
  /**
   * Copies kept (one per client and directory); beyond this many, the least recently used copies no
   * build is reading are removed when a new one is made. Default 32.
   */
  readonly maxCopies?: number;
}

export class ContextStore {
  readonly #root: string;
  readonly #idleMs: number;
  readonly #copies = new Map<string, Copy>();
  readonly #transfers = new Map<string, Transfer>();
  readonly #refs = new Map<string, Copy>();
  /** The manifest of each copy as last committed (read from state.json once per engine). */
  readonly #states = new Map<string, State>();

  readonly #maxCopies: number;

  constructor(opts: ContextStoreOptions) {
    this.#root = opts.root;
    this.#idleMs = opts.idleMs ?? 120_000;
    this.#maxCopies = opts.maxCopies ?? 32;
  }

  async sync(key: ContextKey, digest: string, entries: readonly ManifestEntry[] | undefined, signal: AbortSignal): Promise<SyncResult> {
    const copy = this.#copy(key);
    const release = await copy.acquire("write", signal);
    let handedOver = false;
    try {
      let state = this.#states.get(copy.root);
      if (state === undefined) {
        state = await readState(copy.root);
        if (state !== undefined) this.#states.set(copy.root, state);
      }
      if (state?.digest === digest) return await this.#ready(copy, 0, 0);
      if (entries === undefined) return { kind: "need-manifest" };
      if (manifestDigest(entries) !== digest) throw htkError("HTK-ENGINE-0600", { name: key.name, detail: "the manifest does not match its digest" });
      // The copy is about to change: until the next commit, its state is what is on disk (or nothing).
      this.#states.delete(copy.root);
      await rm(join(copy.root, "state.json"), { force: true });
      const { needed, replaces } = await applyManifest(copy.fs, state, entries, signal);
      // Which local source this copy is ("context", "dockerfile", a named context), for du's description.
      await writeFile(join(copy.root, "name"), key.name);
      if (needed.length === 0) {
        this.#states.set(copy.root, await finish(copy, entries, digest));
        return await this.#ready(copy, 0, 0);
      }
      const id = randomBytes(16).toString("hex");
      const totalBytes = needed.reduce((n, i) => n + Number((entries[i] as ManifestEntry).size), 0);
      const transfer: Transfer = {
        id,
        copy,
        entries,
        digest,
        needed: new Set(needed),
        replaces,
        totalBytes,
        files: needed.length,
        received: 0,
        open: undefined,
        timer: setTimeout(() => void this.#drop(id), this.#idleMs),
        release,
      };
      transfer.timer.unref();
      this.#transfers.set(id, transfer);
      handedOver = true;
      return { kind: "need-files", transferId: id, indexes: needed, totalBytes };
    } finally {
      if (!handedOver) release();
    }
  }

  async upload(transferId: string, chunks: readonly Chunk[]): Promise<void> {
    const t = this.#transfer(transferId);
    try {
      for (const c of chunks) {
        const entry = t.entries[c.index];
        if (entry === undefined || !t.needed.has(c.index)) throw htkError("HTK-ENGINE-0600", { name: t.copy.root, detail: `file #${c.index} was not asked for` });
        if (t.open !== undefined && t.open.index !== c.index) throw htkError("HTK-ENGINE-0600", { name: entry.path, detail: "a file was left unfinished" });
        if (t.open === undefined && c.offset === 0n && c.eof && BigInt(c.data.length) === entry.size) {
          // A whole small file in one piece (most of a context): made in place with a few synchronous
          // calls (a round of promises each costs more). The old file, if any, is unlinked first, so a
          // changed file is always a new inode, as the worker's mirror expects.
          const dest = join(t.copy.fs, entry.path);
          const mode = entry.mode & 0o7777;
          if (t.replaces.has(c.index)) rmSync(dest, { force: true });
          const fd = openSync(dest, "wx", mode);
          try {
            writeSync(fd, c.data);
            if ((mode & UMASK) !== 0) fchmodSync(fd, mode);
            const mtime = Number(entry.mtimeNs) / 1e9;
            futimesSync(fd, mtime, mtime);
          } finally {
            closeSync(fd);
          }
          t.received += c.data.length;
          t.needed.delete(c.index);
          continue;
        }
        if (t.open === undefined) {
          const tmp = join(t.copy.root, `incoming-${t.id}`);
          t.open = { index: c.index, handle: await open(tmp, "w", 0o600), written: 0n, tmp };
        }
        const o = t.open;
        if (c.offset !== o.written) throw htkError("HTK-ENGINE-0600", { name: entry.path, detail: `a piece at offset ${c.offset} arrived, expected ${o.written}` });
        if (c.data.length > 0) await o.handle.write(c.data);
        o.written += BigInt(c.data.length);
        t.received += c.data.length;
        if (c.eof) {
          await o.handle.close();
          t.open = undefined;
          const dest = join(t.copy.fs, entry.path);
          await chmod(o.tmp, entry.mode & 0o7777);
          const mtime = Number(entry.mtimeNs) / 1e9;
          await utimes(o.tmp, mtime, mtime);
          await rm(dest, { recursive: true, force: true });
          await rename(o.tmp, dest);
          t.needed.delete(c.index);
        }
      }
      t.timer.refresh();
    } catch (err) {
      await this.#drop(transferId);
      throw err;
    }
  }

  async commit(transferId: string): Promise<SyncResult & { kind: "ready" }> {
    const t = this.#transfer(transferId);
    try {
      if (t.needed.size > 0 || t.open !== undefined) {
        throw htkError("HTK-ENGINE-0600", { name: t.copy.root, detail: `${t.needed.size} file(s) asked for were not sent` });
      }
      this.#states.set(t.copy.root, await finish(t.copy, t.entries, t.digest));
      const ready = await this.#ready(t.copy, t.received, t.files);
      await this.#collect();
      return ready;
    } finally {
      await this.#drop(transferId);
    }
  }

  /** The directory a context ref names, leased for a build: the copy does not change until `release`. */
  /**
   * Reads a copy for a build. `version` is its manifest's digest as last committed (while the lease
   * holds, nothing writes the copy): the worker's mirror of it skips its walk when it saw that version.
   */
  async lease(ref: string, signal: AbortSignal): Promise<{ readonly dir: string; readonly version?: string; release(): void }> {
    const copy = this.#refs.get(ref);
    if (copy === undefined) throw htkError("HTK-ENGINE-0601", { ref });
    const release = await copy.acquire("read", signal);
    const version = this.#states.get(copy.root)?.digest;
    return { dir: copy.fs, ...(version === undefined ? {} : { version: `${copy.root}@${version}` }), release };
  }

  /**
   * Removes a copy (build cache prune): false when a build reads it or a sync writes it now. The
   * copy's lock is held meanwhile, so a sync that starts during the removal waits and then rebuilds
   * the copy from nothing.
   */
  async remove(id: string): Promise<boolean> {
    if (!/^[0-9a-f]{32}$/.test(id)) return false;
    let copy = this.#copies.get(id);
    if (copy === undefined) {
      copy = new Copy(join(this.#root, id));
      this.#copies.set(id, copy);
    }
    if (copy.readers > 0 || copy.writer) return false;
    const release = await copy.acquire("write", new AbortController().signal);
    try {
      this.#states.delete(copy.root);
      for (const [ref, c] of this.#refs) if (c === copy) this.#refs.delete(ref);
      const gone = join(this.#root, `.prune-${randomBytes(6).toString("hex")}`);
      try {
        await rename(copy.root, gone);
      } catch {
        return false;
      }
      await rm(gone, { recursive: true, force: true });
      return true;
    } finally {
      release();
    }
  }

  /** Drops every open transfer (the engine is stopping). */
  async close(): Promise<void> {
    for (const id of [...this.#transfers.keys()]) await this.#drop(id);
  }

  async #ready(copy: Copy, transferredBytes: number, filesReceived: number): Promise<SyncResult & { kind: "ready" }> {
    const ref = createHash("sha256").update(copy.root).digest("hex").slice(0, 32);
    this.#refs.set(ref, copy);
    // The state file's time is the copy's last use (what the clean-up below orders by).
    const now = new Date();
    await utimes(join(copy.root, "state.json"), now, now).catch(() => undefined);
    return { kind: "ready", ref, transferredBytes, filesReceived };
  }

  /** Removes the least recently used copies beyond `maxCopies` that nothing reads or writes now. */
  async #collect(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#root);
    } catch {
      return;
    }
    if (names.length <= this.#maxCopies) return;
    const aged = await Promise.all(names.map(async (n) => ({ n, t: (await lstat(join(this.#root, n, "state.json")).catch(() => undefined))?.mtimeMs ?? 0 })));
    aged.sort((a, b) => a.t - b.t);
    for (const { n } of aged.slice(0, aged.length - this.#maxCopies)) {
      const root = join(this.#root, n);
      const copy = this.#copies.get(n);
      if (copy !== undefined && (copy.readers > 0 || copy.writer)) continue;
      this.#copies.delete(n);
      this.#states.delete(root);
      for (const [ref, c] of this.#refs) if (c.root === root) this.#refs.delete(ref);
      await rm(root, { recursive: true, force: true });
    }
  }

  #copy(key: ContextKey): Copy {
    const id = createHash("sha256").update(`${key.clientId}\0${key.name}\0${key.dir}`).digest("hex").slice(0, 32);
    let c = this.#copies.get(id);
    if (c === undefined) {
      c = new Copy(join(this.#root, id));
      this.#copies.set(id, c);
    }
    return c;
  }

  #transfer(id: string): Transfer {
    const t = this.#transfers.get(id);
    if (t === undefined) throw htkError("HTK-ENGINE-0602", { id });
    return t;
  }

  async #drop(id: string): Promise<void> {
    const t = this.#transfers.get(id);
    if (t === undefined) return;
    this.#transfers.delete(id);
    clearTimeout(t.timer);
    if (t.open !== undefined) {
      await t.open.handle.close().catch(() => undefined);
      await rm(t.open.tmp, { force: true });
    }
    // The copy's manifest was not rewritten, so the next sync compares against the old one and asks
    // again for whatever did not arrive.
    t.release();
  }
}

async function readState(root: string): Promise<State | undefined> {
  try {
    return JSON.parse(await readFile(join(root, "state.json"), "utf8")) as State;
  } catch {
    return undefined;
  }
}

/**
 * Brings the copy's tree in line with the manifest except for file contents: removes what is gone,
 * makes directories and links, and returns the indexes of files to fetch. Without a previous state the
 * copy is rebuilt from nothing (always correct).
 */
async function applyManifest(fsRoot: string, state: State | undefined, entries: readonly ManifestEntry[], signal: AbortSignal): Promise<{ needed: number[]; replaces: Set<number> }> {
  if (state === undefined) await rm(fsRoot, { recursive: true, force: true });
  await mkdir(fsRoot, { recursive: true });
  const old = state?.entries ?? {};
  const next = new Map(entries.map((e) => [e.path, e]));
  // Removals first, shallowest first: removing a directory removes what is under it.
  const gone = Object.keys(old)
    .filter((p) => {
      const n = next.get(p);
      return n === undefined || (n.mode & S_IFMT) !== ((old[p] as StoredEntry).m & S_IFMT);
    })
    .sort((a, b) => a.length - b.length);
  for (const p of gone) await rm(join(fsRoot, p), { recursive: true, force: true });
  const needed: number[] = [];
  const replaces = new Set<number>();
  for (let i = 0; i < entries.length; i++) {
    if (i % 256 === 0) signal.throwIfAborted();
    const e = entries[i] as ManifestEntry;
    checkPath(e.path);
    const dest = join(fsRoot, e.path);
    const was = old[e.path];
    const type = e.mode & S_IFMT;
    if (type === S_IFDIR) {
      const st = await lstat(dest).catch(() => undefined);
      if (st !== undefined && !st.isDirectory()) await rm(dest, { recursive: true, force: true });
      if (st === undefined || !st.isDirectory()) await mkdir(dest, { recursive: true });
      continue;
    }
    const same = was !== undefined && was.m === e.mode && was.s === String(e.size) && was.t === String(e.mtimeNs) && was.c === String(e.ctimeNs) && was.i === String(e.ino) && (was.l ?? "") === e.linkTarget;
    if (type === S_IFLNK) {
      if (same && (await lstat(dest).catch(() => undefined))?.isSymbolicLink() === true) continue;
      await rm(dest, { recursive: true, force: true });
      await mkdir(dirname(dest), { recursive: true });
      await symlink(e.linkTarget, dest);
      const t = Number(e.mtimeNs) / 1e9;
      await lutimes(dest, t, t);
      continue;
    }
    if (type !== S_IFREG) continue;
    if (was !== undefined) {
      const st = await lstat(dest).catch(() => undefined);
      if (same && st?.isFile() === true) continue;
      if (st !== undefined) replaces.add(i);
    }
    needed.push(i);
  }
  return { needed, replaces };
}

/** Directory modes and times (deepest first: writing into a directory moves its mtime), then the manifest. */
async function finish(copy: Copy, entries: readonly ManifestEntry[], digest: string): Promise<State> {
  const dirs = entries.filter((e) => (e.mode & S_IFMT) === S_IFDIR).reverse();
  for (const d of dirs) {
    const p = join(copy.fs, d.path);
    await chmod(p, d.mode & 0o7777);
    const t = Number(d.mtimeNs) / 1e9;
    await utimes(p, t, t);
  }
  const stored: Record<string, StoredEntry> = {};
  for (const e of entries) {
    stored[e.path] = { m: e.mode, s: String(e.size), t: String(e.mtimeNs), c: String(e.ctimeNs), i: String(e.ino), ...(e.linkTarget === "" ? {} : { l: e.linkTarget }) };
  }
  const state: State = { digest, entries: stored };
  const tmp = join(copy.root, "state.json.tmp");
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, join(copy.root, "state.json"));
  return state;
}

/** A manifest path must stay inside the copy: relative, no "..", no empty segments. */
function checkPath(p: string): void {
  if (p === "" || p.startsWith("/") || p.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw htkError("HTK-ENGINE-0600", { name: p, detail: "the path leaves the context" });
  }
}


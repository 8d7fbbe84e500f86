import { createHash } from "node:crypto";
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, readFile, readlink, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { compile, walkContext } from "../../base/dockerignore/index.ts";
import { htkError } from "../../base/errors/index.ts";
import { ContextHasher, type ChecksumTree } from "../../cache/index.ts";
import type { LocalSource } from "../../llb/index.ts";
import type { SolveSession } from "../../solver/index.ts";

/**
 * An incremental mirror of a client's local directory (the build context), as BuildKit keeps one per
 * session and shared key: each sync copies only what changed since the last one, removes what is gone,
 * applies the source's include/exclude patterns, and maps every owner to root (images never carry the
 * client's uids). The mirror is what the context's content key is computed from, so a no-op rebuild
 * costs a walk and a stat per file, never a copy.
 *
 * Invariant: a file in the mirror is never modified in place. A changed file (content, mode, anything
 * in the tuple) is removed and written anew, so snapshots may hard-link the mirror's files.
 *
 * Change detection uses the source's full stat tuple (size, mtime, ctime, inode, mode), kept in an
 * index beside the mirror: ctime catches a same-size edit within one mtime tick.
 */
export interface MirrorSpec {
  readonly sessionId: string;
  readonly name: string;
  readonly dir: string;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

interface IndexEntry {
  readonly size: string;
  readonly mtime: string;
  readonly ctime: string;
  readonly ino: string;
  readonly mode: number;
}

export interface SyncStats {
  readonly copied: number;
  readonly removed: number;
  readonly unchanged: number;
  /** Anything in the mirror was written (files, links, directories, their modes): its checksums may differ. */
  readonly changed: boolean;
}

/** Mirrors whose index is kept in memory between syncs (each is a few hundred kB for 5,000 files). */
const MEMO = 16;

export class LocalMirrors {
  readonly #root: string;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** The index of recently synced mirrors: a no-op sync then reads nothing but the source's metadata. */
  readonly #indexes = new Map<string, Record<string, IndexEntry>>();
  /** The source's content version each memoised index was synced from (when the source had one). */
  readonly #versions = new Map<string, string>();

  constructor(root: string) {
    this.#root = root;
  }

  /** The mirror's directory for a spec (stable across builds of the same session and patterns). */
  pathFor(spec: MirrorSpec): string {
    const h = createHash("sha256").update(JSON.stringify([spec.sessionId, spec.name, spec.dir, spec.include, spec.exclude])).digest("hex");
    return posix.join(this.#root, h.slice(0, 32));
  }

  /**
   * Brings the mirror up to date; concurrent syncs of one mirror run one after the other. `version`:
   * the source's content version if its owner knows one (a build service context copy's manifest
   * digest). When the last sync of this mirror saw the same version and the mirror is on disk as it
   * left it, nothing changed on either side: the walk of the source is skipped.
   */
  async sync(spec: MirrorSpec, signal: AbortSignal, version?: string): Promise<{ path: string; stats: SyncStats }> {
    const path = this.pathFor(spec);
    const previous = this.#locks.get(path) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(async (): Promise<SyncStats> => {
        const cached = this.#indexes.get(path);
        const seen = this.#versions.get(path);
        this.#indexes.delete(path);
        this.#versions.delete(path);
        let stats: SyncStats;
        let index: Record<string, IndexEntry>;
        if (cached !== undefined && version !== undefined && seen === version && (await exists(`${path}/index.json`)) && !(await exists(`${path}/syncing`))) {
          index = cached;
          stats = { copied: 0, removed: 0, unchanged: Object.values(cached).filter((e) => (e.mode & 0o170000) !== 0o040000).length, changed: false };
        } else {
          ({ index, stats } = await syncMirror(spec, path, signal, cached));
        }
        this.#indexes.set(path, index);
        if (version !== undefined) this.#versions.set(path, version);
        if (this.#indexes.size > MEMO) {
          const oldest = this.#indexes.keys().next().value as string;
          this.#indexes.delete(oldest);
          this.#versions.delete(oldest);
        }
        return stats;
      });
    this.#locks.set(path, run);
    try {
      return { path: `${path}/fs`, stats: await run };
    } finally {
      if (this.#locks.get(path) === run) this.#locks.delete(path);
    }
  }
}

/**
 * One sync. A no-op sync (nothing changed in the source) writes nothing: no directory modes or times,
 * no index. Whatever does change marks the mirror `syncing` first; a mirror found with that mark (a
 * sync that was interrupted) is rebuilt from nothing, so a mirror and its index never disagree.
 */
async function syncMirror(spec: MirrorSpec, base: string, signal: AbortSignal, cached?: Record<string, IndexEntry>): Promise<{ stats: SyncStats; index: Record<string, IndexEntry> }> {
  const fsRoot = `${base}/fs`;
  const indexFile = `${base}/index.json`;
  const marker = `${base}/syncing`;
  let index: Record<string, IndexEntry> | undefined = cached;
  // The memory's index holds only while the mirror is on disk as that sync left it: a prune removes
  // mirrors (and their index) behind our back.
  if (index !== undefined && !(await exists(indexFile))) index = undefined;
  if (await exists(marker)) index = undefined;
  else if (index === undefined) {
    try {
      index = JSON.parse(await readFile(indexFile, "utf8")) as Record<string, IndexEntry>;
    } catch {
      index = undefined;
    }
  }
  let dirty = false;
  const markDirty = async (): Promise<void> => {
    if (dirty) return;
    dirty = true;
    await mkdir(base, { recursive: true });
    await writeFile(marker, "");
  };
  if (index === undefined) {
    // No index (first sync, lost, or an interrupted sync): everything is copied again, which is always correct.
    await markDirty();
    await rm(fsRoot, { recursive: true, force: true });
    await mkdir(fsRoot, { recursive: true });
    index = {};
  }
  const next: Record<string, IndexEntry> = {};
  const dirTimes: Array<[string, Date, Date]> = [];
  let copied = 0;
  let unchanged = 0;
  const matcher = spec.exclude.length > 0 ? compile(spec.exclude, ".dockerignore") : undefined;
  const includer = spec.include.length > 0 ? compile(spec.include, "include") : undefined;
  for await (const entry of walkContext(spec.dir, matcher, { signal })) {
    if (includer !== undefined && entry.kind !== "dir" && !includer.matchesOrParentMatches(entry.path)) continue;
    if (entry.kind === "other") continue;
    const src = posix.join(spec.dir, entry.path);
    const dest = posix.join(fsRoot, entry.path);
    // The walk's own lstat: a second one per file would double the cost of a no-op sync.
    const st = entry.stats;
    const tuple: IndexEntry = { size: String(st.size), mtime: String(st.mtimeMs), ctime: String(st.ctimeMs), ino: String(st.ino), mode: st.mode };
    const old = index[entry.path];
    next[entry.path] = tuple;
    const same = old !== undefined && old.size === tuple.size && old.mtime === tuple.mtime && old.ctime === tuple.ctime && old.ino === tuple.ino && old.mode === tuple.mode;
    if (entry.kind === "dir") {
      dirTimes.push([dest, entry.stats.atime, entry.stats.mtime]);
      // A directory the index has with the same metadata is in the mirror as it was: nothing to do.
      if (same) continue;
      await markDirty();
      const d = await lstat(dest).catch(() => undefined);
      if (d !== undefined && !d.isDirectory()) await rm(dest, { recursive: true, force: true });
      if (d === undefined || !d.isDirectory()) await mkdir(dest, { recursive: true });
      await chmod(dest, entry.stats.mode & 0o7777);
      await lchown(dest, 0, 0);
      continue;
    }
    if (same) {
      unchanged++;
      continue;
    }
    await markDirty();
    await rm(dest, { recursive: true, force: true });
    if (entry.kind === "file") {
      await copyFile(src, dest);
      await chmod(dest, entry.stats.mode & 0o7777);
    } else {
      await symlink(await readlink(src), dest);
    }
    await lchown(dest, 0, 0);
    await lutimes(dest, entry.stats.atime, entry.stats.mtime);
    copied++;
  }
  // What the index had and the source no longer has, shallowest first (a directory takes its contents).
  let removed = 0;
  const gone = Object.keys(index)
    .filter((p) => next[p] === undefined)
    .sort((a, b) => a.length - b.length);
  const removedDirs: string[] = [];
  for (const p of gone) {
    if (removedDirs.some((d) => p.startsWith(`${d}/`))) continue;
    await markDirty();
    await rm(posix.join(fsRoot, p), { recursive: true, force: true });
    removedDirs.push(p);
    removed++;
  }
  if (dirty) {
    // Writing into a directory moves its mtime: set directory times last, deepest first.
    for (const [dest, atime, mtime] of dirTimes.reverse()) await utimes(dest, atime, mtime);
    await writeFile(`${indexFile}.tmp`, JSON.stringify(next));
    await rename(`${indexFile}.tmp`, indexFile);
    await rm(marker, { force: true });
  }
  return { stats: { copied, removed, unchanged, changed: dirty }, index: next };
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/**
 * A worker's local contexts: the session mirrors plus the stat-cached hasher that keys them. Both
 * workers key a context (`sourceContentKey`) and load it (`loadSource`) through this, so the key and the
 * snapshot always come from the same synced mirror.
 */
export class LocalContexts {
  readonly hasher: ContextHasher;
  readonly #mirrors: LocalMirrors;
  /** Checksum trees of recently synced mirrors (most recent last). */
  readonly #trees = new Map<string, ChecksumTree>();

  constructor(root: string) {
    this.hasher = new ContextHasher({ cacheDir: posix.join(root, "contenthash") });
    this.#mirrors = new LocalMirrors(posix.join(root, "locals"));
  }

  /** Syncs the session's mirror of the source and returns it with its checksum tree. */
  async synced(source: LocalSource, session: SolveSession, signal: AbortSignal): Promise<{ path: string; tree: ChecksumTree }> {
    const dir = session.locals[source.name];
    if (dir === undefined) throw htkError("HTK-BUILD-0004", { name: source.name });
    const { path, stats } = await this.#mirrors.sync({ sessionId: session.id, name: source.name, dir, include: source.include, exclude: source.exclude }, signal, session.localVersions?.[source.name]);
    // The mirror changes only through its sync: when it wrote nothing, the tree of last time is current.
    const known = this.#trees.get(path);
    if (!stats.changed && known !== undefined) return { path, tree: known };
    const tree = await this.hasher.checksumTree(path, ".", { signal });
    this.#trees.delete(path);
    this.#trees.set(path, tree);
    if (this.#trees.size > MEMO) this.#trees.delete(this.#trees.keys().next().value as string);
    return { path, tree };
  }
}

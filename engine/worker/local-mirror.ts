import { createHash } from "node:crypto";
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, readFile, readdir, readlink, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
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
}

export class LocalMirrors {
  readonly #root: string;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.#root = root;
  }

  /** The mirror's directory for a spec (stable across builds of the same session and patterns). */
  pathFor(spec: MirrorSpec): string {
    const h = createHash("sha256").update(JSON.stringify([spec.sessionId, spec.name, spec.dir, spec.include, spec.exclude])).digest("hex");
    return posix.join(this.#root, h.slice(0, 32));
  }

  /** Brings the mirror up to date; concurrent syncs of one mirror run one after the other. */
  async sync(spec: MirrorSpec, signal: AbortSignal): Promise<{ path: string; stats: SyncStats }> {
    const path = this.pathFor(spec);
    const previous = this.#locks.get(path) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => syncMirror(spec, path, signal));
    this.#locks.set(path, run);
    try {
      return { path: `${path}/fs`, stats: await run };
    } finally {
      if (this.#locks.get(path) === run) this.#locks.delete(path);
    }
  }
}

async function syncMirror(spec: MirrorSpec, base: string, signal: AbortSignal): Promise<SyncStats> {
  const fsRoot = `${base}/fs`;
  const indexFile = `${base}/index.json`;
  await mkdir(fsRoot, { recursive: true });
  let index: Record<string, IndexEntry> = {};
  try {
    index = JSON.parse(await readFile(indexFile, "utf8")) as Record<string, IndexEntry>;
  } catch {
    // No index (first sync, or it was lost): everything is copied again, which is always correct.
    await rm(fsRoot, { recursive: true, force: true });
    await mkdir(fsRoot, { recursive: true });
  }
  const next: Record<string, IndexEntry> = {};
  const seen = new Set<string>();
  const dirTimes: Array<[string, Date, Date]> = [];
  let copied = 0;
  let unchanged = 0;
  const matcher = spec.exclude.length > 0 ? compile(spec.exclude, ".dockerignore") : undefined;
  const includer = spec.include.length > 0 ? compile(spec.include, "include") : undefined;
  for await (const entry of walkContext(spec.dir, matcher, { signal })) {
    if (includer !== undefined && entry.kind !== "dir" && !includer.matchesOrParentMatches(entry.path)) continue;
    if (entry.kind === "other") continue;
    seen.add(entry.path);
    const src = posix.join(spec.dir, entry.path);
    const dest = posix.join(fsRoot, entry.path);
    // The walk's own lstat: a second one per file would double the cost of a no-op sync.
    const st = entry.stats;
    const tuple: IndexEntry = { size: String(st.size), mtime: String(st.mtimeMs), ctime: String(st.ctimeMs), ino: String(st.ino), mode: st.mode };
    const old = index[entry.path];
    next[entry.path] = tuple;
    const same = old !== undefined && old.size === tuple.size && old.mtime === tuple.mtime && old.ctime === tuple.ctime && old.ino === tuple.ino && old.mode === tuple.mode;
    if (entry.kind === "dir") {
      const d = await lstat(dest).catch(() => undefined);
      if (d !== undefined && !d.isDirectory()) await rm(dest, { recursive: true, force: true });
      if (d === undefined || !d.isDirectory()) await mkdir(dest, { recursive: true });
      await chmod(dest, entry.stats.mode & 0o7777);
      await lchown(dest, 0, 0);
      dirTimes.push([dest, entry.stats.atime, entry.stats.mtime]);
      continue;
    }
    if (same) {
      unchanged++;
      continue;
    }
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
  const removed = await removeUnseen(fsRoot, "", seen);
  // Writing into a directory moves its mtime: set directory times last, deepest first.
  for (const [dest, atime, mtime] of dirTimes.reverse()) await utimes(dest, atime, mtime);
  await writeFile(`${indexFile}.tmp`, JSON.stringify(next));
  await rename(`${indexFile}.tmp`, indexFile);
  return { copied, removed, unchanged };
}

async function removeUnseen(root: string, rel: string, seen: ReadonlySet<string>): Promise<number> {
  let removed = 0;
  for (const e of await readdir(posix.join(root, rel), { withFileTypes: true })) {
    const child = rel === "" ? e.name : `${rel}/${e.name}`;
    if (!seen.has(child)) {
      await rm(posix.join(root, child), { recursive: true, force: true });
      removed++;
    } else if (e.isDirectory()) {
      removed += await removeUnseen(root, child, seen);
    }
  }
  return removed;
}

/**
 * A worker's local contexts: the session mirrors plus the stat-cached hasher that keys them. Both
 * workers key a context (`sourceContentKey`) and load it (`loadSource`) through this, so the key and the
 * snapshot always come from the same synced mirror.
 */
export class LocalContexts {
  readonly hasher: ContextHasher;
  readonly #mirrors: LocalMirrors;

  constructor(root: string) {
    this.hasher = new ContextHasher({ cacheDir: posix.join(root, "contenthash") });
    this.#mirrors = new LocalMirrors(posix.join(root, "locals"));
  }

  /** Syncs the session's mirror of the source and returns it with its checksum tree. */
  async synced(source: LocalSource, session: SolveSession, signal: AbortSignal): Promise<{ path: string; tree: ChecksumTree }> {
    const dir = session.locals[source.name];
    if (dir === undefined) throw htkError("HTK-BUILD-0004", { name: source.name });
    const { path } = await this.#mirrors.sync({ sessionId: session.id, name: source.name, dir, include: source.include, exclude: source.exclude }, signal);
    return { path, tree: await this.hasher.checksumTree(path, ".", { signal }) };
  }
}

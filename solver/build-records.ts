import { createHash } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import type { ChecksumTree } from "../cache/index.ts";
import type { BuildRecord, BuildSummary, KeyPart, VertexStatus } from "./types.ts";

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Checksum trees, stored once each (see {@link TreeFiles}); not a build id (those start with a letter or digit). */
const TREES_DIR = ".trees";
const TREE_NAME_RE = /^[0-9a-f]{64}$/;
/** How long a tree file no record names yet is spared by a sweep: a running build's save may be naming it. */
const TREE_GRACE_MS = 5 * 60_000;

/**
 * Build records on disk: `<dir>/<build id>/record.json` plus one `vertex-<N>.log` per vertex that
 * wrote output (raw bytes, stdout and stderr interleaved as they arrived). The record is rewritten
 * atomically (temp file + rename) at start and end, so a reader never sees half a record; the logs
 * are appended while the build runs and are never clipped.
 *
 * Checksum trees (the per-file digests of a context or of a copied directory, kept so a later build can
 * say which files changed) are not written into record.json: each is stored once under `.trees/`,
 * named by its digest and source, and the record holds that name in its place. A no-op rebuild of a
 * 5,000-file context then writes a record of a few KiB instead of 1.2 MB (~15 ms of the engine's CPU
 * per build, and as much disk per build). `get` returns records without trees (what history, disk
 * usage and explanations of a stored build need); `recent`, which a new build compares itself with,
 * loads them. Removing a record removes the trees no other record names.
 */
export class BuildRecordStore {
  readonly dir: string;
  readonly #trees: TreeFiles;
  #runningSweep: Promise<void> | undefined;
  #nextSweep: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.#trees = new TreeFiles(join(dir, TREES_DIR));
  }

  async begin(record: BuildRecord): Promise<RecordWriter> {
    const dir = this.#dirOf(record.id);
    await this.#io("create the build record", dir, () => mkdir(dir, { recursive: true }));
    const writer = new RecordWriter(dir, (what, fn) => this.#io(what, dir, fn), this.#trees);
    await writer.save(record);
    return writer;
  }

  /** One record; its checksum trees only with `withTrees` (each read from `.trees/`; a missing one is left out). */
  async get(id: string, opts: { withTrees?: boolean } = {}): Promise<BuildRecord | undefined> {
    if (!ID_RE.test(id)) return undefined;
    try {
      const record = JSON.parse(await readFile(join(this.#dirOf(id), "record.json"), "utf8")) as BuildRecord;
      return await withTrees(record, opts.withTrees === true ? this.#trees : undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || err instanceof SyntaxError) return undefined;
      throw htkError("HTK-SOLVER-0004", { path: this.#dirOf(id), detail: (err as Error).message }, { cause: err });
    }
  }

  /** Summaries, newest first. Reads only the small `summary.json` of each build. */
  async list(filter: { target?: string } = {}): Promise<BuildSummary[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw htkError("HTK-SOLVER-0004", { path: this.dir, detail: (err as Error).message }, { cause: err });
    }
    const summaries = (await Promise.all(names.map((n) => this.#summary(n)))).filter((r): r is BuildSummary => r !== undefined);
    return summaries
      .filter((r) => filter.target === undefined || r.target === filter.target)
      .sort((a, b) => (a.started < b.started ? 1 : a.started > b.started ? -1 : a.id < b.id ? 1 : -1));
  }

  /**
   * Full records of the newest finished builds of `target`, newest first: what a new build is
   * compared with for `--explain-cache` (a build still running or cancelled says little about what
   * was cached).
   */
  async recent(target: string, opts: { except?: string; limit?: number } = {}): Promise<BuildRecord[]> {
    const finished = (await this.list({ target })).filter((r) => r.id !== opts.except && (r.status === "completed" || r.status === "failed"));
    const records = await Promise.all(finished.slice(0, opts.limit ?? 1).map((r) => this.get(r.id, { withTrees: true })));
    return records.filter((r): r is BuildRecord => r !== undefined);
  }

  async latest(target: string, except?: string): Promise<BuildRecord | undefined> {
    return (await this.recent(target, { ...(except === undefined ? {} : { except }), limit: 1 }))[0];
  }

  async #summary(id: string): Promise<BuildSummary | undefined> {
    if (!ID_RE.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.dir, id, "summary.json"), "utf8")) as BuildSummary;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
      // Written before summaries existed, or torn: the record itself says the same.
      const r = await this.get(id);
      return r === undefined ? undefined : summarize(r);
    }
  }

  async remove(id: string): Promise<boolean> {
    return (await this.removeMany([id])).has(id);
  }

  /**
   * Removes records and then, once for all of them, the checksum trees no record names any more (the
   * sweep reads every record.json). Returns the ids that were there.
   */
  async removeMany(ids: readonly string[]): Promise<Set<string>> {
    const removed = new Set<string>();
    for (const id of ids) {
      if (!ID_RE.test(id)) continue;
      const dir = this.#dirOf(id);
      if ((await this.get(id)) !== undefined) removed.add(id);
      await this.#io("remove the build record", dir, () => rm(dir, { recursive: true, force: true }));
    }
    await this.#io("remove unused checksum trees", join(this.dir, TREES_DIR), () => this.#sweep());
    return removed;
  }

  /**
   * One sweep after the caller's removals. Removals arriving together (`history rm` of several refs)
   * share sweeps: one running, at most one waiting to start, which every caller arriving meanwhile joins.
   */
  #sweep(): Promise<void> {
    if (this.#nextSweep !== undefined) return this.#nextSweep;
    const next = (this.#runningSweep ?? Promise.resolve()).catch(() => undefined).then(() => {
      this.#nextSweep = undefined;
      const running = this.#sweepTrees();
      this.#runningSweep = running;
      return running.finally(() => {
        if (this.#runningSweep === running) this.#runningSweep = undefined;
      });
    });
    this.#nextSweep = next;
    return next;
  }

  /** The full log of one vertex (empty when it wrote nothing). */
  async readLog(id: string, vertexIndex: number): Promise<Buffer> {
    if (!ID_RE.test(id)) return Buffer.alloc(0);
    try {
      return await readFile(join(this.#dirOf(id), logFileName(vertexIndex)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
      throw err;
    }
  }

  /**
   * Deletes the stored trees no record names. Trees written or reused in the last {@link TREE_GRACE_MS}
   * stay: a running build stores (or touches) its trees before the record naming them is renamed into
   * place, and its writer checks each tree again on every save.
   */
  async #sweepTrees(): Promise<void> {
    const treesDir = join(this.dir, TREES_DIR);
    let files: string[];
    try {
      files = await readdir(treesDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (files.length === 0) return;
    const named = new Set<string>();
    for (const n of await readdir(this.dir)) {
      if (!ID_RE.test(n)) continue;
      const text = await readFile(join(this.dir, n, "record.json"), "utf8").catch(() => "");
      for (const m of text.matchAll(/"tree(?:s)?":(\[[^\]]*\]|"[0-9a-f]{64}")/g)) for (const name of (m[1] ?? "").matchAll(/[0-9a-f]{64}/g)) named.add(name[0]);
    }
    const unnamed = files.filter((f) => TREE_NAME_RE.test(f.replace(/\.json$/, "")) && !named.has(f.replace(/\.json$/, "")));
    const cutoff = Date.now() - TREE_GRACE_MS;
    await Promise.all(
      unnamed.map(async (f) => {
        const file = join(treesDir, f);
        const st = await stat(file).catch(() => undefined);
        if (st !== undefined && st.mtimeMs < cutoff) await rm(file, { force: true });
      }),
    );
  }

  #dirOf(id: string): string {
    if (!ID_RE.test(id)) throw htkError("HTK-SOLVER-0004", { path: join(this.dir, id), detail: "the build id is not a valid name" });
    return join(this.dir, id);
  }

  async #io<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw htkError("HTK-SOLVER-0004", { path, detail: `could not ${what}: ${(err as Error).message}` }, { cause: err });
    }
  }
}

export const logFileName = (vertexIndex: number): string => `vertex-${vertexIndex}.log`;

export function summarize(r: BuildRecord): BuildSummary {
  const counts: Partial<Record<VertexStatus, number>> = {};
  for (const v of r.vertices) counts[v.outcome.status] = (counts[v.outcome.status] ?? 0) + 1;
  return {
    id: r.id,
    target: r.target,
    status: r.status,
    started: r.started,
    ...(r.completed === undefined ? {} : { completed: r.completed }),
    counts,
    ...(r.error === undefined ? {} : { error: r.error.message }),
  };
}

/** Writes one build's record and logs. Logs apply backpressure through the promise `log` returns. */
export class RecordWriter {
  readonly #dir: string;
  readonly #io: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  readonly #logs = new Map<number, { stream: WriteStream; bytes: number; error?: Error }>();
  readonly #trees: TreeFiles | undefined;
  #saving: Promise<void> = Promise.resolve();

  constructor(dir: string, io: <T>(what: string, fn: () => Promise<T>) => Promise<T>, trees?: TreeFiles) {
    this.#dir = dir;
    this.#io = io;
    this.#trees = trees;
  }

  log(vertexIndex: number, data: Uint8Array): Promise<void> | void {
    let entry = this.#logs.get(vertexIndex);
    if (entry === undefined) {
      const stream = createWriteStream(join(this.#dir, logFileName(vertexIndex)), { flags: "a" });
      const created: { stream: WriteStream; bytes: number; error?: Error } = { stream, bytes: 0 };
      stream.on("error", (err) => (created.error = err));
      entry = created;
      this.#logs.set(vertexIndex, entry);
    }
    entry.bytes += data.length;
    if (entry.stream.write(data)) return;
    const stream = entry.stream;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off("drain", done);
        stream.off("error", done);
        resolve();
      };
      stream.on("drain", done);
      stream.on("error", done);
    });
  }

  logBytes(vertexIndex: number): number {
    return this.#logs.get(vertexIndex)?.bytes ?? 0;
  }

  hasLog(vertexIndex: number): boolean {
    return this.#logs.has(vertexIndex);
  }

  /** Writes record.json atomically; saves are serialized so an older snapshot never wins. */
  save(record: BuildRecord): Promise<void> {
    const file = join(this.#dir, "record.json");
    const next = this.#saving.then(() =>
      this.#io("write the build record", async () => {
        const tmp = `${file}.${process.pid}.tmp`;
        const stored = this.#trees === undefined ? record : await this.#trees.externalize(record);
        await writeFile(tmp, `${JSON.stringify(stored)}\n`);
        await rename(tmp, file);
        const summary = join(this.#dir, "summary.json");
        await writeFile(tmp, `${JSON.stringify(summarize(record))}\n`);
        await rename(tmp, summary);
      }),
    );
    this.#saving = next.catch(() => undefined);
    return next;
  }

  /** Flushes and closes every log file. */
  async close(): Promise<void> {
    const errors: Error[] = [];
    await Promise.all(
      [...this.#logs.values()].map(
        (e) =>
          new Promise<void>((resolve) => {
            if (e.error !== undefined) errors.push(e.error);
            e.stream.end(() => resolve());
            e.stream.once("error", (err) => {
              errors.push(err);
              resolve();
            });
          }),
      ),
    );
    await this.#saving;
    const first = errors[0];
    if (first !== undefined) throw htkError("HTK-SOLVER-0004", { path: this.#dir, detail: `could not write a log: ${first.message}` }, { cause: first });
  }
}

/**
 * The checksum trees of the records, one file each (`<name>.json`, the name a digest of the tree's
 * digest and source: equal names, equal trees). Written once, atomically (temp file and rename); a
 * build that finds its tree stored only touches it (its mtime keeps a concurrent sweep off it). Every
 * save checks again: a tree this writer stored at an earlier save may have been swept since.
 */
class TreeFiles {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The record as stored: each tree replaced by its file's name (a string where the tree was). */
  async externalize(record: BuildRecord): Promise<BuildRecord> {
    let changed = false;
    const vertices = [];
    for (const v of record.vertices) {
      if (v.key === undefined || !v.key.parts.some((p) => (p.kind === "source-content" && p.tree !== undefined) || (p.kind === "content" && p.trees.some((t) => t !== undefined)))) {
        vertices.push(v);
        continue;
      }
      const parts: unknown[] = [];
      for (const p of v.key.parts) {
        if (p.kind === "source-content" && p.tree !== undefined) parts.push({ ...p, tree: await this.#store(p.tree) });
        else if (p.kind === "content") parts.push({ ...p, trees: await Promise.all(p.trees.map(async (t) => (t === undefined ? null : await this.#store(t)))) });
        else parts.push(p);
      }
      vertices.push({ ...v, key: { ...v.key, parts: parts as KeyPart[] } });
      changed = true;
    }
    return changed ? { ...record, vertices } : record;
  }

  /** A stored tree, or undefined when it is gone or unreadable. */
  async load(name: string): Promise<ChecksumTree | undefined> {
    if (!TREE_NAME_RE.test(name)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.#dir, `${name}.json`), "utf8")) as ChecksumTree;
    } catch {
      return undefined;
    }
  }

  async #store(tree: ChecksumTree): Promise<string> {
    const name = createHash("sha256").update(`${tree.digest}\n${tree.source}`).digest("hex");
    const file = join(this.#dir, `${name}.json`);
    const now = new Date();
    const present = await utimes(file, now, now).then(
      () => true,
      () => false,
    );
    if (!present) {
      await mkdir(this.#dir, { recursive: true });
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await writeFile(tmp, JSON.stringify(tree));
      await rename(tmp, file);
    }
    return name;
  }
}

/**
 * A record as read back: trees stored apart (names where the trees were) are loaded from `trees`, or
 * left out without it. Records written before trees were stored apart carry them inline.
 */
async function withTrees(record: BuildRecord, trees: TreeFiles | undefined): Promise<BuildRecord> {
  const named = (t: unknown): t is string => typeof t === "string";
  if (!record.vertices.some((v) => v.key?.parts.some((p) => (p.kind === "source-content" && named(p.tree)) || (p.kind === "content" && p.trees.some((t) => named(t) || t === null))) === true)) return record;
  const load = async (t: unknown): Promise<ChecksumTree | undefined> => (named(t) ? await trees?.load(t) : t === null ? undefined : (t as ChecksumTree | undefined));
  const vertices = [];
  for (const v of record.vertices) {
    if (v.key === undefined) {
      vertices.push(v);
      continue;
    }
    const parts: KeyPart[] = [];
    for (const p of v.key.parts) {
      if (p.kind === "source-content") {
        const { tree, ...rest } = p;
        const loaded = await load(tree);
        parts.push(loaded === undefined ? rest : { ...rest, tree: loaded });
      } else if (p.kind === "content") parts.push({ ...p, trees: await Promise.all(p.trees.map(load)) });
      else parts.push(p);
    }
    vertices.push({ ...v, key: { ...v.key, parts } });
  }
  return { ...record, vertices };
}

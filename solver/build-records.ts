import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import type { BuildRecord, BuildSummary, VertexStatus } from "./types.ts";

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Build records on disk: `<dir>/<build id>/record.json` plus one `vertex-<N>.log` per vertex that
 * wrote output (raw bytes, stdout and stderr interleaved as they arrived). The record is rewritten
 * atomically (temp file + rename) at start and end, so a reader never sees half a record; the logs
 * are appended while the build runs and are never clipped.
 */
export class BuildRecordStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async begin(record: BuildRecord): Promise<RecordWriter> {
    const dir = this.#dirOf(record.id);
    await this.#io("create the build record", dir, () => mkdir(dir, { recursive: true }));
    const writer = new RecordWriter(dir, (what, fn) => this.#io(what, dir, fn));
    await writer.save(record);
    return writer;
  }

  async get(id: string): Promise<BuildRecord | undefined> {
    if (!ID_RE.test(id)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.#dirOf(id), "record.json"), "utf8")) as BuildRecord;
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
    const records = await Promise.all(finished.slice(0, opts.limit ?? 1).map((r) => this.get(r.id)));
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
    if (!ID_RE.test(id)) return false;
    const dir = this.#dirOf(id);
    const existed = (await this.get(id)) !== undefined;
    await this.#io("remove the build record", dir, () => rm(dir, { recursive: true, force: true }));
    return existed;
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
  #saving: Promise<void> = Promise.resolve();

  constructor(dir: string, io: <T>(what: string, fn: () => Promise<T>) => Promise<T>) {
    this.#dir = dir;
    this.#io = io;
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
        await writeFile(tmp, `${JSON.stringify(record)}\n`);
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

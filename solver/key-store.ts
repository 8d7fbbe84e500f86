import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import type { CacheKeyStore, CacheRecord, Digest } from "./types.ts";

/** Keeps records in memory only: for tests and for builds with `--no-cache-store`. */
export class MemoryKeyStore implements CacheKeyStore {
  readonly #records = new Map<Digest, CacheRecord>();

  get(key: Digest): CacheRecord | undefined {
    return this.#records.get(key);
  }

  async put(record: CacheRecord): Promise<void> {
    this.#records.set(record.key, record);
  }

  async delete(key: Digest): Promise<void> {
    this.#records.delete(key);
  }

  records(): Iterable<CacheRecord> {
    return this.#records.values();
  }

  async close(): Promise<void> {}
}

type Line = { readonly op: "put"; readonly record: CacheRecord } | { readonly op: "del"; readonly key: Digest };

/**
 * Key → result records as an append-only JSON-lines file (`<dir>/cache-keys.jsonl`), read whole at
 * open. A crash can at worst leave a torn last line, which is skipped: losing a record costs a
 * rebuild, never a wrong result. Appends are serialized so lines never interleave. The engine will
 * replace this with its SQLite store behind {@link CacheKeyStore}.
 */
export class JsonlKeyStore implements CacheKeyStore {
  readonly #file: string;
  readonly #records = new Map<Digest, CacheRecord>();
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(file: string) {
    this.#file = file;
  }

  static open(dir: string): JsonlKeyStore {
    const store = new JsonlKeyStore(join(dir, "cache-keys.jsonl"));
    let text = "";
    try {
      mkdirSync(dir, { recursive: true });
      text = readFileSync(store.#file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        throw htkError("HTK-SOLVER-0004", { path: store.#file, detail: (err as Error).message }, { cause: err });
      }
      appendFileSync(store.#file, "");
    }
    let lines = 0;
    for (const raw of text.split("\n")) {
      if (raw === "") continue;
      lines++;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      if (line.op === "put") store.#records.set(line.record.key, line.record);
      else if (line.op === "del") store.#records.delete(line.key);
    }
    // Rewrites and deletions pile up in an append-only file: compact when most lines are dead.
    if (lines > 1024 && lines > 2 * store.#records.size) store.#compact();
    return store;
  }

  get(key: Digest): CacheRecord | undefined {
    return this.#records.get(key);
  }

  put(record: CacheRecord): Promise<void> {
    this.#records.set(record.key, record);
    return this.#append({ op: "put", record });
  }

  /** Writes the live records to a new file and renames it over the old one (atomic on POSIX). */
  #compact(): void {
    const tmp = `${this.#file}.${process.pid}.compact`;
    try {
      writeFileSync(tmp, [...this.#records.values()].map((record) => `${JSON.stringify({ op: "put", record })}\n`).join(""));
      renameSync(tmp, this.#file);
    } catch {
      // Compaction only saves space; the uncompacted file is still correct.
      rmSync(tmp, { force: true });
    }
  }

  delete(key: Digest): Promise<void> {
    this.#records.delete(key);
    return this.#append({ op: "del", key });
  }

  records(): Iterable<CacheRecord> {
    return this.#records.values();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#writing;
  }

  #append(line: Line): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const text = `${JSON.stringify(line)}\n`;
    const next = this.#writing.then(() =>
      appendFile(this.#file, text).catch((err: unknown) => {
        throw htkError("HTK-SOLVER-0004", { path: this.#file, detail: (err as Error).message }, { cause: err });
      }),
    );
    // The chain must survive a failed write (the next one may succeed); the caller sees this failure.
    this.#writing = next.catch(() => undefined);
    return next;
  }
}

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import type { LeaseInfo, LeasePersistence } from "../../cache/index.ts";
import type { ImageStatePersistence, ImageStoreState } from "./types.ts";

/**
 * JSON-file persistence for the image store, until the engine's SQLite state (`engine/state/`) takes
 * over through the same two interfaces. Writes are atomic (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves either the old or the new file, never a torn one.
 */

function writeAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the file itself is synced.
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return undefined;
    throw htkError("HTK-ENGINE-0220", { path, detail: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
}

/** `<dataRoot>/images/images.json`: image records and references. */
export class JsonImageStateFile implements ImageStatePersistence {
  constructor(readonly path: string) {}

  load(): ImageStoreState | undefined {
    const text = readIfExists(this.path);
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw htkError("HTK-ENGINE-0220", { path: this.path, detail: `not valid JSON (${err instanceof Error ? err.message : String(err)})` });
    }
    const v = value as Partial<ImageStoreState> | null;
    if (v === null || typeof v !== "object" || v.version !== 1 || typeof v.images !== "object" || typeof v.references !== "object") {
      throw htkError("HTK-ENGINE-0220", { path: this.path, detail: "it is not an image store state of version 1" });
    }
    return v as ImageStoreState;
  }

  save(state: ImageStoreState): void {
    writeAtomic(this.path, `${JSON.stringify(state)}\n`);
  }
}

/**
 * `<dataRoot>/images/leases.json`: the durable leases of the image store's RefCounter. `batch` defers
 * the file write to the end of a group of changes (an image with 30 layers takes 32 leases: one write,
 * not 32).
 */
export class JsonLeaseFile implements LeasePersistence {
  readonly #leases = new Map<string, LeaseInfo>();
  #depth = 0;
  #dirty = false;

  constructor(readonly path: string) {
    const text = readIfExists(path);
    if (text === undefined) return;
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch (err) {
      throw htkError("HTK-ENGINE-0220", { path, detail: `not valid JSON (${err instanceof Error ? err.message : String(err)})` });
    }
    if (!Array.isArray(list)) throw htkError("HTK-ENGINE-0220", { path, detail: "it is not a list of leases" });
    for (const l of list as LeaseInfo[]) if (typeof l?.id === "string") this.#leases.set(l.id, l);
  }

  load(): Iterable<LeaseInfo> {
    return [...this.#leases.values()];
  }

  added(lease: LeaseInfo): void {
    // The stack is a debugging aid for leaks in one process; it means nothing after a restart.
    const { stack: _stack, ...rest } = lease;
    this.#leases.set(lease.id, rest);
    this.#changed();
  }

  removed(id: string): void {
    if (this.#leases.delete(id)) this.#changed();
  }

  batch<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
      if (this.#depth === 0 && this.#dirty) this.#flush();
    }
  }

  #changed(): void {
    if (this.#depth > 0) this.#dirty = true;
    else this.#flush();
  }

  #flush(): void {
    this.#dirty = false;
    writeAtomic(this.path, `${JSON.stringify([...this.#leases.values()])}\n`);
  }
}

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Directory snapshots for the file worker: each snapshot is a plain directory tree under
 * `<root>/<id>/fs`. A snapshot is *active* (writable, owned by one op) until it is committed; then it
 * is immutable and may be shared. Only committed snapshots survive a restart: active ones left by a
 * crash are removed when the store opens, so a half-written result can never be mistaken for a result.
 *
 * Copies use `cp -a --reflink=auto`, which keeps owners, modes, times, links and hard links, and shares
 * blocks on filesystems that can. Overlay-backed snapshots (the engine's runtime worker) replace this
 * where overlayfs is available; this store is also their copying fallback.
 */
export class SnapshotStore {
  readonly root: string;
  readonly #refs = new Map<string, number>();

  private constructor(root: string) {
    this.root = root;
  }

  static async open(root: string): Promise<SnapshotStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    const store = new SnapshotStore(root);
    for (const id of await readdir(root)) {
      if (!(await store.isCommitted(id))) await rm(join(root, id), { recursive: true, force: true });
    }
    return store;
  }

  /** The root of a snapshot's filesystem. */
  fsPath(id: string): string {
    return join(this.root, id, "fs");
  }

  async isCommitted(id: string): Promise<boolean> {
    if (!/^[0-9a-f]{32}$/.test(id)) return false;
    try {
      await access(join(this.root, id, "committed"));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A new active snapshot: empty, or a copy of a committed parent. The caller commits or discards it;
   * a cancelled preparation leaves nothing behind.
   */
  async prepare(parent: string | undefined, signal: AbortSignal): Promise<ActiveSnapshot> {
    signal.throwIfAborted();
    const id = randomBytes(16).toString("hex");
    const dir = join(this.root, id);
    const fs = join(dir, "fs");
    await mkdir(dir, { mode: 0o700 });
    try {
      if (parent === undefined) await mkdir(fs, { mode: 0o755 });
      else await run("cp", ["-a", "--reflink=auto", "--", this.fsPath(parent), fs], { signal });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    let state: "active" | "committed" | "discarded" = "active";
    return {
      id,
      path: fs,
      commit: async () => {
        if (state !== "active") throw new Error(`snapshot ${id} is ${state}, not active`);
        // The marker is written last and atomically: its presence is what makes the snapshot real.
        await writeFile(join(dir, "committed.tmp"), "");
        await rename(join(dir, "committed.tmp"), join(dir, "committed"));
        state = "committed";
        return id;
      },
      discard: async () => {
        if (state !== "active") return;
        state = "discarded";
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  /** Counts a holder of a committed snapshot; `release` returns the count left. */
  retain(id: string): void {
    this.#refs.set(id, (this.#refs.get(id) ?? 0) + 1);
  }

  release(id: string): number {
    const left = Math.max(0, (this.#refs.get(id) ?? 0) - 1);
    if (left === 0) this.#refs.delete(id);
    else this.#refs.set(id, left);
    return left;
  }

  /** Snapshots held right now (for leak checks in tests and `du`). */
  held(): ReadonlyMap<string, number> {
    return this.#refs;
  }

  /** Removes a committed snapshot nobody holds (pruning). Refuses one in use. */
  async remove(id: string): Promise<boolean> {
    if ((this.#refs.get(id) ?? 0) > 0) return false;
    await rm(join(this.root, id), { recursive: true, force: true });
    return true;
  }
}

/** A writable snapshot owned by one operation: exactly one of `commit` or `discard` ends it. */
export interface ActiveSnapshot {
  readonly id: string;
  /** The filesystem root to write into. */
  readonly path: string;
  commit(): Promise<string>;
  discard(): Promise<void>;
}

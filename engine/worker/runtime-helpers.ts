import { execFile } from "node:child_process";
import { chmod, lchown, lstat, mkdir, readdir, readlink, utimes } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import type { OutputRef } from "../../llb/index.ts";
import type { WorkerRef } from "../../solver/index.ts";

const run = promisify(execFile);

export function edgeKey(ref: OutputRef): string {
  return `${ref.digest}#${ref.index}`;
}

/** Worker refs arrive in `inputsOf` order, one per distinct edge. */
export function edgeMap(edges: readonly OutputRef[], refs: readonly WorkerRef[]): Map<string, WorkerRef> {
  const map = new Map<string, WorkerRef>();
  edges.forEach((e, i) => {
    const r = refs[i];
    if (r !== undefined) map.set(edgeKey(e), r);
  });
  return map;
}

/** A FIFO async mutex (cache mounts with `sharing=locked`). */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = false;

  get held(): boolean {
    return this.#held;
  }

  /** Waits for the lock; the returned function releases it. Aborting while waiting rejects. */
  async lock(signal: AbortSignal): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const prev = this.#tail;
    this.#tail = prev.then(() => next);
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        prev,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason as Error);
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } catch (err) {
      // Keep the queue intact: our turn passes straight on once the previous holder is done.
      void prev.then(release);
      throw err;
    } finally {
      if (onAbort !== undefined) signal.removeEventListener("abort", onAbort);
    }
    this.#held = true;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#held = false;
      release();
    };
  }
}

/**
 * What `upper` adds over `lower`: entries that are new or differ in type, mode, owner, size, mtime or
 * link target, with the directories leading to them (the file worker's copying DiffOp; deletions are
 * not represented).
 */
export async function copyChanges(upper: string, lower: string | undefined, out: string, rel: string, signal: AbortSignal): Promise<boolean> {
  signal.throwIfAborted();
  let changed = false;
  for (const name of (await readdir(posix.join(upper, rel))).sort()) {
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const u = await lstat(posix.join(upper, childRel));
    const l = lower === undefined ? undefined : await lstat(posix.join(lower, childRel)).catch(() => undefined);
    const same =
      l !== undefined &&
      l.mode === u.mode &&
      l.uid === u.uid &&
      l.gid === u.gid &&
      (u.isDirectory() || (l.size === u.size && l.mtimeMs === u.mtimeMs)) &&
      (!u.isSymbolicLink() || (await readlink(posix.join(upper, childRel))) === (await readlink(posix.join(lower ?? "", childRel))));
    if (u.isDirectory()) {
      await mkdir(posix.join(out, childRel), { recursive: true });
      const inner = await copyChanges(upper, l?.isDirectory() === true ? lower : undefined, out, childRel, signal);
      if (inner || !same) {
        await lchown(posix.join(out, childRel), u.uid, u.gid);
        await chmod(posix.join(out, childRel), u.mode & 0o7777);
        await utimes(posix.join(out, childRel), u.atime, u.mtime);
        changed = true;
      } else {
        await run("rmdir", [posix.join(out, childRel)]);
      }
    } else if (!same) {
      await run("cp", ["-a", "--reflink=auto", "--", posix.join(upper, childRel), posix.join(out, childRel)], { signal });
      changed = true;
    }
  }
  return changed;
}

/**
 * `cp -a` of a directory's contents into another (merge inputs, cache mount seeds); `link`: hard links
 * instead of copies, for sources that never change a file in place (the local mirror).
 */
export async function copyInto(from: string, to: string, signal: AbortSignal, opts: { readonly link?: boolean } = {}): Promise<void> {
  await run("cp", ["-a", opts.link === true ? "--link" : "--reflink=auto", "--", `${from}/.`, to], { signal });
}

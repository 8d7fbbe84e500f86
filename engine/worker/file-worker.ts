import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import { htkError } from "../../base/errors/index.ts";
import type { ChecksumTree, ContextHasher } from "../../cache/index.ts";
import { inputsOf, type DiffOp, type ExecOp, type FileAction, type FileInput, type FileOp, type ImageSource, type LocalSource, type MergeOp, type OutputRef, type Platform, type SourceOp } from "../../llb/index.ts";
import type { ContentKey, ContentSelector, OpContext, ResolvedImage, SolveSession, Worker, WorkerRef } from "../../solver/index.ts";
import { copyAction, mkdirAction, mkfileAction, rmAction } from "./file-actions.ts";
import { hashSelector, keyFromTree } from "./content-keys.ts";
import { LocalContexts } from "./local-mirror.ts";
import { copyChanges } from "./runtime-helpers.ts";
import { SnapshotStore, type ActiveSnapshot } from "./snapshots.ts";

const run = promisify(execFile);

export interface FileWorkerOptions {
  /** Where snapshots and the content-hash cache live. */
  readonly root: string;
  readonly platform?: Platform;
}

/**
 * A worker without a container runtime: it runs every op that only touches files — local and scratch
 * sources, file ops (COPY, ADD of local files and archives, WORKDIR's mkdir), merge and diff — on
 * directory snapshots. Steps that need a container (RUN) or the network (image, git and http sources)
 * fail with HTK-RUNTIME-0001 naming what is missing; the engine's runtime worker does those.
 */
export class FileWorker implements Worker {
  readonly id = "file";
  readonly platform: Platform;
  readonly #store: SnapshotStore;
  readonly #hasher: ContextHasher;
  readonly #contexts: LocalContexts;
  /** Checksum trees of local-context snapshots (by snapshot id), also kept on disk beside them. */
  readonly #trees = new Map<string, ChecksumTree>();

  private constructor(store: SnapshotStore, contexts: LocalContexts, platform: Platform) {
    this.#store = store;
    this.#contexts = contexts;
    this.#hasher = contexts.hasher;
    this.platform = platform;
  }

  static async open(opts: FileWorkerOptions): Promise<FileWorker> {
    const store = await SnapshotStore.open(posix.join(opts.root, "snapshots"));
    return new FileWorker(store, new LocalContexts(opts.root), opts.platform ?? { os: "linux", architecture: "amd64" });
  }

  /** Snapshots currently held by the solver (a leak check for tests). */
  heldSnapshots(): ReadonlyMap<string, number> {
    return this.#store.held();
  }

  snapshotPath(ref: WorkerRef): string {
    return this.#store.fsPath(ref.id);
  }

  async resolveImage(source: ImageSource): Promise<ResolvedImage> {
    throw htkError("HTK-RUNTIME-0001", { needs: `the image "${source.ref}" from a registry` });
  }

  async loadSource(op: SourceOp, _resolved: ResolvedImage | undefined, ctx: OpContext): Promise<WorkerRef> {
    const source = op.source;
    switch (source.kind) {
      case "local":
        return this.#loadLocal(source, ctx.session, ctx.signal);
      case "image":
        throw htkError("HTK-RUNTIME-0001", { needs: `the image "${source.ref}" from a registry` });
      case "git":
        throw htkError("HTK-RUNTIME-0001", { needs: `the git repository "${source.remote}"` });
      case "http":
        throw htkError("HTK-RUNTIME-0001", { needs: `the download of "${source.url}"` });
    }
  }

  async exec(op: ExecOp): Promise<WorkerRef[]> {
    throw htkError("HTK-RUNTIME-0001", { needs: `a container to run "${op.args.join(" ")}"` });
  }

  async fileOp(op: FileOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const byEdge = edgeMap(inputsOf(op), inputs);
    const results: (ActiveSnapshot | undefined)[] = [];
    const consumed = new Set<number>();
    try {
      for (const [i, action] of op.actions.entries()) {
        ctx.signal.throwIfAborted();
        const target = await this.#baseFor(action.base, byEdge, results, consumed, ctx.signal);
        results[i] = target;
        await this.#apply(action, target.path, byEdge, results, ctx);
      }
      const last = results.at(-1);
      if (last === undefined) throw new Error("file op without actions");
      const id = await last.commit();
      return this.#ref(id);
    } finally {
      // Discarding a committed snapshot is a no-op: this frees every intermediate and, on failure, all.
      for (const r of results) await r?.discard();
    }
  }

  async merge(_op: MergeOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const [first, ...rest] = inputs;
    const snap = await this.#store.prepare(first?.id, ctx.signal);
    try {
      for (const layer of rest) {
        await run("cp", ["-a", "--reflink=auto", "--", `${this.#store.fsPath(layer.id)}/.`, snap.path], { signal: ctx.signal });
      }
      return this.#ref(await snap.commit());
    } catch (err) {
      await snap.discard();
      throw err;
    }
  }

  /**
   * What `upper` adds over `lower`: entries that are new or differ in type, mode, owner, size, mtime or
   * link target, with the directories leading to them. Deletions are not represented (a plain directory
   * has no whiteouts); the overlay-backed worker records them.
   */
  async diff(op: DiffOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const byEdge = edgeMap(inputsOf(op), inputs);
    const lower = op.lower.kind === "scratch" ? undefined : byEdge.get(edgeKey(op.lower));
    const upper = op.upper.kind === "scratch" ? undefined : byEdge.get(edgeKey(op.upper));
    const snap = await this.#store.prepare(undefined, ctx.signal);
    try {
      if (upper !== undefined) {
        await copyChanges(this.#store.fsPath(upper.id), lower === undefined ? undefined : this.#store.fsPath(lower.id), snap.path, "", ctx.signal);
      }
      return this.#ref(await snap.commit());
    } catch (err) {
      await snap.discard();
      throw err;
    }
  }

  async contentKey(ref: WorkerRef, selector: ContentSelector, signal: AbortSignal): Promise<ContentKey> {
    const known = await this.#knownTree(ref.id);
    const fromTree = known === undefined ? undefined : keyFromTree(known, selector);
    return fromTree ?? hashSelector(this.#hasher, this.#store.fsPath(ref.id), selector, signal);
  }

  async #knownTree(id: string): Promise<ChecksumTree | undefined> {
    const cached = this.#trees.get(id);
    if (cached !== undefined) return cached;
    try {
      const tree = JSON.parse(await readFile(treeFile(this.#store.fsPath(id)), "utf8")) as ChecksumTree;
      this.#trees.set(id, tree);
      return tree;
    } catch {
      return undefined;
    }
  }

  async loadRef(id: string): Promise<WorkerRef | undefined> {
    return (await this.#store.isCommitted(id)) ? this.#ref(id) : undefined;
  }

  #ref(id: string): WorkerRef {
    this.#store.retain(id);
    let released = false;
    return {
      id,
      release: async () => {
        if (released) return;
        released = true;
        this.#store.release(id);
      },
    };
  }

  async #baseFor(
    base: FileInput,
    byEdge: ReadonlyMap<string, WorkerRef>,
    results: readonly (ActiveSnapshot | undefined)[],
    consumed: Set<number>,
    signal: AbortSignal,
  ): Promise<ActiveSnapshot> {
    switch (base.kind) {
      case "scratch":
        return this.#store.prepare(undefined, signal);
      case "output": {
        const ref = byEdge.get(edgeKey(base));
        if (ref === undefined) throw new Error(`file op input ${edgeKey(base)} was not provided`);
        return this.#store.prepare(ref.id, signal);
      }
      case "action": {
        const earlier = results[base.index];
        if (earlier === undefined) throw new Error(`file action reads action ${base.index}, which has not run`);
        // An action's result is changed in place by the one action that builds on it (the usual chain);
        // a second action that builds on it gets a copy.
        if (!consumed.has(base.index)) {
          consumed.add(base.index);
          results.forEach((r, i) => {
            if (r === earlier && i !== base.index) consumed.add(i);
          });
          (results as (ActiveSnapshot | undefined)[])[base.index] = undefined;
          return earlier;
        }
        const copy = await this.#store.prepare(undefined, signal);
        await run("cp", ["-a", "--reflink=auto", "--", `${earlier.path}/.`, copy.path], { signal });
        return copy;
      }
    }
  }

  async #apply(
    action: FileAction,
    root: string,
    byEdge: ReadonlyMap<string, WorkerRef>,
    results: readonly (ActiveSnapshot | undefined)[],
    ctx: OpContext,
  ): Promise<void> {
    switch (action.kind) {
      case "mkdir":
        return mkdirAction(root, action, ctx.signal);
      case "mkfile":
        return mkfileAction(root, action, ctx.signal);
      case "rm":
        return rmAction(root, action, ctx.signal);
      case "copy": {
        const src = action.source;
        let srcRoot: string;
        if (src.kind === "scratch") {
          const empty = await this.#store.prepare(undefined, ctx.signal);
          try {
            return await copyAction(empty.path, root, action, ctx.signal);
          } finally {
            await empty.discard();
          }
        } else if (src.kind === "output") {
          const ref = byEdge.get(edgeKey(src));
          if (ref === undefined) throw new Error(`copy source ${edgeKey(src)} was not provided`);
          srcRoot = this.#store.fsPath(ref.id);
        } else {
          const earlier = results[src.index];
          if (earlier === undefined) throw new Error(`copy reads action ${src.index}, which is no longer available`);
          srcRoot = earlier.path;
        }
        return copyAction(srcRoot, root, action, ctx.signal);
      }
    }
  }

  /**
   * The context's content key computed on the session's incremental mirror (only changed files are
   * copied), so a no-op rebuild never materializes the context and steps reading it hit by key.
   */
  async sourceContentKey(op: SourceOp, ctx: OpContext): Promise<ContentKey | undefined> {
    if (op.source.kind !== "local") return undefined;
    const { tree } = await this.#contexts.synced(op.source, ctx.session, ctx.signal);
    return { digest: tree.digest, tree };
  }

  /**
   * The client's files for a local source: a snapshot of the session's mirror, with the mirror's
   * checksum tree kept beside it, so COPY sources from it are keyed without hashing the copy again.
   */
  async #loadLocal(source: LocalSource, session: SolveSession, signal: AbortSignal): Promise<WorkerRef> {
    const { path: mirror, tree } = await this.#contexts.synced(source, session, signal);
    const snap = await this.#store.prepare(undefined, signal);
    try {
      // Hard links, not copies: the mirror never changes a file in place (a changed file is replaced by
      // a new inode), so the snapshot's view cannot change under it.
      await run("cp", ["-a", "--link", "--", `${mirror}/.`, snap.path], { signal });
      await writeFile(treeFile(snap.path), JSON.stringify(tree));
      this.#trees.set(snap.id, tree);
      return this.#ref(await snap.commit());
    } catch (err) {
      await snap.discard();
      throw err;
    }
  }
}

/** Beside a snapshot's `fs/`: the checksum tree it was made with (local-context snapshots only). */
function treeFile(fsPath: string): string {
  return posix.join(posix.dirname(fsPath), "tree.json");
}

function edgeKey(ref: OutputRef): string {
  return `${ref.digest}#${ref.index}`;
}

/** Worker refs arrive in `inputsOf` order, one per distinct edge. */
function edgeMap(edges: readonly OutputRef[], refs: readonly WorkerRef[]): Map<string, WorkerRef> {
  const map = new Map<string, WorkerRef>();
  edges.forEach((e, i) => {
    const r = refs[i];
    if (r !== undefined) map.set(edgeKey(e), r);
  });
  return map;
}

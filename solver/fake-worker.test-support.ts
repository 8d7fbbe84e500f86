import { createHash } from "node:crypto";
import type { ChecksumTree, NodeRecord } from "../cache/index.ts";
import { htkError } from "../base/errors/index.ts";
import type { Digest, DiffOp, ExecOp, FileOp, ImageSource, MergeOp, Platform, SourceOp } from "../llb/index.ts";
import type { ContentKey, ContentSelector, OpContext, ResolvedImage, Worker, WorkerRef } from "./types.ts";

/**
 * A worker without containers, for scheduler tests (BuildKit tests its solver the same way): a
 * snapshot is a map of path → text, every call is counted, and a test can hold any exec until it says
 * so (`gate`), make it fail, or make it write logs. Every handed-out ref is tracked, so a test can end
 * with `expect(worker.liveRefs()).toEqual([])` (a leak check).
 */

type Files = Readonly<Record<string, string>>;

const WHOLE_SELECTOR: ContentSelector = { path: "/", wildcard: false, followLinks: false, allowEmptyWildcard: false, include: [], exclude: [] };

const sha = (s: string): Digest => `sha256:${createHash("sha256").update(s).digest("hex")}`;

export interface ExecBehaviour {
  /** Resolves when the exec may finish; it is rejected by the abort signal. */
  readonly gate?: Promise<void>;
  /** After an abort, the exec still winds down (kills its process, unmounts) until this resolves. */
  readonly stopping?: Promise<void>;
  /** Takes this long (from when it starts), unless aborted. */
  readonly delayMs?: number;
  readonly fail?: string;
  readonly logs?: readonly (readonly [1 | 2, string])[];
  readonly outputs?: number;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export class FakeWorker implements Worker {
  readonly id = "fake";
  readonly platform: Platform = { os: "linux", architecture: "amd64" };
  /** What each image ref resolves to; change it to simulate a new image being pushed. */
  readonly images = new Map<string, Digest>();
  /** Local contexts by name: path → content. */
  readonly locals = new Map<string, Record<string, string>>();
  /** Per exec command (the shell string), what it does. */
  readonly behaviour = new Map<string, ExecBehaviour>();
  /** How often each command / op ran, by label (`exec:<cmd>`, `file`, `image:<ref>`, `local:<name>`). */
  readonly calls = new Map<string, number>();
  readonly snapshots = new Map<string, Files>();
  running = 0;
  maxRunning = 0;
  /** Offer `sourceContentKey` (key local contexts where they lie); off by default. */
  inPlaceKeys = false;
  /** Called right after a local context was keyed in place (to change it before it is loaded). */
  afterSourceKey: (() => void) | undefined;
  readonly #live = new Map<number, string>();
  #nextHandle = 0;
  #nextSnap = 0;

  count(label: string): number {
    return this.calls.get(label) ?? 0;
  }

  /** Refs handed out and not yet released, by snapshot id. */
  liveRefs(): string[] {
    return [...this.#live.values()];
  }

  files(ref: WorkerRef): Files {
    return this.snapshots.get(ref.id) ?? {};
  }

  #note(label: string): void {
    this.calls.set(label, this.count(label) + 1);
  }

  #ref(id: string): WorkerRef {
    const handle = this.#nextHandle++;
    this.#live.set(handle, id);
    let released = false;
    return {
      id,
      release: async () => {
        if (released) throw new Error(`fake ref ${id} released twice`);
        released = true;
        this.#live.delete(handle);
      },
    };
  }

  #snapshot(files: Files): WorkerRef {
    const id = `snap-${this.#nextSnap++}`;
    this.snapshots.set(id, files);
    return this.#ref(id);
  }

  async #busy<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      signal.throwIfAborted();
      return await fn();
    } finally {
      this.running--;
    }
  }

  async resolveImage(source: ImageSource, _platform: Platform | undefined, _ctx: OpContext): Promise<ResolvedImage> {
    const digest = this.images.get(source.ref) ?? sha(source.ref);
    return { digest, config: new TextEncoder().encode("{}") };
  }

  async loadSource(op: SourceOp, resolved: ResolvedImage | undefined, ctx: OpContext): Promise<WorkerRef> {
    return this.#busy(ctx.signal, async () => {
      const s = op.source;
      switch (s.kind) {
        case "image":
          this.#note(`image:${s.ref}`);
          return this.#snapshot({ "/etc/image": `${s.ref}@${resolved?.digest ?? "?"}` });
        case "local": {
          this.#note(`local:${s.name}`);
          ctx.progress.status({ id: `transferring ${s.name}`, current: 37, completed: new Date().toISOString() });
          const files = this.locals.get(s.name);
          if (files === undefined) throw new Error(`no local ${s.name}`);
          return this.#snapshot({ ...files });
        }
        default:
          throw new Error(`fake worker cannot load ${s.kind}`);
      }
    });
  }

  async exec(op: ExecOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef[]> {
    const cmd = op.args[op.args.length - 1] ?? "";
    return this.#busy(ctx.signal, async () => {
      this.#note(`exec:${cmd}`);
      const b = this.behaviour.get(cmd) ?? {};
      for (const [stream, text] of b.logs ?? []) await ctx.progress.log(stream, new TextEncoder().encode(text));
      if (b.gate !== undefined) {
        await new Promise<void>((resolve, reject) => {
          const onAbort = (): void => void (b.stopping ?? Promise.resolve()).then(() => reject(ctx.signal.reason as Error));
          ctx.signal.addEventListener("abort", onAbort, { once: true });
          b.gate?.then(() => {
            ctx.signal.removeEventListener("abort", onAbort);
            resolve();
          }, reject);
        });
      }
      if (b.delayMs !== undefined) {
        const ms = b.delayMs;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          ctx.signal.addEventListener("abort", () => (clearTimeout(timer), reject(ctx.signal.reason as Error)), { once: true });
        });
      }
      if (b.fail !== undefined) throw htkError("HTK-SOLVER-0001", { step: cmd, detail: b.fail });
      const base = inputs[0] === undefined ? {} : this.files(inputs[0]);
      const n = b.outputs ?? 1;
      return Array.from({ length: n }, (_, i) => this.#snapshot({ ...base, [`/ran/${cmd}${i === 0 ? "" : `-${i}`}`]: env(op) }));
    });
  }

  async fileOp(op: FileOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    return this.#busy(ctx.signal, async () => {
      this.#note("file");
      // The fake reads its inputs in `inputsOf` order: base first, copy source second.
      const first = op.actions[0];
      const base = first?.base.kind === "output" && inputs[0] !== undefined ? this.files(inputs[0]) : {};
      const out: Record<string, string> = { ...base };
      for (const a of op.actions) {
        if (a.kind === "mkfile") out[a.path] = new TextDecoder().decode(a.data);
        if (a.kind === "mkdir") out[a.path] = "<dir>";
        if (a.kind === "rm") delete out[a.path];
        if (a.kind === "copy") {
          const src = inputs[inputs.length - 1];
          const files = src === undefined ? {} : this.files(src);
          for (const [p, v] of Object.entries(files)) if (p === a.src || p.startsWith(`${a.src}/`)) out[`${a.dest}${p.slice(a.src.length)}`] = v;
        }
      }
      return this.#snapshot(out);
    });
  }

  async merge(_op: MergeOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    return this.#busy(ctx.signal, async () => {
      this.#note("merge");
      return this.#snapshot(Object.assign({}, ...inputs.map((r) => this.files(r))) as Files);
    });
  }

  async diff(_op: DiffOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    return this.#busy(ctx.signal, async () => {
      this.#note("diff");
      return this.#snapshot(inputs[1] === undefined ? {} : this.files(inputs[1]));
    });
  }

  async sourceContentKey(op: SourceOp, _ctx: OpContext): Promise<ContentKey | undefined> {
    if (!this.inPlaceKeys || op.source.kind !== "local") return undefined;
    this.#note(`key-in-place:${op.source.name}`);
    const files = this.locals.get(op.source.name);
    if (files === undefined) throw new Error(`no local ${op.source.name}`);
    const key = this.#hashFiles(files, WHOLE_SELECTOR);
    this.afterSourceKey?.();
    return key;
  }

  /** Content only (never an mtime): what the real contenthash guarantees. */
  async contentKey(ref: WorkerRef, selector: ContentSelector, _signal: AbortSignal): Promise<ContentKey> {
    this.#note("contentKey");
    return this.#hashFiles(this.files(ref), selector);
  }

  #hashFiles(files: Files, selector: ContentSelector): ContentKey {
    const prefix = selector.path === "/" ? "/" : `${selector.path}/`;
    const entries: Record<string, NodeRecord> = {};
    for (const [p, v] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (p !== selector.path && !p.startsWith(prefix)) continue;
      const contentDigest = sha(v);
      entries[p] = { type: "file", mode: 0o644, uid: 0, gid: 0, contentDigest, digest: sha(`file:${v}`) };
    }
    if (Object.keys(entries).length === 0 && !selector.allowEmptyWildcard) throw htkError("HTK-CACHE-0006", { path: selector.path });
    const digest = sha(JSON.stringify(Object.entries(entries).map(([p, e]) => [p, e.digest])));
    const tree: ChecksumTree = { source: selector.path, digest, entries };
    return { digest, tree };
  }

  async loadRef(id: string): Promise<WorkerRef | undefined> {
    this.#note("loadRef");
    return this.snapshots.has(id) ? this.#ref(id) : undefined;
  }

  /** Simulates pruning: the snapshot is gone, a later `loadRef` misses. */
  prune(id: string): void {
    this.snapshots.delete(id);
  }
}

function env(op: ExecOp): string {
  return JSON.stringify(op.env);
}

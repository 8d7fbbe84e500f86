import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { htkError } from "../../base/errors/index.ts";
import type { Digest } from "../../cache/index.ts";
import type { LayerCompression } from "../../base/oci/index.ts";
import { applyLayer, type ApplyLayerResult } from "./apply-layer.ts";
import { diffDirectories, diffOverlayUpper, type DiffOptions, type LayerStream } from "./diff.ts";
import { haveXattrTools } from "./fs-tools.ts";
import { bindMountReadOnly, isMountPoint, mountOverlay, mountsUnder, unmount } from "./mounts.ts";

const run = promisify(execFile);

/** `overlay`: layers are overlayfs lower directories and writable snapshots overlay mounts; `copy`: every snapshot is a full copy. */
export type SnapshotMode = "overlay" | "copy";

export interface SnapshotterOptions {
  /** The snapshot root (`<data-root>/snapshots`); one process owns it. */
  readonly root: string;
  /** "auto" (default) probes overlayfs at open and falls back to copying. */
  readonly mode?: "auto" | SnapshotMode;
  readonly signal?: AbortSignal;
}

/** A layer to unpack: where its bytes come from and what they should hash to. */
export interface LayerSource {
  /** The layer's diff_id. When given, the chain is known before unpacking (and checked after). */
  readonly diffId?: Digest;
  readonly compression?: LayerCompression | "auto";
  /** For diagnostics: the blob digest, usually. */
  readonly name?: string;
  /** Opens the (compressed) blob; called at most once per unpack. */
  open(signal: AbortSignal): AsyncIterable<Uint8Array>;
}

export interface SnapshotInfo {
  readonly id: string;
  readonly parent: string | undefined;
  /** `layer`: unpacked from an image layer (id = its chain id); `commit`: a committed active snapshot. */
  readonly kind: "layer" | "commit";
  readonly diffId: Digest | undefined;
}

/** A hold on a committed snapshot: while any is unreleased, the snapshot (and its parents) stays. */
export interface SnapshotRef {
  readonly id: string;
  /** Idempotent. */
  release(): void;
}

/**
 * A mounted (or copied) root filesystem owned by one user — a build step, a container. Exactly one of
 * `commit` or `discard` ends it (a view can only be discarded).
 */
export interface ActiveSnapshot {
  readonly key: string;
  readonly parent: string | undefined;
  readonly readonly: boolean;
  /** The root filesystem to run in. */
  readonly path: string;
  /** overlay mode: the upper directory that collects the changes; undefined for copies and views. */
  readonly upperDir: string | undefined;
  /** The changes so far as a layer tar (a finished step's layer), with its diff_id. */
  diff(options: DiffOptions): LayerStream;
  /**
   * Makes the changes a committed snapshot: in overlay mode the upper directory becomes its layer
   * directory (no copy). `id` defaults to a fresh name; pass `chainId(parent, diffId)` to share the
   * result with images whose layers hash the same. An existing id is reused and this one discarded.
   */
  commit(options?: { readonly id?: string; readonly diffId?: Digest }): Promise<SnapshotRef>;
  discard(): Promise<void>;
}

/**
 * A writable snapshot that outlives the engine process: a container's root filesystem, kept from
 * `docker create` to `docker rm` under `writable/<key>/` (`meta.json`, `fs/` — the overlay upper
 * directory, or the whole tree in copy mode —, `work/`, `merged/`). Unlike active snapshots, `open()`
 * keeps them and leaves their mounts alone: a container that outlived the engine still runs on one.
 * Its owner mounts it before the container starts and unmounts it after the container ended.
 */
export interface WritableSnapshot {
  readonly key: string;
  readonly parent: string | undefined;
  /** The root filesystem while mounted: `merged/` over the parent chain (overlay), else `fs/`. */
  readonly path: string;
  /** overlay mode: the directory that collects the changes (`docker diff`, `docker commit`). */
  readonly upperDir: string | undefined;
}

/** What open found and cleaned after an unclean stop. */
export interface RecoveryReport {
  readonly unmounted: readonly string[];
  readonly discardedActive: number;
  readonly removedPartial: number;
}

/** OCI chain id: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainId(parent: string | undefined, diffId: Digest): Digest {
  if (parent === undefined) return diffId;
  return `sha256:${createHash("sha256").update(`${parent} ${diffId}`).digest("hex")}`;
}

interface Committed extends SnapshotInfo {
  /** Directory number under layers/. */
  readonly n: number;
}

interface Meta {
  readonly id: string;
  readonly parent: string | null;
  readonly kind: "layer" | "commit";
  readonly diffId: Digest | null;
}

/** overlayfs options that keep an upper directory a plain layer diff (no redirects, no metacopy). */
const OVERLAY_OPTIONS = "redirect_dir=off,index=off,metacopy=off";

/**
 * Layer snapshots, containerd-overlay style (see README.md for the on-disk layout):
 *
 * - a **committed** snapshot per layer chain, unpacked once and shared by every image and build step
 *   with that chain; in overlay mode its directory holds only that layer (overlayfs whiteouts), in
 *   copy mode the whole tree;
 * - **active** snapshots: an overlay mount of the parent chain with a fresh upper and work directory
 *   (copy mode: a `cp -a --reflink=auto` of the parent), committed by turning the upper into a layer;
 * - **views**: read-only mounts of a chain;
 * - reference counts: a snapshot with holders, active users or children cannot be removed;
 * - crash safety: every mount is recorded (`active/<n>/mount.json`) before it is made; `open`
 *   unmounts whatever is mounted below the root, discards active snapshots and removes half-unpacked
 *   layers (they are only ever published by renaming a finished directory into `layers/`).
 */
export class Snapshotter {
  readonly root: string;
  readonly mode: SnapshotMode;
  /** Why overlay is not used, when it is not. */
  readonly fallbackReason: string | undefined;
  readonly recovery: RecoveryReport;
  readonly #overlayOptions: string;
  readonly #byId = new Map<string, Committed>();
  readonly #refs = new Map<string, number>();
  readonly #actives = new Map<string, { readonly parent: string | undefined; readonly discard: () => Promise<void> }>();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #writables = new Map<string, { readonly snapshot: WritableSnapshot; readonly hold: SnapshotRef | undefined }>();
  #next: number;

  private constructor(root: string, mode: SnapshotMode, reason: string | undefined, overlayOptions: string, recovery: RecoveryReport, next: number) {
    this.root = root;
    this.mode = mode;
    this.fallbackReason = reason;
    this.#overlayOptions = overlayOptions;
    this.recovery = recovery;
    this.#next = next;
  }

  static async open(options: SnapshotterOptions): Promise<Snapshotter> {
    const signal = options.signal ?? new AbortController().signal;
    const root = options.root.replace(/\/+$/, "");
    await mkdir(root, { recursive: true, mode: 0o711 });
    for (const d of ["layers", "active", "staging"]) await mkdir(`${root}/${d}`, { recursive: true, mode: 0o711 });
    const { recovery, committed, maxN } = await recover(root);
    // The format of layers/ follows the mode (overlay layers vs complete trees), so a root keeps the
    // mode its snapshots were made in for as long as it has any.
    const recorded = committed.length === 0 ? undefined : await readFile(`${root}/mode`, "utf8").then((t) => t.trim(), () => undefined);
    let wanted = options.mode ?? "auto";
    if (recorded === "overlay" || recorded === "copy") {
      if (wanted !== "auto" && wanted !== recorded) {
        throw new Error(`the snapshots in ${root} were made in ${recorded} mode; they cannot be used in ${wanted} mode (remove them first)`);
      }
      wanted = recorded;
    }
    let mode: SnapshotMode = "copy";
    let reason: string | undefined;
    let overlayOptions = "";
    if (wanted !== "copy") {
      const probe = await probeOverlay(root, signal);
      if (probe.ok) {
        mode = "overlay";
        overlayOptions = probe.options;
      } else if (wanted === "overlay") {
        const detail = recorded === "overlay" ? `the snapshots there are overlay layers, and ${probe.reason}` : probe.reason;
        throw htkError("HTK-RUNTIME-0202", { what: "overlay probe", target: `${root}/probe`, detail });
      } else {
        reason = probe.reason;
      }
    } else {
      reason = recorded === "copy" && options.mode !== "copy" ? `the snapshots in ${root} were made by copying` : "copy mode was asked for";
    }
    await writeFile(`${root}/mode.tmp`, `${mode}\n`);
    await rename(`${root}/mode.tmp`, `${root}/mode`);
    const s = new Snapshotter(root, mode, reason, overlayOptions, recovery, maxN + 2);
    for (const c of committed) s.#byId.set(c.id, c);
    for (const w of await loadWritables(root)) s.#addWritable(w.key, w.parent);
    return s;
  }

  // ---- queries -------------------------------------------------------------------------------

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  info(id: string): SnapshotInfo | undefined {
    const c = this.#byId.get(id);
    return c === undefined ? undefined : { id: c.id, parent: c.parent, kind: c.kind, diffId: c.diffId };
  }

  list(): SnapshotInfo[] {
    return [...this.#byId.keys()].sort().map((id) => this.info(id) as SnapshotInfo);
  }

  /** The directory of a committed snapshot: its layer (overlay mode) or its whole tree (copy mode). */
  dir(id: string): string {
    return `${this.root}/layers/${this.#get(id).n}/fs`;
  }

  /** Holders of committed snapshots right now (leak checks in tests). */
  held(): ReadonlyMap<string, number> {
    return this.#refs;
  }

  /** Active snapshots and views not yet committed or discarded. */
  activeCount(): number {
    return this.#actives.size;
  }

  /** A new hold on an existing committed snapshot, or undefined when there is none by that id. */
  acquire(id: string): SnapshotRef | undefined {
    return this.#byId.has(id) ? this.#ref(id) : undefined;
  }

  // ---- layers --------------------------------------------------------------------------------

  /**
   * The committed snapshot of `layer` on top of `parent` (undefined: a base layer), unpacked unless it
   * exists. Concurrent unpacks of the same chain share one unpack. A layer that fails (corrupt,
   * truncated, unsafe) leaves nothing behind.
   */
  async unpack(parent: string | undefined, layer: LayerSource, signal: AbortSignal): Promise<SnapshotRef> {
    // Held from the start: the parent must not be removed while this waits for another unpack.
    const hold = parent === undefined ? undefined : this.#ref(this.#get(parent).id);
    try {
      return await this.#unpack(parent, layer, signal);
    } finally {
      hold?.release();
    }
  }

  async #unpack(parent: string | undefined, layer: LayerSource, signal: AbortSignal): Promise<SnapshotRef> {
    if (layer.diffId !== undefined) {
      const id = chainId(parent, layer.diffId);
      for (;;) {
        if (this.#byId.has(id)) return this.#ref(id);
        const running = this.#inflight.get(id);
        if (running === undefined) break;
        await running.catch(() => undefined);
        signal.throwIfAborted();
      }
      const job = this.#unpackNew(parent, layer, signal).then(() => undefined);
      this.#inflight.set(id, job);
      try {
        await job;
      } finally {
        this.#inflight.delete(id);
      }
      return this.#ref(id);
    }
    return this.#ref(await this.#unpackNew(parent, layer, signal));
  }

  /** Every layer of an image in order (diff_ids required): existing prefixes are reused. */
  async unpackChain(layers: readonly LayerSource[], signal: AbortSignal): Promise<SnapshotRef> {
    let parent: SnapshotRef | undefined;
    try {
      for (const layer of layers) {
        const next = await this.unpack(parent?.id, layer, signal);
        parent?.release();
        parent = next;
      }
    } catch (err) {
      parent?.release();
      throw err;
    }
    if (parent === undefined) throw new Error("unpackChain needs at least one layer");
    return parent;
  }

  async #unpackNew(parent: string | undefined, layer: LayerSource, signal: AbortSignal): Promise<string> {
    const n = this.#next++;
    const staging = `${this.root}/staging/${n}`;
    const fs = `${staging}/fs`;
    try {
      await mkdir(staging, { mode: 0o700 });
      if (this.mode === "copy" && parent !== undefined) await copyTree(this.dir(parent), fs, signal);
      else await mkdir(fs, { mode: 0o755 });
      const result: ApplyLayerResult = await applyLayer(fs, layer.open(signal), {
        signal,
        whiteouts: this.mode === "overlay" ? "overlay" : "delete",
        compression: layer.compression ?? "auto",
        ...(layer.name !== undefined ? { layer: layer.name } : {}),
        ...(layer.diffId !== undefined ? { expectedDiffId: layer.diffId } : {}),
      });
      const id = chainId(parent, result.diffId);
      if (this.#byId.has(id)) {
        await rm(staging, { recursive: true, force: true });
        return id;
      }
      await this.#publish(staging, n, { id, parent: parent ?? null, kind: "layer", diffId: result.diffId });
      return id;
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
  }

  /** meta.json last, then one rename into layers/: a snapshot is either complete or absent. */
  async #publish(dir: string, n: number, meta: Meta): Promise<void> {
    await writeFile(`${dir}/meta.json`, JSON.stringify(meta));
    await rename(dir, `${this.root}/layers/${n}`);
    this.#byId.set(meta.id, { id: meta.id, parent: meta.parent ?? undefined, kind: meta.kind, diffId: meta.diffId ?? undefined, n });
  }

  // ---- active snapshots and views --------------------------------------------------------------

  /** A writable root filesystem on `parent` (undefined: empty). */
  async prepare(parent: string | undefined, signal: AbortSignal): Promise<ActiveSnapshot> {
    return this.#activate(parent, false, signal);
  }

  /** A read-only root filesystem of `parent`. */
  async view(parent: string, signal: AbortSignal): Promise<ActiveSnapshot> {
    return this.#activate(parent, true, signal);
  }

  async #activate(parent: string | undefined, readonly: boolean, signal: AbortSignal): Promise<ActiveSnapshot> {
    signal.throwIfAborted();
    const chain = parent === undefined ? [] : this.#chain(parent);
    const hold = parent === undefined ? undefined : this.#ref(parent);
    const n = this.#next++;
    const key = `${n}`;
    const dir = `${this.root}/active/${n}`;
    const fs = `${dir}/fs`;
    let mounted: string | undefined;
    let path = fs;
    let upperDir: string | undefined;
    try {
      await mkdir(dir, { mode: 0o700 });
      if (this.mode === "overlay" && chain.length > 0) {
        const merged = `${dir}/merged`;
        await mkdir(merged, { mode: 0o755 });
        const lowers = chain.map((c) => `${c.n}/fs`);
        // Recorded before it is made: a crash between the two leaves a record and maybe a mount,
        // both of which open() removes.
        await writeFile(`${dir}/mount.json`, JSON.stringify({ target: merged }));
        if (readonly && lowers.length === 1) {
          await bindMountReadOnly(`${this.root}/layers/${lowers[0] ?? ""}`, merged, signal);
        } else if (readonly) {
          await mountOverlay(merged, { lowers, cwd: `${this.root}/layers`, options: this.#overlayOptions }, signal);
        } else {
          await mkdir(fs, { mode: 0o755 });
          await mkdir(`${dir}/work`, { mode: 0o700 });
          await mountOverlay(merged, { lowers, cwd: `${this.root}/layers`, upper: fs, work: `${dir}/work`, options: this.#overlayOptions }, signal);
          upperDir = fs;
        }
        mounted = merged;
        path = merged;
      } else if (parent === undefined) {
        await mkdir(fs, { mode: 0o755 });
        upperDir = this.mode === "overlay" ? fs : undefined;
      } else if (readonly) {
        const merged = `${dir}/merged`;
        await mkdir(merged, { mode: 0o755 });
        await writeFile(`${dir}/mount.json`, JSON.stringify({ target: merged }));
        await bindMountReadOnly(this.dir(parent), merged, signal);
        mounted = merged;
        path = merged;
      } else {
        await copyTree(this.dir(parent), fs, signal);
      }
    } catch (err) {
      if (mounted !== undefined) await unmount(mounted).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      hold?.release();
      throw err;
    }

    let state: "active" | "committed" | "discarded" = "active";
    const release = async (): Promise<void> => {
      if (mounted !== undefined) {
        await unmount(mounted);
        mounted = undefined;
        await rm(`${dir}/mount.json`, { force: true });
      }
    };
    const discard = async (): Promise<void> => {
      if (state !== "active") return;
      state = "discarded";
      try {
        await release();
        await rm(dir, { recursive: true, force: true });
      } finally {
        this.#actives.delete(key);
        hold?.release();
      }
    };
    this.#actives.set(key, { parent, discard });
    const parentDir = parent === undefined ? undefined : this.dir(parent);
    return {
      key,
      parent,
      readonly,
      path,
      upperDir,
      diff: (options) => {
        if (this.mode === "overlay" && upperDir !== undefined) return diffOverlayUpper(upperDir, options);
        return diffDirectories(parentDir, path, options);
      },
      commit: async (opts = {}) => {
        if (state !== "active") throw new Error(`snapshot ${key} is ${state}, not active`);
        if (readonly) throw new Error(`snapshot ${key} is a read-only view; it cannot be committed`);
        const id = opts.id ?? `commit-${randomBytes(12).toString("hex")}`;
        if (this.#byId.has(id)) {
          await discard();
          return this.#ref(id);
        }
        state = "committed";
        try {
          await release();
          await rm(`${dir}/work`, { recursive: true, force: true });
          await rm(`${dir}/merged`, { recursive: true, force: true });
          await this.#publish(dir, n, { id, parent: parent ?? null, kind: "commit", diffId: opts.diffId ?? null });
        } catch (err) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        } finally {
          this.#actives.delete(key);
          hold?.release();
        }
        return this.#ref(id);
      },
      discard,
    };
  }

  /** Committed snapshots that a diff of `id` is taken against: overlay → its own layer; copy → vs its parent. */
  diff(id: string, options: DiffOptions): LayerStream {
    const c = this.#get(id);
    if (this.mode === "overlay") return diffOverlayUpper(this.dir(id), options);
    return diffDirectories(c.parent === undefined ? undefined : this.dir(c.parent), this.dir(id), options);
  }

  // ---- writable snapshots (containers' root filesystems) ----------------------------------------

  /**
   * A new writable snapshot on `parent` (undefined: empty) under the caller's `key` (a container ID),
   * not mounted yet. It holds `parent` until `removeWritable`. An existing key is refused.
   */
  async createWritable(key: string, parent: string | undefined, signal: AbortSignal): Promise<WritableSnapshot> {
    signal.throwIfAborted();
    if (!WRITABLE_KEY.test(key)) throw new Error(`invalid writable snapshot key "${key}"`);
    if (this.#writables.has(key)) throw new Error(`writable snapshot "${key}" exists already`);
    if (parent !== undefined) this.#get(parent);
    const n = this.#next++;
    const staging = `${this.root}/staging/${n}`;
    try {
      await mkdir(staging, { mode: 0o700 });
      if (this.mode === "copy" && parent !== undefined) await copyTree(this.dir(parent), `${staging}/fs`, signal);
      else await mkdir(`${staging}/fs`, { mode: 0o755 });
      await mkdir(`${staging}/work`, { mode: 0o700 });
      await mkdir(`${staging}/merged`, { mode: 0o755 });
      await writeFile(`${staging}/meta.json`, JSON.stringify({ key, parent: parent ?? null }));
      await mkdir(`${this.root}/writable`, { recursive: true, mode: 0o711 });
      await rename(staging, `${this.root}/writable/${key}`);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return this.#addWritable(key, parent);
  }

  writable(key: string): WritableSnapshot | undefined {
    return this.#writables.get(key)?.snapshot;
  }

  writables(): WritableSnapshot[] {
    return [...this.#writables.values()].map((w) => w.snapshot);
  }

  /** Mounts the root filesystem (idempotent: an existing mount, e.g. from before an engine restart, is kept). */
  async mountWritable(key: string, signal: AbortSignal): Promise<string> {
    const w = this.#writable(key);
    if (w.parent === undefined || w.path !== `${this.root}/writable/${key}/merged`) return w.path;
    if (await isMountPoint(w.path)) return w.path;
    const lowers = this.#chain(w.parent).map((c) => `${c.n}/fs`);
    const dir = `${this.root}/writable/${key}`;
    await mountOverlay(w.path, { lowers, cwd: `${this.root}/layers`, upper: `${dir}/fs`, work: `${dir}/work`, options: this.#overlayOptions }, signal);
    return w.path;
  }

  /** Unmounts it (idempotent). A busy mount is detached lazily (see `unmount`). */
  async unmountWritable(key: string): Promise<void> {
    const w = this.#writable(key);
    if (w.path !== `${this.root}/writable/${key}/merged`) return;
    if (await isMountPoint(w.path)) await unmount(w.path);
  }

  /** The changes made in it so far, as a layer tar (`docker diff`/`commit`/`export` build on this). */
  diffWritable(key: string, options: DiffOptions): LayerStream {
    const w = this.#writable(key);
    if (this.mode === "overlay" && w.upperDir !== undefined) return diffOverlayUpper(w.upperDir, options);
    return diffDirectories(w.parent === undefined ? undefined : this.dir(w.parent), `${this.root}/writable/${key}/fs`, options);
  }

  /** Unmounts and deletes it, and releases its parent. Unknown keys are ignored. */
  async removeWritable(key: string): Promise<void> {
    const w = this.#writables.get(key);
    if (w === undefined) return;
    await this.unmountWritable(key);
    // Renamed away first: a crash during the rm leaves staging debris, which open() removes.
    const trash = `${this.root}/staging/rm-w${this.#next++}`;
    await rename(`${this.root}/writable/${key}`, trash);
    this.#writables.delete(key);
    w.hold?.release();
    await rm(trash, { recursive: true, force: true });
  }

  #writable(key: string): WritableSnapshot {
    const w = this.#writables.get(key);
    if (w === undefined) throw new Error(`no writable snapshot "${key}"`);
    return w.snapshot;
  }

  #addWritable(key: string, parent: string | undefined): WritableSnapshot {
    const dir = `${this.root}/writable/${key}`;
    const mounted = this.mode === "overlay" && parent !== undefined;
    const snapshot: WritableSnapshot = {
      key,
      parent,
      path: mounted ? `${dir}/merged` : `${dir}/fs`,
      upperDir: this.mode === "overlay" ? `${dir}/fs` : undefined,
    };
    // A parent that went missing (removed by hand) is not held; mounting then fails with its name.
    const hold = parent !== undefined && this.#byId.has(parent) ? this.#ref(parent) : undefined;
    this.#writables.set(key, { snapshot, hold });
    return snapshot;
  }

  // ---- removal -------------------------------------------------------------------------------

  /** Removes a committed snapshot; HTK-RUNTIME-0203 while it has holders, active users or children. */
  async remove(id: string): Promise<void> {
    const c = this.#get(id);
    const holders: string[] = [];
    const refs = this.#refs.get(id) ?? 0;
    if (refs > 0) holders.push(`${refs} reference${refs === 1 ? "" : "s"}`);
    const actives = [...this.#actives.values()].filter((a) => a.parent !== undefined && this.#chain(a.parent).some((x) => x.id === id)).length;
    if (actives > 0) holders.push(`${actives} active snapshot${actives === 1 ? "" : "s"}`);
    const children = [...this.#byId.values()].filter((x) => x.parent === id).length;
    if (children > 0) holders.push(`${children} child snapshot${children === 1 ? "" : "s"}`);
    const writables = [...this.#writables.values()].filter((w) => w.snapshot.parent !== undefined && this.#byId.has(w.snapshot.parent) && this.#chain(w.snapshot.parent).some((x) => x.id === id)).length;
    if (writables > 0) holders.push(`${writables} container root filesystem${writables === 1 ? "" : "s"}`);
    if (holders.length > 0) throw htkError("HTK-RUNTIME-0203", { id, holders: holders.join(", ") });
    this.#byId.delete(id);
    // Renamed out of layers/ first: a crash during the rm leaves staging debris, not a broken snapshot.
    const trash = `${this.root}/staging/rm-${c.n}`;
    await rename(`${this.root}/layers/${c.n}`, trash);
    await rm(trash, { recursive: true, force: true });
  }

  /** Discards every active snapshot and view (unmounting them). Committed snapshots stay. */
  async close(): Promise<void> {
    for (const a of [...this.#actives.values()]) await a.discard().catch(() => undefined);
  }

  // ---- internals -----------------------------------------------------------------------------

  #get(id: string): Committed {
    const c = this.#byId.get(id);
    if (c === undefined) throw new Error(`no committed snapshot "${id}"`);
    return c;
  }

  /** `id` and its ancestors, top first: the overlay lowerdir order. */
  #chain(id: string): Committed[] {
    const out: Committed[] = [];
    let cur: string | undefined = id;
    while (cur !== undefined) {
      const c = this.#get(cur);
      out.push(c);
      cur = c.parent;
    }
    // Copy mode: a snapshot's tree is complete, so only it is needed.
    return this.mode === "copy" ? out.slice(0, 1) : out;
  }

  #ref(id: string): SnapshotRef {
    this.#refs.set(id, (this.#refs.get(id) ?? 0) + 1);
    let released = false;
    return {
      id,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#refs.get(id) ?? 1) - 1;
        if (left <= 0) this.#refs.delete(id);
        else this.#refs.set(id, left);
      },
    };
  }
}

/** Keys of writable snapshots: container IDs and names alike. */
const WRITABLE_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The writable snapshots on disk (a missing meta.json means a creation that did not finish: removed). */
async function loadWritables(root: string): Promise<Array<{ key: string; parent: string | undefined }>> {
  const out: Array<{ key: string; parent: string | undefined }> = [];
  const names = await readdir(`${root}/writable`).catch(() => [] as string[]);
  for (const name of names) {
    const meta = await readFile(`${root}/writable/${name}/meta.json`, "utf8").then(
      (t) => JSON.parse(t) as { key?: unknown; parent?: unknown },
      () => undefined,
    );
    if (meta === undefined || meta.key !== name) {
      await rm(`${root}/writable/${name}`, { recursive: true, force: true });
      continue;
    }
    out.push({ key: name, parent: typeof meta.parent === "string" ? meta.parent : undefined });
  }
  return out;
}

async function copyTree(src: string, dest: string, signal: AbortSignal): Promise<void> {
  // cp -a keeps owners, modes, times, links, hard links, devices and xattrs; reflinks where possible.
  await run("cp", ["-a", "--reflink=auto", "--", src, dest], { signal });
}

/** What a crash can leave: mounts, active snapshots, unpacks and removals in progress. */
async function recover(root: string): Promise<{ recovery: RecoveryReport; committed: Committed[]; maxN: number }> {
  const unmounted: string[] = [];
  // Stacked mounts show up once per layer of stacking: go round until nothing is left.
  // Writable snapshots' mounts stay: containers that outlived the engine still run on them.
  const writable = `${root}/writable/`;
  for (let round = 0; round < 8; round++) {
    const left = (await mountsUnder(root)).filter((m) => !m.startsWith(writable));
    if (left.length === 0) break;
    for (const m of left) {
      await unmount(m);
      unmounted.push(m);
    }
  }
  // Records of mounts that mountinfo does not show (another mount namespace): try them too.
  let maxN = 0;
  const activeNames = await readdir(`${root}/active`);
  for (const name of activeNames) {
    const rec = await readFile(`${root}/active/${name}/mount.json`, "utf8").catch(() => undefined);
    if (rec !== undefined) {
      const target = (JSON.parse(rec) as { target?: unknown }).target;
      if (typeof target === "string") await unmount(target).catch(() => undefined);
    }
    await rm(`${root}/active/${name}`, { recursive: true, force: true });
  }
  let removedPartial = 0;
  for (const name of await readdir(`${root}/staging`)) {
    await rm(`${root}/staging/${name}`, { recursive: true, force: true });
    removedPartial++;
  }
  await rm(`${root}/probe`, { recursive: true, force: true });
  const committed: Committed[] = [];
  for (const name of await readdir(`${root}/layers`)) {
    const n = Number(name);
    if (Number.isSafeInteger(n)) maxN = Math.max(maxN, n);
    const meta = await readFile(`${root}/layers/${name}/meta.json`, "utf8").then(
      (t) => JSON.parse(t) as Meta,
      () => undefined,
    );
    if (meta === undefined || !Number.isSafeInteger(n)) {
      await rm(`${root}/layers/${name}`, { recursive: true, force: true });
      removedPartial++;
      continue;
    }
    committed.push({ id: meta.id, parent: meta.parent ?? undefined, kind: meta.kind, diffId: meta.diffId ?? undefined, n });
  }
  for (const name of activeNames) {
    const n = Number(name);
    if (Number.isSafeInteger(n)) maxN = Math.max(maxN, n);
  }
  return { recovery: { unmounted, discardedActive: activeNames.length, removedPartial }, committed, maxN };
}

/**
 * Tries a tiny overlay mount the way snapshots use it, and checks that a deletion becomes a 0/0
 * whiteout in the upper directory. Fails (with the reason) on kernels without overlayfs, on roots
 * that are themselves on overlayfs, without the attr tools, or without privileges.
 */
async function probeOverlay(root: string, signal: AbortSignal): Promise<{ ok: true; options: string } | { ok: false; reason: string }> {
  if (!(await haveXattrTools())) return { ok: false, reason: "setfattr/getfattr (Debian package \"attr\") are not installed" };
  const dir = `${root}/probe`;
  let lastError = "";
  for (const options of [OVERLAY_OPTIONS, ""]) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    for (const d of ["l1", "l2", "upper", "work", "merged"]) await mkdir(`${dir}/${d}`);
    await writeFile(`${dir}/l1/gone`, "x");
    await writeFile(`${dir}/l2/kept`, "y");
    await writeFile(`${dir}/mount.json`, JSON.stringify({ target: `${dir}/merged` }));
    try {
      await mountOverlay(`${dir}/merged`, { lowers: ["l2", "l1"], cwd: dir, upper: `${dir}/upper`, work: `${dir}/work`, options }, signal);
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      continue;
    }
    try {
      await rm(`${dir}/merged/gone`);
      const st = await lstat(`${dir}/upper/gone`);
      if (!st.isCharacterDevice() || st.rdev !== 0) {
        lastError = "a deletion in the overlay did not produce a 0/0 whiteout";
        continue;
      }
      return { ok: true, options };
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await unmount(`${dir}/merged`).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  }
  await rm(dir, { recursive: true, force: true });
  return { ok: false, reason: lastError };
}

import { lstat, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { humanDuration } from "../../base/units.ts";
import { BuildRecordStore, JsonlKeyStore, type CacheKeyStore } from "../../solver/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import type { Digest } from "../../cache/index.ts";
import { ImageStore } from "../images/index.ts";
import { lockDataRoot } from "./data-root-lock.ts";
import { redactRemote } from "../worker/git.ts";
import { processAlive } from "../../base/process.ts";

/** BuildKit's usage record types (`client.UsageRecordType*`); internal/frontend have no source here yet. */
export type CacheRecordType = "regular" | "source.local" | "exec.cachemount" | "source.git.checkout" | "internal" | "frontend";

export const CACHE_RECORD_TYPES: readonly CacheRecordType[] = ["regular", "source.local", "exec.cachemount", "source.git.checkout", "internal", "frontend"];

/** One build-cache record of a data root, as `hatake du` lists it. */
export interface CacheUsageRecord {
  readonly id: string;
  readonly type: CacheRecordType;
  /** Bytes on disk (allocated blocks), hard-linked files counted once within the record. */
  readonly size: number;
  /** A build holds the data root: nothing can be removed now. */
  readonly inUse: boolean;
  readonly reclaimable: boolean;
  readonly createdAt: Date;
  readonly lastUsed: Date;
  readonly description: string;
  readonly parent?: string;
  /** How many key-store records point at it (steps whose result it is). */
  readonly usageCount: number;
  /** Key-store keys that name this record as an output: removed with it. */
  readonly keys: readonly string[];
  /** Records that need this one on disk (overlay children): it goes only after them. */
  readonly children: readonly string[];
  readonly location: Location;
}

type Location =
  | { readonly kind: "file-snapshot"; readonly dir: string }
  | { readonly kind: "overlay-snapshot"; readonly dir: string; readonly snapshotsRoot: string; readonly tree: string; readonly exportRecord: string }
  | { readonly kind: "dir"; readonly dir: string }
  /** A build service's copy of a client's directory (`<data-root>/buildx/contexts/<id>`). */
  | { readonly kind: "context-copy"; readonly dir: string };

export interface CacheUsage {
  readonly records: readonly CacheUsageRecord[];
  /** Bytes of all records together, hard links shared between records counted once. */
  readonly total: number;
  readonly reclaimable: number;
  /** The pid of a build holding the data root, if one is running. */
  readonly lockedBy: number | undefined;
}

/**
 * Every build-cache record of a data root, read from disk (no store is opened, so a running build is
 * not disturbed): step results (the file worker's snapshots under `worker/snapshots`, the runtime
 * worker's under `snapshots/layers`), local-context mirrors (`worker/<hash>`), cache mounts
 * (`worker/cache-mounts/<hash>`). Image blobs in `content/` belong to the image store, not the cache.
 */
export async function cacheUsage(dataRoot: string): Promise<CacheUsage> {
  if ((await stat(dataRoot).catch(() => undefined))?.isDirectory() !== true) {
    throw htkError("HTK-CACHE-0103", { root: dataRoot });
  }
  const lockedBy = await lockHolder(dataRoot);
  const inUse = lockedBy !== undefined;
  const byOutput = await keysByOutput(dataRoot);
  const hits = await cacheHits(dataRoot);
  const found: Omit<CacheUsageRecord, "size" | "reclaimable">[] = [];
  const worker = join(dataRoot, "worker");
  const fromKeys = (id: string, fallback: Date): { createdAt: Date; lastUsed: Date; description: string; usageCount: number; keys: string[] } => {
    const refs = byOutput.get(id) ?? [];
    const times = refs.map((r) => Date.parse(r.createdAt)).filter(Number.isFinite);
    const used = refs.flatMap((r) => hits.get(r.key) ?? []);
    const first = times.length === 0 ? fallback : new Date(Math.min(...times));
    const last = times.length === 0 ? fallback : new Date(Math.max(...times, ...used));
    const named = refs.find((r) => r.canonical === undefined) ?? refs[0];
    const builds = new Set(used).size + (refs.length > 0 ? 1 : 0);
    return { createdAt: first, lastUsed: last, description: named?.vertexName ?? "", usageCount: builds, keys: refs.map((r) => r.key) };
  };

  // File worker snapshots: only committed ones are results (an active one is a build's, mid-step).
  const fileSnaps = join(worker, "snapshots");
  for (const id of await names(fileSnaps)) {
    const dir = join(fileSnaps, id);
    const marker = await stat(join(dir, "committed")).catch(() => undefined);
    if (marker === undefined) continue;
    const isLocal = (await stat(join(dir, "tree.json")).catch(() => undefined)) !== undefined;
    const k = fromKeys(id, marker.mtime);
    found.push({ id, type: isLocal ? "source.local" : "regular", inUse, ...k, description: k.description || (isLocal ? "local source" : "snapshot"), children: [], location: { kind: "file-snapshot", dir } });
  }

  // Runtime worker snapshots (overlay layers or copies), with their parent chain.
  const snapRoot = join(dataRoot, "snapshots");
  const layers = join(snapRoot, "layers");
  const overlay: { id: string; parent: string | undefined; kind: string; diffId: string | undefined; dir: string; mtime: Date }[] = [];
  for (const n of await names(layers)) {
    const dir = join(layers, n);
    const metaText = await readFile(join(dir, "meta.json"), "utf8").catch(() => undefined);
    if (metaText === undefined) continue;
    const meta = JSON.parse(metaText) as { id: string; parent: string | null; kind: string; diffId: string | null };
    const st = await stat(dir);
    overlay.push({ id: meta.id, parent: meta.parent ?? undefined, kind: meta.kind, diffId: meta.diffId ?? undefined, dir, mtime: st.mtime });
  }
  for (const s of overlay) {
    const hashed = `${createHash("sha256").update(s.id).digest("hex")}.json`;
    const tree = join(worker, "trees", hashed);
    const isLocal = (await stat(tree).catch(() => undefined)) !== undefined;
    const k = fromKeys(s.id, s.mtime);
    const description = k.description || (isLocal ? "local source" : s.kind === "layer" ? `pulled layer ${s.diffId ?? ""}`.trim() : "snapshot");
    found.push({
      id: s.id,
      type: isLocal ? "source.local" : "regular",
      inUse,
      ...k,
      description,
      ...(s.parent === undefined ? {} : { parent: s.parent }),
      children: overlay.filter((c) => c.parent === s.id).map((c) => c.id),
      location: { kind: "overlay-snapshot", dir: s.dir, snapshotsRoot: snapRoot, tree, exportRecord: join(worker, "exports", hashed) },
    });
  }

  // Local-context mirrors: a hash-named directory each under `worker/locals` (directly under the
  // worker root before the mirrors moved there).
  for (const parent of [join(worker, "locals"), worker]) {
    for (const name of await names(parent)) {
      if (!/^[0-9a-f]{32}$/.test(name)) continue;
      const dir = join(parent, name);
      const st = await stat(join(dir, "index.json")).catch(() => stat(dir));
      found.push({ id: name, type: "source.local", inUse, createdAt: st.mtime, lastUsed: st.mtime, description: "local source mirror", usageCount: 0, keys: [], children: [], location: { kind: "dir", dir } });
    }
  }
  // The build service's per-client copies of build contexts (at most 32, least recently used go
  // first): BuildKit's "local source for context" records, so du, prune and system df see them.
  const copies = join(dataRoot, "buildx", "contexts");
  for (const name of await names(copies)) {
    if (!/^[0-9a-f]{32}$/.test(name)) continue;
    const dir = join(copies, name);
    const st = await stat(dir).catch(() => undefined);
    if (st === undefined) continue;
    const used = (await stat(join(dir, "state.json")).catch(() => undefined))?.mtime ?? st.mtime;
    const what = (await readFile(join(dir, "name"), "utf8").catch(() => "")).trim() || "context";
    found.push({
      id: name,
      type: "source.local",
      inUse,
      createdAt: st.birthtime.getTime() > 0 ? st.birthtime : st.mtime,
      lastUsed: used,
      description: `local source for ${what}`,
      usageCount: 0,
      keys: [],
      children: [],
      location: { kind: "context-copy", dir },
    });
  }
  // The context hasher's stat cache: only speeds up keying a context, so it is an internal record
  // (pruned with -a; the next build hashes the context afresh).
  const hashCache = join(worker, "contenthash");
  const hc = await stat(hashCache).catch(() => undefined);
  if (hc?.isDirectory() === true) {
    found.push({ id: createHash("sha256").update(hashCache).digest("hex").slice(0, 32), type: "internal", inUse, createdAt: hc.mtime, lastUsed: hc.mtime, description: "context checksum cache", usageCount: 0, keys: [], children: [], location: { kind: "dir", dir: hashCache } });
  }

  // The git clone cache (engine/worker/git.ts): a bare repository per remote, BuildKit's "shared git
  // repo for …" records; pruned like step results (the next build fetches again).
  const repos = join(worker, "git", "repos");
  for (const name of await names(repos)) {
    const dir = join(repos, name);
    const st = await stat(dir).catch(() => undefined);
    if (st?.isDirectory() !== true) continue;
    const remote = /^\s*url = (.*)$/m.exec(await readFile(join(dir, "config"), "utf8").catch(() => ""))?.[1] ?? name;
    found.push({
      id: name,
      type: "source.git.checkout",
      inUse,
      createdAt: st.birthtime.getTime() > 0 ? st.birthtime : st.mtime,
      lastUsed: st.mtime,
      description: `shared git repo for ${redactRemote(remote)}`,
      usageCount: 0,
      keys: [],
      children: [],
      location: { kind: "dir", dir },
    });
  }

  // Cache mounts (`RUN --mount=type=cache`): the mount id is kept beside the data when known.
  const mounts = join(worker, "cache-mounts");
  for (const name of await names(mounts)) {
    const dir = join(mounts, name);
    const st = await stat(dir);
    const data = await stat(join(dir, "data")).catch(() => st);
    const mountId = (await readFile(join(dir, "id"), "utf8").catch(() => "")).trim();
    found.push({
      id: name,
      type: "exec.cachemount",
      inUse,
      createdAt: st.birthtime.getTime() > 0 ? st.birthtime : st.mtime,
      lastUsed: data.mtime,
      description: `cached mount ${mountId === "" ? name : mountId}`,
      usageCount: 0,
      keys: [],
      children: [],
      location: { kind: "dir", dir },
    });
  }

  const all = new Map<string, number>();
  const records: CacheUsageRecord[] = [];
  for (const f of found) {
    const inodes = new Map<string, number>();
    await diskUsage(f.location.dir, inodes);
    let size = 0;
    for (const [ino, bytes] of inodes) {
      size += bytes;
      all.set(ino, bytes);
    }
    records.push({ ...f, size, reclaimable: !inUse });
  }
  let total = 0;
  for (const b of all.values()) total += b;
  records.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime() || a.id.localeCompare(b.id));
  return { records, total, reclaimable: inUse ? 0 : total, lockedBy };
}

export interface PruneOptions {
  /** `-a`: also cache mounts (and internal/frontend records); default: step results and local sources. */
  readonly all: boolean;
  /** `--keep-storage`: remove least-recently-used candidates only until the cache is at most this big. */
  readonly keepStorage?: number;
  /** `until=`: only records last used longer ago than this many milliseconds. */
  readonly untilMs?: number;
  /** `type=`: only these types (cache mounts included even without `all`). */
  readonly types?: readonly CacheRecordType[];
  /** `id=`: only records whose id starts with one of these. */
  readonly ids?: readonly string[];
  readonly signal: AbortSignal;
  /** Said once when prune waits for a running build. */
  readonly notice: (line: string) => void;
  readonly now?: Date;
  /**
   * The stores are open in this process (the daemon): no build lock is taken (the caller keeps builds
   * out), snapshots are removed through the snapshotter (one still in use is skipped) and keys through
   * the solver's own key store.
   */
  readonly live?: LivePrune;
}

export interface LivePrune {
  readonly snapshotter: Snapshotter;
  readonly keyStore: CacheKeyStore;
  /** The image store on the same content store: collects the blobs the removed records needed. */
  readonly images: ImageStore;
  /** The build service's context copies: removed through it (a copy being synced or read is kept). */
  readonly contexts?: ContextCopies;
}

/** What prune needs of the build service's context store (engine/api/build-service-contexts.ts). */
export interface ContextCopies {
  /** Removes the copy `id`; false when a build reads it or a client is syncing it now. */
  remove(id: string): Promise<boolean>;
}

export interface PruneResult {
  readonly removed: readonly CacheUsageRecord[];
  /** Bytes freed (the removed records' sizes). */
  readonly total: number;
  /** Content-store blobs the removal left unreferenced, and older unreferenced ones, collected after it. */
  readonly blobs: { readonly deleted: number; readonly bytes: number };
}

/**
 * Removes build-cache records. Takes the data root's build lock first, so it waits for a running
 * build (as a second build would) and no build starts while it removes. Without `all`, cache mounts
 * are kept: their contents are the user's (package caches), not results a build can reproduce.
 */
export async function pruneCache(dataRoot: string, opts: PruneOptions): Promise<PruneResult> {
  if ((await stat(dataRoot).catch(() => undefined))?.isDirectory() !== true) {
    throw htkError("HTK-CACHE-0103", { root: dataRoot });
  }
  const unlock = opts.live !== undefined ? async (): Promise<void> => undefined : await lockDataRoot(dataRoot, opts.signal, (line) => opts.notice(line.replace(/^hatake build:/, "hatake prune:")));
  try {
    const usage = await cacheUsage(dataRoot);
    const now = (opts.now ?? new Date()).getTime();
    const eligible = usage.records.filter((r) => {
      if (opts.types !== undefined && opts.types.length > 0) {
        if (!opts.types.includes(r.type)) return false;
      } else if (!opts.all && (r.type === "exec.cachemount" || r.type === "internal" || r.type === "frontend")) {
        return false;
      }
      if (opts.untilMs !== undefined && now - r.lastUsed.getTime() < opts.untilMs) return false;
      if (opts.ids !== undefined && opts.ids.length > 0 && !opts.ids.some((p) => r.id.startsWith(p) || r.id.replace(/^sha256:/, "").startsWith(p))) return false;
      return true;
    });
    // Least recently used first: with --keep-storage the most recently used are what stays.
    eligible.sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || a.id.localeCompare(b.id));
    let left = usage.total;
    const chosen = new Set<string>();
    const removed: CacheUsageRecord[] = [];
    const byId = new Map(usage.records.map((r) => [r.id, r]));
    // An overlay snapshot is its children's lower layer: it can only go once they have.
    for (let progress = true; progress; ) {
      progress = false;
      for (const r of eligible) {
        if (chosen.has(r.id)) continue;
        if (opts.keepStorage !== undefined && left <= opts.keepStorage) break;
        if (!r.children.every((c) => chosen.has(c) || !byId.has(c))) continue;
        chosen.add(r.id);
        removed.push(r);
        left -= r.size;
        progress = true;
      }
    }
    const before = await buildCacheBlobs(dataRoot);
    if (opts.live !== undefined) {
      const live = opts.live;
      const result = await pruneLive(dataRoot, removed, live);
      return { ...result, blobs: await collectBlobs(dataRoot, before, live.images, opts.signal) };
    }
    const keys = new Set(removed.flatMap((r) => r.keys));
    if (keys.size > 0) {
      // Key records first: a record pointing at a removed snapshot would only cost a rebuild (the
      // solver re-runs a step whose ref is gone), but there is no reason to leave one.
      const store = JsonlKeyStore.open(dataRoot);
      try {
        for (const k of keys) await store.delete(k as `sha256:${string}`);
      } finally {
        await store.close();
      }
    }
    for (const r of removed) await removeRecord(dataRoot, r);
    let blobs = { deleted: 0, bytes: 0 };
    // An engine's data root (its state database): the engine's image leases are in that database, which
    // this process does not read, so only the engine's own prune may collect its content store.
    const engineOwned = (await stat(join(dataRoot, "state", "engine.db")).catch(() => undefined)) !== undefined;
    if (!engineOwned && (await stat(join(dataRoot, "content")).catch(() => undefined))?.isDirectory() === true) {
      const images = await ImageStore.openAt(dataRoot);
      images.addBlobRoots(() => buildCacheBlobs(dataRoot));
      blobs = await collectBlobs(dataRoot, before, images, opts.signal);
    }
    return { removed, total: removed.reduce((n, r) => n + r.size, 0), blobs };
  } finally {
    await unlock();
  }
}

/**
 * After a prune: the blobs the build cache needed before and no longer does (exported layers of
 * removed snapshots, pulled layers whose snapshots went) are collected unless an image or work in
 * progress holds them; then a sweep of unreferenced blobs older than the image store's default age
 * (FROM images' manifests and configs, leftovers of failed work).
 */
async function collectBlobs(dataRoot: string, before: ReadonlySet<Digest>, images: ImageStore, signal: AbortSignal): Promise<{ deleted: number; bytes: number }> {
  const after = await buildCacheBlobs(dataRoot);
  const released = await images.collectGarbage({ candidates: [...before].filter((d) => !after.has(d)), signal });
  const swept = await images.collectGarbage({ signal });
  return { deleted: released.deleted.length + swept.deleted.length, bytes: released.bytes + swept.bytes };
}

/** Removal with the stores open: a snapshot still held (or whose child stayed) is kept, with its keys. */
async function pruneLive(dataRoot: string, chosen: readonly CacheUsageRecord[], live: LivePrune): Promise<Omit<PruneResult, "blobs">> {
  const removed: CacheUsageRecord[] = [];
  const kept = new Set<string>();
  for (const r of chosen) {
    if (r.location.kind === "overlay-snapshot") {
      if (r.children.some((c) => kept.has(c)) || !live.snapshotter.has(r.id)) {
        kept.add(r.id);
        continue;
      }
      try {
        await live.snapshotter.remove(r.id);
      } catch {
        // In use (HTK-RUNTIME-0203): a container, a running unpack or a view holds it.
        kept.add(r.id);
        continue;
      }
      await rm(r.location.tree, { force: true });
      await rm(r.location.exportRecord, { force: true });
    } else if (r.location.kind === "context-copy" && live.contexts !== undefined) {
      if (!(await live.contexts.remove(r.id))) {
        kept.add(r.id);
        continue;
      }
    } else {
      await removeRecord(dataRoot, r);
    }
    for (const k of r.keys) await live.keyStore.delete(k as `sha256:${string}`);
    removed.push(r);
  }
  return { removed, total: removed.reduce((n, r) => n + r.size, 0) };
}

/**
 * Makes a record disappear at once, then deletes its files: a half-deleted snapshot that still looked
 * committed (or a mirror whose index still listed deleted files) would be taken for a whole one.
 */
async function removeRecord(dataRoot: string, r: CacheUsageRecord): Promise<void> {
  const loc = r.location;
  switch (loc.kind) {
    case "file-snapshot":
      await rm(join(loc.dir, "committed"), { force: true });
      await rm(loc.dir, { recursive: true, force: true });
      return;
    case "overlay-snapshot": {
      // staging/ is what Snapshotter.open clears: a crash mid-delete leaves nothing it could misread.
      const gone = join(loc.snapshotsRoot, "staging", `prune-${randomBytes(6).toString("hex")}`);
      await rename(loc.dir, gone);
      await rm(gone, { recursive: true, force: true });
      await rm(loc.tree, { force: true });
      // The exporter's note of this snapshot's layer blob (the blob stays in the image store's content).
      await rm(loc.exportRecord, { force: true });
      return;
    }
    case "dir":
    case "context-copy": {
      const gone = join(dataRoot, "worker", "tmp", `prune-${randomBytes(6).toString("hex")}`);
      await mkdir(join(dataRoot, "worker", "tmp"), { recursive: true });
      await rename(loc.dir, gone);
      await rm(gone, { recursive: true, force: true });
      return;
    }
  }
}

interface KeyRef {
  readonly key: string;
  readonly createdAt: string;
  readonly vertexName: string;
  readonly canonical?: string;
}

async function keysByOutput(dataRoot: string): Promise<Map<string, KeyRef[]>> {
  const out = new Map<string, KeyRef[]>();
  // Read the file, not JsonlKeyStore.open: du must not create or compact anything under a running build.
  const text = await readFile(join(dataRoot, "cache-keys.jsonl"), "utf8").catch(() => "");
  const live = new Map<string, { key: string; outputs: string[]; createdAt: string; vertexName: string; canonical?: string }>();
  for (const raw of text.split("\n")) {
    if (raw === "") continue;
    try {
      const line = JSON.parse(raw) as { op: "put"; record: { key: string; outputs: string[]; createdAt: string; vertexName: string; canonical?: string } } | { op: "del"; key: string };
      if (line.op === "put") live.set(line.record.key, line.record);
      else live.delete(line.key);
    } catch {
      // A torn last line: the store skips it too.
    }
  }
  for (const r of live.values()) {
    for (const id of r.outputs) {
      const list = out.get(id) ?? [];
      list.push({ key: r.key, createdAt: r.createdAt, vertexName: r.vertexName, ...(r.canonical === undefined ? {} : { canonical: r.canonical }) });
      out.set(id, list);
    }
  }
  return out;
}

/** How many recent builds are read for cache hits: records can be large, and older hits rarely decide. */
const HIT_HISTORY = 100;

/**
 * When each key was last a cache hit, from the build records (`<data-root>/records`): the key store
 * only knows when a result was made, and a step reused every day must count as recently used.
 */
async function cacheHits(dataRoot: string): Promise<Map<string, number[]>> {
  const hits = new Map<string, number[]>();
  const store = new BuildRecordStore(join(dataRoot, "records"));
  const summaries = await store.list().catch(() => []);
  for (const s of summaries.slice(0, HIT_HISTORY)) {
    const rec = await store.get(s.id).catch(() => undefined);
    if (rec === undefined) continue;
    const at = Date.parse(rec.completed ?? rec.started);
    if (!Number.isFinite(at)) continue;
    for (const v of rec.vertices) {
      if (v.outcome.status !== "cached" || v.key === undefined) continue;
      const list = hits.get(v.key.key) ?? [];
      list.push(at);
      hits.set(v.key.key, list);
    }
  }
  return hits;
}

/**
 * The content-store blobs the build cache of a data root needs, read from disk: the exported layer of
 * every snapshot the exporter noted (`worker/exports/*.json`, removed with their snapshot), and the
 * pulled blob of every layer snapshot still there (`worker/layers.json` by diff ID), which an image
 * export of a chain containing it reuses (so a rebuild exports the same digests), with the manifests
 * and configs of the images it came with (a FROM then needs no download). The image store's
 * garbage collection keeps them (`ImageStore.addBlobRoots`).
 */
export async function buildCacheBlobs(dataRoot: string): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  const worker = join(dataRoot, "worker");
  const exports = join(worker, "exports");
  for (const n of await names(exports)) {
    if (!n.endsWith(".json")) continue;
    try {
      const rec = JSON.parse(await readFile(join(exports, n), "utf8")) as { empty?: boolean; blob?: { digest?: string } };
      if (rec.empty !== true && typeof rec.blob?.digest === "string") out.add(rec.blob.digest as Digest);
    } catch {
      // A record being rewritten: it names the same blob once complete, and a miss only re-exports.
    }
  }
  const pulled = new Map<string, Digest[]>();
  try {
    for (const l of JSON.parse(await readFile(join(worker, "layers.json"), "utf8")) as { diffId: string; descriptor: { digest: Digest }; images?: Digest[] }[]) {
      pulled.set(l.diffId, [l.descriptor.digest, ...(l.images ?? [])]);
    }
  } catch {
    // No pulls recorded.
  }
  if (pulled.size === 0) return out;
  const layers = join(dataRoot, "snapshots", "layers");
  for (const n of await names(layers)) {
    const meta = await readFile(join(layers, n, "meta.json"), "utf8").catch(() => undefined);
    if (meta === undefined) continue;
    try {
      const diffId = (JSON.parse(meta) as { diffId?: string | null }).diffId;
      for (const d of diffId === undefined || diffId === null ? [] : (pulled.get(diffId) ?? [])) out.add(d);
    } catch {
      // A torn meta file is no snapshot (the snapshotter ignores it too).
    }
  }
  return out;
}

/** The pid in `build.lock` when that process is alive (and not this one). */
async function lockHolder(dataRoot: string): Promise<number | undefined> {
  const pid = Number((await readFile(join(dataRoot, "build.lock"), "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  return processAlive(pid) ? pid : undefined;
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** `du`: allocated bytes by inode, so a hard link seen twice counts once. */
async function diskUsage(path: string, inodes: Map<string, number>): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return;
  inodes.set(`${st.dev}:${st.ino}`, st.blocks * 512);
  if (!st.isDirectory()) return;
  for (const name of await readdir(path).catch(() => [] as string[])) await diskUsage(join(path, name), inodes);
}

/** go-units HumanDuration + " ago", as buildx prints LAST ACCESSED. */
export function humanAgo(then: Date, now: Date): string {
  return `${humanDuration(now.getTime() - then.getTime())} ago`;
}

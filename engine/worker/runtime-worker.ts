import { createHash, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { chmod, chown, lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { promisify } from "node:util";
import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { ContextHasher, type ChecksumTree, type ContentStore, type Digest } from "../../cache/index.ts";
import { parseImageConfig, parseManifest, type OciDescriptor } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { execOutputs, inputsOf, type DiffOp, type ExecMount, type ExecOp, type FileAction, type FileInput, type FileOp, type GitSource, type HttpSource, type ImageSource, type LocalSource, type MergeOp, type Platform, type SourceOp } from "../../llb/index.ts";
import type { ContentKey, ContentSelector, OpContext, ResolvedImage, SolveSession, SourcePin, Worker, WorkerRef } from "../../solver/index.ts";
import { PROXY_ENV_KEY } from "../../frontend-dockerfile/index.ts";
import { BlobLeases, type ImageStore } from "../images/index.ts";
import { buildSpec, readUserDatabase, resultError, type MountRequest, type NetworkNamespace, type Runtime } from "../runtime/index.ts";
import { contentLayerSources, type ActiveSnapshot, type SnapshotRef, type Snapshotter } from "../snapshots/index.ts";
import { copyAction, mkdirAction, mkfileAction, rmAction } from "./file-actions.ts";
import { hashSelector, keyFromTree } from "./content-keys.ts";
import { LocalContexts } from "./local-mirror.ts";
import { resolveInRoot } from "./rootfs-path.ts";
import { serveAgentSocket, type SshAgentSource } from "./ssh-agent.ts";
import { Mutex, copyChanges, copyInto, edgeKey, edgeMap } from "./runtime-helpers.ts";
import { GitRepos, gitCacheKey, gitTarget, redactRemote, type GitResolved } from "./git.ts";

/**
 * What a build session carries besides the solver's `SolveSession`: the client's secrets (`--secret`)
 * and SSH agents (`--ssh`).
 * Passed as extra fields of the session object the solver hands back in `OpContext.session`, so the
 * solver's public types do not change and the values never reach a build record.
 */
export interface RuntimeSession extends SolveSession {
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  /** `--ssh`: the agents RUN --mount=type=ssh may use, by id; their keys stay in memory. */
  readonly ssh?: Readonly<Record<string, SshAgentSource>>;
  /** The contents a new cache mount starts from, for this session's build only (a daemon build that imports `cache-mounts`). */
  readonly cacheMountSeed?: (id: string, dir: string, signal: AbortSignal) => Promise<void>;
  /**
   * The build this session runs (a daemon's client session spans many builds): image tags and git refs
   * are resolved once per build, so each build sees where a tag or a branch points now.
   */
  readonly build?: string;
}

export interface RuntimeWorkerOptions {
  /** Worker files: mirrors, content-hash caches, cache mounts, export records (`<data-root>/worker`). */
  readonly root: string;
  readonly snapshotter: Snapshotter;
  readonly runtime: Runtime;
  readonly registry: RegistryClient;
  /** Local images: used without the network for digest references and `resolveMode: local`. */
  readonly images: ImageStore;
  readonly platform?: Platform;
  /** RUN steps with network `default`: a namespace with outbound network; without it, an empty one. */
  readonly stepNetwork?: StepNetwork;
}

/** Where a RUN step with network `default` gets its network (the daemon's default bridge). */
export interface StepNetwork {
  open(signal: AbortSignal): Promise<StepNetworkLease>;
}

export interface StepNetworkLease {
  /** The namespace to join (`/run/netns/…`). */
  readonly path: string;
  /** The step's /etc/resolv.conf (the host's, loopback nameservers dropped, as for containers). */
  readonly resolvConf: string;
  /** Removes the namespace and frees its address. Idempotent. */
  release(): Promise<void>;
}

/** A layer a pulled image brought, by diff_id: an export of a chain that contains it reuses the original blob. */
interface LayerBlob {
  readonly diffId: Digest;
  readonly descriptor: OciDescriptor;
  /**
   * Manifests and configs of the images the layer was pulled with (the most recent few): the build
   * cache keeps them while the layer's snapshot exists, so a FROM of a cached image needs no registry
   * for its blobs, and a prune of the snapshot lets them go (`buildCacheBlobs`).
   */
  readonly images?: readonly Digest[];
}

/** Image blobs remembered per layer: a base layer many images share must not grow its entry forever. */
const MAX_LAYER_IMAGES = 8;

const run = promisify(execFile);

/** Resolutions remembered (oldest dropped first): sessions end, the memo must not grow with them. */
const MAX_RESOLVED = 256;

/** Secrets are written here for the step's life: a tmpfs, so never to disk. */
const SECRETS_DIR = "/dev/shm";

async function removeLeftovers(dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) if (n.startsWith(prefix)) await rm(posix.join(dir, n), { recursive: true, force: true });
}

/**
 * RUN's proxy variables (`--build-arg HTTP_PROXY=…` and the other four, any case): the frontend puts
 * them in the vertex's description, outside the op, so they reach the process without being part of
 * the cache key, the image config or its history (BuildKit's `ProxyEnv`). Each is set in both cases,
 * as BuildKit's executor does; a variable the step's own env already has stays as it is.
 */
export function proxyEnv(description: Readonly<Record<string, string>> | undefined, env: readonly string[]): string[] {
  const text = description?.[PROXY_ENV_KEY];
  if (text === undefined) return [];
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    return [];
  }
  if (typeof values !== "object" || values === null) return [];
  const have = new Set(env.map((e) => e.slice(0, e.indexOf("="))));
  const out: string[] = [];
  for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"]) {
    const v = (values as Record<string, unknown>)[name];
    if (typeof v !== "string" || v === "") continue;
    for (const n of [name, name.toLowerCase()]) if (!have.has(n)) out.push(`${n}=${v}`);
  }
  return out;
}

/** BuildKit's hostname for build containers (`executor/oci`: "buildkitsandbox"). */
const BUILD_HOSTNAME = "buildkitsandbox";

/**
 * The engine's build worker: image sources pulled and unpacked into shared layer snapshots, RUN steps
 * run with crun on overlay snapshots, file ops, merge and diff on snapshots. Local contexts use the
 * file worker's incremental mirror; file actions are the file worker's (they work on any directory).
 *
 * Network: `none` gets a new, empty network namespace; `host` the host's (the frontend checks the
 * `network.host` entitlement). `default` joins a namespace on the daemon's default bridge
 * (`stepNetwork`: outbound works through its NAT) with the host's resolvers; without a
 * `stepNetwork` (in-process builds have the data root's build bridge) a new, empty namespace: never
 * the host's. Proxy build args reach the process from the vertex's description (`proxyEnv`).
 */
export class RuntimeWorker implements Worker {
  readonly id = "crun-overlayfs";
  readonly platform: Platform;
  readonly snapshotter: Snapshotter;
  readonly content: ContentStore;
  readonly #root: string;
  readonly #runtime: Runtime;
  readonly #registry: RegistryClient;
  readonly #images: ImageStore;
  readonly #contexts: LocalContexts;
  readonly #viewHasher = new ContextHasher();
  readonly #trees = new Map<string, ChecksumTree>();
  readonly #cacheLocks = new Map<string, Mutex>();
  readonly #cacheUsers = new Map<string, number>();
  /** diff_id → the pulled blob, persisted in `layers.json`. */
  readonly #layerBlobs = new Map<string, LayerBlob>();
  readonly #resolved = new Map<string, ResolvedImage>();
  /**
   * Names this worker root's secret directories (in RAM) and agent sockets (in the temporary folder),
   * which live outside the data root: a build killed with SIGKILL leaves them, the next open removes them.
   */
  readonly #leftoverTag: string;
  readonly #stepNetwork: StepNetwork | undefined;
  /** The git clone cache (`<root>/git`): bare repositories by remote. */
  readonly git: GitRepos;
  /** Git refs pinned to commits, by session (a build loads the commit its key was made of). */
  readonly #gitPins = new Map<string, GitResolved>();

  private constructor(opts: RuntimeWorkerOptions) {
    this.#root = opts.root;
    this.snapshotter = opts.snapshotter;
    this.#runtime = opts.runtime;
    this.#registry = opts.registry;
    this.#images = opts.images;
    this.content = opts.images.content;
    this.platform = opts.platform ?? { os: "linux", architecture: "amd64" };
    this.#contexts = new LocalContexts(opts.root);
    this.#stepNetwork = opts.stepNetwork;
    this.#leftoverTag = createHash("sha256").update(opts.root).digest("hex").slice(0, 12);
    this.git = new GitRepos(posix.join(opts.root, "git"));
  }

  static async open(opts: RuntimeWorkerOptions): Promise<RuntimeWorker> {
    await mkdir(posix.join(opts.root, "trees"), { recursive: true, mode: 0o700 });
    await mkdir(posix.join(opts.root, "cache-mounts"), { recursive: true, mode: 0o700 });
    const w = new RuntimeWorker(opts);
    // One build process per data root (its lock): whatever carries this root's tag is a dead build's.
    await removeLeftovers(SECRETS_DIR, `hatake-secret-${w.#leftoverTag}-`);
    await removeLeftovers(tmpdir(), `htk-ssh-${w.#leftoverTag}-`);
    await w.git.clean();
    try {
      const saved = JSON.parse(await readFile(posix.join(opts.root, "layers.json"), "utf8")) as LayerBlob[];
      for (const l of saved) w.#layerBlobs.set(l.diffId, l);
    } catch {
      // No pulls recorded yet.
    }
    return w;
  }

  /** The original blob of a pulled layer, by diff_id (exports push these, never a re-archive). */
  layerBlob(diffId: Digest): OciDescriptor | undefined {
    return this.#layerBlobs.get(diffId)?.descriptor;
  }

  /**
   * Records the blobs of layers unpacked from elsewhere than a pull (an imported build cache), so an
   * image export of a chain that contains them reuses these bytes: the same image digest as the build
   * that made them.
   */
  async rememberLayerBlobs(layers: readonly { readonly diffId: Digest; readonly descriptor: OciDescriptor }[]): Promise<void> {
    let changed = false;
    for (const l of layers) {
      if (this.#layerBlobs.has(l.diffId)) continue;
      this.#layerBlobs.set(l.diffId, { diffId: l.diffId, descriptor: { mediaType: l.descriptor.mediaType, digest: l.descriptor.digest, size: l.descriptor.size } });
      changed = true;
    }
    if (changed) await this.#saveLayerBlobs();
  }

  /**
   * Fills a new cache mount directory (after its `from=` source) with imported contents: set by an
   * in-process build that imports a cache with cache mounts (`remote-cache-mounts.ts`).
   */
  cacheMountSeed: ((id: string, dir: string, signal: AbortSignal) => Promise<void>) | undefined;

  /** The persistent directory of a cache mount id (absent until a step used it). */
  cacheMountDir(id: string): string {
    return posix.join(this.#root, "cache-mounts", cacheMountKey(id), "data");
  }

  /** Runs `fn` on a read-only view of a committed snapshot (copy mode: its directory). */
  async withView<T>(id: string, signal: AbortSignal, fn: (path: string) => Promise<T>): Promise<T> {
    if (this.snapshotter.mode === "copy") return fn(this.snapshotter.dir(id));
    const view = await this.snapshotter.view(id, signal);
    try {
      return await fn(view.path);
    } finally {
      await view.discard();
    }
  }

  // ---- images ----------------------------------------------------------------------------------

  async resolveImage(source: ImageSource, platform: Platform | undefined, ctx: OpContext): Promise<ResolvedImage> {
    const want = platform ?? this.platform;
    const local = await this.#localImage(source, ctx.signal);
    if (local !== undefined) return local;
    // One resolution per reference and platform per build: the compiler's FROM and the solver's pin
    // then agree, at the cost of one registry round trip. Per build, not per session: a daemon's
    // client session spans many builds, and each must see a tag that moved.
    const key = `${resolutionScope(ctx.session)}|${source.ref}|${want.os}/${want.architecture}/${want.variant ?? ""}`;
    const known = this.#resolved.get(key);
    if (known !== undefined) return known;
    const m = await this.#registry.fetchManifest(source.ref, { platform: want, store: this.content, signal: ctx.signal });
    await this.#registry.fetchBlob(source.ref, m.manifest.config, this.content, { signal: ctx.signal });
    const config = await this.content.readBytes(m.manifest.config.digest, { signal: ctx.signal });
    const r: ResolvedImage = { digest: m.manifestDescriptor.digest, config };
    this.#resolved.set(key, r);
    if (this.#resolved.size > MAX_RESOLVED) this.#resolved.delete(this.#resolved.keys().next().value as string);
    return r;
  }

  /**
   * An image already in the local store, when the reference pins a digest (the content cannot have
   * changed) or the resolve mode prefers local images (`--pull=false`): no network.
   */
  async #localImage(source: ImageSource, signal: AbortSignal): Promise<ResolvedImage | undefined> {
    const pinned = source.ref.includes("@sha256:");
    if (!pinned && source.resolveMode !== "local") return undefined;
    let rec;
    try {
      rec = this.#images.lookup(source.ref);
    } catch {
      rec = undefined;
    }
    // A digest names content, whatever repository it came with: any local image with that manifest.
    const digest = /@(sha256:[0-9a-f]{64})$/.exec(source.ref)?.[1];
    const byDigest = digest === undefined ? undefined : this.#images.images().find((r) => r.manifests.some((m) => m.descriptor.digest === digest));
    rec ??= byDigest;
    const manifest = digest === undefined ? rec?.manifests[0] : rec?.manifests.find((m) => m.descriptor.digest === digest);
    if (rec === undefined || manifest === undefined) return digest === undefined ? undefined : this.#storedManifest(digest as Digest, signal);
    if (!(await this.content.has(rec.config.digest))) return undefined;
    return { digest: manifest.descriptor.digest, config: await this.content.readBytes(rec.config.digest, { signal }) };
  }

  /**
   * A pinned manifest that is in the content store without an image record (an OCI layout's, which a
   * build context brought): usable as it is when its config is there too.
   */
  async #storedManifest(digest: Digest, signal: AbortSignal): Promise<ResolvedImage | undefined> {
    if (!(await this.content.has(digest))) return undefined;
    const m = parseManifest(await this.content.readBytes(digest, { signal }));
    if (!m.ok || !(await this.content.has(m.value.config.digest as Digest))) return undefined;
    return { digest, config: await this.content.readBytes(m.value.config.digest as Digest, { signal }) };
  }

  /** Leases on blobs for work outside the solver (a build's OCI layout context), counted with the images'. */
  blobLeases(owner: string): BlobLeases {
    return new BlobLeases(this.#images.refs, this.content, owner);
  }

  /** Pulls (what is missing of) the pinned manifest, then unpacks its layers into chain snapshots. */
  async #loadImage(source: ImageSource, resolved: ResolvedImage | undefined, ctx: OpContext): Promise<WorkerRef> {
    const resolvedImage = resolved ?? (await this.resolveImage(source, undefined, ctx));
    const name = source.ref.replace(/@sha256:[0-9a-f]{64}$/, "").replace(/:[^/:@]+$/, "");
    const pinned = `${name}@${resolvedImage.digest}`;
    // Every blob this load looks at is leased first, until its layers are unpacked: a garbage
    // collection at the same time (docker rmi, prune) must not take one between check and use.
    const leases = new BlobLeases(this.#images.refs, this.content, `build:${ctx.vertex}`);
    try {
      return await this.#loadLeased(source, resolvedImage, pinned, name, leases, ctx);
    } finally {
      leases.release();
    }
  }

  async #loadLeased(source: ImageSource, resolvedImage: ResolvedImage, pinned: string, name: string, leases: BlobLeases, ctx: OpContext): Promise<WorkerRef> {
    const signal = ctx.signal;
    let manifestBytes: Uint8Array | undefined;
    if (await leases.has(resolvedImage.digest)) manifestBytes = await this.content.readBytes(resolvedImage.digest, { signal });
    let manifest = manifestBytes === undefined ? undefined : parseManifest(manifestBytes);
    const complete = manifest?.ok === true && (await allPresent(leases.store, [manifest.value.config, ...manifest.value.layers]));
    if (!complete) {
      const started = new Map<string, string>();
      const pulled = await this.#registry.pull(pinned, {
        store: leases.store,
        platform: this.platform,
        signal,
        // BuildKit's per-blob transfer lines (`sha256:… 2.1MB / 2.1MB done`).
        onProgress: (e) => {
          switch (e.kind) {
            case "blob-start":
              started.set(e.digest, new Date().toISOString());
              ctx.progress.status({ id: e.digest, current: 0, total: e.size, started: started.get(e.digest) ?? "" });
              break;
            case "blob-done":
              ctx.progress.status({ id: e.digest, current: e.size, total: e.size, started: started.get(e.digest) ?? new Date().toISOString(), completed: new Date().toISOString() });
              break;
            case "resolved":
            case "blob-exists":
            case "blob-resume":
              break;
          }
        },
      });
      manifest = { ok: true, value: pulled.manifest };
    }
    if (manifest === undefined || !manifest.ok) throw new Error(`manifest ${resolvedImage.digest} of ${source.ref} cannot be read`);
    const m = manifest.value;
    const configBytes = resolvedImage.config.byteLength > 0 ? resolvedImage.config : await this.content.readBytes(m.config.digest, { signal });
    const config = parseImageConfig(configBytes);
    if (!config.ok) throw htkError("HTK-REGISTRY-0013", { host: name, reference: source.ref, detail: config.error });
    const diffIds = config.value.rootfs.diff_ids;
    if (diffIds.length !== m.layers.length) throw htkError("HTK-REGISTRY-0013", { host: name, reference: source.ref, detail: "the config's diff_ids do not match the layers" });
    if (m.layers.length === 0) return this.#fromSnapshot(await this.#emptySnapshot(signal));
    let changed = false;
    const imageBlobs = [resolvedImage.digest, m.config.digest as Digest];
    m.layers.forEach((l, i) => {
      const diffId = diffIds[i] as Digest;
      const known = this.#layerBlobs.get(diffId);
      const images = known?.images ?? [];
      if (known === undefined || !imageBlobs.every((d) => images.includes(d))) {
        const merged = [...images.filter((d) => !imageBlobs.includes(d)), ...imageBlobs].slice(-MAX_LAYER_IMAGES);
        this.#layerBlobs.set(diffId, { diffId, descriptor: known?.descriptor ?? l, images: merged });
        changed = true;
      }
    });
    if (changed) await this.#saveLayerBlobs();
    const snap = await this.snapshotter.unpackChain(contentLayerSources(this.content, m.layers, diffIds), signal);
    return this.#fromSnapshot(snap);
  }

  async #saveLayerBlobs(): Promise<void> {
    const file = posix.join(this.#root, "layers.json");
    await writeFile(`${file}.tmp`, JSON.stringify([...this.#layerBlobs.values()]));
    await rename(`${file}.tmp`, file);
  }

  /** A committed empty snapshot (scratch-like results that must still be a ref). */
  async #emptySnapshot(signal: AbortSignal): Promise<SnapshotRef> {
    const a = await this.snapshotter.prepare(undefined, signal);
    try {
      return await a.commit();
    } catch (err) {
      await a.discard();
      throw err;
    }
  }

  // ---- sources ---------------------------------------------------------------------------------

  async loadSource(op: SourceOp, resolved: ResolvedImage | undefined, ctx: OpContext): Promise<WorkerRef> {
    const source = op.source;
    switch (source.kind) {
      case "local":
        return this.#loadLocal(source, ctx.session, ctx.signal);
      case "image":
        return this.#loadImage(source, resolved, ctx);
      case "git":
        return this.#loadGit(source, ctx);
      case "http":
        return this.#loadHttp(source, ctx.signal);
    }
  }

  // ---- git -------------------------------------------------------------------------------------

  /**
   * The commit a git source's ref names now, remembered for the session so that the checkout is that
   * commit even when the branch moves during the build (BuildKit resolves once per build as well).
   */
  async resolveGit(scope: string, source: Pick<GitSource, "remote" | "ref">, signal: AbortSignal): Promise<GitResolved> {
    const target = gitTarget(source);
    const key = `${scope}\0${target.remote}\0${target.ref}`;
    const known = this.#gitPins.get(key);
    if (known !== undefined) return known;
    const resolved = await this.git.resolve(target, signal);
    this.#gitPins.set(key, resolved);
    // The latest resolution for any session: what a job shared with another build falls back to.
    this.#gitPins.set(`\0${target.remote}\0${target.ref}`, resolved);
    while (this.#gitPins.size > MAX_RESOLVED) this.#gitPins.delete(this.#gitPins.keys().next().value as string);
    return resolved;
  }

  /** BuildKit's git CacheKey: the resolved commit (plus `.git` when kept, `:subdir`); the op digest adds the remote. */
  async pinSource(op: SourceOp, ctx: OpContext): Promise<SourcePin | undefined> {
    const source = op.source;
    if (source.kind !== "git") return undefined;
    const { commit } = await this.resolveGit(resolutionScope(ctx.session), source, ctx.signal);
    const t = gitTarget(source);
    const key = gitCacheKey(commit, t.subdir, source.keepGitDir);
    return { ref: `${redactRemote(t.remote)}${source.ref === "" ? "" : `#${source.ref}`}`, digest: `sha256:${createHash("sha256").update(`git:${key}`).digest("hex")}`, resolved: commit };
  }

  async #loadGit(source: GitSource, ctx: OpContext): Promise<WorkerRef> {
    const t = gitTarget(source);
    const scope = resolutionScope(ctx.session);
    const resolved = this.#gitPins.get(`${scope}\0${t.remote}\0${t.ref}`) ?? this.#gitPins.get(`\0${t.remote}\0${t.ref}`) ?? (await this.resolveGit(scope, source, ctx.signal));
    const snap = await this.snapshotter.prepare(undefined, ctx.signal);
    try {
      await this.git.checkout({ target: t, resolved, keepGitDir: source.keepGitDir, dest: snap.path, signal: ctx.signal });
      const ref = await snap.commit();
      await this.git.trim(ctx.signal).catch(() => undefined);
      return this.#fromSnapshot(ref);
    } finally {
      await snap.discard();
    }
  }

  /**
   * ADD <url>: one file in a new snapshot, named as BuildKit's http source names it (the given name,
   * else Content-Disposition, else the URL's last path segment, else `__unnamed__`), mode 0644 unless
   * set, mtime from Last-Modified; `--checksum` is checked before anything is committed.
   */
  async #loadHttp(source: HttpSource, signal: AbortSignal): Promise<WorkerRef> {
    let res: Response;
    try {
      res = await fetch(source.url, { signal, redirect: "follow" });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw htkError("HTK-BUILD-0102", { url: source.url, detail: (err as Error).message }, { cause: err });
    }
    if (!res.ok || res.body === null) {
      await res.body?.cancel().catch(() => undefined);
      throw htkError("HTK-BUILD-0102", { url: source.url, detail: `the server answered ${res.status} ${res.statusText}` });
    }
    const name = source.filename ?? httpFileName(source.url, res.headers.get("content-disposition"));
    const snap = await this.snapshotter.prepare(undefined, signal);
    try {
      const file = posix.join(snap.path, name);
      const hash = createHash("sha256");
      const fh = await open(file, "w", 0o600);
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          await fh.write(chunk);
        }
      } finally {
        await fh.close();
      }
      const actual = `sha256:${hash.digest("hex")}`;
      if (source.checksum !== undefined && source.checksum !== actual) {
        throw htkError("HTK-BUILD-0103", { url: source.url, expected: source.checksum, actual });
      }
      await chmod(file, source.chmod ?? 0o644);
      const modified = Date.parse(res.headers.get("last-modified") ?? "");
      if (Number.isFinite(modified)) await utimes(file, new Date(modified), new Date(modified));
      return this.#fromSnapshot(await snap.commit());
    } finally {
      await snap.discard();
    }
  }

  async sourceContentKey(op: SourceOp, ctx: OpContext): Promise<ContentKey | undefined> {
    if (op.source.kind !== "local") return undefined;
    const { tree } = await this.#contexts.synced(op.source, ctx.session, ctx.signal);
    return { digest: tree.digest, tree };
  }

  async #loadLocal(source: LocalSource, session: SolveSession, signal: AbortSignal): Promise<WorkerRef> {
    const { path: mirror, tree } = await this.#contexts.synced(source, session, signal);
    const snap = await this.snapshotter.prepare(undefined, signal);
    let ref: SnapshotRef;
    try {
      // Hard links, as the file worker: the mirror replaces changed files by new inodes.
      await copyInto(mirror, snap.path, signal, { link: true });
      ref = await snap.commit();
    } catch (err) {
      await snap.discard();
      throw err;
    }
    this.#trees.set(ref.id, tree);
    await writeFile(this.#treeFile(ref.id), JSON.stringify(tree));
    return this.#fromSnapshot(ref);
  }

  #treeFile(id: string): string {
    return posix.join(this.#root, "trees", `${createHash("sha256").update(id).digest("hex")}.json`);
  }

  // ---- exec ------------------------------------------------------------------------------------

  async exec(op: ExecOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef[]> {
    const signal = ctx.signal;
    const session = ctx.session as RuntimeSession;
    const byEdge = edgeMap(inputsOf(op), inputs);
    const refOf = (s: ExecOp["rootfs"]["source"]): string | undefined => {
      if (s.kind === "scratch") return undefined;
      const r = byEdge.get(edgeKey(s));
      if (r === undefined) throw new Error(`exec input ${edgeKey(s)} was not provided`);
      return r.id;
    };
    const actives: ActiveSnapshot[] = [];
    const cleanups: (() => Promise<void>)[] = [];
    /** Output index → the active snapshot that becomes it. */
    const outputs = new Map<number, ActiveSnapshot>();
    try {
      const rootfs = await this.snapshotter.prepare(refOf(op.rootfs.source), signal);
      actives.push(rootfs);
      if (op.rootfs.access.kind === "output") outputs.set(op.rootfs.access.index, rootfs);
      const mounts: MountRequest[] = [];
      const env = Object.entries(op.env).map(([k, v]) => `${k}=${v}`);
      // Mount points the runtime creates in the rootfs are removed afterwards (BuildKit's mount stub
      // cleaner): a mount's target must not leak into the layer as an empty file or directory.
      // Every missing component of a target is a stub (BuildKit's MountStubsCleaner); the directories
      // that held them get their times back, so an otherwise idle step leaves an empty diff.
      const stubs = new Set<string>();
      const parents = new Map<string, DirMeta>();
      const noteStub = async (target: string): Promise<void> => {
        for (let t = posix.normalize(target); t !== "/" && t !== "."; t = posix.dirname(t)) {
          const p = await resolveInRoot(rootfs.path, t, false);
          const st = await lstat(p).catch(() => undefined);
          if (st === undefined) {
            stubs.add(p);
            continue;
          }
          if (st.isDirectory() && !parents.has(p)) parents.set(p, { atime: st.atime, mtime: st.mtime, mode: st.mode, uid: st.uid, gid: st.gid });
          break;
        }
      };
      for (const m of sortMounts(op.mounts)) {
        signal.throwIfAborted();
        await noteStub(m.target);
        const req = await this.#mount(m, byEdge, session, signal, actives, outputs, cleanups);
        if (req !== undefined) mounts.push(...req);
      }
      for (const s of op.secretEnv) {
        const value = session.secrets?.[s.id];
        if (value === undefined) {
          if (s.required) throw htkError("HTK-BUILD-0101", { id: s.id });
          continue;
        }
        env.push(`${s.name}=${new TextDecoder().decode(value)}`);
      }
      env.push(...proxyEnv(ctx.description, env));
      const hostsDir = await this.#tempDir("etc");
      cleanups.push(() => rm(hostsDir, { recursive: true, force: true }));
      const hostname = op.hostname === "" ? BUILD_HOSTNAME : op.hostname;
      await writeFile(
        posix.join(hostsDir, "hosts"),
        `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n${op.extraHosts.map((h) => `${h.ip}\t${h.host}\n`).join("")}`,
      );
      mounts.push({ kind: "bind", source: posix.join(hostsDir, "hosts"), target: "/etc/hosts", readonly: true });
      await noteStub("/etc/hosts");
      if (op.network === "host") {
        await noteStub("/etc/resolv.conf");
        mounts.push({ kind: "bind", source: "/etc/resolv.conf", target: "/etc/resolv.conf", readonly: true });
      }
      if (op.cwd !== "/") await mkdir(await resolveInRoot(rootfs.path, op.cwd, true), { recursive: true });
      const userDb = await readUserDatabase(rootfs.path);
      let network: NetworkNamespace = op.network === "host" ? { kind: "host" } : { kind: "new" };
      if (op.network === "default" && this.#stepNetwork !== undefined) {
        const lease = await this.#stepNetwork.open(signal);
        cleanups.push(() => lease.release());
        network = { kind: "join", path: lease.path };
        await writeFile(posix.join(hostsDir, "resolv.conf"), lease.resolvConf);
        await noteStub("/etc/resolv.conf");
        mounts.push({ kind: "bind", source: posix.join(hostsDir, "resolv.conf"), target: "/etc/resolv.conf", readonly: true });
      }
      const spec = buildSpec({
        rootfs: rootfs.path,
        args: op.args,
        env,
        containerEnv: false,
        cwd: op.cwd,
        ...(op.user === "" ? {} : { user: op.user }),
        userDb,
        hostname,
        network,
        mounts,
        privileged: op.security === "insecure",
        readonlyRootfs: op.rootfs.access.kind === "readonly",
        // --shm-size and --ulimit as a container's: the runtime's defaults (64 MiB, Docker's nofile) otherwise.
        ...(op.shmSize === 0 ? {} : { shmSize: op.shmSize }),
        ulimits: op.ulimits,
      });
      const id = `htk-build-${randomBytes(8).toString("hex")}`;
      const cgroupsPath = op.cgroupParent === "" ? undefined : buildStepCgroupsPath(op.cgroupParent, id);
      // Output goes to the build record in order; each write is awaited (the sink's backpressure) before
      // the next one is issued.
      let logs: Promise<void> = Promise.resolve();
      const pushLog = (stream: 1 | 2) => (chunk: Buffer) => {
        logs = logs.then(() => ctx.progress.log(stream, new Uint8Array(chunk)));
      };
      let result;
      try {
        // A start failure (command not found …) is HTK-RUNTIME-0101 from the runtime: the step's failure.
        result = await this.#runtime.run({ id, spec, ...(cgroupsPath === undefined ? {} : { cgroupsPath }), onStdout: pushLog(1), onStderr: pushLog(2), signal });
      } finally {
        await logs.catch(() => undefined);
      }
      const oom = resultError(id, result, spec);
      if (oom !== undefined) throw oom;
      if (result.exitCode !== 0) {
        throw htkError("HTK-BUILD-0100", { command: op.args.join(" "), code: result.exitCode });
      }
      for (const s of [...stubs].sort((a, b) => b.length - a.length)) await removeStub(s);
      for (const [p, t] of parents) await utimes(p, t.atime, t.mtime).catch(() => undefined);
      if (rootfs.upperDir !== undefined) await pruneCopiedUpParents(rootfs.path, rootfs.upperDir, parents);
      const refs: WorkerRef[] = [];
      const count = execOutputs(op).length;
      for (let i = 0; i < count; i++) {
        const a = outputs.get(i);
        if (a === undefined) {
          refs.push(this.#fromSnapshot(await this.#emptySnapshot(signal)));
          continue;
        }
        refs.push(this.#fromSnapshot(await a.commit()));
      }
      return refs;
    } finally {
      // Committed snapshots ignore discard; everything else (views, unused writables, a failed run) goes.
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      for (const a of actives.reverse()) await a.discard().catch(() => undefined);
    }
  }

  async #tempDir(kind: string): Promise<string> {
    const dir = posix.join(this.#root, "tmp", `${kind}-${randomBytes(8).toString("hex")}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async #mount(
    m: ExecMount,
    byEdge: ReadonlyMap<string, WorkerRef>,
    session: RuntimeSession,
    signal: AbortSignal,
    actives: ActiveSnapshot[],
    outputs: Map<number, ActiveSnapshot>,
    cleanups: (() => Promise<void>)[],
  ): Promise<MountRequest[] | undefined> {
    switch (m.kind) {
      case "bind": {
        const id = m.source.kind === "scratch" ? undefined : byEdge.get(edgeKey(m.source))?.id;
        if (m.source.kind !== "scratch" && id === undefined) throw new Error(`bind mount source ${edgeKey(m.source)} was not provided`);
        let a: ActiveSnapshot;
        if (m.access.kind === "readonly" && id !== undefined) {
          a = this.snapshotter.mode === "copy" ? await this.snapshotter.prepare(id, signal) : await this.snapshotter.view(id, signal);
        } else {
          a = await this.snapshotter.prepare(id, signal);
        }
        actives.push(a);
        if (m.access.kind === "output") outputs.set(m.access.index, a);
        const source = m.selector === "/" || m.selector === "" ? a.path : await resolveInRoot(a.path, m.selector, true);
        return [{ kind: "bind", source, target: m.target, readonly: m.access.kind === "readonly" }];
      }
      case "cache": {
        const { dir, release } = await this.#cacheDir(m, byEdge, signal, session.cacheMountSeed ?? this.cacheMountSeed);
        cleanups.push(release);
        return [{ kind: "bind", source: dir, target: m.target, readonly: m.readonly }];
      }
      case "tmpfs":
        // BuildKit's tmpfs mounts are nosuid only (not Docker's noexec/nodev defaults).
        return [{ kind: "raw", mount: { destination: m.target, type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", ...(m.sizeBytes > 0 ? [`size=${m.sizeBytes}`] : [])] } }];
      case "secret": {
        const value = session.secrets?.[m.id];
        if (value === undefined) {
          if (m.required) throw htkError("HTK-BUILD-0101", { id: m.id });
          return undefined;
        }
        // The value lives in RAM only (/dev/shm is a tmpfs) and is removed when the step ends.
        const dir = `${SECRETS_DIR}/hatake-secret-${this.#leftoverTag}-${randomBytes(12).toString("hex")}`;
        await mkdir(dir, { mode: 0o700 });
        cleanups.push(() => rm(dir, { recursive: true, force: true }));
        const file = posix.join(dir, "secret");
        await writeFile(file, value, { mode: 0o600 });
        await chown(file, m.uid, m.gid);
        await chmod(file, m.mode & 0o7777);
        return [{ kind: "bind", source: file, target: m.target, readonly: true }];
      }
      case "ssh": {
        // BuildKit's two errors: no agent forwarded at all, or none with this id.
        const source = session.ssh?.[m.id];
        if (source === undefined) {
          if (!m.required) return undefined;
          throw session.ssh === undefined || Object.keys(session.ssh).length === 0 ? htkError("HTK-BUILD-0200", { id: m.id }) : htkError("HTK-BUILD-0201", { id: m.id });
        }
        const agent = await serveAgentSocket(source, { uid: m.uid, gid: m.gid, mode: m.mode, dirPrefix: `htk-ssh-${this.#leftoverTag}-` });
        cleanups.push(() => agent.close());
        return [{ kind: "bind", source: agent.path, target: m.target, readonly: false }];
      }
    }
  }

  /**
   * A cache mount's directory, persistent by id under the worker root. `shared`: used by every step
   * at once; `locked`: one step at a time (the others wait); `private`: a step that finds it in use
   * gets a fresh directory of its own, dropped afterwards (BuildKit keeps such copies as more caches).
   */
  async #cacheDir(
    m: Extract<ExecMount, { kind: "cache" }>,
    byEdge: ReadonlyMap<string, WorkerRef>,
    signal: AbortSignal,
    seed: RuntimeSession["cacheMountSeed"],
  ): Promise<{ dir: string; release: () => Promise<void> }> {
    const key = cacheMountKey(m.id);
    const base = posix.join(this.#root, "cache-mounts", key);
    let release = async (): Promise<void> => undefined;
    let dir = posix.join(base, "data");
    switch (m.sharing) {
      case "shared":
        break;
      case "locked": {
        let lock = this.#cacheLocks.get(key);
        if (lock === undefined) this.#cacheLocks.set(key, (lock = new Mutex()));
        const unlock = await lock.lock(signal);
        release = async () => unlock();
        break;
      }
      case "private": {
        const users = this.#cacheUsers.get(key) ?? 0;
        if (users > 0) {
          dir = posix.join(base, `private-${randomBytes(8).toString("hex")}`);
          const own = dir;
          release = () => rm(own, { recursive: true, force: true });
        } else {
          this.#cacheUsers.set(key, 1);
          release = async () => {
            this.#cacheUsers.set(key, 0);
          };
        }
        break;
      }
    }
    try {
      if ((await lstat(dir).catch(() => undefined)) === undefined) {
        // A new cache starts from its source (from=/source= or the uid/gid/mode directory the frontend made).
        const staging = `${dir}.new-${randomBytes(4).toString("hex")}`;
        await mkdir(staging, { recursive: true, mode: 0o755 });
        if (m.source.kind === "output") {
          const ref = byEdge.get(edgeKey(m.source));
          if (ref !== undefined) {
            await this.withView(ref.id, signal, async (root) => {
              const from = m.selector === "/" || m.selector === "" ? root : await resolveInRoot(root, m.selector, true);
              await copyInto(from, staging, signal);
            });
          }
        }
        // A cache exported with `--cache-to …,cache-mounts=true` fills a cache this worker does not have.
        await seed?.(m.id, staging, signal);
        await rename(staging, dir).catch(async () => rm(staging, { recursive: true, force: true }));
        // The directory is named by a hash of the id: `hatake du` shows the id from this file.
        await writeFile(posix.join(base, "id"), m.id).catch(() => undefined);
      }
    } catch (err) {
      await release();
      throw err;
    }
    return { dir, release };
  }

  // ---- file ops, merge, diff -------------------------------------------------------------------

  async fileOp(op: FileOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const signal = ctx.signal;
    const byEdge = edgeMap(inputsOf(op), inputs);
    const results: (ActiveSnapshot | undefined)[] = [];
    const consumed = new Set<number>();
    const views = new Map<string, ActiveSnapshot>();
    const extra: ActiveSnapshot[] = [];
    const viewOf = async (id: string): Promise<string> => {
      if (this.snapshotter.mode === "copy") return this.snapshotter.dir(id);
      let v = views.get(id);
      if (v === undefined) {
        v = await this.snapshotter.view(id, signal);
        views.set(id, v);
      }
      return v.path;
    };
    try {
      for (const [i, action] of op.actions.entries()) {
        signal.throwIfAborted();
        const target = await this.#baseFor(action.base, byEdge, results, consumed, extra, signal);
        results[i] = target;
        await this.#apply(action, target.path, byEdge, results, viewOf, extra, signal);
      }
      const last = results.at(-1);
      if (last === undefined) throw new Error("file op without actions");
      return this.#fromSnapshot(await last.commit());
    } finally {
      for (const v of views.values()) await v.discard().catch(() => undefined);
      for (const r of [...results, ...extra]) await r?.discard().catch(() => undefined);
    }
  }

  async #baseFor(
    base: FileInput,
    byEdge: ReadonlyMap<string, WorkerRef>,
    results: (ActiveSnapshot | undefined)[],
    consumed: Set<number>,
    extra: ActiveSnapshot[],
    signal: AbortSignal,
  ): Promise<ActiveSnapshot> {
    switch (base.kind) {
      case "scratch":
        return this.snapshotter.prepare(undefined, signal);
      case "output": {
        const ref = byEdge.get(edgeKey(base));
        if (ref === undefined) throw new Error(`file op input ${edgeKey(base)} was not provided`);
        return this.snapshotter.prepare(ref.id, signal);
      }
      case "action": {
        const earlier = results[base.index];
        if (earlier === undefined) throw new Error(`file action reads action ${base.index}, which has not run`);
        if (!consumed.has(base.index)) {
          consumed.add(base.index);
          results[base.index] = undefined;
          return earlier;
        }
        const copy = await this.snapshotter.prepare(undefined, signal);
        extra.push(copy);
        await copyInto(earlier.path, copy.path, signal);
        return copy;
      }
    }
  }

  async #apply(
    action: FileAction,
    root: string,
    byEdge: ReadonlyMap<string, WorkerRef>,
    results: readonly (ActiveSnapshot | undefined)[],
    viewOf: (id: string) => Promise<string>,
    extra: ActiveSnapshot[],
    signal: AbortSignal,
  ): Promise<void> {
    switch (action.kind) {
      case "mkdir":
        return mkdirAction(root, action, signal);
      case "mkfile":
        return mkfileAction(root, action, signal);
      case "rm":
        return rmAction(root, action, signal);
      case "copy": {
        const src = action.source;
        if (src.kind === "scratch") {
          const empty = await this.snapshotter.prepare(undefined, signal);
          extra.push(empty);
          return copyAction(empty.path, root, action, signal);
        }
        if (src.kind === "output") {
          const ref = byEdge.get(edgeKey(src));
          if (ref === undefined) throw new Error(`copy source ${edgeKey(src)} was not provided`);
          return copyAction(await viewOf(ref.id), root, action, signal);
        }
        const earlier = results[src.index];
        if (earlier === undefined) throw new Error(`copy reads action ${src.index}, which is no longer available`);
        return copyAction(earlier.path, root, action, signal);
      }
    }
  }

  async merge(_op: MergeOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const [first, ...rest] = inputs;
    const snap = await this.snapshotter.prepare(first?.id, ctx.signal);
    try {
      for (const layer of rest) await this.withView(layer.id, ctx.signal, (p) => copyInto(p, snap.path, ctx.signal));
      return this.#fromSnapshot(await snap.commit());
    } finally {
      await snap.discard();
    }
  }

  async diff(op: DiffOp, inputs: readonly WorkerRef[], ctx: OpContext): Promise<WorkerRef> {
    const byEdge = edgeMap(inputsOf(op), inputs);
    const lower = op.lower.kind === "scratch" ? undefined : byEdge.get(edgeKey(op.lower));
    const upper = op.upper.kind === "scratch" ? undefined : byEdge.get(edgeKey(op.upper));
    const snap = await this.snapshotter.prepare(undefined, ctx.signal);
    try {
      if (upper !== undefined) {
        await this.withView(upper.id, ctx.signal, async (u) => {
          if (lower === undefined) return void (await copyChanges(u, undefined, snap.path, "", ctx.signal));
          await this.withView(lower.id, ctx.signal, async (l) => void (await copyChanges(u, l, snap.path, "", ctx.signal)));
        });
      }
      return this.#fromSnapshot(await snap.commit());
    } finally {
      await snap.discard();
    }
  }

  // ---- content keys and refs -------------------------------------------------------------------

  async contentKey(ref: WorkerRef, selector: ContentSelector, signal: AbortSignal): Promise<ContentKey> {
    const known = await this.#knownTree(ref.id);
    const fromTree = known === undefined ? undefined : keyFromTree(known, selector);
    return fromTree ?? this.withView(ref.id, signal, (root) => hashSelector(this.#viewHasher, root, selector, signal));
  }

  async #knownTree(id: string): Promise<ChecksumTree | undefined> {
    const cached = this.#trees.get(id);
    if (cached !== undefined) return cached;
    try {
      const tree = JSON.parse(await readFile(this.#treeFile(id), "utf8")) as ChecksumTree;
      this.#trees.set(id, tree);
      return tree;
    } catch {
      return undefined;
    }
  }

  async loadRef(id: string): Promise<WorkerRef | undefined> {
    const held = this.snapshotter.acquire(id);
    return held === undefined ? undefined : this.#fromSnapshot(held);
  }

  /** A new hold on a committed snapshot, for a caller outside the solver (an exporter). */
  acquire(id: string): SnapshotRef | undefined {
    return this.snapshotter.acquire(id);
  }

  #fromSnapshot(snap: SnapshotRef): WorkerRef {
    let released = false;
    return {
      id: snap.id,
      release: async () => {
        if (released) return;
        released = true;
        snap.release();
      },
    };
  }

  /** Releases what the worker holds itself (active snapshots are the snapshotter's to discard). */
  async close(): Promise<void> {
    await rm(posix.join(this.#root, "tmp"), { recursive: true, force: true });
  }
}

/** What image and git resolutions are remembered for: the build when the session names one, else the session. */
export function resolutionScope(session: SolveSession): string {
  const build = (session as RuntimeSession).build;
  return build === undefined ? session.id : buildResolutionScope(build);
}

export const buildResolutionScope = (build: string): string => `build:${build}`;

function cacheMountKey(id: string): string {
  return createHash("sha256").update(id).digest("hex").slice(0, 32);
}

/** BuildKit's `getFileName` for http sources. */
export function httpFileName(url: string, disposition: string | null): string {
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? "");
  const fromHeader = m?.[1] === undefined ? undefined : posix.basename(decodeURIComponent(m[1]));
  if (fromHeader !== undefined && fromHeader !== "" && fromHeader !== "." && fromHeader !== "/") return fromHeader;
  let path = "/";
  try {
    path = new URL(url).pathname;
  } catch {
    // Not a URL the fetch would have taken either.
  }
  const base = posix.basename(path);
  return base === "" || base === "." || base === "/" ? "__unnamed__" : decodeURIComponent(base);
}

/**
 * Where a step with `--cgroup-parent` runs: BuildKit's `/<parent>/buildkit/<id>` (cgroupfs). A systemd
 * slice (`name.slice:prefix:`, BuildKit's other form) needs the systemd cgroup driver, which the runtime
 * does not use: HTK-RUNTIME-0340.
 */
export function buildStepCgroupsPath(parent: string, id: string): string {
  if (parent.endsWith(":") && parent.includes(".slice")) throw htkError("HTK-RUNTIME-0340", { parent });
  return posix.join("/", parent, "buildkit", id);
}

/** Mounts sorted by target so a parent directory is mounted before anything inside it. */
function sortMounts(mounts: readonly ExecMount[]): ExecMount[] {
  return [...mounts].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
}

async function removeStub(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st === undefined) return;
  if (st.isDirectory()) {
    if ((await readdir(path)).length === 0) await rmdir(path).catch(() => undefined);
  } else if (st.isFile() && st.size === 0) {
    await unlink(path).catch(() => undefined);
  }
}

/**
 * overlayfs copies a lower directory up when a mount point is created in it; once the stub is gone the
 * copy is an empty upper directory that only repeats the lower one. Removing it (the mount is about to
 * be committed) keeps the step's layer empty, as containerd's upper-dir differ skips unchanged
 * directories.
 */
async function pruneCopiedUpParents(merged: string, upper: string, dirs: ReadonlyMap<string, DirMeta>): Promise<void> {
  for (const [d, before] of [...dirs].sort(([a], [b]) => b.length - a.length)) {
    const rel = posix.relative(merged, d);
    if (rel === "" || rel.startsWith("..")) continue;
    const u = posix.join(upper, rel);
    const st = await lstat(u).catch(() => undefined);
    if (st?.isDirectory() !== true || (await readdir(u)).length > 0) continue;
    // Only a copy that changed nothing: the process may have chmod'ed or chown'ed the directory itself.
    if (st.mode !== before.mode || st.uid !== before.uid || st.gid !== before.gid || (await isOpaque(u))) continue;
    await rmdir(u).catch(() => undefined);
  }
}

interface DirMeta {
  readonly atime: Date;
  readonly mtime: Date;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

async function isOpaque(dir: string): Promise<boolean> {
  try {
    const { stdout } = await run("getfattr", ["--absolute-names", "--only-values", "-n", "trusted.overlay.opaque", dir]);
    return stdout.trim() === "y";
  } catch {
    return false;
  }
}

async function allPresent(store: Pick<ContentStore, "has">, ds: readonly OciDescriptor[]): Promise<boolean> {
  for (const d of ds) if (!(await store.has(d.digest))) return false;
  return true;
}

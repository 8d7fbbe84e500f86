import { stat } from "node:fs/promises";
import { join } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { ContentStore, RefCounter, isDigest, sha256Of, type Digest } from "../../cache/index.ts";
import {
  configPlatform,
  isForeignLayer,
  layerCompression,
  parseImageConfig,
  parseJson,
  parseManifest,
  referenceString,
  type ImageConfig,
  type Manifest,
  type OciDescriptor,
} from "../../base/oci/index.ts";
import type { PullResult } from "../../base/registry/index.ts";
import { familiar, familiarMatch, isFullId, nameFromKey, parseName, shortId, type StoredName } from "./names.ts";
import { JsonImageStateFile, JsonLeaseFile } from "./persistence.ts";
import { measureLayer, type LayerMeasure } from "./tar.ts";
import type {
  ContainerUse,
  DeleteItem,
  FilterArgs,
  HistoryItem,
  ImageEvent,
  ImageInspect,
  ImageRecord,
  ImageStatePersistence,
  ImageStoreState,
  ImageSummary,
  InspectContainerConfig,
  LayerRecord,
  ManifestRecord,
  PruneReport,
} from "./types.ts";

export interface ImageStoreOptions {
  readonly content: ContentStore;
  /** The RefCounter the content store consults (`leaseCount`); image leases are durable ones in it. */
  readonly refs: RefCounter;
  readonly state: ImageStatePersistence;
  /** Groups durable lease writes (`JsonLeaseFile.batch`); default: no grouping. */
  readonly batch?: <T>(fn: () => T) => T;
  /** The containers that use an image (for `docker rmi` and prune); default: none. */
  readonly containers?: (imageId: Digest) => readonly ContainerUse[];
  /** GraphDriver of `docker image inspect`; the snapshotter knows the directories. */
  readonly graphDriver?: (image: ImageRecord) => ImageInspect["GraphDriver"];
  readonly onEvent?: (event: ImageEvent) => void;
  readonly now?: () => Date;
}

export interface AddImageInput {
  /** The image manifest, already in the content store with its config and layers. */
  readonly manifest: OciDescriptor;
  /** The index it was selected from, if any (kept for push; its digest is the repo digest). */
  readonly index?: OciDescriptor;
  /** References to point at the image: tags ("busybox:latest") and digests ("busybox@sha256:…"). */
  readonly names?: readonly string[];
  /** Docker's local parent (classic build, commit). */
  readonly parent?: Digest;
  /** Layer measurements the caller already has (an unpacker, `docker load`), in rootfs order. */
  readonly layers?: readonly (LayerMeasure | undefined)[];
  /** Measure layers that are not measured yet (one read of each layer); default true. */
  readonly measure?: boolean;
  /** Sets Metadata.LastTagTime (a local tag: build -t, commit), not a pull or load. */
  readonly localTag?: boolean;
  /**
   * Report a "tag" event per tag name (default true: build -t, commit, tag). A pull or load sets its
   * names without one, as Docker's reference store does; they report "pull" and "load" instead.
   */
  readonly tagEvents?: boolean;
  readonly signal?: AbortSignal;
}

export interface AddResult {
  readonly image: ImageRecord;
  /** The references given, in familiar form ("busybox:latest"). */
  readonly names: readonly string[];
  /** Tags that pointed at another image before; that image may now be dangling. */
  readonly moved: readonly { readonly name: string; readonly previous: Digest }[];
  /** False when the store already had this image (a manifest or name may still have been added). */
  readonly created: boolean;
}

export interface ListOptions {
  /** Show intermediate images (no name, but children), as `docker images -a`. */
  readonly all?: boolean;
  readonly filters?: FilterArgs;
}

export interface RemoveOptions {
  readonly force?: boolean;
  /** Keep untagged parents (`docker rmi --no-prune`). */
  readonly noprune?: boolean;
}

/**
 * Blobs something other than an image needs (the build cache: pulled layers its snapshots came from,
 * exported layers of its snapshots), computed when a collection starts.
 */
export type BlobRoots = (signal?: AbortSignal) => Promise<Iterable<Digest>>;

export interface GcOptions {
  /** Blobs to consider; default: every blob in the content store. */
  readonly candidates?: Iterable<Digest>;
  /**
   * A full sweep spares blobs younger than this (a pull or build stores blobs before anything leases
   * them). Default 10 minutes. Candidates are checked for leases only.
   */
  readonly minAgeMs?: number;
  readonly signal?: AbortSignal;
}

const LEASE_OWNER = "image:";
const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface ConfigExtras {
  readonly config: ImageConfig;
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * The local image store (Docker 26 classic semantics) over the content store. See README.md.
 * Mutations are serialised internally; reads are synchronous over the in-memory index.
 */
export class ImageStore {
  readonly content: ContentStore;
  readonly refs: RefCounter;
  readonly #blobRoots: BlobRoots[] = [];
  readonly #state: ImageStatePersistence;
  readonly #batch: <T>(fn: () => T) => T;
  readonly #containers: (imageId: Digest) => readonly ContainerUse[];
  readonly #graphDriver: (image: ImageRecord) => ImageInspect["GraphDriver"];
  readonly #onEvent: (event: ImageEvent) => void;
  readonly #now: () => Date;
  readonly #images = new Map<Digest, ImageRecord>();
  readonly #references = new Map<string, Digest>();
  readonly #configs = new Map<Digest, ConfigExtras>();
  /** Names per image, sorted; rebuilt after a reference changes (list() asks for every image's). */
  #byImage: Map<Digest, StoredName[]> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(opts: ImageStoreOptions) {
    this.content = opts.content;
    this.refs = opts.refs;
    this.#state = opts.state;
    this.#batch = opts.batch ?? ((fn) => fn());
    this.#containers = opts.containers ?? (() => []);
    this.#graphDriver = opts.graphDriver ?? (() => ({ Data: null, Name: "overlayfs" }));
    this.#onEvent = opts.onEvent ?? (() => undefined);
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * Opens the store on persisted state and reconciles leases with it: a crash between writing the
   * state and the leases leaves either a lease without an image (released here) or an image without
   * its leases (taken here).
   */
  static open(opts: ImageStoreOptions): ImageStore {
    const store = new ImageStore(opts);
    const state = opts.state.load();
    if (state !== undefined) {
      for (const [id, rec] of Object.entries(state.images)) if (isDigest(id)) store.#images.set(id, rec);
      for (const [key, id] of Object.entries(state.references)) if (store.#images.has(id)) store.#setRef(key, id);
    }
    store.#batch(() => {
      for (const lease of opts.refs.liveLeases({ durable: true })) {
        if (!lease.owner.startsWith(LEASE_OWNER)) continue;
        const id = lease.owner.slice(LEASE_OWNER.length);
        if (!isDigest(id) || !store.#images.has(id)) opts.refs.release(lease.id);
      }
      for (const rec of store.#images.values()) store.#syncLeases(rec);
    });
    return store;
  }

  /**
   * The store under `<dataRoot>/images/` with JSON persistence, and (unless given) its own content
   * store at `<dataRoot>/content` and RefCounter. The engine passes its shared content store and
   * RefCounter instead, so build cache and images count leases in one place.
   */
  static async openAt(
    dataRoot: string,
    opts: Partial<Omit<ImageStoreOptions, "state">> = {},
  ): Promise<ImageStore> {
    const dir = join(dataRoot, "images");
    if (opts.content !== undefined && opts.refs === undefined) {
      // A bug, not a user error: the content store would not see the image leases of a second counter.
      throw new TypeError("ImageStore.openAt: pass the RefCounter the content store's leaseCount consults together with the content store.");
    }
    let refs = opts.refs;
    let batch = opts.batch;
    if (refs === undefined) {
      const leases = new JsonLeaseFile(join(dir, "leases.json"));
      refs = new RefCounter({ persistence: leases });
      batch = (fn) => leases.batch(fn);
    }
    const counter = refs;
    const content = opts.content ?? (await ContentStore.open(join(dataRoot, "content"), { leaseCount: counter.blobLeaseCount }));
    return ImageStore.open({ ...opts, content, refs: counter, ...(batch !== undefined ? { batch } : {}), state: new JsonImageStateFile(join(dir, "images.json")) });
  }

  /** Reports an event of an operation outside the store (save, load, import) on the same channel. */
  emit(event: ImageEvent): void {
    this.#onEvent(event);
  }

  // ---------------------------------------------------------------- lookups

  get(id: Digest): ImageRecord | undefined {
    return this.#images.get(id);
  }

  images(): ImageRecord[] {
    return [...this.#images.values()];
  }

  /**
   * Docker's GetImage: a full ID, then a reference (with `:latest` added), then a unique ID prefix.
   * Undefined when nothing matches; throws HTK-ENGINE-0201/0202 for an invalid reference.
   */
  lookup(nameOrId: string): ImageRecord | undefined {
    if (isFullId(nameOrId)) {
      const id = (nameOrId.startsWith("sha256:") ? nameOrId : `sha256:${nameOrId}`) as Digest;
      return this.#images.get(id);
    }
    const parsed = tryParse(nameOrId);
    if (parsed instanceof Error) {
      // "sha256:abc" is a name to the parser only by accident (repository "sha256", tag "abc").
      const byPrefix = this.#byPrefix(nameOrId);
      if (byPrefix !== undefined) return byPrefix;
      throw parsed;
    }
    const id = this.#references.get(parsed.key);
    if (id !== undefined) return this.#images.get(id);
    return this.#byPrefix(nameOrId);
  }

  /** `lookup`, or HTK-ENGINE-0200 "No such image: busybox:latest" (Docker's text, tag added). */
  resolve(nameOrId: string): ImageRecord {
    const rec = this.lookup(nameOrId);
    if (rec !== undefined) return rec;
    throw htkError("HTK-ENGINE-0200", { reference: notFoundName(nameOrId) });
  }

  #byPrefix(input: string): ImageRecord | undefined {
    const hex = input.startsWith("sha256:") ? input.slice(7) : input;
    if (!/^[0-9a-f]{1,64}$/.test(hex)) return undefined;
    let found: ImageRecord | undefined;
    for (const [id, rec] of this.#images) {
      if (!id.slice(7).startsWith(hex)) continue;
      // An ambiguous prefix names no image (Docker's digestset refuses it).
      if (found !== undefined) return undefined;
      found = rec;
    }
    return found;
  }

  /** The names of an image, tags and digests, sorted by their full string as Docker's reference store. */
  names(id: Digest): StoredName[] {
    if (this.#byImage === undefined) {
      const index = new Map<Digest, StoredName[]>();
      for (const [key, target] of [...this.#references].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const n = nameFromKey(key);
        if (n === undefined) continue;
        const list = index.get(target);
        if (list === undefined) index.set(target, [n]);
        else list.push(n);
      }
      this.#byImage = index;
    }
    return [...(this.#byImage.get(id) ?? [])];
  }

  #setRef(key: string, id: Digest): void {
    this.#references.set(key, id);
    this.#byImage = undefined;
  }

  #deleteRef(key: string): void {
    this.#references.delete(key);
    this.#byImage = undefined;
  }


  repoTags(id: Digest): string[] {
    return this.names(id)
      .filter((n) => n.kind === "tag")
      .map(familiar);
  }

  repoDigests(id: Digest): string[] {
    return this.names(id)
      .filter((n) => n.kind === "digest")
      .map(familiar);
  }

  children(id: Digest): ImageRecord[] {
    return this.images().filter((r) => r.parent === id);
  }

  /** The parsed config and its raw JSON (for fields the typed parser drops: comment, docker_version …). */
  async config(id: Digest, signal?: AbortSignal): Promise<ConfigExtras> {
    const cached = this.#configs.get(id);
    if (cached !== undefined) return cached;
    const bytes = await this.content.readBytes(id, signal !== undefined ? { signal } : {});
    const config = parseImageConfig(bytes);
    if (!config.ok) throw htkError("HTK-ENGINE-0210", { image: id, what: "config", digest: id, detail: config.error });
    const raw = parseJson(bytes);
    const extras: ConfigExtras = { config: config.value, raw: raw.ok && isObject(raw.value) ? raw.value : {} };
    this.#configs.set(id, extras);
    return extras;
  }

  // ---------------------------------------------------------------- adding

  /**
   * Records an image whose manifest, config and layers are in the content store (a pull, a build's
   * export, a load), points `names` at it and leases every blob it needs. Verifies that the blobs
   * exist, that the manifest and config parse, and (when layers are measured) that each layer's
   * uncompressed digest is its diff ID.
   */
  add(input: AddImageInput): Promise<AddResult> {
    return this.#serial(() => this.#add(input));
  }

  /** Records a `RegistryClient.pull` result: the tag (if pulled by tag) and the repo digest. */
  addPull(pull: PullResult, opts: { signal?: AbortSignal; measure?: boolean } = {}): Promise<AddResult> {
    const ref = pull.reference;
    const names = [`${ref.domain}/${ref.path}@${pull.root.digest}`];
    if (ref.tag !== undefined && ref.digest === undefined) names.unshift(`${ref.domain}/${ref.path}:${ref.tag}`);
    return this.add({
      manifest: pull.manifestDescriptor,
      ...(pull.root.digest !== pull.manifestDescriptor.digest ? { index: pull.root } : {}),
      names,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      ...(opts.measure !== undefined ? { measure: opts.measure } : {}),
    });
  }

  async #add(input: AddImageInput): Promise<AddResult> {
    const { signal } = input;
    const names = (input.names ?? []).map(parseName);
    const label = names[0] !== undefined ? familiar(names[0]) : input.manifest.digest;
    const manifestBytes = await this.#read(input.manifest.digest, label, "manifest", signal);
    const parsed = parseManifest(manifestBytes, input.manifest.mediaType);
    if (!parsed.ok) throw htkError("HTK-ENGINE-0210", { image: label, what: "manifest", digest: input.manifest.digest, detail: parsed.error });
    const manifest = parsed.value;
    if (input.index !== undefined && !(await this.content.has(input.index.digest))) {
      throw htkError("HTK-ENGINE-0209", { image: label, what: "index", digest: input.index.digest });
    }
    const id = manifest.config.digest;
    const configBytes = await this.#read(id, label, "config", signal);
    const config = parseImageConfig(configBytes);
    if (!config.ok) throw htkError("HTK-ENGINE-0210", { image: label, what: "config", digest: id, detail: config.error });
    const diffIds = config.value.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw htkError("HTK-ENGINE-0210", {
        image: label,
        what: "manifest",
        digest: input.manifest.digest,
        detail: `it lists ${manifest.layers.length} layers, its config ${diffIds.length} diff IDs`,
      });
    }
    for (const layer of manifest.layers) {
      if (isForeignLayer(layer.mediaType) && (layer.urls ?? []).length > 0) continue;
      if (!(await this.content.has(layer.digest))) throw htkError("HTK-ENGINE-0209", { image: label, what: "layer", digest: layer.digest });
    }
    const existing = this.#images.get(id);
    const layers = await this.#layerRecords(label, manifest, diffIds, existing, input, signal);
    const raw = parseJson(configBytes);
    this.#configs.set(id, { config: config.value, raw: raw.ok && isObject(raw.value) ? raw.value : {} });

    const manifestRecord: ManifestRecord = {
      descriptor: { mediaType: manifest.mediaType, digest: input.manifest.digest, size: input.manifest.size },
      ...(input.index !== undefined ? { index: { mediaType: input.index.mediaType, digest: input.index.digest, size: input.index.size } } : {}),
      layers: manifest.layers,
    };
    const known = existing?.manifests.some((m) => m.descriptor.digest === manifestRecord.descriptor.digest && m.index?.digest === manifestRecord.index?.digest);
    const now = this.#now().toISOString();
    const labels = config.value.config?.Labels;
    const parent = input.parent ?? existing?.parent;
    const record: ImageRecord = {
      id,
      config: { mediaType: manifest.config.mediaType, digest: id, size: manifest.config.size },
      manifests: known === true || existing === undefined ? (existing?.manifests ?? [manifestRecord]) : [...existing.manifests, manifestRecord],
      layers,
      platform: configPlatform(config.value),
      ...(config.value.created !== undefined ? { created: config.value.created } : {}),
      ...(parent !== undefined ? { parent } : {}),
      ...(labels !== undefined && Object.keys(labels).length > 0 ? { labels } : {}),
      ...(input.localTag === true && names.length > 0 ? { lastTagTime: now } : existing?.lastTagTime !== undefined ? { lastTagTime: existing.lastTagTime } : {}),
      addedAt: existing?.addedAt ?? now,
    };
    const moved: { name: string; previous: Digest }[] = [];
    this.#images.set(id, record);
    this.#batch(() => this.#syncLeases(record));
    for (const n of names) {
      const previous = this.#references.get(n.key);
      if (previous !== undefined && previous !== id) moved.push({ name: familiar(n), previous });
      this.#setRef(n.key, id);
    }
    this.#save();
    if (input.tagEvents !== false) for (const n of names) if (n.kind === "tag") this.#onEvent({ action: "tag", id, name: familiar(n) });
    return { image: record, names: names.map(familiar), moved, created: existing === undefined };
  }

  async #layerRecords(
    label: string,
    manifest: Manifest,
    diffIds: readonly Digest[],
    existing: ImageRecord | undefined,
    input: AddImageInput,
    signal: AbortSignal | undefined,
  ): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (const [i, diffId] of diffIds.entries()) {
      const given = input.layers?.[i];
      const had = existing?.layers[i];
      let m: LayerMeasure | undefined = given;
      if (m === undefined && had?.contentSize !== undefined && had.tarSize !== undefined) {
        m = { diffId, contentSize: had.contentSize, tarSize: had.tarSize };
      }
      const layer = manifest.layers[i];
      if (m === undefined && input.measure !== false && layer !== undefined && (await this.content.has(layer.digest))) {
        const compression = layerCompression(layer.mediaType);
        if (compression !== undefined) {
          try {
            m = await measureLayer(await this.content.get(layer.digest, signal !== undefined ? { signal } : {}), compression, signal);
          } catch (err) {
            if (isHtkError(err) || signal?.aborted === true) throw err;
            throw htkError("HTK-ENGINE-0210", { image: label, what: "layer", digest: layer.digest, detail: err instanceof Error ? err.message : String(err) });
          }
        }
      }
      if (m !== undefined && m.diffId !== diffId) {
        throw htkError("HTK-ENGINE-0210", {
          image: label,
          what: "layer",
          digest: layer?.digest ?? diffId,
          detail: `its uncompressed content is ${m.diffId}, the config says ${diffId}`,
        });
      }
      out.push({ diffId, ...(m !== undefined ? { contentSize: m.contentSize, tarSize: m.tarSize } : {}) });
    }
    return out;
  }

  async #read(digest: Digest, image: string, what: string, signal: AbortSignal | undefined): Promise<Buffer> {
    try {
      return await this.content.readBytes(digest, signal !== undefined ? { signal } : {});
    } catch (err) {
      if (isHtkError(err, "HTK-CACHE-0005")) throw htkError("HTK-ENGINE-0209", { image, what, digest }, { cause: err });
      throw err;
    }
  }

  // ---------------------------------------------------------------- names

  /** `docker tag SOURCE TARGET`: TARGET (":latest" added) now names SOURCE's image. */
  tag(source: string, target: string): Promise<ImageRecord> {
    return this.#serial(async () => {
      const rec = this.resolve(source);
      const name = parseName(target);
      if (name.kind === "digest") throw htkError("HTK-ENGINE-0208", {});
      this.#setRef(name.key, rec.id);
      const updated: ImageRecord = { ...rec, lastTagTime: this.#now().toISOString() };
      this.#images.set(rec.id, updated);
      this.#save();
      this.#onEvent({ action: "tag", id: rec.id, name: familiar(name) });
      return updated;
    });
  }

  /**
   * Points a reference at an image without Docker's tag bookkeeping: the repo digest a push records
   * (`registry/app@sha256:…`), or a name an exporter sets.
   */
  addReference(reference: string, id: Digest): Promise<void> {
    return this.#serial(async () => {
      if (!this.#images.has(id)) throw htkError("HTK-ENGINE-0200", { reference: id });
      this.#setRef(parseName(reference).key, id);
      this.#save();
    });
  }

  // ---------------------------------------------------------------- list, inspect, history

  /** `GET /images/json`, Docker's classic filters (dangling, label, reference, before, since, until). */
  list(opts: ListOptions = {}): ImageSummary[] {
    const f = filterValues(opts.filters ?? {}, LIST_FILTERS);
    const dangling = f.get("dangling");
    const danglingOnly = dangling !== undefined && boolFilter("dangling", dangling);
    const before = f.get("before")?.map((r) => this.resolve(r));
    const since = f.get("since")?.map((r) => this.resolve(r));
    const labels = f.get("label") ?? [];
    const patterns = f.get("reference");
    const until = f.get("until")?.map((u) => parseUntil(u, this.#now()));
    const out: { summary: ImageSummary; order: number }[] = [];
    const parents = new Set<Digest | undefined>([...this.#images.values()].map((r) => r.parent));
    for (const rec of this.#images.values()) {
      const created = createdSeconds(rec.created);
      if (before !== undefined && !before.every((b) => created < createdSeconds(b.created))) continue;
      if (since !== undefined && !since.every((s) => created > createdSeconds(s.created))) continue;
      if (until !== undefined && !until.every((u) => created * 1000 < u)) continue;
      if (!matchLabels(labels, rec.labels)) continue;
      const repoTags: string[] = [];
      const repoDigests: string[] = [];
      for (const n of this.names(rec.id)) {
        if (patterns !== undefined && !patterns.some((p) => familiarMatch(p, n))) continue;
        (n.kind === "tag" ? repoTags : repoDigests).push(familiar(n));
      }
      if (repoTags.length === 0 && repoDigests.length === 0) {
        // Docker hides nameless images that have children (intermediate build steps) unless -a.
        if (opts.all !== true && parents.has(rec.id)) continue;
        if (dangling !== undefined && !danglingOnly) continue;
        if (patterns !== undefined) continue;
      } else if (danglingOnly && repoTags.length > 0) continue;
      out.push({
        order: created,
        summary: {
          Containers: -1,
          Created: created,
          Id: rec.id,
          Labels: rec.labels ?? null,
          ParentId: rec.parent ?? "",
          RepoDigests: repoDigests,
          RepoTags: repoTags,
          SharedSize: -1,
          Size: imageSize(rec),
        },
      });
    }
    // Docker's CLI sorts by creation itself; the API returns newest first, which we keep stable.
    return out.sort((a, b) => b.order - a.order || (a.summary.Id < b.summary.Id ? -1 : 1)).map((x) => x.summary);
  }

  /** `GET /images/{name}/json` in Docker 26's shape (API v1.45). */
  async inspect(nameOrId: string, signal?: AbortSignal): Promise<ImageInspect> {
    const rec = this.resolve(nameOrId);
    const { config, raw } = await this.config(rec.id, signal);
    const parent = rec.parent ?? (typeof raw["parent"] === "string" ? raw["parent"] : "");
    return {
      Id: rec.id,
      RepoTags: this.repoTags(rec.id),
      RepoDigests: this.repoDigests(rec.id),
      Parent: parent,
      Comment: typeof raw["comment"] === "string" ? raw["comment"] : "",
      Created: rec.created !== undefined ? goTime(rec.created) : "",
      DockerVersion: typeof raw["docker_version"] === "string" ? raw["docker_version"] : "",
      Author: config.author ?? "",
      Config: inspectConfig(config),
      Architecture: config.architecture,
      ...(config.variant !== undefined ? { Variant: config.variant } : {}),
      Os: config.os,
      ...(config["os.version"] !== undefined && config["os.version"] !== "" ? { OsVersion: config["os.version"] } : {}),
      Size: imageSize(rec),
      GraphDriver: this.#graphDriver(rec),
      RootFS: { Type: "layers", Layers: [...config.rootfs.diff_ids] },
      Metadata: { LastTagTime: rec.lastTagTime ?? ZERO_TIME },
    };
  }

  /**
   * `GET /images/{name}/history`, newest first. As Docker's classic store: each non-empty entry gets
   * its layer's size; the newest entry carries the image ID and tags, older ones the IDs of the local
   * parent chain, and `<missing>` once the chain ends (every entry but the first for a pulled image).
   */
  async history(nameOrId: string, signal?: AbortSignal): Promise<HistoryItem[]> {
    const rec = this.resolve(nameOrId);
    const { config } = await this.config(rec.id, signal);
    const items: { Created: number; CreatedBy: string; Size: number; Comment: string }[] = [];
    let layer = 0;
    for (const h of config.history ?? []) {
      let size = 0;
      if (h.empty_layer !== true) {
        const l = rec.layers[layer];
        if (l === undefined) throw htkError("HTK-ENGINE-0210", { image: nameOrId, what: "config", digest: rec.id, detail: "too many non-empty layers in History section" });
        size = l.contentSize ?? rec.manifests[0]?.layers[layer]?.size ?? 0;
        layer++;
      }
      items.unshift({ Created: createdSeconds(h.created), CreatedBy: h.created_by ?? "", Size: size, Comment: h.comment ?? "" });
    }
    let current: ImageRecord | undefined = rec;
    return items.map((item) => {
      const id = current?.id;
      const tags = id !== undefined ? this.repoTags(id) : [];
      current = current?.parent !== undefined ? this.#images.get(current.parent) : undefined;
      if (id === undefined) return { Id: "<missing>", ...item, Tags: null };
      return { Id: id, Created: item.Created, CreatedBy: item.CreatedBy, Tags: tags.length > 0 ? tags : null, Size: item.Size, Comment: item.Comment };
    });
  }

  // ---------------------------------------------------------------- removal

  /**
   * `docker rmi` (DELETE /images/{name}) with Docker's rules: a name given removes that name (and the
   * repository's digest names once its last tag is gone), deleting the image only when no name is
   * left; an ID given deletes the image, with all its names when they belong to one repository and
   * one tag, else only with `force`. Containers: a running one blocks always, a stopped one unless
   * forced.
   */
  remove(nameOrId: string, opts: RemoveOptions = {}): Promise<DeleteItem[]> {
    return this.#serial(() => this.#remove(nameOrId, opts.force === true, opts.noprune !== true));
  }

  async #remove(nameOrId: string, force: boolean, prune: boolean): Promise<DeleteItem[]> {
    const rec = this.resolve(nameOrId);
    const id = rec.id;
    const records: DeleteItem[] = [];
    let names = this.names(id);
    let removedName = false;
    if (!isIdPrefix(id, nameOrId)) {
      const given = parseName(nameOrId);
      if (!force && isSingleReference(names)) {
        const user = this.#containers(id)[0];
        if (user !== undefined) {
          throw htkError("HTK-ENGINE-0207", { reference: nameOrId, container: shortId(user.id), id: shortId(id) });
        }
      }
      this.#deleteRef(given.key);
      records.push({ Untagged: familiar(given) });
      this.#onEvent({ action: "untag", id, name: familiar(given) });
      names = this.names(id);
      if (given.kind === "tag") {
        const repo = `${given.ref.domain}/${given.ref.path}`;
        const sameRepoTag = names.some((n) => n.kind === "tag" && `${n.ref.domain}/${n.ref.path}` === repo);
        if (!sameRepoTag) {
          // The repository's digest names only pinned content the removed tag had: they go with it.
          for (const n of names) {
            if (n.kind !== "digest" || `${n.ref.domain}/${n.ref.path}` !== repo) continue;
            this.#deleteRef(n.key);
            records.push({ Untagged: familiar(n) });
          }
          names = this.names(id);
        }
      }
      if (names.length > 0) {
        this.#save();
        return records;
      }
      removedName = true;
    } else if (isSingleReference(names)) {
      const conflict = this.#conflict(id, force ? "hard" : "hard+stopped");
      if (conflict !== undefined) throw conflict.error;
      for (const n of names) {
        this.#deleteRef(n.key);
        records.push({ Untagged: familiar(n) });
        this.#onEvent({ action: "untag", id, name: familiar(n) });
      }
    }
    try {
      await this.#deleteHelper(id, records, force, prune, removedName);
    } finally {
      this.#save();
    }
    return records;
  }

  #conflict(id: Digest, mask: "hard" | "hard+stopped" | "all"): { error: Error; used: boolean } | undefined {
    if (this.children(id).length > 0) return { error: htkError("HTK-ENGINE-0206", { id: shortId(id) }), used: false };
    const users = this.#containers(id);
    const running = users.find((c) => c.running);
    if (running !== undefined) {
      return { error: htkError("HTK-ENGINE-0204", { id: shortId(id), container: shortId(running.id) }), used: true };
    }
    if (mask === "hard") return undefined;
    if (mask === "all" && this.names(id).length > 0) return { error: htkError("HTK-ENGINE-0203", { id: shortId(id) }), used: false };
    const stopped = users.find((c) => !c.running);
    if (stopped !== undefined) {
      return { error: htkError("HTK-ENGINE-0205", { id: shortId(id), container: shortId(stopped.id) }), used: true };
    }
    return undefined;
  }

  async #deleteHelper(id: Digest, records: DeleteItem[], force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    const conflict = this.#conflict(id, force ? "hard" : "all");
    if (conflict !== undefined) {
      // A parent being pruned, or an image whose last name went: conflicts end the removal quietly
      // unless the image is dangling and unused (Docker then tells why it stays).
      if (quiet && (!this.#isDangling(id) || conflict.used)) return;
      throw conflict.error;
    }
    const rec = this.#images.get(id);
    if (rec === undefined) return;
    for (const n of this.names(id)) {
      this.#deleteRef(n.key);
      records.push({ Untagged: familiar(n) });
      this.#onEvent({ action: "untag", id, name: familiar(n) });
    }
    const removedLayers = this.#dropImage(rec);
    records.push({ Deleted: id });
    for (const chain of removedLayers) records.push({ Deleted: chain });
    this.#onEvent({ action: "delete", id });
    await this.collectGarbage({ candidates: blobsOf(rec) });
    if (prune && rec.parent !== undefined && this.#images.has(rec.parent)) {
      await this.#deleteHelper(rec.parent, records, false, true, true);
    }
  }

  #isDangling(id: Digest): boolean {
    return this.names(id).length === 0 && this.children(id).length === 0;
  }

  /** Forgets an image and releases its leases; returns the layer chain IDs no other image uses. */
  #dropImage(rec: ImageRecord): Digest[] {
    this.#images.delete(rec.id);
    this.#configs.delete(rec.id);
    this.#save();
    this.#batch(() => {
      for (const l of this.refs.liveLeases({ owner: LEASE_OWNER + rec.id })) this.refs.release(l.id);
    });
    const inUse = new Set<Digest>();
    for (const other of this.#images.values()) for (const c of chainIds(other.layers.map((l) => l.diffId))) inUse.add(c);
    // Docker releases the layer stack from the top: the deleted layers are listed top first.
    return chainIds(rec.layers.map((l) => l.diffId))
      .filter((c) => !inUse.has(c))
      .reverse();
  }

  /**
   * `docker image prune`: dangling images (no tag), or with `all` every image no container uses.
   * Filters: `until`, `label`, `label!`, `dangling=false` (same as `all`).
   */
  prune(opts: { all?: boolean; filters?: FilterArgs } = {}): Promise<PruneReport> {
    return this.#serial(async () => {
      const f = filterValues(opts.filters ?? {}, PRUNE_FILTERS);
      const d = f.get("dangling");
      // dangling=false prunes every unused image, as `all` does (Docker's prune reads it so).
      const danglingOnly = opts.all !== true && (d === undefined || boolFilter("dangling", d));
      const until = f.get("until")?.map((u) => parseUntil(u, this.#now()));
      const labels = f.get("label") ?? [];
      const notLabels = f.get("label!") ?? [];
      const deleted: DeleteItem[] = [];
      let reclaimed = 0;
      const sizes = new Map<string, number>();
      for (const rec of this.#images.values()) {
        const chains = chainIds(rec.layers.map((l) => l.diffId));
        rec.layers.forEach((l, i) => sizes.set(chains[i] ?? "", l.contentSize ?? 0));
      }
      const candidates = [...this.#images.values()].filter((rec) => {
        if (danglingOnly && this.children(rec.id).length > 0) return false;
        if (this.#containers(rec.id).length > 0) return false;
        if (until !== undefined && !until.every((u) => createdSeconds(rec.created) * 1000 < u)) return false;
        if (!matchLabels(labels, rec.labels)) return false;
        if (notLabels.length > 0 && notLabels.some((l) => matchLabels([l], rec.labels))) return false;
        return true;
      });
      for (const rec of candidates) {
        if (!this.#images.has(rec.id)) continue;
        const names = this.names(rec.id);
        if (danglingOnly && names.some((n) => n.kind === "tag")) continue;
        // Docker deletes name by name and goes on after a name that fails (a conflict, or a digest
        // name that went with its repository's last tag); the image goes with its last name.
        const targets = names.length > 0 ? names.map((n) => ({ key: n.key, arg: familiarKey(n) })) : [{ key: undefined, arg: rec.id as string }];
        for (const t of targets) {
          if (!this.#images.has(rec.id)) break;
          if (t.key !== undefined && this.#references.get(t.key) !== rec.id) continue;
          try {
            deleted.push(...(await this.#remove(t.arg, false, true)));
          } catch (err) {
            if (!isHtkError(err)) throw err;
          }
        }
      }
      for (const item of deleted) if ("Deleted" in item) reclaimed += sizes.get(item.Deleted) ?? 0;
      return { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed };
    });
  }

  /** Adds a provider of blobs that must stay although no image leases them (the build cache's). */
  addBlobRoots(roots: BlobRoots): void {
    this.#blobRoots.push(roots);
  }

  /**
   * Deletes content-store blobs that no lease holds (images: durable ones; pulls, builds and exports
   * in progress: theirs, taken before they look at a blob) and no root provider names (the build
   * cache). With `candidates`, only those (what a removal just released); without, every blob older
   * than `minAgeMs` (a sweep: work that stores blobs without leasing them first is spared by age).
   */
  async collectGarbage(opts: GcOptions = {}): Promise<{ deleted: Digest[]; bytes: number }> {
    const deleted: Digest[] = [];
    let bytes = 0;
    const roots = new Set<Digest>();
    for (const provider of this.#blobRoots) for (const d of await provider(opts.signal)) roots.add(d);
    const tryDelete = async (digest: Digest): Promise<void> => {
      if (roots.has(digest) || this.refs.blobLeaseCount(digest) > 0) return;
      const info = await this.content.info(digest);
      const r = await this.content.delete(digest);
      if (r.kind === "deleted") {
        deleted.push(digest);
        bytes += info?.size ?? 0;
      }
    };
    if (opts.candidates !== undefined) {
      for (const d of new Set(opts.candidates)) {
        opts.signal?.throwIfAborted();
        await tryDelete(d);
      }
      return { deleted, bytes };
    }
    const minAge = opts.minAgeMs ?? 10 * 60_000;
    const now = Date.now();
    const all: Digest[] = [];
    for await (const d of this.content.list(opts.signal !== undefined ? { signal: opts.signal } : {})) all.push(d.digest);
    for (const d of all) {
      opts.signal?.throwIfAborted();
      if (roots.has(d) || this.refs.blobLeaseCount(d) > 0) continue;
      try {
        const st = await stat(this.content.blobPath(d));
        if (now - st.mtimeMs < minAge) continue;
      } catch {
        continue;
      }
      await tryDelete(d);
    }
    return { deleted, bytes };
  }

  // ---------------------------------------------------------------- internals

  #syncLeases(rec: ImageRecord): void {
    const owner = LEASE_OWNER + rec.id;
    const want = new Set(blobsOf(rec));
    for (const l of this.refs.liveLeases({ owner })) {
      if (l.key.kind === "blob" && want.has(l.key.digest)) want.delete(l.key.digest);
      else this.refs.release(l.id);
    }
    for (const digest of want) this.refs.acquire({ kind: "blob", digest }, { owner, durable: true });
  }

  #save(): void {
    const state: ImageStoreState = {
      version: 1,
      images: Object.fromEntries(this.#images),
      references: Object.fromEntries([...this.#references].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    };
    this.#state.save(state);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Every blob an image needs: what its leases hold. */
export function blobsOf(rec: ImageRecord): Digest[] {
  const out = new Set<Digest>([rec.id]);
  for (const m of rec.manifests) {
    out.add(m.descriptor.digest);
    if (m.index !== undefined) out.add(m.index.digest);
    for (const l of m.layers) out.add(l.digest);
  }
  return [...out];
}

/** image-spec ChainID: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent === undefined ? d : sha256Of(`${parent} ${d}`));
  }
  return out;
}

/**
 * Docker's image size (classic store): the sum of the layers' content sizes; a layer that could not
 * be measured counts with its blob size.
 */
export function imageSize(rec: ImageRecord): number {
  let total = 0;
  rec.layers.forEach((l, i) => {
    total += l.contentSize ?? rec.manifests[0]?.layers[i]?.size ?? 0;
  });
  return total;
}

function tryParse(input: string): StoredName | Error {
  try {
    return parseName(input);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** The name Docker prints in "No such image": the familiar form with ":latest" added. */
function notFoundName(input: string): string {
  if (isFullId(input)) return input.startsWith("sha256:") ? input : `sha256:${input}`;
  const r = tryParse(input);
  if (r instanceof Error) return input;
  return familiar(r);
}

function isIdPrefix(id: Digest, input: string): boolean {
  return id.startsWith(input) || id.startsWith(`sha256:${input}`);
}

/** Docker's isSingleReference: all names in one repository, at most one of them a tag. */
function isSingleReference(names: readonly StoredName[]): boolean {
  if (names.length <= 1) return names.length === 1;
  const repos = new Set(names.map((n) => `${n.ref.domain}/${n.ref.path}`));
  return repos.size === 1 && names.filter((n) => n.kind === "tag").length <= 1;
}

function familiarKey(n: StoredName): string {
  return referenceString(n.ref);
}

const LIST_FILTERS = ["before", "dangling", "label", "reference", "since", "until"];
const PRUNE_FILTERS = ["dangling", "label", "label!", "until"];

/** Docker's filters.Validate (unknown names refused) and the values of each filter. */
function filterValues(filters: FilterArgs, accepted: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(filters)) {
    if (!accepted.includes(k)) throw htkError("HTK-ENGINE-0221", { filter: k, accepted: accepted.join(", ") });
    const values = Array.isArray(v) ? [...(v as readonly string[])] : Object.keys(v).filter((x) => (v as Record<string, boolean>)[x]);
    if (values.length > 0) out.set(k, values);
  }
  return out;
}

/** Docker's boolean filter values: true/1 or false/0, anything else refused. */
function boolFilter(name: string, values: readonly string[]): boolean {
  const v = values[0] ?? "";
  const lower = v.toLowerCase();
  if (lower === "true" || lower === "1") return true;
  if (lower === "false" || lower === "0") return false;
  throw htkError("HTK-ENGINE-0222", { filter: name, value: v });
}

/** Docker's MatchKVList: every "key" must be present, every "key=value" must match. */
function matchLabels(wanted: readonly string[], labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const w of wanted) {
    const eq = w.indexOf("=");
    const key = eq === -1 ? w : w.slice(0, eq);
    if (labels === undefined || !(key in labels)) return false;
    if (eq !== -1 && labels[key] !== w.slice(eq + 1)) return false;
  }
  return true;
}

function createdSeconds(created: string | undefined): number {
  if (created === undefined) return 0;
  const ms = Date.parse(created);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/** Docker's `until`: a Unix timestamp (with fraction), an RFC 3339 date, or a Go duration before now. */
function parseUntil(value: string, now: Date): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const ns = parseGoDuration(value);
  if (ns !== undefined) return now.getTime() - ns / 1e6;
  const ms = Date.parse(value);
  if (Number.isFinite(ms)) return ms;
  throw htkError("HTK-ENGINE-0223", { value });
}

/** Go's RFC3339Nano formatting of a parsed time: trailing zeros of the fraction dropped. */
function goTime(created: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(created);
  if (m === null) return created;
  const frac = (m[2] ?? "").replace(/0+$/, "");
  return `${m[1] ?? ""}${frac !== "" ? `.${frac}` : ""}${m[3] === "+00:00" ? "Z" : (m[3] ?? "")}`;
}

function inspectConfig(config: ImageConfig): InspectContainerConfig | null {
  const c = config.config;
  if (c === undefined) return null;
  return {
    Hostname: "",
    Domainname: "",
    User: c.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts !== undefined ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...(c.Healthcheck !== undefined ? { Healthcheck: c.Healthcheck } : {}),
    ...(c.ArgsEscaped === true ? { ArgsEscaped: true } : {}),
    Image: "",
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal !== undefined && c.StopSignal !== "" ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell !== undefined && c.Shell.length > 0 ? { Shell: c.Shell } : {}),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}


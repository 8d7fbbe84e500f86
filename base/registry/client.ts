import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { htkError, isHtkError } from "../errors/index.ts";
import { rootLogger, withSpan } from "../observability/index.ts";
import type { ContentStore } from "./blob-store.ts";
import { isDigest, sha256Of, type Digest } from "../oci/digest.ts";
import { MANIFEST_ACCEPT, isForeignLayer, isIndexMediaType, isManifestMediaType } from "../oci/media-types.ts";
import { parseImageConfig, parseManifestDocument } from "../oci/parse.ts";
import { formatPlatform, hostPlatform, selectManifest } from "../oci/platform.ts";
import { parseDockerReference, referenceString, registryApiHost, type Reference } from "../oci/reference.ts";
import type { ImageConfig, Index, Manifest, OciDescriptor, Platform } from "../oci/types.ts";
import { repositoryScope } from "./auth-challenge.ts";
import { DockerConfigCredentials, type CredentialSource } from "./credentials.ts";
import { assertNever, classifyNetworkError, networkError, type ErrorContext } from "./errors.ts";
import { Hosts, type HostsOptions } from "./hosts.ts";
import { DEFAULT_RETRY, HostSession, NetworkError, header, readText, retryDelay, type Method, type RequestSpec, type Response, type RetryPolicy } from "./session.ts";

/** Settings of a {@link RegistryClient}. Every field has dockerd's default. */
export interface RegistryClientOptions extends HostsOptions {
  /** Default: ~/.docker/config.json and its credential helpers. */
  readonly credentials?: CredentialSource;
  /** Blobs downloaded at once per pull (dockerd's max-concurrent-downloads, default 3). */
  readonly maxConcurrentDownloads?: number;
  /**
   * dockerd's registry-mirrors: pulls of docker.io images try these first, in order ("https://mirror.example",
   * "http://127.0.0.1:5000"), and fall back to the next one, then to Docker Hub, on any failure — as Docker
   * does. Pushes and other registries never use them.
   */
  readonly registryMirrors?: readonly string[];
  /** Blobs uploaded at once per push (dockerd's max-concurrent-uploads, default 5). */
  readonly maxConcurrentUploads?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly userAgent?: string;
  /** Upload blobs larger than this in PATCH chunks of this size; default: one monolithic PUT. */
  readonly chunkSize?: number;
  /** Manifests larger than this are refused unread (distribution's own limit is 4 MiB). */
  readonly maxManifestBytes?: number;
  /** Observes every HTTP request (tests count them). */
  readonly onRequest?: (method: Method, url: URL) => void;
}

export type PullProgress =
  | { readonly kind: "resolved"; readonly reference: string; readonly descriptor: OciDescriptor }
  | { readonly kind: "blob-exists"; readonly digest: Digest; readonly size: number }
  | { readonly kind: "blob-start"; readonly digest: Digest; readonly size: number }
  /** Verified bytes received so far (after each network chunk): Docker's "Downloading" progress. */
  | { readonly kind: "blob-progress"; readonly digest: Digest; readonly current: number; readonly size: number }
  | { readonly kind: "blob-resume"; readonly digest: Digest; readonly offset: number; readonly attempt: number }
  | { readonly kind: "blob-done"; readonly digest: Digest; readonly size: number };

export type PushProgress =
  | { readonly kind: "blob-exists"; readonly digest: Digest }
  | { readonly kind: "blob-mounted"; readonly digest: Digest; readonly from: string }
  /** An upload begins (the repository has the blob neither directly nor by mount). */
  | { readonly kind: "blob-upload-start"; readonly digest: Digest; readonly size: number }
  /** Bytes of the blob sent so far: Docker's "Pushing" progress. */
  | { readonly kind: "blob-upload-progress"; readonly digest: Digest; readonly current: number; readonly size: number }
  | { readonly kind: "blob-uploaded"; readonly digest: Digest; readonly size: number; readonly chunks: number }
  | { readonly kind: "manifest-pushed"; readonly digest: Digest; readonly reference: string };

export interface PullOptions {
  readonly store: ContentStore;
  /** Default: this host's platform. */
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: PullProgress) => void;
}

export interface PullResult {
  readonly reference: Reference;
  /** What the tag (or digest) names: an index or a manifest. */
  readonly root: OciDescriptor;
  /** The image manifest for the platform (equal to `root` when there is no index). */
  readonly manifestDescriptor: OciDescriptor;
  readonly manifest: Manifest;
  readonly index?: Index;
  readonly config: ImageConfig;
  /** Blobs fetched now versus found in the store already. */
  readonly fetched: readonly Digest[];
  readonly skipped: readonly Digest[];
  readonly bytesFetched: number;
}

export interface PushOptions {
  readonly store: ContentStore;
  /** The manifest or index to push, already in the store with everything it references. */
  readonly root: OciDescriptor;
  /** Repositories on the same registry that may hold the blobs: tried with a cross-repository mount. */
  readonly mountFrom?: readonly string[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (e: PushProgress) => void;
}

export interface PushResult {
  readonly reference: Reference;
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  readonly uploaded: readonly Digest[];
  readonly existing: readonly Digest[];
  readonly mounted: readonly Digest[];
}

export interface ResolvedReference {
  readonly reference: Reference;
  readonly descriptor: OciDescriptor;
}

interface Repo {
  readonly ref: Reference;
  readonly host: string;
  readonly session: HostSession;
}

const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;
/** Network chunks (16–64 KiB) are gathered to this size before a write: fewer syscalls, bounded memory. */
const COALESCE_BYTES = 1024 * 1024;

/**
 * A Distribution API v2 client (OCI distribution-spec 1.1): resolve, pull into a ContentStore, push
 * from one, with Docker's rules for references, hosts, credentials and retries. Every blob is
 * verified against its digest while it streams; nothing unverified is ever stored. One client keeps
 * connections, tokens and pings per host: reuse it, and `close()` it at the end.
 */
export class RegistryClient {
  #hosts: Hosts;
  /** False for a `withCredentials` child: the connections belong to the parent. */
  #ownsHosts = true;
  readonly #sessions = new Map<string, HostSession>();
  readonly #credentials: CredentialSource;
  readonly #retry: RetryPolicy;
  readonly #opts: RegistryClientOptions;

  constructor(opts: RegistryClientOptions = {}) {
    this.#opts = opts;
    this.#hosts = new Hosts(opts);
    this.#credentials = opts.credentials ?? new DockerConfigCredentials();
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
  }

  async close(): Promise<void> {
    if (this.#ownsHosts) await this.#hosts.close();
  }

  /**
   * A client with this one's settings and connections that authenticates with `credentials` (the
   * engine's per-request X-Registry-Auth). Its pings, sessions and tokens are its own, so one
   * caller's tokens never serve another's request; closing it leaves the shared connections open.
   */
  withCredentials(credentials: CredentialSource): RegistryClient {
    const child = new RegistryClient({ ...this.#opts, credentials });
    child.#hosts = this.#hosts;
    child.#ownsHosts = false;
    return child;
  }

  #session(host: string): HostSession {
    let s = this.#sessions.get(host);
    if (s === undefined) {
      s = new HostSession(host, {
        hosts: this.#hosts,
        credentials: this.#credentials,
        retry: this.#retry,
        userAgent: this.#opts.userAgent ?? "hatake/0.1 (Distribution API v2 client)",
        ...(this.#opts.onRequest !== undefined ? { onRequest: this.#opts.onRequest } : {}),
      });
      this.#sessions.set(host, s);
    }
    return s;
  }

  #repo(input: string | Reference): Repo {
    let ref: Reference;
    if (typeof input === "string") {
      const r = parseDockerReference(input);
      if (!r.ok) throw htkError("HTK-REGISTRY-0015", { reference: input, detail: r.error });
      ref = r.value;
    } else ref = input;
    const host = registryApiHost(ref.domain);
    return { ref, host, session: this.#session(host) };
  }

  #ctx(repo: Repo, action: "pull" | "push", operation: string): ErrorContext {
    return { host: repo.ref.domain, action, repository: repo.ref.path, operation };
  }

  /** `GET /v2/` on a registry host: whether it answers, on which scheme, and how it authenticates. */
  async ping(domain: string, opts: { signal?: AbortSignal } = {}): Promise<{ origin: string; insecure: boolean }> {
    const host = registryApiHost(domain);
    try {
      return await this.#session(host).origin({ host: domain, action: "pull", repository: "", operation: "ping the registry" }, opts.signal);
    } catch (err) {
      if (err instanceof NetworkError) throw networkError(err.failure, err.ctx, 1, err.cause);
      throw err;
    }
  }

  /**
   * `docker login`: `GET /v2/` on the registry with this client's credentials (a token server is asked
   * for an offline token). Returns the final status (200: accepted; 401: refused) and the URL asked,
   * and the identity token when the token server handed one out. Failures to reach the registry throw.
   */
  async login(domain: string, opts: { signal?: AbortSignal } = {}): Promise<{ status: number; endpoint: string; identityToken?: string }> {
    const host = registryApiHost(domain);
    const session = new HostSession(host, {
      hosts: this.#hosts,
      credentials: this.#credentials,
      retry: this.#retry,
      userAgent: this.#opts.userAgent ?? "hatake/0.1 (Distribution API v2 client)",
      offlineAccess: true,
      ...(this.#opts.onRequest !== undefined ? { onRequest: this.#opts.onRequest } : {}),
    });
    const ctx: ErrorContext = { host: domain, action: "pull", repository: "", operation: "log in" };
    try {
      const { origin } = await session.origin(ctx, opts.signal);
      const res = await session.request({ method: "GET", target: "/v2/", scopes: [], ctx, expect: [200, 401], signal: opts.signal });
      await res.body.dump().catch(() => undefined);
      const token = session.refreshToken;
      return { status: res.status, endpoint: `${origin}/v2/`, ...(token !== undefined ? { identityToken: token } : {}) };
    } catch (err) {
      if (err instanceof NetworkError) throw networkError(err.failure, err.ctx, 1, err.cause);
      throw err;
    }
  }

  /**
   * The document a reference names (an index or a manifest) with its descriptor, verified against
   * the digest: what `GET /distribution/{name}/json` and `docker manifest inspect` show.
   */
  async manifestDocument(input: string | Reference, opts: { signal?: AbortSignal } = {}): Promise<{ reference: Reference; descriptor: OciDescriptor; bytes: Buffer }> {
    return this.#read(input, opts.signal, async (repo) => {
      const resolved = await this.#resolve(repo, opts.signal);
      const bytes = resolved.bytes ?? (await this.#getManifest(repo, resolved.descriptor.digest, resolved.descriptor, opts.signal)).bytes;
      return { reference: repo.ref, descriptor: resolved.descriptor, bytes };
    });
  }

  /** The descriptor a reference names (HEAD of the manifest; a digest reference is fetched and checked). */
  async resolve(input: string | Reference, opts: { signal?: AbortSignal } = {}): Promise<ResolvedReference> {
    return this.#read(input, opts.signal, async (repo) => {
      const { descriptor } = await this.#resolve(repo, opts.signal);
      return { reference: repo.ref, descriptor };
    });
  }

  async #resolve(repo: Repo, signal: AbortSignal | undefined): Promise<{ descriptor: OciDescriptor; bytes?: Buffer }> {
    const { ref } = repo;
    if (ref.digest !== undefined) {
      const digest = this.#digestOf(repo, ref.digest);
      const got = await this.#getManifest(repo, digest, undefined, signal);
      return got;
    }
    const tag = ref.tag ?? "latest";
    const ctx = this.#ctx(repo, "pull", `resolve "${tag}"`);
    const res = await repo.session.request({
      method: "HEAD",
      target: `/v2/${ref.path}/manifests/${tag}`,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      scopes: [repositoryScope(ref.path, ["pull"])],
      ctx,
      expect: [200, 403, 404],
      subject: { kind: "manifest", reference: tag },
      signal,
    });
    await res.body.dump().catch(() => undefined);
    // A HEAD error has no body to say why (unknown tag or repository, which denial); the GET does.
    if (res.status !== 200) return this.#getManifest(repo, tag, undefined, signal);
    const dcd = header(res, "docker-content-digest");
    const mediaType = (header(res, "content-type") ?? "").split(";")[0]?.trim() ?? "";
    const size = Number(header(res, "content-length"));
    if (dcd !== undefined && isDigest(dcd) && (isManifestMediaType(mediaType) || isIndexMediaType(mediaType)) && Number.isSafeInteger(size)) {
      return { descriptor: { mediaType, digest: dcd, size } };
    }
    // No usable HEAD answer (some registries omit the digest): GET the tag and hash what came.
    return this.#getManifest(repo, tag, undefined, signal);
  }

  #digestOf(repo: Repo, value: string): Digest {
    if (!isDigest(value)) {
      throw htkError("HTK-REGISTRY-0015", { reference: referenceString(repo.ref), detail: `only sha256 digests are supported, not "${value}"` });
    }
    return value;
  }

  /** GET a manifest by tag or digest, bounded in size, verified against `expected` when given. */
  async #getManifest(repo: Repo, reference: string, expected: OciDescriptor | undefined, signal: AbortSignal | undefined): Promise<{ descriptor: OciDescriptor; bytes: Buffer }> {
    const ctx = this.#ctx(repo, "pull", `fetch manifest "${reference}"`);
    const res = await repo.session.request({
      method: "GET",
      target: `/v2/${repo.ref.path}/manifests/${reference}`,
      headers: { accept: expected !== undefined ? [expected.mediaType, ...MANIFEST_ACCEPT.filter((m) => m !== expected.mediaType)].join(", ") : MANIFEST_ACCEPT.join(", ") },
      scopes: [repositoryScope(repo.ref.path, ["pull"])],
      ctx,
      expect: [200],
      subject: { kind: "manifest", reference },
      signal,
    });
    const max = this.#opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    const parts: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).byteLength;
        if (size > max) {
          res.body.destroy();
          throw htkError("HTK-REGISTRY-0013", { reference, host: repo.ref.domain, detail: `it is larger than ${max} bytes` });
        }
        parts.push(chunk as Buffer);
      }
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason;
      if (isHtkError(err)) throw err;
      throw networkError(classifyNetworkError(err, false), ctx, 1, err);
    }
    const bytes = Buffer.concat(parts, size);
    const actual = sha256Of(bytes);
    const mediaType = (header(res, "content-type") ?? "").split(";")[0]?.trim() ?? "";
    const want = expected?.digest ?? (isDigest(reference) ? reference : undefined);
    if (want !== undefined && (actual !== want || (expected !== undefined && expected.size !== size))) {
      throw htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: want, actual, size, expectedSize: expected?.size ?? "the same number of" });
    }
    const dcd = header(res, "docker-content-digest");
    if (want === undefined && dcd !== undefined && isDigest(dcd) && dcd !== actual) {
      // A tag fetch: the registry's own claim about the content must hold too.
      throw htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: dcd, actual, size, expectedSize: "the same number of" });
    }
    const doc = parseManifestDocument(bytes, mediaType);
    const docType = doc.ok ? (doc.value.kind === "index" ? doc.value.index.mediaType : doc.value.manifest.mediaType) : mediaType;
    return { descriptor: { mediaType: docType, digest: actual, size }, bytes };
  }

  /**
   * Pulls an image into the store: the root (index or manifest), the manifest for `platform`, its
   * config and layers. Blobs already in the store are skipped; the others download in parallel
   * (bounded), each verified while it streams and resumed with `Range` after a dropped connection.
   */
  async pull(input: string | Reference, opts: PullOptions): Promise<PullResult> {
    return this.#read(input, opts.signal, (repo) => this.#pullFrom(repo, opts));
  }

  /**
   * A read (pull, resolve, manifests, blobs) with dockerd's mirror rule: for a docker.io repository the
   * configured mirrors are tried first, in order, any failure moving on to the next; the last word is
   * Docker Hub's own.
   */
  async #read<T>(input: string | Reference, signal: AbortSignal | undefined, fn: (repo: Repo) => Promise<T>): Promise<T> {
    const repo = this.#repo(input);
    for (const mirror of this.#mirrorsFor(repo)) {
      try {
        return await fn(mirror);
      } catch (err) {
        signal?.throwIfAborted();
        rootLogger().warn({ mirror: mirror.host, reference: referenceString(repo.ref), err: err instanceof Error ? err.message : String(err) }, "registry mirror failed; trying the next endpoint");
      }
    }
    return fn(repo);
  }

  /** The configured mirrors as endpoints for a docker.io repository (none for other registries). */
  #mirrorsFor(repo: Repo): Repo[] {
    if (repo.ref.domain !== "docker.io") return [];
    return (this.#opts.registryMirrors ?? []).map((m) => {
      const host = new URL(m).host;
      return { ref: repo.ref, host, session: this.#session(host) };
    });
  }

  async #pullFrom(repo: Repo, opts: PullOptions): Promise<PullResult> {
    return withSpan("registry.pull", { "hatake.reference": referenceString(repo.ref) }, async ({ span }) => {
      const { store, signal } = opts;
      const platform = opts.platform ?? hostPlatform();
      const { root, descriptor, index, manifest } = await this.#image(repo, platform, store, signal, opts.onProgress);
      const blobs = [manifest.config, ...manifest.layers.filter((l) => !isForeignLayer(l.mediaType) || (l.urls ?? []).length === 0)];
      const unique = blobs.filter((b, i) => blobs.findIndex((x) => x.digest === b.digest) === i);
      const fetched: Digest[] = [];
      const skipped: Digest[] = [];
      let bytesFetched = 0;
      await mapBounded(unique, this.#opts.maxConcurrentDownloads ?? 3, signal, async (d, sig) => {
        const r = await this.#fetchBlobInto(repo, d, store, sig, opts.onProgress);
        if (r.fetched) {
          fetched.push(d.digest);
          bytesFetched += d.size;
        } else skipped.push(d.digest);
      });
      const configBytes = await store.readBytes(manifest.config.digest, signal !== undefined ? { signal } : {});
      const config = parseImageConfig(configBytes);
      if (!config.ok) throw htkError("HTK-REGISTRY-0013", { host: repo.ref.domain, reference: `${referenceString(repo.ref)} (config ${manifest.config.digest})`, detail: config.error });
      span.setAttribute("hatake.bytes_fetched", bytesFetched);
      return {
        reference: repo.ref,
        root,
        manifestDescriptor: descriptor,
        manifest,
        ...(index !== undefined ? { index } : {}),
        config: config.value,
        fetched,
        skipped,
        bytesFetched,
      };
    });
  }

  /** Resolves a reference to its root and the image manifest for `platform`, storing both when a store is given. */
  async #image(
    repo: Repo,
    platform: Platform,
    store: ContentStore | undefined,
    signal: AbortSignal | undefined,
    onProgress: ((e: PullProgress) => void) | undefined,
  ): Promise<{ root: OciDescriptor; descriptor: OciDescriptor; bytes: Buffer; index: Index | undefined; manifest: Manifest }> {
      const resolved = await this.#resolve(repo, signal);
      const root = resolved.descriptor;
      onProgress?.({ kind: "resolved", reference: referenceString(repo.ref), descriptor: root });
      let { descriptor, bytes } = await this.#manifestBytes(repo, root, resolved.bytes, store, signal);
      let index: Index | undefined;
      let manifest: Manifest | undefined;
      for (let depth = 0; manifest === undefined; depth++) {
        const doc = parseManifestDocument(bytes, descriptor.mediaType);
        if (!doc.ok) {
          if (doc.reason === "unsupported-media-type") {
            throw htkError("HTK-REGISTRY-0012", { host: repo.ref.domain, reference: referenceString(repo.ref), mediaType: doc.mediaType, detail: doc.error });
          }
          throw htkError("HTK-REGISTRY-0013", { host: repo.ref.domain, reference: referenceString(repo.ref), detail: doc.error });
        }
        switch (doc.value.kind) {
          case "manifest":
            manifest = doc.value.manifest;
            break;
          case "index": {
            if (depth > 2) throw htkError("HTK-REGISTRY-0013", { host: repo.ref.domain, reference: referenceString(repo.ref), detail: "indexes are nested too deeply" });
            index = doc.value.index;
            const chosen = selectManifest(index.manifests, platform);
            if (chosen === undefined) {
              const available = index.manifests.flatMap((m) => (m.platform !== undefined && m.platform.os !== "unknown" ? [formatPlatform(m.platform)] : []));
              throw htkError("HTK-REGISTRY-0014", { reference: referenceString(repo.ref), platform: formatPlatform(platform), available: available.length > 0 ? available.join(", ") : "no platforms" });
            }
            ({ descriptor, bytes } = await this.#manifestBytes(repo, chosen, undefined, store, signal));
            break;
          }
          default:
            return assertNever(doc.value);
        }
      }
    return { root, descriptor, bytes, index, manifest };
  }

  /**
   * The manifest (and index, if the reference names one) for `platform`, without the config and
   * layers: what `docker manifest inspect` and `buildx imagetools inspect` show. With a store, the
   * manifests are kept in it.
   */
  async fetchManifest(
    input: string | Reference,
    opts: { platform?: Platform; store?: ContentStore; signal?: AbortSignal } = {},
  ): Promise<{ reference: Reference; root: OciDescriptor; manifestDescriptor: OciDescriptor; manifest: Manifest; index?: Index; bytes: Buffer }> {
    return this.#read(input, opts.signal, async (repo) => {
      const r = await this.#image(repo, opts.platform ?? hostPlatform(), opts.store, opts.signal, undefined);
      return { reference: repo.ref, root: r.root, manifestDescriptor: r.descriptor, manifest: r.manifest, ...(r.index !== undefined ? { index: r.index } : {}), bytes: r.bytes };
    });
  }

  /** A manifest's bytes: from the store when present, else fetched, verified and stored. */
  async #manifestBytes(repo: Repo, d: OciDescriptor, have: Buffer | undefined, store: ContentStore | undefined, signal: AbortSignal | undefined): Promise<{ descriptor: OciDescriptor; bytes: Buffer }> {
    if (have === undefined && store !== undefined && (await store.has(d.digest))) {
      return { descriptor: d, bytes: await store.readBytes(d.digest, signal !== undefined ? { signal } : {}) };
    }
    const bytes = have ?? (await this.#getManifest(repo, d.digest, d, signal)).bytes;
    if (store === undefined) return { descriptor: d, bytes };
    await store.put(bytes, { expected: { digest: d.digest, size: d.size }, mediaType: d.mediaType, ...(signal !== undefined ? { signal } : {}) });
    return { descriptor: d, bytes };
  }

  /** Downloads one blob into the store unless it is there; verified while streaming, resumed on drops. */
  async fetchBlob(input: string | Reference, d: OciDescriptor, store: ContentStore, opts: { signal?: AbortSignal; onProgress?: (e: PullProgress) => void } = {}): Promise<{ fetched: boolean }> {
    return this.#read(input, opts.signal, (repo) => this.#fetchBlobInto(repo, d, store, opts.signal, opts.onProgress));
  }

  async #fetchBlobInto(repo: Repo, d: OciDescriptor, store: ContentStore, signal: AbortSignal | undefined, onProgress: ((e: PullProgress) => void) | undefined): Promise<{ fetched: boolean }> {
    const info = await store.info(d.digest);
    if (info !== undefined && info.size === d.size) {
      onProgress?.({ kind: "blob-exists", digest: d.digest, size: d.size });
      return { fetched: false };
    }
    onProgress?.({ kind: "blob-start", digest: d.digest, size: d.size });
    const source = this.#download(repo, d, signal, onProgress);
    try {
      await store.put(source, { expected: { digest: d.digest, size: d.size }, mediaType: d.mediaType, ...(signal !== undefined ? { signal } : {}) });
    } catch (err) {
      // The store's own mismatch check is a second line: ours fires first with the registry's name.
      if (isHtkError(err, "HTK-CACHE-0002")) {
        throw htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: d.digest, actual: String(err.params["actual"]), size: String(err.params["size"]), expectedSize: d.size }, { cause: err });
      }
      throw err;
    }
    onProgress?.({ kind: "blob-done", digest: d.digest, size: d.size });
    return { fetched: true };
  }

  async *#download(repo: Repo, d: OciDescriptor, signal: AbortSignal | undefined, onProgress: ((e: PullProgress) => void) | undefined): AsyncGenerator<Uint8Array> {
    const hash = createHash("sha256");
    const ctx = this.#ctx(repo, "pull", `download blob ${d.digest}`);
    let offset = 0;
    let drops = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const mismatch = (actual: string, size: number | string): Error =>
      htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: d.digest, actual, size, expectedSize: d.size });
    for (;;) {
      const spec: RequestSpec = {
        method: "GET",
        target: `/v2/${repo.ref.path}/blobs/${d.digest}`,
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        scopes: [repositoryScope(repo.ref.path, ["pull"])],
        ctx,
        expect: [200, 206],
        subject: { kind: "blob" },
        signal,
      };
      const res: Response = await repo.session.request(spec);
      let skip = 0;
      if (offset > 0) {
        const cr = /^bytes (\d+)-/.exec(header(res, "content-range") ?? "");
        // A server that ignores Range sends everything again: the bytes we have are skipped.
        if (res.status === 200) skip = offset;
        else if (cr === null || Number(cr[1]) !== offset) {
          res.body.destroy();
          throw htkError("HTK-REGISTRY-0018", { host: repo.ref.domain, status: res.status, operation: ctx.operation, detail: `asked for bytes from ${offset}, got Content-Range ${JSON.stringify(header(res, "content-range") ?? "")}` });
        }
      }
      let done = false;
      try {
        for await (const chunk of res.body) {
          let c = chunk as Buffer;
          if (skip > 0) {
            if (c.byteLength <= skip) {
              skip -= c.byteLength;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          // Stop at the first surplus byte: a misbehaving server must not fill the disk.
          if (offset + c.byteLength > d.size) throw mismatch("a longer stream", `more than ${d.size}`);
          hash.update(c);
          offset += c.byteLength;
          onProgress?.({ kind: "blob-progress", digest: d.digest, current: offset, size: d.size });
          pending.push(c);
          pendingBytes += c.byteLength;
          if (pendingBytes >= COALESCE_BYTES) {
            yield Buffer.concat(pending, pendingBytes);
            pending = [];
            pendingBytes = 0;
          }
        }
        done = true;
      } catch (err) {
        if (signal?.aborted === true) throw signal.reason;
        if (isHtkError(err)) throw err;
        const f = classifyNetworkError(err, false);
        if (f.kind !== "dropped" || drops >= this.#retry.retries) throw networkError(f, ctx, drops + 1, err);
      } finally {
        if (!done) res.body.destroy();
      }
      // Verified bytes received before a drop are kept: the resumed request starts after them.
      if (pendingBytes > 0) {
        yield Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
      }
      if (offset >= d.size && done) break;
      drops++;
      if (drops > this.#retry.retries) {
        throw htkError("HTK-REGISTRY-0017", { host: repo.ref.domain, operation: ctx.operation, attempts: drops, detail: `the body ended after ${offset} of ${d.size} bytes` });
      }
      onProgress?.({ kind: "blob-resume", digest: d.digest, offset, attempt: drops });
      await sleep(retryDelay(this.#retry, drops, undefined), undefined, signal !== undefined ? { signal } : {});
    }
    const actual: Digest = `sha256:${hash.digest("hex")}`;
    if (actual !== d.digest) throw mismatch(actual, offset);
  }

  /**
   * The repository's tags (`GET /v2/<name>/tags/list`), following `Link: <…>; rel="next"` pages
   * (at most 100 of them), in the registry's order.
   */
  async tags(input: string | Reference, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    const repo = this.#repo(input);
    const ctx = this.#ctx(repo, "pull", "list tags");
    const out: string[] = [];
    let target: string | undefined = `/v2/${repo.ref.path}/tags/list`;
    for (let page = 0; target !== undefined && page < 100; page++) {
      const res = await repo.session.request({ method: "GET", target, scopes: [repositoryScope(repo.ref.path, ["pull"])], ctx, expect: [200], signal: opts.signal });
      const text = await readText(res.body, this.#opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST);
      let body: { tags?: unknown };
      try {
        body = JSON.parse(text) as { tags?: unknown };
      } catch {
        throw htkError("HTK-REGISTRY-0018", { host: repo.ref.domain, status: 200, operation: ctx.operation, detail: "the answer is not JSON" });
      }
      if (Array.isArray(body.tags)) for (const t of body.tags) if (typeof t === "string") out.push(t);
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, "link") ?? "")?.[1];
      target = next === undefined ? undefined : new URL(next, res.url).toString();
    }
    return out;
  }

  /** Whether the repository has a blob (HEAD). */
  async blobExists(input: string | Reference, digest: Digest, opts: { signal?: AbortSignal; action?: "pull" | "push" } = {}): Promise<boolean> {
    const repo = this.#repo(input);
    const action = opts.action ?? "pull";
    const res = await repo.session.request({
      method: "HEAD",
      target: `/v2/${repo.ref.path}/blobs/${digest}`,
      scopes: [repositoryScope(repo.ref.path, action === "push" ? ["pull", "push"] : ["pull"])],
      ctx: this.#ctx(repo, action, `check blob ${digest}`),
      expect: [200, 404],
      signal: opts.signal,
    });
    await res.body.dump().catch(() => undefined);
    return res.status === 200;
  }

  /**
   * The manifest or index a reference names, as bytes (no platform selection, nothing stored): for
   * documents that are not images, such as a build cache manifest whose entries are blobs.
   */
  async fetchManifestBytes(input: string | Reference, opts: { signal?: AbortSignal } = {}): Promise<{ reference: Reference; descriptor: OciDescriptor; bytes: Buffer }> {
    return this.#read(input, opts.signal, async (repo) => {
      const resolved = await this.#resolve(repo, opts.signal);
      const bytes = resolved.bytes ?? (await this.#getManifest(repo, resolved.descriptor.digest, resolved.descriptor, opts.signal)).bytes;
      return { reference: repo.ref, descriptor: resolved.descriptor, bytes };
    });
  }

  /**
   * One blob from the store into the repository (HEAD skip, `mountFrom` mounts, then upload), for
   * documents `push` cannot walk (an index whose entries are blobs, not manifests).
   */
  async pushBlob(input: string | Reference, d: OciDescriptor, opts: { store: ContentStore; mountFrom?: readonly string[]; signal?: AbortSignal; onProgress?: (e: PushProgress) => void }): Promise<void> {
    const repo = this.#repo(input);
    await this.#pushBlobRetrying(repo, d, opts.store, opts.mountFrom ?? [], opts.signal, (e) => opts.onProgress?.(e));
  }

  /** A manifest or index document under `reference` (a tag or its digest); its blobs must be there already. */
  async putManifest(input: string | Reference, reference: string, d: OciDescriptor, bytes: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#putManifest(this.#repo(input), reference, d, Buffer.from(bytes), opts.signal);
  }

  /**
   * Pushes `root` (a manifest or an index, with everything it references, from the store) under the
   * reference's tag (or by digest). Blobs the repository has are skipped (HEAD), blobs in `mountFrom`
   * repositories are mounted, the rest uploaded; manifests go last, children before their index.
   */
  async push(input: string | Reference, opts: PushOptions): Promise<PushResult> {
    const repo = this.#repo(input);
    return withSpan("registry.push", { "hatake.reference": referenceString(repo.ref) }, async ({ span }) => {
      const { store, root, signal } = opts;
      if (repo.ref.digest !== undefined && repo.ref.digest !== root.digest) {
        throw htkError("HTK-REGISTRY-0015", { reference: referenceString(repo.ref), detail: `its digest is not the digest of the content being pushed (${root.digest})` });
      }
      const uploaded: Digest[] = [];
      const existing: Digest[] = [];
      const mounted: Digest[] = [];
      const inFlight = new Map<Digest, Promise<void>>();
      const pushBlobOnce = (d: OciDescriptor, sig: AbortSignal | undefined): Promise<void> => {
        let p = inFlight.get(d.digest);
        if (p === undefined) {
          p = this.#pushBlobRetrying(repo, d, store, opts.mountFrom ?? [], sig, (e) => {
            if (e.kind === "blob-exists") existing.push(e.digest);
            else if (e.kind === "blob-mounted") mounted.push(e.digest);
            else if (e.kind === "blob-uploaded") uploaded.push(e.digest);
            opts.onProgress?.(e);
          });
          inFlight.set(d.digest, p);
        }
        return p;
      };
      const pushNode = async (d: OciDescriptor, tag: string | undefined, depth: number): Promise<void> => {
        const bytes = await store.readBytes(d.digest, signal !== undefined ? { signal } : {});
        const doc = parseManifestDocument(bytes, d.mediaType);
        if (!doc.ok) {
          if (doc.reason === "unsupported-media-type") throw htkError("HTK-REGISTRY-0012", { host: repo.ref.domain, reference: d.digest, mediaType: doc.mediaType, detail: doc.error });
          throw htkError("HTK-REGISTRY-0013", { host: repo.ref.domain, reference: d.digest, detail: doc.error });
        }
        switch (doc.value.kind) {
          case "index":
            if (depth > 2) throw htkError("HTK-REGISTRY-0013", { host: repo.ref.domain, reference: d.digest, detail: "indexes are nested too deeply" });
            for (const child of doc.value.index.manifests) await pushNode(child, undefined, depth + 1);
            break;
          case "manifest": {
            const m = doc.value.manifest;
            // Foreign layers live at their URLs; dockerd and containerd never upload them.
            const blobs = [m.config, ...m.layers.filter((l) => !isForeignLayer(l.mediaType))];
            await mapBounded(blobs, this.#opts.maxConcurrentUploads ?? 5, signal, (b, sig) => pushBlobOnce(b, sig));
            break;
          }
          default:
            return assertNever(doc.value);
        }
        await this.#putManifest(repo, tag ?? d.digest, d, bytes, signal);
        opts.onProgress?.({ kind: "manifest-pushed", digest: d.digest, reference: tag ?? d.digest });
      };
      await pushNode(root, repo.ref.digest === undefined ? (repo.ref.tag ?? "latest") : undefined, 0);
      span.setAttribute("hatake.blobs_uploaded", uploaded.length);
      return { reference: repo.ref, digest: root.digest, size: root.size, mediaType: root.mediaType, uploaded, existing, mounted };
    });
  }

  async #putManifest(repo: Repo, reference: string, d: OciDescriptor, bytes: Buffer, signal: AbortSignal | undefined): Promise<void> {
    const res = await repo.session.request({
      method: "PUT",
      target: `/v2/${repo.ref.path}/manifests/${reference}`,
      headers: { "content-type": d.mediaType },
      body: () => bytes,
      scopes: [repositoryScope(repo.ref.path, ["pull", "push"])],
      ctx: this.#ctx(repo, "push", `push manifest "${reference}"`),
      expect: [201],
      subject: { kind: "manifest", reference },
      signal,
    });
    await res.body.dump().catch(() => undefined);
    const dcd = header(res, "docker-content-digest");
    if (dcd !== undefined && dcd !== d.digest) {
      throw htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: d.digest, actual: dcd, size: bytes.byteLength, expectedSize: d.size });
    }
  }

  /** One blob push, retried from the start (a new upload session) after a transient failure. */
  async #pushBlobRetrying(repo: Repo, d: OciDescriptor, store: ContentStore, mountFrom: readonly string[], signal: AbortSignal | undefined, report: (e: PushProgress) => void): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#pushBlob(repo, d, store, mountFrom, signal, report);
      } catch (err) {
        const transient = isHtkError(err) && (err.id === "HTK-REGISTRY-0010" || err.id === "HTK-REGISTRY-0017" || err.id === "HTK-REGISTRY-0009");
        if (!transient || attempt > this.#retry.retries || signal?.aborted === true) throw err;
        await sleep(retryDelay(this.#retry, attempt, undefined), undefined, signal !== undefined ? { signal } : {});
      }
    }
  }

  async #pushBlob(repo: Repo, d: OciDescriptor, store: ContentStore, mountFrom: readonly string[], signal: AbortSignal | undefined, report: (e: PushProgress) => void): Promise<void> {
    const path = repo.ref.path;
    const ctx = this.#ctx(repo, "push", `upload blob ${d.digest}`);
    const pushScope = repositoryScope(path, ["pull", "push"]);
    if (await this.blobExists(repo.ref, d.digest, { action: "push", ...(signal !== undefined ? { signal } : {}) })) {
      report({ kind: "blob-exists", digest: d.digest });
      return;
    }
    let location: URL | undefined;
    for (const from of mountFrom) {
      if (from === path) continue;
      const res = await repo.session.request({
        method: "POST",
        target: `/v2/${path}/blobs/uploads/?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(from)}`,
        headers: { "content-length": "0" },
        scopes: [pushScope, repositoryScope(from, ["pull"])],
        ctx: { ...ctx, operation: `mount blob ${d.digest} from "${from}"` },
        expect: [201, 202],
        signal,
      });
      await res.body.dump().catch(() => undefined);
      if (res.status === 201) {
        report({ kind: "blob-mounted", digest: d.digest, from });
        return;
      }
      // 202: the registry could not mount and opened an ordinary upload instead.
      location = this.#location(res, ctx);
      break;
    }
    if (location === undefined) {
      const res = await repo.session.request({
        method: "POST",
        target: `/v2/${path}/blobs/uploads/`,
        headers: { "content-length": "0" },
        scopes: [pushScope],
        ctx,
        expect: [202],
        signal,
      });
      await res.body.dump().catch(() => undefined);
      location = this.#location(res, ctx);
    }
    const chunkSize = this.#opts.chunkSize;
    let chunks = 0;
    report({ kind: "blob-upload-start", digest: d.digest, size: d.size });
    const counted = (source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> => countBytes(source, (current) => report({ kind: "blob-upload-progress", digest: d.digest, current, size: d.size }));
    // Opened per attempt and only when the body is read: a request that fails before sending leaks no file.
    const verified = (): Promise<AsyncIterable<unknown>> => store.get(d.digest, signal !== undefined ? { signal } : {});
    if (chunkSize === undefined || d.size <= chunkSize) {
      const url = new URL(location);
      url.searchParams.set("digest", d.digest);
      const res = await repo.session.request({
        method: "PUT",
        target: url.toString(),
        headers: { "content-type": "application/octet-stream", "content-length": String(d.size) },
        body: () => counted(streamOf(verified)),
        scopes: [pushScope],
        ctx,
        expect: [201],
        subject: { kind: "blob" },
        retry: false,
        signal,
      });
      await res.body.dump().catch(() => undefined);
      this.#checkBlobDigest(repo, d, res);
      chunks = 1;
    } else {
      const reader = new ChunkReader(streamOf(verified));
      let offset = 0;
      try {
        while (offset < d.size) {
          const n = Math.min(chunkSize, d.size - offset);
          // One chunk in memory (chunkSize bounds it) so that a re-sent PATCH (after a 401) sends the same bytes.
          const parts: Uint8Array[] = [];
          for await (const part of reader.take(n)) parts.push(part);
          const chunk = Buffer.concat(parts, n);
          const res = await repo.session.request({
            method: "PATCH",
            target: location.toString(),
            headers: { "content-type": "application/octet-stream", "content-length": String(n), "content-range": `${offset}-${offset + n - 1}` },
            body: () => chunk,
            scopes: [pushScope],
            ctx,
            expect: [202],
            subject: { kind: "blob" },
            retry: false,
            signal,
          });
          await res.body.dump().catch(() => undefined);
          location = this.#location(res, ctx);
          offset += n;
          chunks++;
          report({ kind: "blob-upload-progress", digest: d.digest, current: offset, size: d.size });
        }
      } finally {
        await reader.close();
      }
      const url = new URL(location);
      url.searchParams.set("digest", d.digest);
      const res = await repo.session.request({
        method: "PUT",
        target: url.toString(),
        headers: { "content-type": "application/octet-stream", "content-length": "0" },
        body: () => new Uint8Array(0),
        scopes: [pushScope],
        ctx,
        expect: [201],
        subject: { kind: "blob" },
        retry: false,
        signal,
      });
      await res.body.dump().catch(() => undefined);
      this.#checkBlobDigest(repo, d, res);
    }
    report({ kind: "blob-uploaded", digest: d.digest, size: d.size, chunks });
  }

  #checkBlobDigest(repo: Repo, d: OciDescriptor, res: Response): void {
    const dcd = header(res, "docker-content-digest");
    if (dcd !== undefined && dcd !== d.digest) {
      throw htkError("HTK-REGISTRY-0011", { host: repo.ref.domain, digest: d.digest, actual: dcd, size: d.size, expectedSize: d.size });
    }
  }

  #location(res: Response, ctx: ErrorContext): URL {
    const loc = header(res, "location");
    if (loc === undefined || loc === "") {
      throw htkError("HTK-REGISTRY-0018", { host: ctx.host, status: res.status, operation: ctx.operation, detail: "the answer has no Location header" });
    }
    return new URL(loc, res.url);
  }
}

/** The chunks of a stream opened on first read, as an async iterable request body. */
async function* streamOf(open: () => Promise<AsyncIterable<unknown>>): AsyncGenerator<Uint8Array> {
  for await (const c of await open()) yield c as Uint8Array;
}

/** Passes a stream through, telling `onBytes` the running total after each chunk. */
async function* countBytes(source: AsyncIterable<Uint8Array>, onBytes: (total: number) => void): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const c of source) {
    total += c.byteLength;
    yield c;
    onBytes(total);
  }
}

/** Reads a stream in exact-size pieces (one per PATCH) without holding more than one chunk. */
class ChunkReader {
  readonly #iter: AsyncIterator<Uint8Array>;
  #pending: Uint8Array | undefined;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iter = source[Symbol.asyncIterator]();
  }

  async *take(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      let c = this.#pending;
      this.#pending = undefined;
      if (c === undefined) {
        const next = await this.#iter.next();
        if (next.done === true) throw new Error(`the stored blob ended ${left} bytes early`);
        c = next.value;
      }
      if (c.byteLength > left) {
        this.#pending = c.subarray(left);
        c = c.subarray(0, left);
      }
      left -= c.byteLength;
      yield c;
    }
  }

  async close(): Promise<void> {
    await this.#iter.return?.().catch(() => undefined);
  }
}

/**
 * Runs `fn` over `items` with at most `limit` at once; the first failure aborts the rest (their
 * signal) and is thrown once all have settled, so no work outlives the call.
 */
export async function mapBounded<T>(items: readonly T[], limit: number, signal: AbortSignal | undefined, fn: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted === true) onAbort();
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && !ac.signal.aborted) {
      const i = next++;
      if (i >= items.length) return;
      try {
        await fn(items[i] as T, ac.signal);
      } catch (err) {
        // The first error wins; the cancellations it causes in siblings are not errors.
        failure ??= { err };
        ac.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (signal?.aborted === true) throw signal.reason;
  if (failure !== undefined) throw failure.err;
}

import { htkError } from "../../base/errors/index.ts";
import {
  isIndexMediaType,
  isManifestMediaType,
  MediaTypes,
  parseImageConfig,
  parseManifestDocument,
  parseReference,
  referenceName,
  referenceString,
  sha256Of,
  withDigest,
  type Digest,
  type OciDescriptor,
  type Platform,
  type Reference,
} from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { descriptorJson, platformString } from "./inspect.ts";
import type { SpoolStore } from "./spool-store.ts";

/**
 * `docker buildx imagetools create`: buildx's Combine (util/imagetools/create.go). Sources are
 * digests, references or descriptor JSON; the result is the one source's bytes (a carbon copy of an
 * index, or of a manifest with `--prefer-index=false`), or a new index of every source's manifests
 * (deduplicated by digest), a Docker manifest list when they are all Docker manifests, an OCI index
 * otherwise. Its JSON is Go's MarshalIndent of ocispec.Index, so the digest is buildx's for the same
 * inputs.
 */
export interface PartialDescriptor {
  mediaType?: string;
  digest?: Digest;
  size?: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

export interface Source {
  desc: PartialDescriptor;
  ref?: Reference;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** One source argument (or -f file's content): a digest, a reference, or an OCI descriptor in JSON. */
export function parseSource(input: string): Source {
  const fail = (detail: string): never => {
    throw htkError("HTK-BUILDX-0103", { source: input, detail });
  };
  if (DIGEST_RE.test(input)) return { desc: { digest: input as Digest } };
  if (input.startsWith("sha256")) fail(input.includes(":") ? "invalid checksum digest length" : "invalid checksum digest format");
  const r = parseReference(input);
  if (r.ok) return { desc: {}, ref: r.value };
  if (!input.trimStart().startsWith("{")) fail(r.error);
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch (err) {
    fail((err as Error).message);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) fail("a descriptor is a JSON object");
  const o = parsed as Record<string, unknown>;
  const desc: PartialDescriptor = {};
  if (typeof o["mediaType"] === "string") desc.mediaType = o["mediaType"];
  if (typeof o["digest"] === "string") {
    if (!DIGEST_RE.test(o["digest"])) fail(`invalid digest ${JSON.stringify(o["digest"])}`);
    desc.digest = o["digest"] as Digest;
  }
  if (typeof o["size"] === "number") desc.size = o["size"];
  if (Array.isArray(o["urls"])) desc.urls = o["urls"].map(String);
  if (o["annotations"] !== null && typeof o["annotations"] === "object") desc.annotations = Object.fromEntries(Object.entries(o["annotations"] as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
  if (o["platform"] !== null && typeof o["platform"] === "object") {
    const p = o["platform"] as Record<string, unknown>;
    desc.platform = {
      architecture: String(p["architecture"] ?? ""),
      os: String(p["os"] ?? ""),
      ...(typeof p["variant"] === "string" ? { variant: p["variant"] } : {}),
      ...(typeof p["os.version"] === "string" ? { "os.version": p["os.version"] } : {}),
      ...(Array.isArray(p["os.features"]) ? { "os.features": p["os.features"].map(String) } : {}),
    };
  }
  if (typeof o["artifactType"] === "string") desc.artifactType = o["artifactType"];
  if (typeof o["data"] === "string") desc.data = o["data"];
  return { desc };
}

/** buildflags.ParseAnnotations, for what imagetools create accepts: `[type[,type…]:]key=value`. */
export interface Annotation {
  readonly type: string;
  readonly platform?: string;
  readonly key: string;
  readonly value: string;
}

export function parseAnnotations(values: readonly string[]): Annotation[] {
  const out: Annotation[] = [];
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq < 0) throw htkError("HTK-BUILDX-0108", { detail: `invalid annotation "${v}", expected key=value` });
    const k = v.slice(0, eq);
    const value = v.slice(eq + 1);
    const colon = k.indexOf(":");
    if (colon < 0) {
      out.push({ type: "", key: k, value });
      continue;
    }
    const key = k.slice(colon + 1);
    for (const tp of k.slice(0, colon).split(",")) {
      const m = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/.exec(tp);
      if (m === null) throw htkError("HTK-BUILDX-0108", { detail: `invalid annotation type "${tp}", expected type and optional platform in brackets` });
      const type = m[1] as string;
      if (!["index", "index-descriptor", "manifest", "manifest-descriptor"].includes(type)) throw htkError("HTK-BUILDX-0108", { detail: `unknown annotation type "${type}"` });
      out.push({ type, key, value, ...(m[2] === undefined ? {} : { platform: m[2] }) });
    }
  }
  return out;
}

/** The document a source's descriptor names, from its repository, verified. */
async function fetchDocument(client: RegistryClient, ref: Reference, digest: Digest, signal: AbortSignal): Promise<{ bytes: Buffer; mediaType: string; size: number }> {
  const doc = await client.manifestDocument(withDigest({ domain: ref.domain, path: ref.path }, digest), { signal });
  return { bytes: doc.bytes, mediaType: doc.descriptor.mediaType, size: doc.descriptor.size };
}

/** buildx's detectMediaType: the declared type, else a manifest when it has a config, else a manifest list. */
function detectMediaType(bytes: Buffer): string {
  let o: Record<string, unknown> = {};
  try {
    o = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    // Unparsable: left to the document parser's error below.
  }
  if (typeof o["mediaType"] === "string" && o["mediaType"] !== "") return o["mediaType"];
  if (o["config"] !== undefined) return MediaTypes.dockerManifest;
  if (Array.isArray(o["fsLayers"])) return "application/vnd.docker.distribution.manifest.v1+json";
  return MediaTypes.dockerManifestList;
}

export interface Combined {
  readonly bytes: Buffer;
  readonly descriptor: OciDescriptor;
  /** The source each manifest came from (an index source's children map to it), by digest. */
  readonly sources: ReadonlyMap<Digest, Source>;
}

/** Fills each source's descriptor (resolve, fetch, media type, platform from the config) and combines them. */
export async function combine(client: RegistryClient, store: SpoolStore, srcs: Source[], annotations: readonly Annotation[], preferIndex: boolean, signal: AbortSignal): Promise<Combined> {
  const docs: Buffer[] = [];
  for (const [i, s] of srcs.entries()) {
    const ref = s.ref as Reference;
    const digest = s.desc.digest as Digest;
    const doc = await fetchDocument(client, ref, digest, signal);
    docs[i] = doc.bytes;
    if (s.desc.mediaType === undefined || s.desc.mediaType === "") s.desc.mediaType = detectMediaType(doc.bytes);
    if (s.desc.size === undefined) s.desc.size = doc.size;
    const mt = s.desc.mediaType;
    if (mt === "application/vnd.docker.distribution.manifest.v1+json") throw htkError("HTK-BUILDX-0106", {});
    if (isManifestMediaType(mt)) {
      const p = s.desc.platform;
      if (p === undefined || p.os === "" || p.architecture === "") s.desc.platform = await loadPlatform(client, store, ref, doc.bytes, mt, p, signal);
    }
  }
  const only = srcs[0];
  if (srcs.length === 1 && annotations.length === 0 && only !== undefined && (isIndexMediaType(only.desc.mediaType ?? "") || !preferIndex)) {
    return { bytes: docs[0] as Buffer, descriptor: complete(only.desc), sources: new Map([[only.desc.digest as Digest, only]]) };
  }
  const order: Digest[] = [];
  const byDigest = new Map<Digest, PartialDescriptor>();
  const add = (d: PartialDescriptor): void => {
    const digest = d.digest as Digest;
    const old = byDigest.get(digest);
    if (old === undefined) {
      order.push(digest);
      byDigest.set(digest, { ...d, ...(d.annotations === undefined ? {} : { annotations: { ...d.annotations } }) });
      return;
    }
    if (old.mediaType === undefined || old.mediaType === "") old.mediaType = d.mediaType ?? "";
    if (d.platform !== undefined) old.platform = d.platform;
    old.annotations = { ...(old.annotations ?? {}), ...(d.annotations ?? {}) };
  };
  const sources = new Map<Digest, Source>();
  for (const [i, s] of srcs.entries()) {
    if (isIndexMediaType(s.desc.mediaType ?? "")) {
      const parsed = parseManifestDocument(docs[i] as Buffer, s.desc.mediaType);
      if (!parsed.ok || parsed.value.kind !== "index") throw htkError("HTK-BUILDX-0103", { source: s.desc.digest ?? "", detail: parsed.ok ? "not an index" : parsed.error });
      for (const d of parsed.value.index.manifests) {
        add(toPartial(d));
        if (!sources.has(d.digest)) sources.set(d.digest, s);
      }
    } else {
      add(s.desc);
      if (!sources.has(s.desc.digest as Digest)) sources.set(s.desc.digest as Digest, s);
    }
  }
  const descs = order.map((d) => byDigest.get(d) as PartialDescriptor);
  const allDocker = descs.every((d) => (d.mediaType ?? "").startsWith("application/vnd.docker."));
  const mediaType = allDocker ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const indexAnnotations: Record<string, string> = {};
  if (!allDocker) {
    for (const a of annotations) {
      switch (a.type) {
        case "index":
          indexAnnotations[a.key] = a.value;
          break;
        case "manifest-descriptor":
          for (const d of descs) {
            d.annotations ??= {};
            if (a.platform === undefined || (d.platform !== undefined && a.platform === platformString(d.platform))) d.annotations[a.key] = a.value;
          }
          break;
        case "index-descriptor":
          throw htkError("HTK-BUILDX-0107", { type: a.type, problem: "invalid while creating an image" });
        default:
          throw htkError("HTK-BUILDX-0107", { type: a.type, problem: "not supported yet" });
      }
    }
  }
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: descs.map((d) => descriptorJson(complete(d))),
    ...(Object.keys(indexAnnotations).length > 0 ? { annotations: indexAnnotations } : {}),
  };
  const bytes = goJson(index);
  return { bytes, descriptor: { mediaType, digest: sha256Of(bytes), size: bytes.length }, sources };
}

/** Go's json.Marshal escaping of HTML characters, for documents this command writes. */
function goJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
}

/**
 * buildx's parsePlatforms for `--platform`: each value, or comma-separated values, as containerd's
 * platforms.Parse reads them (os/arch[/variant], or an architecture alone for this machine's OS).
 */
export function parsePlatformFilters(values: readonly string[]): Platform[] {
  const out: Platform[] = [];
  for (const value of values.flatMap((v) => v.split(","))) {
    const parts = value.toLowerCase().split("/");
    if (parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) throw htkError("HTK-BUILDX-0160", { value });
    const [a, b, c] = parts;
    const p: Platform = parts.length === 1 ? { os: "linux", architecture: a as string } : { os: a as string, architecture: b as string, ...(c === undefined ? {} : { variant: c }) };
    out.push(normalizePlatform(p));
  }
  return out;
}

function normalizePlatform(p: Platform): Platform {
  const n = normalizeArch(p.architecture, p.variant);
  return { os: p.os === "macos" ? "darwin" : p.os, architecture: n.architecture, ...(n.variant === undefined ? {} : { variant: n.variant }) };
}

/** containerd's matcher: the same OS, architecture and variant once both are normalised. */
function platformMatches(filter: Platform, p: Platform): boolean {
  const n = normalizePlatform(p);
  return filter.os === n.os && filter.architecture === n.architecture && (filter.variant ?? "") === (n.variant ?? "");
}

export interface KeptManifest {
  readonly descriptor: OciDescriptor;
  readonly source: Source;
}

/**
 * buildx's filterPlatforms (`--platform`): of an index, the manifests of those platforms (and ones
 * without a platform, and attestations whose subject is kept) in a rewritten index; a single
 * manifest must match. `manifests` says which to copy from which source.
 */
export function filterPlatforms(result: Combined, platforms: readonly Platform[]): { readonly combined: Combined; readonly manifests: readonly KeptManifest[] } {
  const matches = (p: Platform | undefined): boolean => p === undefined || platforms.some((f) => platformMatches(f, p));
  const { descriptor } = result;
  if (!isIndexMediaType(descriptor.mediaType)) {
    if (descriptor.platform === undefined) throw htkError("HTK-BUILDX-0163", {});
    if (!matches(descriptor.platform)) throw htkError("HTK-BUILDX-0162", { platform: platformString(descriptor.platform) });
    return { combined: result, manifests: [] };
  }
  const parsed = parseManifestDocument(result.bytes, descriptor.mediaType);
  if (!parsed.ok || parsed.value.kind !== "index") throw htkError("HTK-BUILDX-0103", { source: descriptor.digest, detail: parsed.ok ? "not an index" : parsed.error });
  const index = parsed.value.index;
  const byDigest = new Map(index.manifests.map((m) => [m.digest, m] as const));
  const attestations = new Set<Digest>();
  for (const m of index.manifests) {
    if (m.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest") continue;
    const subject = byDigest.get(m.annotations["vnd.docker.reference.digest"] as Digest);
    if (subject !== undefined && matches(subject.platform)) attestations.add(m.digest);
  }
  const kept: KeptManifest[] = [];
  for (const m of index.manifests) {
    if (!attestations.has(m.digest) && !matches(m.platform)) continue;
    const source = result.sources.get(m.digest) ?? result.sources.get(descriptor.digest);
    if (source === undefined) throw htkError("HTK-BUILDX-0103", { source: m.digest, detail: "internal error: no source found" });
    kept.push({ descriptor: m, source });
  }
  if (kept.length === 0) throw htkError("HTK-BUILDX-0161", {});
  if (kept.length === index.manifests.length) return { combined: result, manifests: kept };
  // Go re-marshals the parsed index: its fields in ocispec.Index's order.
  const doc = JSON.parse(result.bytes.toString("utf8")) as Record<string, unknown>;
  const bytes = goJson({
    schemaVersion: doc["schemaVersion"],
    ...(typeof doc["mediaType"] === "string" && doc["mediaType"] !== "" ? { mediaType: doc["mediaType"] } : {}),
    ...(typeof doc["artifactType"] === "string" && doc["artifactType"] !== "" ? { artifactType: doc["artifactType"] } : {}),
    manifests: kept.map((k) => descriptorJson(k.descriptor)),
    ...(doc["subject"] !== undefined && doc["subject"] !== null ? { subject: doc["subject"] } : {}),
    ...(doc["annotations"] !== undefined && doc["annotations"] !== null && Object.keys(doc["annotations"] as object).length > 0 ? { annotations: doc["annotations"] } : {}),
  });
  return { combined: { bytes, descriptor: { mediaType: descriptor.mediaType, digest: sha256Of(bytes), size: bytes.length }, sources: result.sources }, manifests: kept };
}

function toPartial(d: OciDescriptor): PartialDescriptor {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls === undefined ? {} : { urls: [...d.urls] }),
    ...(d.annotations === undefined ? {} : { annotations: { ...d.annotations } }),
    ...(d.platform === undefined ? {} : { platform: d.platform }),
    ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    ...(d.data === undefined ? {} : { data: d.data }),
  };
}

function complete(d: PartialDescriptor): OciDescriptor {
  return {
    mediaType: d.mediaType ?? "",
    digest: d.digest as Digest,
    size: d.size ?? 0,
    ...(d.urls === undefined ? {} : { urls: d.urls }),
    ...(d.annotations === undefined ? {} : { annotations: d.annotations }),
    ...(d.platform === undefined ? {} : { platform: d.platform }),
    ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }),
    ...(d.data === undefined ? {} : { data: d.data }),
  };
}

/** A manifest's platform from its config (the descriptor's own fields win), normalised as containerd does. */
async function loadPlatform(client: RegistryClient, store: SpoolStore, ref: Reference, bytes: Buffer, mediaType: string, given: Platform | undefined, signal: AbortSignal): Promise<Platform> {
  const parsed = parseManifestDocument(bytes, mediaType);
  if (!parsed.ok || parsed.value.kind !== "manifest") throw htkError("HTK-BUILDX-0103", { source: referenceString(ref), detail: parsed.ok ? "not a manifest" : parsed.error });
  const config = parsed.value.manifest.config;
  await client.fetchBlob(withDigest({ domain: ref.domain, path: ref.path }, config.digest), config, store, { signal });
  const c = parseImageConfig(await store.readBytes(config.digest));
  const arch = c.ok ? c.value.architecture : "";
  const os = c.ok ? c.value.os : "";
  const variant = c.ok ? c.value.variant : undefined;
  const norm = normalizeArch(arch, variant);
  const p: Platform = {
    architecture: given?.architecture || norm.architecture,
    os: given?.os || os,
    ...(given?.variant ? { variant: given.variant } : !given?.architecture && norm.variant ? { variant: norm.variant } : {}),
    ...(given?.["os.version"] ? { "os.version": given["os.version"] } : {}),
    ...(given?.["os.features"] ? { "os.features": given["os.features"] } : {}),
  };
  return p;
}

/** containerd's normalizeArch for the common cases. */
function normalizeArch(arch: string, variant: string | undefined): { architecture: string; variant?: string } {
  switch (arch) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      return variant === "v1" || variant === undefined || variant === "" ? { architecture: "amd64" } : { architecture: "amd64", variant };
    case "aarch64":
    case "arm64":
      return variant === "8" || variant === "v8" || variant === undefined || variant === "" ? { architecture: "arm64" } : { architecture: "arm64", variant };
    case "armhf":
      return { architecture: "arm", variant: "v7" };
    case "armel":
      return { architecture: "arm", variant: "v6" };
    case "arm":
      return { architecture: "arm", variant: variant === undefined || variant === "" ? "v7" : /^\d$/.test(variant) ? `v${variant}` : variant };
    default:
      return variant === undefined || variant === "" ? { architecture: arch } : { architecture: arch, variant };
  }
}

/**
 * A source from another repository into the target's (buildx's Copy): its blobs mounted when the
 * registry is the same, else streamed through the spool; child manifests of an index first, then
 * the document itself under its digest.
 */
export async function copySource(client: RegistryClient, store: SpoolStore, src: Reference, desc: OciDescriptor, target: Reference, signal: AbortSignal): Promise<void> {
  const from = { domain: src.domain, path: src.path };
  const to = { domain: target.domain, path: target.path };
  const mountFrom = src.domain === target.domain ? [src.path] : [];
  const copyBlob = async (d: OciDescriptor): Promise<void> => {
    if (await client.blobExists(to, d.digest, { signal, action: "push" })) return;
    if (mountFrom.length === 0 || !(await tryMount(d))) {
      await client.fetchBlob(withDigest(from, d.digest), d, store, { signal });
      await client.pushBlob(to, d, { store, signal });
    }
  };
  const tryMount = async (d: OciDescriptor): Promise<boolean> => {
    // pushBlob mounts from `mountFrom` before uploading; the spool has the blob only when it must upload.
    if (!(await store.has(d.digest))) await client.fetchBlob(withDigest(from, d.digest), d, store, { signal });
    await client.pushBlob(to, d, { store, mountFrom, signal });
    return true;
  };
  const copyDocument = async (d: OciDescriptor): Promise<void> => {
    const doc = await fetchDocument(client, from, d.digest, signal);
    const parsed = parseManifestDocument(doc.bytes, doc.mediaType);
    if (!parsed.ok) throw htkError("HTK-BUILDX-0103", { source: referenceString(withDigest(from, d.digest)), detail: parsed.error });
    if (parsed.value.kind === "index") {
      for (const m of parsed.value.index.manifests) await copyDocument(m);
    } else {
      const m = parsed.value.manifest;
      await copyBlob(m.config);
      for (const l of m.layers) if (l.urls === undefined || l.urls.length === 0) await copyBlob(l);
    }
    await client.putManifest(to, d.digest, { mediaType: doc.mediaType, digest: d.digest, size: doc.size }, doc.bytes, { signal });
  };
  await copyDocument(desc);
}

export function repoKey(ref: Reference): string {
  return referenceName(ref);
}

import { htkError } from "../../base/errors/index.ts";
import { isIndexMediaType, parseDockerReference, parseImageConfig, parseManifestDocument, referenceString, withDigest, type Index, type OciDescriptor, type Platform, type Reference } from "../../base/oci/index.ts";
import type { RegistryClient } from "../../base/registry/index.ts";
import { tabwrite } from "../tabwriter.ts";
import { executeGoTemplate, parseGoTemplate } from "./go-template.ts";
import type { SpoolStore } from "./spool-store.ts";

/**
 * `docker buildx imagetools inspect`: buildx's Printer (util/imagetools/printers.go). The default and
 * any `{{.Manifest…}}` format print the tabular summary (Name, MediaType, Digest and, for an index,
 * each manifest's Name/MediaType/Platform); `--raw` the stored bytes with no newline (the digest is
 * of exactly those bytes); another template runs over `{Name, Manifest, Image}`.
 */
export interface InspectTarget {
  readonly reference: Reference;
  readonly descriptor: OciDescriptor;
  readonly bytes: Buffer;
}

export function parseRef(name: string): Reference {
  const r = parseDockerReference(name);
  if (!r.ok) throw htkError("HTK-BUILDX-0110", { reference: name, detail: r.error });
  return r.value;
}

export async function loadTarget(client: RegistryClient, name: string, signal: AbortSignal): Promise<InspectTarget> {
  const ref = parseRef(name);
  const doc = await client.manifestDocument(ref, { signal });
  return { reference: ref, descriptor: doc.descriptor, bytes: doc.bytes };
}

/** containerd's platforms.Format: os/arch[/variant], "unknown" for a missing OS. */
export function platformString(p: Platform): string {
  return [p.os === "" ? "unknown" : p.os, p.architecture, p.variant ?? ""].filter((s) => s !== "").join("/");
}

function indexOf(t: InspectTarget): Index | undefined {
  if (!isIndexMediaType(t.descriptor.mediaType)) return undefined;
  const doc = parseManifestDocument(t.bytes, t.descriptor.mediaType);
  return doc.ok && doc.value.kind === "index" ? doc.value.index : undefined;
}

export function prettyInspect(t: InspectTarget): string {
  const name = referenceString(t.reference);
  let out = tabwrite(`Name:\t${name}\nMediaType:\t${t.descriptor.mediaType}\nDigest:\t${t.descriptor.digest}\n`, { minwidth: 0, padding: 1 });
  const index = indexOf(t);
  if (index === undefined) return out;
  out += tabwrite("\t\nManifests:\t\n", { minwidth: 0, padding: 1 });
  let block = "";
  index.manifests.forEach((m, i) => {
    if (i !== 0) block += "\t\n";
    block += `  Name:\t${referenceString(withDigest(t.reference, m.digest))}\n`;
    block += `  MediaType:\t${m.mediaType}\n`;
    const p = m.platform;
    if (p === undefined) return;
    block += `  Platform:\t${platformString(p)}\n`;
    if (p["os.version"] !== undefined && p["os.version"] !== "") block += `  OSVersion:\t${p["os.version"]}\n`;
    if (p["os.features"] !== undefined && p["os.features"].length > 0) block += `  OSFeatures:\t${p["os.features"].join(", ")}\n`;
    if (m.urls !== undefined && m.urls.length > 0) block += `  URLs:\t${m.urls.join(", ")}\n`;
    const ann = Object.entries(m.annotations ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (ann.length > 0) {
      block += "  Annotations:\t\n";
      out += tabwrite(block, { minwidth: 0, padding: 1 });
      out += tabwrite(ann.map(([k, v]) => `    ${k}:\t${v}\n`).join(""), { minwidth: 0, padding: 1 });
      block = "";
    }
  });
  return out + tabwrite(block, { minwidth: 0, padding: 1 });
}

/** An OCI descriptor in image-spec's JSON field order (Go marshals struct fields in declaration order). */
export function descriptorJson(d: OciDescriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls !== undefined && d.urls.length > 0 ? { urls: d.urls } : {}),
    ...(d.annotations !== undefined && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
    ...(d.data !== undefined ? { data: d.data } : {}),
    ...(d.platform !== undefined ? { platform: platformJson(d.platform) } : {}),
    ...(d.artifactType !== undefined && d.artifactType !== "" ? { artifactType: d.artifactType } : {}),
  };
}

function platformJson(p: Platform): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p["os.version"] ? { "os.version": p["os.version"] } : {}),
    ...(p["os.features"] !== undefined && p["os.features"].length > 0 ? { "os.features": p["os.features"] } : {}),
    ...(p.variant ? { variant: p.variant } : {}),
  };
}

/** The `.Manifest` of buildx's template input: the descriptor of a manifest, or the index with its digest and size. */
function manifestValue(t: InspectTarget): unknown {
  const index = indexOf(t);
  if (index === undefined) return { mediaType: t.descriptor.mediaType, digest: t.descriptor.digest, size: t.descriptor.size };
  return {
    schemaVersion: index.schemaVersion,
    ...rawMediaType(t.bytes),
    digest: t.descriptor.digest,
    size: t.descriptor.size,
    manifests: index.manifests.map(descriptorJson),
    ...(index.annotations !== undefined && Object.keys(index.annotations).length > 0 ? { annotations: index.annotations } : {}),
  };
}

/** The index's own `mediaType` field, when its JSON has one (an OCI index may leave it out). */
function rawMediaType(bytes: Buffer): { mediaType?: string } {
  try {
    const mt = (JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown }).mediaType;
    return typeof mt === "string" && mt !== "" ? { mediaType: mt } : {};
  } catch {
    return {};
  }
}

/** Attestation manifests (BuildKit's "unknown/unknown" entries) are not platforms of the image. */
function isAttestation(d: OciDescriptor): boolean {
  return d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" || (d.platform?.os === "unknown" && d.platform.architecture === "unknown");
}

/** ocispec.Image's JSON of an image config: the fields image-spec knows, in its order. */
function imageJson(raw: Record<string, unknown>): Record<string, unknown> {
  const pick = (obj: unknown, keys: readonly string[]): Record<string, unknown> => {
    const o = (obj ?? {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = o[k];
      if (v === undefined || v === null || v === "" || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0)) continue;
      out[k] = v;
    }
    return out;
  };
  const history = Array.isArray(raw["history"]) ? (raw["history"] as unknown[]).map((h) => pick(h, ["created", "created_by", "author", "comment", "empty_layer"])) : [];
  const rootfs = (raw["rootfs"] ?? {}) as Record<string, unknown>;
  return {
    ...pick(raw, ["created", "author"]),
    architecture: raw["architecture"] ?? "",
    os: raw["os"] ?? "",
    ...pick(raw, ["os.version", "os.features", "variant"]),
    config: pick(raw["config"], ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped"]),
    rootfs: { type: rootfs["type"] ?? "", diff_ids: rootfs["diff_ids"] ?? null },
    ...(history.length > 0 ? { history } : {}),
  };
}

async function configOf(client: RegistryClient, store: SpoolStore, ref: Reference, manifest: OciDescriptor, signal: AbortSignal): Promise<Record<string, unknown> | undefined> {
  const doc = await client.manifestDocument(withDigest({ domain: ref.domain, path: ref.path }, manifest.digest), { signal });
  const parsed = parseManifestDocument(doc.bytes, doc.descriptor.mediaType);
  if (!parsed.ok || parsed.value.kind !== "manifest") return undefined;
  const config = parsed.value.manifest.config;
  await client.fetchBlob(withDigest({ domain: ref.domain, path: ref.path }, manifest.digest), config, store, { signal });
  const bytes = await store.readBytes(config.digest);
  if (!parseImageConfig(bytes).ok) return undefined;
  return JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
}

/** A `--format` template other than `{{.Manifest…}}`: `.Image` is one config, or a map by platform for several. */
export async function templateInspect(client: RegistryClient, store: SpoolStore, t: InspectTarget, name: string, format: string, signal: AbortSignal): Promise<string> {
  const actions = parseGoTemplate(format);
  if (format.trimStart().startsWith("{{.Manifest")) return prettyInspect(t);
  const index = indexOf(t);
  const images = new Map<string, Record<string, unknown>>();
  if (index === undefined) {
    const c = await configOf(client, store, t.reference, t.descriptor, signal);
    if (c !== undefined) images.set(platformString({ os: String(c["os"] ?? ""), architecture: String(c["architecture"] ?? ""), ...(typeof c["variant"] === "string" ? { variant: c["variant"] } : {}) }), imageJson(c));
  } else {
    for (const m of index.manifests) {
      if (isAttestation(m) || isIndexMediaType(m.mediaType)) continue;
      const c = await configOf(client, store, t.reference, m, signal);
      if (c !== undefined) images.set(m.platform === undefined ? platformString({ os: String(c["os"] ?? ""), architecture: String(c["architecture"] ?? "") }) : platformString(m.platform), imageJson(c));
    }
  }
  const image = images.size > 1 ? Object.fromEntries(images) : [...images.values()][0];
  return executeGoTemplate(actions, { name, manifest: manifestValue(t), ...(image === undefined ? {} : { image }) });
}

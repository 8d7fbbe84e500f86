import { isDigest, type Digest } from "./digest.ts";
import { MediaTypes, isIndexMediaType, isManifestMediaType } from "./media-types.ts";
import type {
  ContainerConfig,
  HealthConfig,
  HistoryEntry,
  ImageConfig,
  Index,
  Manifest,
  ManifestDocument,
  OciDescriptor,
  ParseResult,
  Platform,
} from "./types.ts";

/**
 * Validating parsers for manifests, indexes, configs and descriptors. Input is untrusted (a registry,
 * an archive): every function returns a ParseResult and never throws. Validation is as strict as the
 * distribution registry's own (a descriptor needs a media type, a sha256 digest and a non-negative
 * size) and as lenient as Docker where Docker is lenient (unknown fields are dropped, not refused).
 */

type Json = unknown;
type Obj = Readonly<Record<string, Json>>;

class Invalid extends Error {}

function fail(msg: string): never {
  throw new Invalid(msg);
}

function guard<T>(fn: () => T): ParseResult<T> {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: err.message };
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function isObj(v: Json): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function obj(v: Json, where: string): Obj {
  if (!isObj(v)) fail(`${where} is not a JSON object`);
  return v;
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") fail(`${where}.${key} is missing or not a string`);
  return v;
}

function optStr(o: Obj, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") fail(`${where}.${key} is not a string`);
  return v;
}

function optStrArray(o: Obj, key: string, where: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) fail(`${where}.${key} is not an array of strings`);
  return v as string[];
}

function optStrMap(o: Obj, key: string, where: string): Record<string, string> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const m = obj(v, `${where}.${key}`);
  for (const [k, x] of Object.entries(m)) if (typeof x !== "string") fail(`${where}.${key}["${k}"] is not a string`);
  return m as Record<string, string>;
}

function optSet(o: Obj, key: string, where: string): Record<string, Record<string, never>> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  const m = obj(v, `${where}.${key}`);
  const out: Record<string, Record<string, never>> = {};
  for (const k of Object.keys(m)) out[k] = {};
  return out;
}

function optInt(o: Obj, key: string, where: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) fail(`${where}.${key} is not an integer`);
  return v;
}

function digestOf(v: Json, where: string): Digest {
  if (typeof v !== "string") fail(`${where} is missing or not a string`);
  if (!isDigest(v)) {
    // Only sha256 reaches the store (see digest.ts); say which rule failed.
    fail(/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:/.test(v) && !v.startsWith("sha256:") ? `${where} "${v}" uses an unsupported digest algorithm (only sha256)` : `${where} "${v}" is not a valid sha256 digest`);
  }
  return v;
}

/** The JSON of `bytes`, or a ParseResult error; invalid UTF-8 is refused. */
export function parseJson(bytes: Uint8Array | string): ParseResult<unknown> {
  return guard(() => {
    let text: string;
    try {
      text = typeof bytes === "string" ? bytes : new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return fail("not valid UTF-8");
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      return fail(`not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
  });
}

function decode(bytes: Uint8Array | string): Json {
  const r = parseJson(bytes);
  if (!r.ok) fail(r.error);
  return r.value;
}

function platformOf(v: Json, where: string): Platform {
  const o = obj(v, where);
  const variant = optStr(o, "variant", where);
  const osVersion = optStr(o, "os.version", where);
  const osFeatures = optStrArray(o, "os.features", where);
  return {
    architecture: str(o, "architecture", where),
    os: str(o, "os", where),
    ...(variant !== undefined && variant !== "" ? { variant } : {}),
    ...(osVersion !== undefined && osVersion !== "" ? { "os.version": osVersion } : {}),
    ...(osFeatures !== undefined ? { "os.features": osFeatures } : {}),
  };
}

function descriptorOf(v: Json, where: string): OciDescriptor {
  const o = obj(v, where);
  const mediaType = str(o, "mediaType", where);
  if (mediaType === "") fail(`${where}.mediaType is empty`);
  const digest = digestOf(o["digest"], `${where}.digest`);
  const size = o["size"];
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) fail(`${where}.size is not a non-negative integer`);
  const urls = optStrArray(o, "urls", where);
  const annotations = optStrMap(o, "annotations", where);
  const artifactType = optStr(o, "artifactType", where);
  const data = optStr(o, "data", where);
  const platform = o["platform"] === undefined || o["platform"] === null ? undefined : platformOf(o["platform"], `${where}.platform`);
  return {
    mediaType,
    digest,
    size,
    ...(urls !== undefined ? { urls } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
    ...(platform !== undefined ? { platform } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(data !== undefined ? { data } : {}),
  };
}

/** A descriptor from parsed JSON. */
export function parseDescriptor(value: unknown): ParseResult<OciDescriptor> {
  return guard(() => descriptorOf(value, "descriptor"));
}

function schemaVersion2(o: Obj, where: string): 2 {
  const v = o["schemaVersion"];
  if (v === 1) fail(`${where} is a schema 1 manifest, which is no longer supported`);
  if (v !== 2) fail(`${where}.schemaVersion is ${JSON.stringify(v)}, expected 2`);
  return 2;
}

function commonTail(o: Obj, where: string): { subject?: OciDescriptor; artifactType?: string; annotations?: Record<string, string> } {
  const subject = o["subject"] === undefined || o["subject"] === null ? undefined : descriptorOf(o["subject"], `${where}.subject`);
  const artifactType = optStr(o, "artifactType", where);
  const annotations = optStrMap(o, "annotations", where);
  return {
    ...(subject !== undefined ? { subject } : {}),
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

function manifestOf(v: Json, contentType: string | undefined): Manifest {
  const o = obj(v, "manifest");
  schemaVersion2(o, "manifest");
  const declared = optStr(o, "mediaType", "manifest");
  // OCI manifests may omit mediaType (image-spec: "SHOULD be used"); Docker's must carry it.
  const mediaType = declared ?? (contentType !== undefined && isManifestMediaType(contentType) ? contentType : MediaTypes.ociManifest);
  if (!isManifestMediaType(mediaType)) fail(`manifest.mediaType "${mediaType}" is not an image manifest type`);
  if (contentType !== undefined && isManifestMediaType(contentType) && declared !== undefined && declared !== contentType) {
    // containerd refuses this too: the served type and the document's claim must agree.
    fail(`manifest.mediaType "${declared}" does not match the served type "${contentType}"`);
  }
  if (o["manifests"] !== undefined) fail(`manifest has a "manifests" field, which only an index may have`);
  const config = descriptorOf(o["config"], "manifest.config");
  const layersRaw = o["layers"];
  if (!Array.isArray(layersRaw)) fail(`manifest.layers is missing or not an array`);
  const layers = layersRaw.map((l, i) => descriptorOf(l, `manifest.layers[${i}]`));
  return { schemaVersion: 2, mediaType, config, layers, ...commonTail(o, "manifest") };
}

function indexOf(v: Json, contentType: string | undefined): Index {
  const o = obj(v, "index");
  schemaVersion2(o, "index");
  const declared = optStr(o, "mediaType", "index");
  const mediaType = declared ?? (contentType !== undefined && isIndexMediaType(contentType) ? contentType : MediaTypes.ociIndex);
  if (!isIndexMediaType(mediaType)) fail(`index.mediaType "${mediaType}" is not an index type`);
  if (contentType !== undefined && isIndexMediaType(contentType) && declared !== undefined && declared !== contentType) {
    fail(`index.mediaType "${declared}" does not match the served type "${contentType}"`);
  }
  if (o["config"] !== undefined || o["layers"] !== undefined) fail(`index has "config" or "layers", which only a manifest may have`);
  const raw = o["manifests"];
  if (!Array.isArray(raw)) fail(`index.manifests is missing or not an array`);
  const manifests = raw.map((m, i) => descriptorOf(m, `index.manifests[${i}]`));
  return { schemaVersion: 2, mediaType, manifests, ...commonTail(o, "index") };
}

/** An image manifest from its bytes (the served Content-Type, when known, is checked against it). */
export function parseManifest(bytes: Uint8Array | string, contentType?: string): ParseResult<Manifest> {
  return guard(() => manifestOf(decode(bytes), contentType));
}

export function parseIndex(bytes: Uint8Array | string, contentType?: string): ParseResult<Index> {
  return guard(() => indexOf(decode(bytes), contentType));
}

/** Why a manifest document could not be used: unsupported (a type we do not read) or malformed. */
export type ManifestDocumentResult =
  | { readonly ok: true; readonly value: ManifestDocument }
  | { readonly ok: false; readonly reason: "unsupported-media-type"; readonly mediaType: string; readonly error: string }
  | { readonly ok: false; readonly reason: "malformed"; readonly error: string };

/**
 * A manifest or an index, told apart by the served Content-Type, else by the document's `mediaType`,
 * else by its shape (`manifests` vs `config`/`layers`), which is how containerd treats registries that
 * serve `application/json`.
 */
export function parseManifestDocument(bytes: Uint8Array | string, contentType?: string): ManifestDocumentResult {
  const ct = contentType?.split(";")[0]?.trim();
  const json = parseJson(bytes);
  if (!json.ok) return { ok: false, reason: "malformed", error: json.error };
  const o = json.value;
  const declared = isObj(o) && typeof o["mediaType"] === "string" ? o["mediaType"] : undefined;
  let kind: "manifest" | "index" | undefined;
  let typed: string | undefined;
  for (const t of [ct, declared]) {
    if (t === undefined || t === "" || t === "application/json" || t === "text/plain" || t === "application/octet-stream") continue;
    typed = t;
    if (isManifestMediaType(t)) kind = "manifest";
    else if (isIndexMediaType(t)) kind = "index";
    break;
  }
  if (typed !== undefined && kind === undefined) {
    const schema1 = typed === MediaTypes.dockerManifestSchema1 || typed === MediaTypes.dockerManifestSchema1Signed;
    return {
      ok: false,
      reason: "unsupported-media-type",
      mediaType: typed,
      error: schema1 ? "Docker image manifest schema 1 is no longer supported" : `"${typed}" is not an image manifest or index type`,
    };
  }
  if (kind === undefined && isObj(o)) {
    if (o["schemaVersion"] === 1) {
      return { ok: false, reason: "unsupported-media-type", mediaType: MediaTypes.dockerManifestSchema1, error: "Docker image manifest schema 1 is no longer supported" };
    }
    kind = Array.isArray(o["manifests"]) ? "index" : "manifest";
  }
  const ctForCheck = ct !== undefined && (isManifestMediaType(ct) || isIndexMediaType(ct)) ? ct : undefined;
  if (kind === "index") {
    const r = guard(() => indexOf(o, ctForCheck));
    return r.ok ? { ok: true, value: { kind: "index", index: r.value } } : { ok: false, reason: "malformed", error: r.error };
  }
  const r = guard(() => manifestOf(o, ctForCheck));
  return r.ok ? { ok: true, value: { kind: "manifest", manifest: r.value } } : { ok: false, reason: "malformed", error: r.error };
}

function healthOf(v: Json, where: string): HealthConfig {
  const o = obj(v, where);
  const Test = optStrArray(o, "Test", where);
  const Interval = optInt(o, "Interval", where);
  const Timeout = optInt(o, "Timeout", where);
  const StartPeriod = optInt(o, "StartPeriod", where);
  const StartInterval = optInt(o, "StartInterval", where);
  const Retries = optInt(o, "Retries", where);
  return {
    ...(Test !== undefined ? { Test } : {}),
    ...(Interval !== undefined ? { Interval } : {}),
    ...(Timeout !== undefined ? { Timeout } : {}),
    ...(StartPeriod !== undefined ? { StartPeriod } : {}),
    ...(StartInterval !== undefined ? { StartInterval } : {}),
    ...(Retries !== undefined ? { Retries } : {}),
  };
}

function nullableStrArray(o: Obj, key: string, where: string): { present: boolean; value: string[] | null | undefined } {
  if (!(key in o)) return { present: false, value: undefined };
  // Docker writes `"Cmd": null` to mean "reset"; keep the null so that a round trip is byte-stable.
  if (o[key] === null) return { present: true, value: null };
  return { present: true, value: optStrArray(o, key, where) };
}

function containerConfigOf(v: Json, where: string): ContainerConfig {
  const o = obj(v, where);
  const out: Record<string, unknown> = {};
  const User = optStr(o, "User", where);
  if (User !== undefined) out["User"] = User;
  const ExposedPorts = optSet(o, "ExposedPorts", where);
  if (ExposedPorts !== undefined) out["ExposedPorts"] = ExposedPorts;
  const Env = optStrArray(o, "Env", where);
  if (Env !== undefined) out["Env"] = Env;
  for (const key of ["Entrypoint", "Cmd", "OnBuild"] as const) {
    const r = nullableStrArray(o, key, where);
    if (r.present && r.value !== undefined) out[key] = r.value;
  }
  const Volumes = optSet(o, "Volumes", where);
  if (Volumes !== undefined) out["Volumes"] = Volumes;
  const WorkingDir = optStr(o, "WorkingDir", where);
  if (WorkingDir !== undefined) out["WorkingDir"] = WorkingDir;
  const Labels = optStrMap(o, "Labels", where);
  if (Labels !== undefined) out["Labels"] = Labels;
  const StopSignal = optStr(o, "StopSignal", where);
  if (StopSignal !== undefined) out["StopSignal"] = StopSignal;
  if (o["Healthcheck"] !== undefined && o["Healthcheck"] !== null) out["Healthcheck"] = healthOf(o["Healthcheck"], `${where}.Healthcheck`);
  const Shell = optStrArray(o, "Shell", where);
  if (Shell !== undefined) out["Shell"] = Shell;
  if (typeof o["ArgsEscaped"] === "boolean") out["ArgsEscaped"] = o["ArgsEscaped"];
  return out as ContainerConfig;
}

function historyOf(v: Json, where: string): HistoryEntry {
  const o = obj(v, where);
  const out: Record<string, unknown> = {};
  for (const key of ["created", "created_by", "author", "comment"] as const) {
    const s = optStr(o, key, where);
    if (s !== undefined) out[key] = s;
  }
  if (o["empty_layer"] !== undefined && o["empty_layer"] !== null) {
    if (typeof o["empty_layer"] !== "boolean") fail(`${where}.empty_layer is not a boolean`);
    out["empty_layer"] = o["empty_layer"];
  }
  return out as HistoryEntry;
}

function imageConfigOf(v: Json): ImageConfig {
  const o = obj(v, "config");
  const rootfs = obj(o["rootfs"], "config.rootfs");
  if (rootfs["type"] !== "layers") fail(`config.rootfs.type is ${JSON.stringify(rootfs["type"])}, expected "layers"`);
  const idsRaw = rootfs["diff_ids"];
  // Go's encoder writes a nil slice as null (an image with no layers, e.g. FROM scratch + ENV).
  const ids = idsRaw === null || idsRaw === undefined ? [] : idsRaw;
  if (!Array.isArray(ids)) fail(`config.rootfs.diff_ids is not an array`);
  const diffIds = ids.map((d, i) => digestOf(d, `config.rootfs.diff_ids[${i}]`));
  const historyRaw = o["history"];
  if (historyRaw !== undefined && historyRaw !== null && !Array.isArray(historyRaw)) fail(`config.history is not an array`);
  const history = Array.isArray(historyRaw) ? historyRaw.map((h, i) => historyOf(h, `config.history[${i}]`)) : undefined;
  const created = optStr(o, "created", "config");
  const author = optStr(o, "author", "config");
  const variant = optStr(o, "variant", "config");
  const osVersion = optStr(o, "os.version", "config");
  const osFeatures = optStrArray(o, "os.features", "config");
  const cc = o["config"] === undefined || o["config"] === null ? undefined : containerConfigOf(o["config"], "config.config");
  return {
    ...(created !== undefined ? { created } : {}),
    ...(author !== undefined ? { author } : {}),
    architecture: str(o, "architecture", "config"),
    os: str(o, "os", "config"),
    ...(variant !== undefined && variant !== "" ? { variant } : {}),
    ...(osVersion !== undefined ? { "os.version": osVersion } : {}),
    ...(osFeatures !== undefined ? { "os.features": osFeatures } : {}),
    ...(cc !== undefined ? { config: cc } : {}),
    rootfs: { type: "layers", diff_ids: diffIds },
    ...(history !== undefined ? { history } : {}),
  };
}

/** An image config from its bytes. */
export function parseImageConfig(bytes: Uint8Array | string): ParseResult<ImageConfig> {
  return guard(() => imageConfigOf(decode(bytes)));
}

/**
 * Whether the history has one non-empty entry per layer. Not enforced by the parser: images from some
 * builders get `empty_layer` wrong and Docker and containerd still pull and run them; our exporter
 * must write consistent configs, and its tests use this check.
 */
export function historyMatchesLayers(config: ImageConfig): boolean {
  if (config.history === undefined || config.history.length === 0) return true;
  return config.history.filter((h) => h.empty_layer !== true).length === config.rootfs.diff_ids.length;
}

/** The platform an image config says it is for (what `docker image inspect` reports). */
export function configPlatform(config: ImageConfig): Platform {
  return {
    architecture: config.architecture,
    os: config.os,
    ...(config.variant !== undefined ? { variant: config.variant } : {}),
    ...(config["os.version"] !== undefined ? { "os.version": config["os.version"] } : {}),
    ...(config["os.features"] !== undefined ? { "os.features": config["os.features"] } : {}),
  };
}

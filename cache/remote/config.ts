import { isDigest, type Digest } from "../../base/oci/digest.ts";
import type { OciDescriptor, ParseResult } from "../../base/oci/types.ts";
import { UNCOMPRESSED_ANNOTATION, ZERO_TIME, type CacheConfig, type CacheInput, type CacheLayer, type CacheRecordEntry, type CacheResult, type ExportLayer, type ExportRecord, type LayerAnnotations } from "./types.ts";

/**
 * JSON as Go's encoding/json writes it (what BuildKit's blobs are made of): `<`, `>`, `&`, U+2028 and
 * U+2029 escaped. They can only occur inside strings, so escaping the whole text is safe.
 */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The config's bytes: BuildKit's field order and omitempty rules (`parent` 0 is omitted, -1 is not). */
export function encodeCacheConfig(config: CacheConfig): Uint8Array {
  const out: Record<string, unknown> = {};
  if (config.layers.length > 0) out["layers"] = config.layers.map(layerJson);
  if (config.records.length > 0) out["records"] = config.records.map(recordJson);
  return new TextEncoder().encode(goJson(out));
}

/** The records alone (the inline cache value, before base64). */
export function encodeRecords(records: readonly CacheRecordEntry[]): Uint8Array {
  return new TextEncoder().encode(goJson(records.map(recordJson)));
}

function layerJson(l: CacheLayer): Record<string, unknown> {
  return { blob: l.blob, ...(l.parent === 0 ? {} : { parent: l.parent }) };
}

function recordJson(r: CacheRecordEntry): Record<string, unknown> {
  return {
    ...(r.results.length > 0 ? { layers: r.results.map((x) => ({ layer: x.layer, createdAt: x.createdAt })) } : {}),
    ...(r.chains !== undefined && r.chains.length > 0 ? { chains: r.chains } : {}),
    digest: r.digest,
    ...(r.inputs.length > 0 ? { inputs: r.inputs.map((slot) => slot.map((i) => ({ ...(i.selector === undefined || i.selector === "" ? {} : { selector: i.selector }), link: i.link }))) } : {}),
  };
}

/**
 * The cache config of a set of records, and the blobs it names (one descriptor per blob, annotated
 * with its diff_id). Layers are shared between results with a common prefix; everything is sorted so
 * that the same records always make the same bytes (the blob is content-addressed).
 */
export function buildCacheConfig(records: readonly ExportRecord[]): { config: CacheConfig; blobs: OciDescriptor[] } {
  // Layers: one per distinct chain prefix, keyed by the blobs from the bottom up.
  const chains = new Map<string, { blob: Digest; parentKey: string | undefined; layer: ExportLayer }>();
  const topOf = new Map<string, string>();
  for (const r of records) {
    if (r.result === undefined || r.result.chain.length === 0) continue;
    let key: string | undefined;
    for (const layer of r.result.chain) {
      const next: string = key === undefined ? layer.descriptor.digest : `${key} ${layer.descriptor.digest}`;
      if (!chains.has(next)) chains.set(next, { blob: layer.descriptor.digest, parentKey: key, layer });
      key = next;
    }
    if (key !== undefined) topOf.set(r.id, key);
  }
  const layerKeys = [...chains.keys()].sort(compareChains);
  const layerIndex = new Map(layerKeys.map((k, i) => [k, i]));
  const layers: CacheLayer[] = layerKeys.map((k) => {
    const c = chains.get(k) as { blob: Digest; parentKey: string | undefined };
    return { blob: c.blob, parent: c.parentKey === undefined ? -1 : (layerIndex.get(c.parentKey) as number) };
  });
  const blobs: OciDescriptor[] = [];
  const seen = new Set<string>();
  for (const k of layerKeys) {
    const { layer } = chains.get(k) as { layer: ExportLayer };
    if (seen.has(layer.descriptor.digest)) continue;
    seen.add(layer.descriptor.digest);
    blobs.push(describeLayer(layer));
  }
  return { config: { layers, records: sortRecords(records, (id) => {
    const top = topOf.get(id);
    return top === undefined ? undefined : layerIndex.get(top);
  }) }, blobs };
}

/** A layer blob's descriptor as the artifact lists it: with its diff_id annotation. */
export function describeLayer(layer: ExportLayer): OciDescriptor {
  return {
    mediaType: layer.descriptor.mediaType,
    digest: layer.descriptor.digest,
    size: layer.descriptor.size,
    annotations: { ...(layer.descriptor.annotations ?? {}), [UNCOMPRESSED_ANNOTATION]: layer.diffId },
  };
}

/**
 * Records in a canonical order (by digest, then by what their slots link to), links rewritten to the
 * new indexes, identical records merged. `layerOf` gives the index of a record's result layer.
 */
export function sortRecords(records: readonly ExportRecord[], layerOf: (id: string) => number | undefined): CacheRecordEntry[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  // A record's sort identity is its digest and, recursively, what it links to: stable across exports.
  const identity = new Map<string, string>();
  const identityOf = (id: string, depth = 0): string => {
    const known = identity.get(id);
    if (known !== undefined) return known;
    const r = byId.get(id);
    if (r === undefined) throw new Error(`cache export: record ${id} is linked but not exported`);
    if (depth > records.length) throw new Error("cache export: the records link in a cycle");
    const slots = r.inputs.map((slot) => slot.map((l) => `${l.selector ?? ""}\u0000${identityOf(l.record, depth + 1)}`).sort().join("\u0001"));
    const text = `${r.digest}\u0002${slots.join("\u0003")}`;
    identity.set(id, text);
    return text;
  };
  const order = [...records].sort((a, b) => compareText(identityOf(a.id), identityOf(b.id)));
  // Identical records (same identity) become one; its results are the union.
  const slotOf = new Map<string, number>();
  const unique: ExportRecord[][] = [];
  for (const r of order) {
    const idt = identityOf(r.id);
    const at = slotOf.get(idt);
    if (at === undefined) {
      slotOf.set(idt, unique.length);
      unique.push([r]);
    } else unique[at]?.push(r);
  }
  const indexOf = (id: string): number => slotOf.get(identityOf(id)) as number;
  return unique.map((group) => {
    const first = group[0] as ExportRecord;
    const results: CacheResult[] = [];
    for (const r of group) {
      const layer = layerOf(r.id);
      if (layer !== undefined && r.result !== undefined && !results.some((x) => x.layer === layer)) results.push({ layer, createdAt: r.result.createdAt || ZERO_TIME });
    }
    results.sort((a, b) => a.layer - b.layer);
    const inputs: CacheInput[][] = first.inputs.map((slot) => {
      const links = slot.map((l): CacheInput => ({ ...(l.selector === undefined || l.selector === "" ? {} : { selector: l.selector }), link: indexOf(l.record) }));
      const distinct = links.filter((l, i) => links.findIndex((m) => m.link === l.link && m.selector === l.selector) === i);
      return distinct.sort((a, b) => a.link - b.link || compareText(a.selector ?? "", b.selector ?? ""));
    });
    return { digest: first.digest, inputs, results };
  });
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareChains(a: string, b: string): number {
  // Shorter prefixes first, so a parent always comes before its children.
  const da = a.split(" ").length;
  const db = b.split(" ").length;
  return da - db || compareText(a, b);
}

// ---- parsing ------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function digestField(v: unknown, where: string): Digest {
  if (typeof v !== "string" || !isDigest(v)) fail(`${where} is not a sha256 digest`);
  return v;
}

function intField(v: unknown, where: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) fail(`${where} is not an integer`);
  return v;
}

function timeField(v: unknown, where: string): string {
  if (v === undefined) return ZERO_TIME;
  if (typeof v !== "string") fail(`${where} is not a time`);
  return v;
}

/** A cache config from its bytes. Never throws: untrusted input (a registry, a directory). */
export function parseCacheConfig(bytes: Uint8Array | string): ParseResult<CacheConfig> {
  try {
    const v = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)) as unknown;
    if (!isObject(v)) fail("the cache config is not a JSON object");
    const layersRaw = v["layers"] ?? [];
    const recordsRaw = v["records"] ?? [];
    if (!Array.isArray(layersRaw)) fail("layers is not an array");
    const layers = layersRaw.map((l, i) => parseLayer(l, i, layersRaw.length));
    const records = parseRecordList(recordsRaw, layers.length);
    return { ok: true, value: { layers, records } };
  } catch (err) {
    if (err instanceof Invalid || err instanceof SyntaxError) return { ok: false, error: err.message };
    throw err;
  }
}

/** The inline form: a JSON array of records whose results index the image's layers. */
export function parseRecords(bytes: Uint8Array | string, layerCount: number): ParseResult<CacheRecordEntry[]> {
  try {
    const v = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)) as unknown;
    return { ok: true, value: parseRecordList(v, layerCount) };
  } catch (err) {
    if (err instanceof Invalid || err instanceof SyntaxError) return { ok: false, error: err.message };
    throw err;
  }
}

function parseLayer(l: unknown, i: number, count: number): CacheLayer {
  const where = `layers[${i}]`;
  if (!isObject(l)) fail(`${where} is not an object`);
  const parent = intField(l["parent"], `${where}.parent`, 0);
  if (parent < -1 || parent >= count || parent === i) fail(`${where}.parent ${parent} is not a layer index`);
  const a = l["annotations"];
  let annotations: LayerAnnotations | undefined;
  if (isObject(a)) {
    const diff = a["diffID"];
    annotations = {
      ...(typeof a["mediaType"] === "string" ? { mediaType: a["mediaType"] } : {}),
      ...(typeof diff === "string" && isDigest(diff) ? { diffID: diff } : {}),
      ...(typeof a["size"] === "number" ? { size: a["size"] } : {}),
    };
  }
  return { blob: digestField(l["blob"], `${where}.blob`), parent, ...(annotations === undefined ? {} : { annotations }) };
}

function parseRecordList(v: unknown, layerCount: number): CacheRecordEntry[] {
  if (!Array.isArray(v)) fail("records is not an array");
  const count = v.length;
  return v.map((r, i): CacheRecordEntry => {
    const where = `records[${i}]`;
    if (!isObject(r)) fail(`${where} is not an object`);
    const resultsRaw = r["layers"] ?? [];
    if (!Array.isArray(resultsRaw)) fail(`${where}.layers is not an array`);
    const results = resultsRaw.map((x, j): CacheResult => {
      if (!isObject(x)) fail(`${where}.layers[${j}] is not an object`);
      const layer = intField(x["layer"], `${where}.layers[${j}].layer`);
      if (layer < 0 || layer >= layerCount) fail(`${where}.layers[${j}].layer ${layer} is not a layer index`);
      return { layer, createdAt: timeField(x["createdAt"], `${where}.layers[${j}].createdAt`) };
    });
    const inputsRaw = r["inputs"] ?? [];
    if (!Array.isArray(inputsRaw)) fail(`${where}.inputs is not an array`);
    const inputs = inputsRaw.map((slot, j) => {
      if (!Array.isArray(slot)) fail(`${where}.inputs[${j}] is not an array`);
      return slot.map((x, k): CacheInput => {
        if (!isObject(x)) fail(`${where}.inputs[${j}][${k}] is not an object`);
        const link = intField(x["link"], `${where}.inputs[${j}][${k}].link`);
        if (link < 0 || link >= count) fail(`${where}.inputs[${j}][${k}].link ${link} is not a record index`);
        const sel = x["selector"];
        if (sel !== undefined && typeof sel !== "string") fail(`${where}.inputs[${j}][${k}].selector is not a string`);
        return { ...(sel === undefined || sel === "" ? {} : { selector: sel }), link };
      });
    });
    const chains = r["chains"];
    return { digest: digestField(r["digest"], `${where}.digest`), inputs, results, ...(Array.isArray(chains) && chains.length > 0 ? { chains } : {}) };
  });
}

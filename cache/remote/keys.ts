import { cacheKeyOf, contentKeyPart, inputKeyPart } from "../../llb/index.ts";
import { isDigest, type Digest } from "../../base/oci/digest.ts";
import type { OciDescriptor } from "../../base/oci/types.ts";
import { UNCOMPRESSED_ANNOTATION, ZERO_TIME, type CacheConfig, type ImportHit, type ImportedLayer, type ImportedResult } from "./types.ts";

/**
 * At most this many keys per record. A record whose input has two records (a step's fast and content
 * keys) has a key for each; the product over several such inputs is capped, canonical ones first.
 */
export const MAX_KEY_VARIANTS = 64;

/** A link selector that is a content checksum: the slot is keyed by content, not by the linked key. */
export function isContentSelector(selector: string | undefined): selector is Digest {
  return selector !== undefined && isDigest(selector);
}

/** The part of a record that its keys are made of. */
export interface KeyNode<T> {
  readonly digest: Digest;
  readonly inputs: readonly (readonly { readonly link: T; readonly selector?: string }[])[];
}

export interface RecordKeys<T> {
  /** Every key a record answers to; the first is its primary (canonical) key. Empty: none (a cycle). */
  readonly keys: ReadonlyMap<T, readonly Digest[]>;
  /** A step's fast-key record → the same step's content-key record. */
  readonly canonical: ReadonlyMap<T, T>;
}

/**
 * The cache keys of records, computed the way the solver computes them (`cacheKeyOf(op, parts)`):
 * a record without inputs is keyed by its digest; otherwise its digest is the op digest and each
 * input slot contributes either `content:<selector>` (a content checksum) or the linked record's key
 * with output 0 and the selector. A slot that links to several records (a step's two keys) gives
 * several keys; all are valid keys of the same result.
 *
 * Fast and content keys of one step are told apart as BuildKit does: two records with the same op
 * digest, one with content-checksum selectors and one without.
 */
export function computeKeys<T>(ids: readonly T[], node: (id: T) => KeyNode<T>): RecordKeys<T> {
  // Group linked records by op digest: the one with content slots is canonical for the others.
  const groups = new Map<string, T[]>();
  for (const id of ids) {
    const n = node(id);
    if (n.inputs.length === 0) continue;
    const g = groups.get(n.digest);
    if (g === undefined) groups.set(n.digest, [id]);
    else g.push(id);
  }
  const canonical = new Map<T, T>();
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const slow = g.filter((id) => node(id).inputs.some((slot) => slot.some((l) => isContentSelector(l.selector))));
    if (slow.length !== 1) continue;
    const s = slow[0] as T;
    for (const id of g) if (id !== s && !node(id).inputs.some((slot) => slot.some((l) => isContentSelector(l.selector)))) canonical.set(id, s);
  }
  const keys = new Map<T, Digest[]>();
  const visiting = new Set<T>();
  const keysOf = (id: T): readonly Digest[] => {
    const known = keys.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return [];
    visiting.add(id);
    const n = node(id);
    let out: Digest[];
    if (n.inputs.length === 0) out = [n.digest];
    else {
      let combos: string[][] = [[]];
      for (const slot of n.inputs) {
        // Canonical records first, so that the first combination is the primary key.
        const links = [...slot].sort((a, b) => Number(canonical.has(a.link)) - Number(canonical.has(b.link)));
        const parts: string[] = [];
        for (const l of links) {
          if (isContentSelector(l.selector)) parts.push(contentKeyPart(l.selector));
          else for (const k of keysOf(l.link)) parts.push(inputKeyPart(k, 0, l.selector === "" ? undefined : l.selector));
        }
        const distinct = [...new Set(parts)];
        const next: string[][] = [];
        for (const c of combos) {
          for (const p of distinct) {
            if (next.length >= MAX_KEY_VARIANTS) break;
            next.push([...c, p]);
          }
        }
        combos = next;
      }
      out = combos.map((c) => cacheKeyOf(n.digest, c));
    }
    visiting.delete(id);
    keys.set(id, out);
    return out;
  };
  for (const id of ids) keysOf(id);
  return { keys, canonical };
}

/**
 * An imported cache: every key of every record with a usable result, for the solver's look-ups.
 * Nothing is downloaded to build it; a hit says which blobs make the result.
 */
export class ImportedCache {
  readonly #hits = new Map<Digest, ImportHit>();

  private constructor() {}

  /** `blobs`: the artifact's layer descriptors by digest (from its manifest or index). */
  static from(config: CacheConfig, blobs: ReadonlyMap<string, OciDescriptor>): ImportedCache {
    const cache = new ImportedCache();
    const ids = config.records.map((_, i) => i);
    const { keys, canonical } = computeKeys(ids, (i) => {
      const r = config.records[i];
      if (r === undefined) throw new Error(`record ${i} out of range`);
      return r;
    });
    const chainCache = new Map<number, readonly ImportedLayer[] | undefined>();
    const chainOf = (index: number, depth = 0): readonly ImportedLayer[] | undefined => {
      if (chainCache.has(index)) return chainCache.get(index);
      const layer = config.layers[index];
      if (layer === undefined || depth > config.layers.length) return undefined;
      const below = layer.parent < 0 ? [] : chainOf(layer.parent, depth + 1);
      const desc = blobs.get(layer.blob);
      let out: readonly ImportedLayer[] | undefined;
      if (below !== undefined && desc !== undefined) {
        const annotated = desc.annotations?.[UNCOMPRESSED_ANNOTATION];
        const diffId = annotated !== undefined && isDigest(annotated) ? annotated : layer.annotations?.diffID;
        out = [...below, { descriptor: desc, ...(diffId === undefined ? {} : { diffId }) }];
      }
      chainCache.set(index, out);
      return out;
    };
    for (const [i, r] of config.records.entries()) {
      // BuildKit keeps results per worker; the newest is the best.
      const best = [...r.results].sort((a, b) => timeOrder(b.createdAt) - timeOrder(a.createdAt))[0];
      if (best === undefined) continue;
      const chain = chainOf(best.layer);
      if (chain === undefined || chain.length === 0) continue;
      const result: ImportedResult = { chain, createdAt: best.createdAt === ZERO_TIME ? new Date(0).toISOString() : best.createdAt };
      const s = canonical.get(i);
      const primary = s === undefined ? undefined : keys.get(s)?.[0];
      for (const k of keys.get(i) ?? []) {
        if (cache.#hits.has(k)) continue;
        cache.#hits.set(k, { result, ...(primary === undefined || primary === k ? {} : { canonical: primary }) });
      }
    }
    return cache;
  }

  lookup(key: string): ImportHit | undefined {
    return this.#hits.get(key as Digest);
  }

  get size(): number {
    return this.#hits.size;
  }

  keys(): IterableIterator<Digest> {
    return this.#hits.keys();
  }
}

function timeOrder(t: string): number {
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : 0;
}

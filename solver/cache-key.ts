import { createHash } from "node:crypto";
import { diffChecksums } from "../cache/index.ts";
import { assertNever, cacheKeyOf, contentKeyPart, inputKeyPart, inputsOf, pinKeyPart, type Digest, type Op, type OutputRef, type Vertex } from "../llb/index.ts";
import type { BuildRecord, CacheDep, CacheMap, ContentSelector, FieldChange, KeyPart, KeyPreimage, MissReason, VertexRecord } from "./types.ts";

/**
 * Cache keys as BuildKit computes them (`solver/cachekey.go`, `llbsolver/ops/*.CacheMap`): the op
 * digest, then per input either the input's own key or a checksum of the part of the input the op
 * reads. The parts are kept as a {@link KeyPreimage}, which is what makes a miss explainable.
 */

const outKey = (r: OutputRef): string => `${r.digest}#${r.index}`;

/**
 * The key recipe of an op. An input gets a content-based dep only when every use of it reads selected
 * paths and nothing else: a COPY source, or a readonly bind mount of a sub-path (BuildKit marks
 * rootfs and writable mounts `NoContentBasedHash`, and a file action's base is read whole).
 */
export function cacheMapOf(vertex: Vertex): CacheMap {
  const op = vertex.op;
  const inputs = inputsOf(op);
  const selectors = new Map<string, ContentSelector[]>();
  const whole = new Set<string>();
  const useWhole = (ref: { kind: string }): void => {
    if (ref.kind === "output") whole.add(outKey(ref as OutputRef));
  };
  const useSelected = (ref: { kind: string }, sel: ContentSelector): void => {
    if (ref.kind !== "output") return;
    const k = outKey(ref as OutputRef);
    selectors.set(k, [...(selectors.get(k) ?? []), sel]);
  };
  let self: CacheMap["self"] = "none";
  switch (op.kind) {
    case "source":
      self = op.source.kind === "image" ? "pin" : "content";
      break;
    case "exec":
      useWhole(op.rootfs.source);
      for (const m of op.mounts) {
        if (m.kind === "bind") {
          if (m.access.kind === "readonly" && m.selector !== "/" && m.selector !== "") {
            useSelected(m.source, { ...plainSelector(m.selector), followLinks: true });
          } else useWhole(m.source);
        } else if (m.kind === "cache") useWhole(m.source);
      }
      break;
    case "file":
      for (const a of op.actions) {
        useWhole(a.base);
        if (a.kind === "copy") {
          useSelected(a.source, {
            path: a.src,
            wildcard: a.allowWildcard,
            followLinks: a.followSymlinks,
            allowEmptyWildcard: a.allowEmptyWildcard,
            include: a.include,
            exclude: a.exclude,
          });
        }
      }
      break;
    case "merge":
    case "diff":
      for (const r of inputs) whole.add(outKey(r));
      break;
    default:
      assertNever(op, "op");
  }
  const deps: CacheDep[] = inputs.map((r) => {
    const k = outKey(r);
    const sels = selectors.get(k);
    return sels !== undefined && !whole.has(k) ? { kind: "content", selectors: sels } : { kind: "input" };
  });
  return { digest: vertex.digest, deps, self };
}

function plainSelector(path: string): ContentSelector {
  return { path, wildcard: false, followLinks: false, allowEmptyWildcard: false, include: [], exclude: [] };
}

/** The selector a whole local context is keyed with. */
export const WHOLE: ContentSelector = plainSelector("/");

/** Several selector checksums as one digest; one selector keeps its own digest (BuildKit parity). */
export function combineContent(digests: readonly Digest[]): Digest {
  const first = digests[0];
  if (digests.length === 1 && first !== undefined) return first;
  return `sha256:${createHash("sha256").update(JSON.stringify(["hatake-content/v1", digests])).digest("hex")}`;
}

/** The key from its parts. Delegates to llb's `cacheKeyOf` so there is one key formula in the repo. */
export function keyFromParts(op: Digest, parts: readonly KeyPart[]): Digest {
  const strings = parts.map((p): string => {
    switch (p.kind) {
      case "input":
        return inputKeyPart(p.key, p.output, p.selector);
      case "content":
        return contentKeyPart(p.digest);
      case "pin":
        return pinKeyPart(p.digest);
      case "source-content":
        return contentKeyPart(p.digest);
      default:
        return assertNever(p, "key part");
    }
  });
  return cacheKeyOf(op, strings);
}

export function preimage(vertex: Vertex, name: string, parts: readonly KeyPart[]): KeyPreimage {
  return { key: keyFromParts(vertex.digest, parts), op: vertex.digest, name, opKind: vertex.op.kind, fields: opFields(vertex.op), parts };
}

const LONG = 200;

/**
 * An op flattened to `field path → value`, for saying which field changed (an ARG-derived env value,
 * an argv word). Edges to other ops read as `<input N>`: a changed upstream is explained through the
 * input parts, not as a changed digest here. Long values and bytes are shown by their hash.
 */
export function opFields(op: Op): Record<string, string> {
  const inputs = inputsOf(op).map(outKey);
  const out: Record<string, string> = {};
  const walk = (value: unknown, path: string): void => {
    if (value === undefined) return;
    if (value instanceof Uint8Array) {
      out[path] = `${createHash("sha256").update(value).digest("hex").slice(0, 12)}… (${value.length} bytes)`;
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
      if (value.length === 0) out[path] = "[]";
      return;
    }
    if (value !== null && typeof value === "object") {
      const o = value as Record<string, unknown>;
      if (o["kind"] === "output" && typeof o["digest"] === "string") {
        out[path] = `<input ${inputs.indexOf(outKey(o as unknown as OutputRef))}>`;
        return;
      }
      for (const k of Object.keys(o).sort()) walk(o[k], path === "" ? k : `${path}.${k}`);
      return;
    }
    const text = typeof value === "string" ? value : JSON.stringify(value);
    out[path] = text.length > LONG ? `sha256:${createHash("sha256").update(text).digest("hex").slice(0, 12)}… (${text.length} chars)` : text;
  };
  walk(op, "");
  return out;
}

function diffFields(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): FieldChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const out: FieldChange[] = [];
  for (const k of keys) if (before[k] !== after[k]) out.push({ field: k, before: before[k], after: after[k] });
  return out;
}

/**
 * A step name without its position: `[build 2/5] RUN make` → `[build] RUN make`, so that inserting a
 * step (which renumbers every later one) does not make the later steps look new.
 */
export function stepIdentity(name: string): string {
  return name.replace(/^\[([^\]]*?)\s*\d+\/\d+\]/, "[$1]");
}

/**
 * The vertex of a previous build that corresponds to `key`: the same name, else the same name without
 * the step numbers, else the same op; only vertices of the same kind that were keyed.
 */
function counterpart(previous: BuildRecord, key: KeyPreimage): VertexRecord | undefined {
  const ix = indexOf(previous);
  const sameName = (ix.byName.get(key.name) ?? []).filter((v) => v.opKind === key.opKind);
  if (sameName.length === 1) return sameName[0];
  const sameStep = (ix.byStep.get(stepIdentity(key.name)) ?? []).filter((v) => v.opKind === key.opKind);
  if (sameStep.length === 1) return sameStep[0];
  const sameOp = ix.byDigest.get(key.op);
  return sameOp !== undefined && sameOp.opKind === key.opKind ? sameOp : sameName[0];
}

interface RecordIndex {
  readonly byName: Map<string, VertexRecord[]>;
  readonly byStep: Map<string, VertexRecord[]>;
  readonly byDigest: Map<Digest, VertexRecord>;
}

/** Look-ups into a previous record, built once per record (explaining a big graph asks thousands). */
const indexes = new WeakMap<BuildRecord, RecordIndex>();

function indexOf(r: BuildRecord): RecordIndex {
  let ix = indexes.get(r);
  if (ix !== undefined) return ix;
  ix = { byName: new Map(), byStep: new Map(), byDigest: new Map() };
  for (const v of r.vertices) {
    if (v.key === undefined) continue;
    ix.byName.set(v.name, [...(ix.byName.get(v.name) ?? []), v]);
    const step = stepIdentity(v.name);
    ix.byStep.set(step, [...(ix.byStep.get(step) ?? []), v]);
    ix.byDigest.set(v.digest, v);
  }
  indexes.set(r, ix);
  return ix;
}

/**
 * Why `current` missed, compared with the same step of `previous`. `lookup` gives the current
 * pre-image of an input vertex (by op digest), so a changed input is explained down to the step (and
 * file, field or image) that changed; without it, a changed input is named but not followed.
 */
export function explainMiss(
  previous: BuildRecord | undefined,
  current: KeyPreimage,
  lookup?: (op: Digest) => KeyPreimage | undefined,
  history: readonly BuildRecord[] = [],
): MissReason[] {
  if (previous === undefined) return [{ kind: "no-previous-build" }];
  return explain({ previous, lookup, history }, current, new Set());
}

interface ExplainContext {
  readonly previous: BuildRecord;
  readonly lookup: ((op: Digest) => KeyPreimage | undefined) | undefined;
  /** Older builds of the target, newest first: where a checksum the previous build skipped is found. */
  readonly history: readonly BuildRecord[];
}

/**
 * A step that hit by its fast key recorded no checksum of what it read. The build that recorded the
 * result it hit did: it is the older build whose input had the same key (same key, same content).
 */
function olderContentPart(cx: ExplainContext, current: KeyPreimage, index: number, inputKey: Digest): Extract<KeyPart, { kind: "content" }> | undefined {
  for (const h of cx.history) {
    const p = counterpart(h, current)?.key?.parts.find((x) => x.kind === "content" && x.index === index);
    if (p?.kind !== "content") continue;
    if (indexOf(h).byDigest.get(p.from)?.key?.key === inputKey) return p;
  }
  return undefined;
}

function contentReason(part: Extract<KeyPart, { kind: "content" }>, before: Extract<KeyPart, { kind: "content" }>): MissReason | undefined {
  if (before.digest === part.digest) return undefined;
  const known = part.trees.every((t, i) => t !== undefined && before.trees[i] !== undefined);
  if (!known) return { kind: "content-changed", input: part.index, from: part.name };
  const changes = part.trees.flatMap((t, i) => {
    const b = before.trees[i];
    return t !== undefined && b !== undefined ? diffChecksums(b, t) : [];
  });
  return { kind: "files-changed", input: part.index, from: part.name, changes };
}

/**
 * How far a changed input is followed upstream. Deeper causes are each explained on their own step
 * (`explainBuild` refers to them), and a bound keeps a change at the top of a very long chain from
 * costing quadratic time and a deep stack.
 */
const MAX_DEPTH = 16;

function explain(cx: ExplainContext, current: KeyPreimage, seen: Set<Digest>, depth = 0): MissReason[] {
  const { previous } = cx;
  const lookup = depth >= MAX_DEPTH ? undefined : cx.lookup;
  seen.add(current.op);
  const prev = counterpart(previous, current)?.key;
  if (prev === undefined) return [{ kind: "new-step" }];
  if (prev.key === current.key) return [{ kind: "result-missing" }];
  const reasons: MissReason[] = [];
  if (prev.op !== current.op) {
    const fields = diffFields(prev.fields, current.fields);
    if (fields.length > 0) reasons.push({ kind: "op-changed", fields });
  }
  for (const part of current.parts) {
    // Input parts match by position whatever their kind: the previous build may have hit by the
    // "fast" key (input keys) where this one needed content.
    const before = prev.parts.find((p) => ("index" in part ? "index" in p && p.index === part.index : p.kind === part.kind));
    if (before === undefined) continue;
    switch (part.kind) {
      case "pin":
        if (before.kind === "pin" && before.digest !== part.digest) {
          reasons.push(
            part.what === "git" && before.what === "git"
              ? { kind: "git-moved", ref: part.ref, before: before.resolved, after: part.resolved }
              : { kind: "image-changed", ref: part.ref, before: before.digest, after: part.digest },
          );
        }
        break;
      case "source-content":
        if (before.kind === "source-content" && before.digest !== part.digest) {
          reasons.push(
            before.tree !== undefined && part.tree !== undefined
              ? { kind: "files-changed", input: 0, from: part.name, changes: diffChecksums(before.tree, part.tree) }
              : { kind: "content-changed", input: 0, from: part.name },
          );
        }
        break;
      case "content":
        if (before.kind === "input") {
          // The previous build hit by the fast key and kept no checksum; an older one may have.
          const older = olderContentPart(cx, current, part.index, before.key);
          const reason = older === undefined ? undefined : contentReason(part, older);
          if (reason !== undefined) {
            reasons.push(reason);
            break;
          }
          if (older !== undefined) break;
          // Nothing to compare the paths read with: say that the input changed.
          const up = lookup?.(part.from);
          if (up === undefined || up.key === before.key) reasons.push({ kind: "content-changed", input: part.index, from: part.name });
          else reasons.push({ kind: "input-changed", input: part.index, from: part.name, because: seen.has(part.from) ? [] : explain(cx, up, seen, depth + 1) });
        } else if (before.kind === "content") {
          const reason = contentReason(part, before);
          if (reason !== undefined) reasons.push(reason);
        }
        break;
      case "input":
        if (before.kind === "input" && before.key !== part.key) {
          const up = seen.has(part.from) ? undefined : lookup?.(part.from);
          reasons.push({
            kind: "input-changed",
            input: part.index,
            from: part.name,
            because: up === undefined ? [] : explain(cx, up, seen, depth + 1),
          });
        }
        break;
      default:
        assertNever(part, "key part");
    }
  }
  return reasons.length > 0 ? reasons : [{ kind: "op-changed", fields: diffFields(prev.fields, current.fields) }];
}

/** A miss explanation as indented lines, for `--explain-cache` and logs. */
export interface DescribeOptions {
  /**
   * Where a changed input is explained already (`#3`), so the reason is not repeated: the
   * `--explain-cache` report explains each step once and refers back.
   */
  readonly see?: (inputName: string) => string | undefined;
}

export function describeMiss(reasons: readonly MissReason[], indent = "", opts: DescribeOptions = {}): string[] {
  const lines: string[] = [];
  const q = (s: string | undefined): string => (s === undefined ? "(unset)" : JSON.stringify(s));
  for (const r of reasons) {
    switch (r.kind) {
      case "no-previous-build":
        lines.push(`${indent}no earlier build of this target to compare with`);
        break;
      case "new-step":
        lines.push(`${indent}the step is new (the earlier build had no such step)`);
        break;
      case "ignore-cache":
        lines.push(`${indent}the cache was disabled for this step (--no-cache)`);
        break;
      case "always-runs":
        lines.push(`${indent}unchanged; sources sent by the client are transferred on every build`);
        break;
      case "result-missing":
        lines.push(`${indent}nothing changed, but the cached result is gone (pruned, or the earlier build stopped here)`);
        break;
      case "op-changed":
        if (r.fields.length === 0) lines.push(`${indent}the step's definition changed`);
        for (const f of r.fields) lines.push(`${indent}${f.field} changed from ${q(f.before)} to ${q(f.after)}`);
        break;
      case "image-changed":
        lines.push(`${indent}the image ${r.ref} now resolves to ${r.after} (was ${r.before})`);
        break;
      case "git-moved":
        lines.push(`${indent}the git ref ${r.ref} now points to ${r.after} (was ${r.before})`);
        break;
      case "content-changed":
        lines.push(`${indent}the files read from ${r.from} changed`);
        break;
      case "files-changed":
        if (r.changes.length === 0) lines.push(`${indent}the files read from ${r.from} changed`);
        for (const c of r.changes) {
          switch (c.kind) {
            case "added":
              lines.push(`${indent}file "${c.path}" was added in ${r.from}${c.descendants > 0 ? ` (with ${c.descendants} entries)` : ""}`);
              break;
            case "removed":
              lines.push(`${indent}file "${c.path}" was removed from ${r.from}${c.descendants > 0 ? ` (with ${c.descendants} entries)` : ""}`);
              break;
            case "modified":
              lines.push(`${indent}file "${c.path}" changed in ${r.from} (${c.fields.join(", ")})`);
              break;
            default:
              assertNever(c, "change");
          }
        }
        break;
      case "input-changed": {
        const see = opts.see?.(r.from);
        if (see !== undefined) {
          lines.push(`${indent}input ${r.from} changed (see ${see})`);
          break;
        }
        lines.push(`${indent}input ${r.from} changed`);
        lines.push(...describeMiss(r.because, `${indent}  `, opts));
        break;
      }
      default:
        assertNever(r, "miss reason");
    }
  }
  return lines;
}

/**
 * The `--explain-cache` report of a build: for every step that ran, why. Steps are listed in progress
 * order (`#N`), so the report reads alongside the plain progress output.
 */
export function explainBuild(record: BuildRecord): string[] {
  const lines: string[] = [];
  const ran = record.vertices.filter((v) => v.outcome.status === "executed").sort((a, b) => a.index - b.index);
  const explained = new Map<string, number>();
  for (const v of ran) {
    if (v.outcome.status !== "executed") continue;
    lines.push(`#${v.index} ${v.name}`);
    const see = (name: string): string | undefined => {
      const n = explained.get(name);
      return n === undefined ? undefined : `#${n}`;
    };
    const why = describeMiss(v.outcome.miss, "  ", { see });
    explained.set(v.name, v.index);
    lines.push(...(why.length > 0 ? why : ["  (no earlier result to compare with)"]));
  }
  return lines;
}

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { DefinitionSchema, OpSchema } from "./gen/llb_pb.ts";
import { digestOf, encodeOp, sha256Digest } from "./digest.ts";
import { checkOp, compareStrings, inputsOf, isDigest, mapOutputs, outputCount } from "./graph.ts";
import { metadataFromProto, metadataToProto, opFromProto } from "./proto.ts";
import {
  DEFINITION_VERSION,
  LlbError,
  type Definition,
  type Digest,
  type LlbIssue,
  type LlbResult,
  type Op,
  type OpMetadata,
  type OutputRef,
  type SourceFile,
  type StateRef,
  type Vertex,
} from "./types.ts";

/**
 * Definitions as values: validation, the protobuf wire form (`encodeDefinition` / `decodeDefinition`,
 * the latter also known as `unmarshal`) and look-ups the solver needs.
 */

const fail = (error: LlbIssue): { ok: false; error: LlbIssue } => ({ ok: false, error });

/** The value of a result, or the issue thrown as an {@link LlbError}: for callers that treat a bad graph as a bug. */
export function unwrap<T>(result: LlbResult<T>): T {
  if (!result.ok) throw new LlbError(result.error);
  return result.value;
}

/** The vertices of a definition by digest. */
export function vertexMap(def: Definition): ReadonlyMap<Digest, Vertex> {
  return new Map(def.vertices.map((v) => [v.digest, v]));
}

interface Node {
  readonly digest: Digest;
  readonly op: Op;
}

/**
 * Checks the edges of a graph: every edge names a known op and an output it has, and there is no
 * cycle. Returns the digests in topological order (inputs first; among independent ops, the order
 * given), or the first issue.
 */
function checkEdges(nodes: readonly Node[]): LlbResult<Digest[]> {
  const byDigest = new Map<Digest, Node>();
  for (const n of nodes) {
    if (byDigest.has(n.digest)) return fail({ code: "DUPLICATE_OP", message: `The op "${n.digest}" is listed twice`, digest: n.digest });
    byDigest.set(n.digest, n);
  }
  const inputs = new Map<Digest, OutputRef[]>();
  for (const n of nodes) {
    const ins = inputsOf(n.op);
    inputs.set(n.digest, ins);
    for (const ref of ins) {
      const target = byDigest.get(ref.digest);
      if (target === undefined) {
        return fail({
          code: "UNKNOWN_INPUT",
          message: `Op "${n.digest}" reads "${ref.digest}", which is not an op of the definition`,
          digest: n.digest,
        });
      }
      const count = outputCount(target.op);
      if (ref.index >= count) {
        return fail({
          code: "BAD_OUTPUT_INDEX",
          message: `Op "${n.digest}" reads output ${ref.index} of "${ref.digest}", which has ${count} output${count === 1 ? "" : "s"}`,
          digest: n.digest,
        });
      }
    }
  }
  // Iterative DFS (a deep chain of RUNs must not overflow the stack): white → grey → black.
  const state = new Map<Digest, "grey" | "black">();
  const order: Digest[] = [];
  for (const start of nodes) {
    if (state.has(start.digest)) continue;
    const stack: { digest: Digest; next: number }[] = [{ digest: start.digest, next: 0 }];
    state.set(start.digest, "grey");
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top === undefined) break;
      const ins = inputs.get(top.digest) ?? [];
      const ref = ins[top.next];
      if (ref === undefined) {
        state.set(top.digest, "black");
        order.push(top.digest);
        stack.pop();
        continue;
      }
      top.next++;
      const s = state.get(ref.digest);
      if (s === "grey") {
        return fail({ code: "CYCLE", message: `The ops form a cycle through "${ref.digest}"`, digest: ref.digest });
      }
      if (s === undefined) {
        state.set(ref.digest, "grey");
        stack.push({ digest: ref.digest, next: 0 });
      }
    }
  }
  return { ok: true, value: order };
}

function checkRoot(root: StateRef, ops: ReadonlyMap<Digest, Op>): LlbIssue | undefined {
  if (root.kind === "scratch") return undefined;
  const op = ops.get(root.digest);
  if (op === undefined) return { code: "UNKNOWN_INPUT", message: `The root names "${root.digest}", which is not an op of the definition` };
  const count = outputCount(op);
  if (root.index >= count) {
    return { code: "BAD_OUTPUT_INDEX", message: `The root names output ${root.index} of "${root.digest}", which has ${count} output${count === 1 ? "" : "s"}` };
  }
  return undefined;
}

/**
 * Checks a definition built in memory (the builder's output always passes): ops well formed, edges
 * to known ops and existing outputs, no cycle, inputs listed first, digests right.
 */
export function validateDefinition(def: Definition): LlbResult<Definition> {
  if (def.version !== DEFINITION_VERSION) {
    return fail({ code: "UNSUPPORTED_VERSION", message: `The definition has version ${String(def.version)}; this build reads version ${DEFINITION_VERSION}` });
  }
  for (const v of def.vertices) {
    if (!isDigest(v.digest)) return fail({ code: "INVALID_OP", message: `"${v.digest}" is not a sha256 digest` });
    const issue = checkOp(v.op, v.digest);
    if (issue !== undefined) return fail(issue);
  }
  const edges = checkEdges(def.vertices);
  if (!edges.ok) return edges;
  const position = new Map(def.vertices.map((v, i) => [v.digest, i]));
  for (const [i, v] of def.vertices.entries()) {
    for (const ref of inputsOf(v.op)) {
      if ((position.get(ref.digest) ?? -1) > i) {
        return fail({ code: "NOT_TOPOLOGICAL", message: `Op "${v.digest}" is listed before its input "${ref.digest}"`, digest: v.digest });
      }
    }
  }
  for (const v of def.vertices) {
    const actual = digestOf(v.op);
    if (actual !== v.digest) {
      return fail({ code: "DIGEST_MISMATCH", message: `The op listed as "${v.digest}" has the digest "${actual}"`, digest: v.digest });
    }
  }
  const rootIssue = checkRoot(def.root, new Map(def.vertices.map((v) => [v.digest, v.op])));
  if (rootIssue !== undefined) return fail(rootIssue);
  for (const v of def.vertices) {
    const issue = checkLocations(v.digest, v.metadata, def.sources.length);
    if (issue !== undefined) return fail(issue);
  }
  return { ok: true, value: def };
}

function checkLocations(digest: Digest, m: OpMetadata, sourceCount: number): LlbIssue | undefined {
  for (const l of m.locations ?? []) {
    if (l.source >= sourceCount) {
      return {
        code: "BAD_SOURCE_INDEX",
        message: `Op "${digest}" has a location in source file ${l.source}, but the definition has ${sourceCount} source file${sourceCount === 1 ? "" : "s"}`,
        digest,
      };
    }
  }
  return undefined;
}

/** The protobuf bytes of a definition: what `hatake llb dump` reads and what build records persist. */
export function encodeDefinition(def: Definition): Uint8Array {
  const metadata = def.vertices
    .filter((v) => !isEmptyMetadata(v.metadata))
    .map((v) => ({ digest: v.digest, metadata: metadataToProto(v.metadata) }))
    .sort((a, b) => compareStrings(a.digest, b.digest));
  const msg = create(DefinitionSchema, {
    version: def.version,
    ops: def.vertices.map((v) => encodeOp(v.op)),
    metadata,
    ...(def.root.kind === "output" ? { root: { digest: def.root.digest, index: def.root.index } } : {}),
    sources: def.sources.map((f) => ({ filename: f.filename, language: f.language, data: f.data })),
  });
  return toBinary(DefinitionSchema, msg);
}

export function isEmptyMetadata(m: OpMetadata): boolean {
  return !m.ignoreCache && m.progressGroup === undefined && Object.keys(m.description).length === 0 && (m.locations ?? []).length === 0;
}

/**
 * Reads and validates a definition from its protobuf bytes. Never throws on bad input.
 *
 * The digests in the result are recomputed from canonical bytes: an op's digest on the wire is
 * sha256 of the bytes as sent, and a writer other than ours might encode the same op differently
 * (field order, default values written out). Edges, metadata keys and the root are re-pointed from
 * the as-sent digests to the canonical ones, so everything downstream sees one digest per meaning.
 * The wire order of ops is not trusted: the result is sorted topologically.
 */
export function decodeDefinition(bytes: Uint8Array): LlbResult<Definition> {
  let msg;
  try {
    msg = fromBinary(DefinitionSchema, bytes);
  } catch (err) {
    return fail({ code: "DECODE_FAILED", message: `The bytes are not an LLB definition: ${err instanceof Error ? err.message : String(err)}` });
  }
  if (msg.version !== DEFINITION_VERSION) {
    return fail({ code: "UNSUPPORTED_VERSION", message: `The definition has version ${msg.version}; this build reads version ${DEFINITION_VERSION}` });
  }
  const nodes: Node[] = [];
  for (const [i, opBytes] of msg.ops.entries()) {
    const digest = sha256Digest(opBytes);
    let opMsg;
    try {
      opMsg = fromBinary(OpSchema, opBytes);
    } catch (err) {
      return fail({ code: "DECODE_FAILED", message: `Op ${i} ("${digest}") is not an LLB op: ${err instanceof Error ? err.message : String(err)}`, digest });
    }
    const op = opFromProto(opMsg);
    if (!op.ok) return fail({ ...op.error, message: `Op ${i} ("${digest}"): ${op.error.message}`, digest });
    const issue = checkOp(op.value, digest);
    if (issue !== undefined) return fail(issue);
    nodes.push({ digest, op: op.value });
  }
  const edges = checkEdges(nodes);
  if (!edges.ok) return edges;
  const rawOps = new Map(nodes.map((n) => [n.digest, n.op]));
  const root: StateRef = msg.root === undefined ? { kind: "scratch" } : { kind: "output", digest: msg.root.digest as Digest, index: msg.root.index };
  const rootIssue = checkRoot(root, rawOps);
  if (rootIssue !== undefined) return fail(rootIssue);

  const rawMetadata = new Map<string, OpMetadata>();
  for (const m of msg.metadata) {
    if (!rawOps.has(m.digest as Digest)) {
      return fail({ code: "UNKNOWN_METADATA", message: `Metadata names "${m.digest}", which is not an op of the definition` });
    }
    const metadata = metadataFromProto(m.metadata);
    const issue = checkLocations(m.digest as Digest, metadata, msg.sources.length);
    if (issue !== undefined) return fail(issue);
    rawMetadata.set(m.digest, metadata);
  }
  const sources: SourceFile[] = msg.sources.map((f) => ({ filename: f.filename, language: f.language, data: f.data }));

  const canonical = new Map<Digest, Digest>();
  const repoint = (ref: OutputRef): OutputRef => ({ ...ref, digest: canonical.get(ref.digest) ?? ref.digest });
  const vertices: Vertex[] = [];
  const seen = new Map<Digest, number>();
  for (const raw of edges.value) {
    const op = mapOutputs(rawOps.get(raw) as Op, repoint);
    const digest = digestOf(op);
    canonical.set(raw, digest);
    const metadata = rawMetadata.get(raw) ?? { description: {}, ignoreCache: false };
    const at = seen.get(digest);
    if (at !== undefined) {
      // Two encodings of one op: keep one vertex, combine what both say about it.
      const prev = vertices[at];
      if (prev !== undefined) vertices[at] = { ...prev, metadata: mergeMetadata(prev.metadata, metadata) };
      continue;
    }
    seen.set(digest, vertices.length);
    vertices.push({ digest, op, metadata });
  }
  return { ok: true, value: { version: DEFINITION_VERSION, vertices, root: root.kind === "output" ? repoint(root) : root, sources } };
}

/**
 * Combines the metadata of two uses of one op (the same `FROM` in two stages): ignore-cache if either
 * asks, the first description wins per key, the first progress group wins, locations of both.
 */
export function mergeMetadata(a: OpMetadata, b: OpMetadata): OpMetadata {
  const group = a.progressGroup ?? b.progressGroup;
  const seen = new Set<string>();
  const locations = [...(a.locations ?? []), ...(b.locations ?? [])].filter((l) => {
    const key = JSON.stringify(l);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return {
    description: { ...b.description, ...a.description },
    ignoreCache: a.ignoreCache || b.ignoreCache,
    ...(group === undefined ? {} : { progressGroup: group }),
    ...(locations.length === 0 ? {} : { locations }),
  };
}

/** The ops reachable from `def.root` (the rest are dropped), in the same order. */
export function reachable(def: Definition): Definition {
  if (def.root.kind === "scratch") return { ...def, vertices: [] };
  const byDigest = vertexMap(def);
  const keep = new Set<Digest>();
  const todo: Digest[] = [def.root.digest];
  for (let d = todo.pop(); d !== undefined; d = todo.pop()) {
    if (keep.has(d)) continue;
    keep.add(d);
    const v = byDigest.get(d);
    if (v !== undefined) for (const r of inputsOf(v.op)) todo.push(r.digest);
  }
  return { ...def, vertices: def.vertices.filter((v) => keep.has(v.digest)) };
}


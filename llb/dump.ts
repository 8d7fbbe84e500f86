import { CUSTOM_NAME_KEY, formatPlatform } from "./builder.ts";
import { execOutputs, inputsOf, outputCount } from "./graph.ts";
import { assertNever, type Definition, type FileAction, type FileInput, type Op, type Source } from "./types.ts";

/**
 * Definitions for people: JSON (every op with its digest, inputs and fields) and Graphviz DOT. Both
 * outputs are deterministic for a given definition, so they make good golden files.
 */

/** One line naming what an op does: `exec /bin/sh -c make`, `image docker.io/library/busybox:latest`. */
export function describeOp(op: Op): string {
  switch (op.kind) {
    case "source":
      return describeSource(op.source);
    case "exec":
      return `exec ${op.args.join(" ")}`;
    case "file":
      return `file ${op.actions.map(describeAction).join("; ")}`;
    case "merge":
      return `merge ${op.inputs.length} layers`;
    case "diff":
      return `diff ${describeRef(op.lower)} → ${describeRef(op.upper)}`;
    default:
      return assertNever(op, "op");
  }
}

function describeSource(s: Source): string {
  switch (s.kind) {
    case "image":
      return `image ${s.ref}`;
    case "local":
      return `local ${s.name}`;
    case "git":
      return `git ${s.remote}${s.ref === "" ? "" : `#${s.ref}`}`;
    case "http":
      return `http ${s.url}`;
    default:
      return assertNever(s, "source");
  }
}

function describeAction(a: FileAction): string {
  switch (a.kind) {
    case "mkdir":
      return `mkdir ${a.path}`;
    case "mkfile":
      return `mkfile ${a.path}`;
    case "rm":
      return `rm ${a.path}`;
    case "copy":
      return `copy ${a.src} → ${a.dest}`;
    default:
      return assertNever(a, "file action");
  }
}

const short = (digest: string): string => digest.slice("sha256:".length, "sha256:".length + 12);

function describeRef(r: FileInput): string {
  switch (r.kind) {
    case "scratch":
      return "scratch";
    case "output":
      return r.index === 0 ? short(r.digest) : `${short(r.digest)}[${r.index}]`;
    case "action":
      return `action ${r.index}`;
    default:
      return assertNever(r, "reference");
  }
}

/** The human label of a vertex: its custom name when the frontend gave one, else {@link describeOp}. */
function labelOf(def: Definition["vertices"][number]): string {
  return def.metadata.description[CUSTOM_NAME_KEY] ?? describeOp(def.op);
}

/** Bytes in JSON: text when they are UTF-8 (the common case: files written by mkfile), else base64. */
function bytesToJson(data: Uint8Array): { utf8: string } | { base64: string } {
  try {
    return { utf8: new TextDecoder("utf-8", { fatal: true }).decode(data) };
  } catch {
    return { base64: Buffer.from(data).toString("base64") };
  }
}

/**
 * A JSON-ready copy with object keys in one order (`kind` first, the rest sorted), so a definition
 * dumps the same whether it was built in memory or decoded from bytes (env insertion order differs).
 */
function canonicalJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return bytesToJson(value);
  if (Array.isArray(value)) return value.map(canonicalJson);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value).sort((a, b) => (a === "kind" ? -1 : b === "kind" ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = canonicalJson((value as Record<string, unknown>)[k]);
  return out;
}

/** The definition as a JSON-ready value. */
export function definitionToJson(def: Definition): unknown {
  return {
    version: def.version,
    root: def.root.kind === "scratch" ? "scratch" : { digest: def.root.digest, index: def.root.index },
    sources: def.sources.map((f, index) => ({ index, filename: f.filename, language: f.language, bytes: f.data.length })),
    ops: def.vertices.map((v) => ({
      digest: v.digest,
      kind: v.op.kind,
      label: labelOf(v),
      inputs: inputsOf(v.op).map((r) => ({ digest: r.digest, index: r.index })),
      outputs: v.op.kind === "exec" ? execOutputs(v.op).map((m) => m.target) : outputCount(v.op),
      ...(v.op.platform === undefined ? {} : { platform: formatPlatform(v.op.platform) }),
      op: canonicalJson(v.op),
      metadata: canonicalJson(v.metadata),
    })),
  };
}

export function dumpJson(def: Definition): string {
  return `${JSON.stringify(definitionToJson(def), null, 2)}\n`;
}

const MAX_LABEL = 72;

function dotString(s: string): string {
  const clipped = s.length > MAX_LABEL ? `${s.slice(0, MAX_LABEL - 1)}…` : s;
  return `"${clipped.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * The definition as a Graphviz digraph: one box per op (label and short digest), an edge from each
 * input to the op that reads it (labelled with the output index when it is not 0), and the root.
 * Render with `dot -Tsvg`.
 */
export function dumpDot(def: Definition): string {
  const lines = ["digraph llb {", "  rankdir=TB;", '  node [shape=box, fontname="monospace"];'];
  for (const v of def.vertices) {
    lines.push(`  ${dotString(v.digest)} [label=${dotString(`${labelOf(v)}\n${short(v.digest)}`)}];`);
  }
  for (const v of def.vertices) {
    for (const r of inputsOf(v.op)) {
      lines.push(`  ${dotString(r.digest)} -> ${dotString(v.digest)}${r.index === 0 ? "" : ` [label="${r.index}"]`};`);
    }
  }
  lines.push('  root [shape=doublecircle, label="root"];');
  if (def.root.kind === "output") {
    lines.push(`  ${dotString(def.root.digest)} -> root${def.root.index === 0 ? "" : ` [label="${def.root.index}"]`};`);
  } else {
    lines.push('  scratch [shape=plaintext, label="scratch"];', "  scratch -> root;");
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

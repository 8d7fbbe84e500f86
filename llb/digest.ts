import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { OpSchema } from "./gen/llb_pb.ts";
import { opToProto } from "./proto.ts";
import type { Digest, Op } from "./types.ts";

/**
 * Content addressing. An op's digest is sha256 over its canonical protobuf bytes (`opToProto`):
 * fields in field-number order, implicit defaults omitted, map entries sorted by key, mounts sorted by
 * target, edges as `(digest, output index)` in a derived order. So the digest depends only on what
 * the op means, never on the key order of the objects it was built from or the order calls were made.
 */

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The canonical bytes of an op: what is hashed and what a Definition carries. */
export function encodeOp(op: Op): Uint8Array {
  return toBinary(OpSchema, opToProto(op));
}

export function digestOf(op: Op): Digest {
  return sha256Digest(encodeOp(op));
}

/**
 * A cache key for an op from its digest and the cache keys of its inputs, in `inputsOf(op)` order.
 * The solver supplies the input keys (an input's key may be content-based, e.g. the checksum of a
 * local context, rather than its op digest): equal keys mean the op would produce the same result.
 */
export function cacheKeyOf(op: Digest, inputKeys: readonly string[]): Digest {
  // JSON keeps the parts unambiguous (no separator can be forged inside a key).
  const text = JSON.stringify(["hatake-llb-cache-key/v1", op, inputKeys]);
  return sha256Digest(new TextEncoder().encode(text));
}

/**
 * The strings one input contributes to {@link cacheKeyOf}, one helper per kind, so that every place
 * that computes keys (the solver, the remote cache importer recomputing keys from exported records)
 * spells them the same way.
 * - `inputKeyPart`: the input's own cache key, the output index read and the selector, if any;
 * - `contentKeyPart`: a content checksum (of selected paths of an input, or of a source's content);
 * - `pinKeyPart`: the manifest digest an image source was pinned to.
 */
export function inputKeyPart(key: string, output: number, selector?: string): string {
  return `${key}#${output}${selector === undefined ? "" : `@${selector}`}`;
}

export function contentKeyPart(digest: string): string {
  return `content:${digest}`;
}

export function pinKeyPart(digest: string): string {
  return `pin:${digest}`;
}

import { createHash } from "node:crypto";

/**
 * A content digest in OCI form. Only sha256 for now: it is what OCI images, BuildKit cache keys and
 * Docker's content trust use; adding an algorithm later means widening this type, not changing callers.
 */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `value` is a well-formed sha256 digest (lower-case hex, 64 digits). */
export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/**
 * The digest as a typed value, or undefined when it is malformed. Digests reach the store from
 * manifests and the wire, so they are validated before they become part of a file path: a malformed
 * one must never be able to name a file outside `blobs/sha256/`.
 */
export function parseDigest(value: string): Digest | undefined {
  return isDigest(value) ? value : undefined;
}

/** The 64 hex digits of a digest, as used for file names. */
export function digestHex(digest: Digest): string {
  return digest.slice("sha256:".length);
}

export function sha256Of(data: string | Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

import { htkError } from "../../base/errors/index.ts";
import { componentRegExp } from "../../cache/index.ts";
import { familiarName, familiarString, parseReference, referenceName, type Reference } from "../../base/oci/index.ts";

/**
 * Names as Docker's reference store keeps them: a tag reference ("docker.io/library/busybox:latest")
 * or a digest reference ("docker.io/library/busybox@sha256:…"), never both in one key. A reference
 * given with both (`busybox:1@sha256:…`) is a digest reference: Docker lets the digest decide.
 */
export type StoredName =
  | { readonly kind: "tag"; readonly ref: Reference & { readonly tag: string }; readonly key: string }
  | { readonly kind: "digest"; readonly ref: Reference & { readonly digest: string }; readonly key: string };

const ID_RE = /^(?:sha256:)?[0-9a-f]{64}$/;

export function nameFromReference(ref: Reference): StoredName {
  if (ref.digest !== undefined) {
    const r = { domain: ref.domain, path: ref.path, digest: ref.digest };
    return { kind: "digest", ref: r, key: `${referenceName(r)}@${r.digest}` };
  }
  const r = { domain: ref.domain, path: ref.path, tag: ref.tag ?? "latest" };
  return { kind: "tag", ref: r, key: `${referenceName(r)}:${r.tag}` };
}

/** The stored key back to a name (keys are written by `nameFromReference`, so they parse). */
export function nameFromKey(key: string): StoredName | undefined {
  const r = parseReference(key);
  return r.ok ? nameFromReference(r.value) : undefined;
}

/**
 * Parses a user's reference as Docker's ParseNormalizedNamed + TagNameOnly, throwing Docker's errors:
 * HTK-ENGINE-0202 for a 64-hex name, HTK-ENGINE-0201 for everything else.
 */
export function parseName(input: string): StoredName {
  const r = parseReference(input);
  if (!r.ok) throw referenceError(input, r.error);
  return nameFromReference(r.value);
}

export function referenceError(input: string, error: string): Error {
  if (error.startsWith("invalid repository name")) return htkError("HTK-ENGINE-0202", { name: input });
  const prefix = "invalid reference format";
  const rest = error.startsWith(prefix) ? error.slice(prefix.length) : `: ${error}`;
  // Docker's parser says only "invalid reference format" when the grammar does not match.
  return htkError("HTK-ENGINE-0201", { detail: /^: "/.test(rest) ? "" : rest });
}

/** "busybox:latest", "me/app@sha256:…": what `docker images` and `docker rmi` print. */
export function familiar(name: StoredName): string {
  return familiarString(name.ref);
}

/** True for a full image ID ("sha256:<64 hex>" or "<64 hex>"). */
export function isFullId(input: string): boolean {
  return ID_RE.test(input);
}

/** Docker's stringid.TruncateID: the first 12 hex digits, without "sha256:". */
export function shortId(id: string): string {
  const hex = id.startsWith("sha256:") ? id.slice(7) : id;
  return hex.slice(0, 12);
}

/**
 * Docker's `reference.FamiliarMatch` (the images list's `reference=` filter): Go `path.Match` of the
 * pattern against the familiar string, else against the familiar name. `*` never crosses a "/".
 */
export function familiarMatch(pattern: string, name: StoredName): boolean {
  let re: RegExp;
  try {
    re = componentRegExp(pattern);
  } catch {
    return false;
  }
  return re.test(familiarString(name.ref)) || re.test(familiarName(name.ref));
}

/** The repository tag pairs of the legacy `repositories` file: familiar name → tag. */
export function familiarRepository(name: StoredName): string {
  return familiarName(name.ref);
}

import type { ParseResult } from "./types.ts";

/**
 * Image references parsed and normalised exactly as Docker does (distribution/reference:
 * `ParseNormalizedNamed`, `TagNameOnly`, `FamiliarString`). `llb/image-ref.ts`'s `normalizeImageRef`
 * only rewrites a string for cache keys and does not validate, split or give the familiar form, so
 * the full grammar lives here; the two agree on every valid reference (tested).
 */

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
/** docker.io is a name, not a host: the API lives at registry-1.docker.io (Docker's DefaultV2Registry). */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
/** The key docker login writes Docker Hub credentials under in ~/.docker/config.json. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const NAME_TOTAL_LENGTH_MAX = 255;

// The distribution/reference grammar, piece by piece.
const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const NAME = `(?:${DOMAIN_AND_PORT}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

/** A fully normalised reference: `docker.io/library/busybox:latest`, `127.0.0.1:5000/a/b@sha256:…`. */
export interface Reference {
  /** "docker.io", "127.0.0.1:5000", "[::1]:5000". */
  readonly domain: string;
  /** The repository inside the registry: "library/busybox". */
  readonly path: string;
  readonly tag?: string;
  /** "sha256:…"; when both are present the digest decides what is pulled (Docker's rule). */
  readonly digest?: string;
}

/** "docker.io/library/busybox" */
export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised string: name, then ":tag" and "@digest" when present. */
export function referenceString(ref: Reference): string {
  return `${referenceName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The short form Docker prints: "busybox", "me/app", "127.0.0.1:5000/app". */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes("/")) return rest;
  }
  return ref.path;
}

/** "busybox:latest", "me/app@sha256:…" */
export function familiarString(ref: Reference): string {
  return `${familiarName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** Docker's splitDockerDomain: the first component is a registry only if it looks like a host. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses a reference as the docker CLI does (`ParseNormalizedNamed`): adds docker.io and library/,
 * refuses upper-case repository names and bare 64-hex IDs. Does not add ":latest"; see
 * {@link parseDockerReference}.
 */
export function parseReference(input: string): ParseResult<Reference> {
  const s = input;
  if (s === "") return { ok: false, error: "invalid reference format: repository name must have at least one component" };
  if (ANCHORED_ID_RE.test(s)) {
    return { ok: false, error: `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings` };
  }
  const { domain, remainder } = splitDockerDomain(s);
  const tagSep = remainder.indexOf(":");
  const atSep = remainder.indexOf("@");
  const nameEnd = [tagSep, atSep].filter((x) => x >= 0).reduce((a, b) => Math.min(a, b), remainder.length);
  const remoteName = remainder.slice(0, nameEnd);
  if (remoteName.toLowerCase() !== remoteName) {
    return { ok: false, error: `invalid reference format: repository name (${remoteName}) must be lowercase` };
  }
  const m = REFERENCE_RE.exec(`${domain}/${remainder}`);
  if (m === null) return { ok: false, error: `invalid reference format: "${input}"` };
  const name = m[1] ?? "";
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    return { ok: false, error: `invalid reference format: repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters` };
  }
  const tag = m[2];
  const digest = m[3];
  return {
    ok: true,
    value: {
      domain,
      path: name.slice(domain.length + 1),
      ...(tag !== undefined ? { tag } : {}),
      ...(digest !== undefined ? { digest } : {}),
    },
  };
}

/** `parseReference` plus Docker's TagNameOnly: a reference with neither tag nor digest gets ":latest". */
export function parseDockerReference(input: string): ParseResult<Reference> {
  const r = parseReference(input);
  if (!r.ok || r.value.tag !== undefined || r.value.digest !== undefined) return r;
  return { ok: true, value: { ...r.value, tag: "latest" } };
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidDomain(domain: string): boolean {
  return DOMAIN_RE.test(domain);
}

/** The host:port the Distribution API is reached at for a reference's domain. */
export function registryApiHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/**
 * The config.json `auths` key and credential-helper server URL for a domain: Docker Hub keeps the
 * legacy v1 URL, every other registry its bare host[:port].
 */
export function authKeyFor(domain: string): string {
  return domain === DEFAULT_DOMAIN || domain === DOCKER_HUB_API_HOST || domain === LEGACY_DEFAULT_DOMAIN ? DOCKER_HUB_AUTH_KEY : domain;
}

/** The same reference with another tag (the digest is dropped: it named the old content). */
export function withTag(ref: Reference, tag: string): Reference {
  return { domain: ref.domain, path: ref.path, tag };
}

/** The same reference pinned to a digest (the tag is kept, as `docker pull name:tag@digest` does). */
export function withDigest(ref: Reference, digest: string): Reference {
  return { ...ref, digest };
}

import type { Digest } from "../base/oci/digest.ts";

export type { Digest } from "../base/oci/digest.ts";

/**
 * What `cache/` hands out for a stored blob. Mirrors the OCI descriptor's required fields; the media
 * type is optional because the store itself is type-agnostic (a layer, a config and a cache record are
 * all just bytes to it), callers that know it carry it along.
 */
export interface Descriptor {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType?: string;
}

/** What a caller promises a blob will be; `put` refuses (HTK-CACHE-0002) data that does not match. */
export interface ExpectedBlob {
  readonly digest: Digest;
  readonly size: number;
}

/** The result of deleting a blob: deletion is refused, not failed, while a lease holds the blob. */
export type DeleteResult =
  | { readonly kind: "deleted" }
  | { readonly kind: "not-found" }
  | { readonly kind: "in-use"; readonly leases: number };

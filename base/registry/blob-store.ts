import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.ts";

/**
 * The part of a content store the registry client uses: where pulls put blobs and pushes read them.
 * `cache/`'s `ContentStore` is the one the engine and the builder pass (it verifies on write and on
 * read); the client lives here, below `cache/`, so the buildx plugin can talk to registries too
 * without reaching into the cache layer.
 */
export interface ContentStore {
  /** Stores a blob; refuses (HTK-CACHE-0002) data that does not match `expected`. */
  put(
    source: Uint8Array | Readable | AsyncIterable<Uint8Array>,
    opts?: { readonly expected?: { readonly digest: Digest; readonly size: number }; readonly mediaType?: string; readonly signal?: AbortSignal },
  ): Promise<{ readonly digest: Digest; readonly size: number }>;
  /** A verifying reader of a stored blob. */
  get(digest: Digest, opts?: { signal?: AbortSignal }): Promise<Readable>;
  readBytes(digest: Digest, opts?: { signal?: AbortSignal; maxBytes?: number }): Promise<Buffer>;
  has(digest: Digest): Promise<boolean>;
  info(digest: Digest): Promise<{ readonly digest: Digest; readonly size: number } | undefined>;
}

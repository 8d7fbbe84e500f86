import type { Readable } from "node:stream";
import type { ContentStore, Digest, Lease, RefCounter } from "../../cache/index.ts";
import type { ContentStore as RegistryBlobStore } from "../../base/registry/index.ts";

/**
 * The blobs one piece of work in progress uses (a pull, a build's FROM, an export), leased before they
 * are looked at or written, so a garbage collection running at the same time (`docker rmi`, image or
 * build prune) cannot delete one between "it is there" and the image that records it. Non-durable:
 * a restart has ended the work. `store` is the content store as the registry client sees it, with
 * every blob it checks or writes leased on the way (`PutOptions.lease`: under the store's own lock).
 */
export class BlobLeases implements Disposable {
  readonly #refs: RefCounter;
  readonly #content: ContentStore;
  readonly #owner: string;
  readonly #held = new Map<Digest, Lease>();
  readonly store: RegistryBlobStore;

  constructor(refs: RefCounter, content: ContentStore, owner: string) {
    this.#refs = refs;
    this.#content = content;
    this.#owner = owner;
    const hold = (d: Digest): void => this.hold(d);
    this.store = {
      put: (source, opts) => content.put(source as Uint8Array | Readable | AsyncIterable<Uint8Array>, { ...opts, lease: hold }),
      get: (digest, opts) => {
        hold(digest);
        return content.get(digest, opts);
      },
      readBytes: (digest, opts) => {
        hold(digest);
        return content.readBytes(digest, opts);
      },
      has: (digest) => {
        hold(digest);
        return content.has(digest);
      },
      info: (digest) => {
        hold(digest);
        return content.info(digest);
      },
    };
  }

  /** Leases `digest` (once) until `release`. */
  hold(digest: Digest): void {
    if (this.#held.has(digest)) return;
    this.#held.set(digest, this.#refs.acquire({ kind: "blob", digest }, { owner: this.#owner }));
  }

  /** `PutOptions.lease` for the content store's own `put`. */
  readonly lease = (digest: Digest): void => this.hold(digest);

  /** Whether the blob is stored, leased first (so the answer stays true until `release`). */
  async has(digest: Digest): Promise<boolean> {
    this.hold(digest);
    return this.#content.has(digest);
  }

  release(): void {
    for (const l of this.#held.values()) l.release();
    this.#held.clear();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

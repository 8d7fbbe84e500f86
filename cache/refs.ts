import type { Digest } from "../base/oci/digest.ts";

/** What a lease can hold: a blob of the content store, or a snapshot (by the snapshotter's id). */
export type RefKey =
  | { readonly kind: "blob"; readonly digest: Digest }
  | { readonly kind: "snapshot"; readonly id: string };

/** A lease as data: what leak reports and the persistence hook see. */
export interface LeaseInfo {
  readonly id: string;
  readonly key: RefKey;
  /** Who holds it, for people reading a leak report ("build 3f2a: COPY src/"). */
  readonly owner: string;
  /** Durable leases (an image, a cache record) outlive the process; the others die with it. */
  readonly durable: boolean;
  readonly acquiredAt: number;
  /** Where it was acquired, when the counter captures stacks (tests do, to find leaks). */
  readonly stack?: string;
}

/**
 * A held reference. Release it exactly once when done; `using lease = refs.acquire(…)` releases it at
 * the end of the scope. Releasing twice is harmless (the second call returns false) so clean-up paths
 * need not track whether another path already released.
 */
export interface Lease extends Disposable {
  readonly id: string;
  readonly key: RefKey;
  readonly owner: string;
  readonly released: boolean;
  release(): boolean;
}

/**
 * Where durable leases are persisted. The counter is in-memory; the engine plugs its SQLite store in
 * here (better-sqlite3 is synchronous, hence a synchronous interface): `load` returns the durable leases
 * at start-up, `added` and `removed` keep the table in step. Non-durable leases never reach it: they
 * belong to work in progress, which a restart has already ended.
 */
export interface LeasePersistence {
  load(): Iterable<LeaseInfo>;
  added(lease: LeaseInfo): void;
  removed(id: string): void;
}

export interface AcquireOptions {
  readonly owner: string;
  readonly durable?: boolean;
}

export interface RefCounterOptions {
  readonly persistence?: LeasePersistence;
  /** Record the acquiring stack of every lease (costly; for tests and leak hunting). */
  readonly captureStacks?: boolean;
}

/** The map key of a ref: stable text, so a blob and a snapshot never collide. */
export function refKeyString(key: RefKey): string {
  switch (key.kind) {
    case "blob":
      return `blob:${key.digest}`;
    case "snapshot":
      return `snapshot:${key.id}`;
    default:
      return assertNever(key);
  }
}

/**
 * Reference counting for blobs and snapshots. Garbage collection (later) and `ContentStore.delete` ask
 * it before removing anything: whatever has a live lease stays.
 */
export class RefCounter {
  readonly #leases = new Map<string, LeaseInfo>();
  readonly #counts = new Map<string, number>();
  readonly #persistence: LeasePersistence | undefined;
  readonly #captureStacks: boolean;
  #next = 0;

  constructor(opts: RefCounterOptions = {}) {
    this.#persistence = opts.persistence;
    this.#captureStacks = opts.captureStacks ?? false;
    for (const info of this.#persistence?.load() ?? []) this.#add(info);
  }

  acquire(key: RefKey, opts: AcquireOptions): Lease {
    const info: LeaseInfo = {
      id: `lease-${process.pid}-${Date.now().toString(36)}-${(this.#next++).toString(36)}`,
      key,
      owner: opts.owner,
      durable: opts.durable ?? false,
      acquiredAt: Date.now(),
      ...(this.#captureStacks ? { stack: new Error("lease acquired here").stack ?? "" } : {}),
    };
    this.#add(info);
    if (info.durable) this.#persistence?.added(info);
    return this.#handle(info);
  }

  /** A handle for a lease restored from persistence (by id), so its owner can release it after a restart. */
  lease(id: string): Lease | undefined {
    const info = this.#leases.get(id);
    return info === undefined ? undefined : this.#handle(info);
  }

  /** Releases a lease by id; false if it was not live. */
  release(id: string): boolean {
    const info = this.#leases.get(id);
    if (info === undefined) return false;
    this.#leases.delete(id);
    const k = refKeyString(info.key);
    const n = (this.#counts.get(k) ?? 1) - 1;
    if (n <= 0) this.#counts.delete(k);
    else this.#counts.set(k, n);
    if (info.durable) this.#persistence?.removed(id);
    return true;
  }

  count(key: RefKey): number {
    return this.#counts.get(refKeyString(key)) ?? 0;
  }

  isReferenced(key: RefKey): boolean {
    return this.count(key) > 0;
  }

  /** For `ContentStore`'s `leaseCount` option. */
  readonly blobLeaseCount = (digest: Digest): number => this.count({ kind: "blob", digest });

  /**
   * The live leases, oldest first. Tests end with `expect(refs.liveLeases()).toEqual([])`: anything
   * left is a leak, and with `captureStacks` each one says where it was acquired.
   */
  liveLeases(filter?: { owner?: string; durable?: boolean }): LeaseInfo[] {
    return [...this.#leases.values()].filter(
      (l) => (filter?.owner === undefined || l.owner === filter.owner) && (filter?.durable === undefined || l.durable === filter.durable),
    );
  }

  #add(info: LeaseInfo): void {
    this.#leases.set(info.id, info);
    const k = refKeyString(info.key);
    this.#counts.set(k, (this.#counts.get(k) ?? 0) + 1);
  }

  #handle(info: LeaseInfo): Lease {
    const isLive = (): boolean => this.#leases.has(info.id);
    return {
      id: info.id,
      key: info.key,
      owner: info.owner,
      get released() {
        return !isLive();
      },
      release: () => this.release(info.id),
      [Symbol.dispose]: () => {
        this.release(info.id);
      },
    };
  }
}

function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}

import type { Statement } from "better-sqlite3";
import type { LeaseInfo, LeasePersistence } from "../../cache/index.ts";
import { parseRfc3339Nano } from "./clock.ts";
import type { StateContext } from "./context.ts";
import { checksumOf, verifyChecksum } from "./db.ts";

/**
 * Images' metadata lives in the image store (`engine/images/`), which owns the record shape, names and
 * lookups; it persists through two small interfaces (`ImageStatePersistence`, and the RefCounter's
 * `LeasePersistence`) that are implemented here on the state database, so images share its
 * transactions, crash safety and checksums instead of JSON files.
 *
 * The types are structural (this folder does not import the image store): any state of the shape
 * `{ version: 1, images: { [id]: record }, references: { [ref]: id } }` can be kept.
 */
export interface PersistedImageState<R extends object = object> {
  readonly version: 1;
  readonly images: Readonly<Record<string, R>>;
  /** Normalised references ("docker.io/library/busybox:latest", "…@sha256:…") to image IDs. */
  readonly references: Readonly<Record<string, string>>;
}

interface ImageRow {
  id: string;
  record_json: string;
  record_sha256: string;
}

/**
 * The `images` and `image_tags` tables as an `ImageStatePersistence`. `save` writes only what changed
 * (records compared by checksum), in one transaction. Every record carries the sha256 of its canonical
 * JSON; `load` verifies it and reports a mismatch (HTK-ENGINE-0102) — a damaged config digest or layer
 * list would otherwise run the wrong bytes.
 */
export class ImageStateTable<S extends PersistedImageState = PersistedImageState> {
  readonly #ctx: StateContext;
  readonly #upsert: Statement;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
    this.#upsert = ctx.db.prepare(
      `INSERT INTO images (id, record_json, record_sha256, created_ns) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET record_json = excluded.record_json, record_sha256 = excluded.record_sha256, created_ns = excluded.created_ns`,
    );
  }

  /** Undefined when nothing was ever saved (the image store then starts empty). */
  load(): S | undefined {
    const rows = this.#ctx.db.prepare("SELECT id, record_json, record_sha256 FROM images ORDER BY id").all() as ImageRow[];
    const refs = this.#ctx.db.prepare("SELECT tag, image_id FROM image_tags ORDER BY tag").all() as Array<{ tag: string; image_id: string }>;
    if (rows.length === 0 && refs.length === 0) return undefined;
    const images: Record<string, object> = {};
    for (const row of rows) {
      const record = JSON.parse(row.record_json) as object;
      verifyChecksum("image", row.id, record, row.record_sha256);
      images[row.id] = record;
    }
    const references: Record<string, string> = {};
    for (const r of refs) references[r.tag] = r.image_id;
    return { version: 1, images, references } as unknown as S;
  }

  save(state: S): void {
    this.#ctx.tx(() => {
      const db = this.#ctx.db;
      const stored = new Map(
        (db.prepare("SELECT id, record_sha256 FROM images").all() as Array<{ id: string; record_sha256: string }>).map((r) => [r.id, r.record_sha256]),
      );
      for (const [id, record] of Object.entries(state.images)) {
        const sum = checksumOf(record);
        if (stored.get(id) !== sum) this.#upsert.run(id, JSON.stringify(record), sum, createdNs(record));
        stored.delete(id);
      }
      // Deleting an image drops its references with it (ON DELETE CASCADE).
      const del = db.prepare("DELETE FROM images WHERE id = ?");
      for (const id of stored.keys()) del.run(id);
      const refs = new Map((db.prepare("SELECT tag, image_id FROM image_tags").all() as Array<{ tag: string; image_id: string }>).map((r) => [r.tag, r.image_id]));
      const setRef = db.prepare("INSERT INTO image_tags (tag, image_id) VALUES (?, ?) ON CONFLICT (tag) DO UPDATE SET image_id = excluded.image_id");
      for (const [ref, id] of Object.entries(state.references)) {
        // A reference to an image the state does not hold is dropped, as the image store drops it on load.
        if (!Object.hasOwn(state.images, id)) continue;
        if (refs.get(ref) !== id) setRef.run(ref, id);
        refs.delete(ref);
      }
      const delRef = db.prepare("DELETE FROM image_tags WHERE tag = ?");
      for (const ref of refs.keys()) delRef.run(ref);
    });
  }
}

function createdNs(record: object): bigint {
  const r = record as { created?: unknown; addedAt?: unknown };
  for (const t of [r.created, r.addedAt]) if (typeof t === "string") return parseRfc3339Nano(t) ?? 0n;
  return 0n;
}

/**
 * The RefCounter's durable leases (images and cache records keep their blobs alive across restarts) in
 * the `leases` table. `batch` makes a group of changes one transaction (an image with 30 layers takes
 * 32 leases: one commit).
 */
export class LeaseTable implements LeasePersistence {
  readonly #ctx: StateContext;
  readonly #add: Statement;
  readonly #remove: Statement;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
    this.#add = ctx.db.prepare("INSERT INTO leases (id, info_json) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET info_json = excluded.info_json");
    this.#remove = ctx.db.prepare("DELETE FROM leases WHERE id = ?");
  }

  load(): LeaseInfo[] {
    return (this.#ctx.db.prepare("SELECT info_json FROM leases ORDER BY rowid").all() as Array<{ info_json: string }>).map(
      (r) => JSON.parse(r.info_json) as LeaseInfo,
    );
  }

  added(lease: LeaseInfo): void {
    // The acquiring stack is for leak reports in this process only.
    const { stack: _stack, ...info } = lease;
    this.#ctx.tx(() => this.#add.run(lease.id, JSON.stringify(info)));
  }

  removed(id: string): void {
    this.#ctx.tx(() => this.#remove.run(id));
  }

  batch<T>(fn: () => T): T {
    return this.#ctx.tx(fn);
  }
}

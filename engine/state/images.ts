import { htkError } from "../../base/errors/index.ts";
import { parseRfc3339Nano } from "./clock.ts";
import type { StateContext } from "./context.ts";
import { checksumOf, verifyChecksum } from "./db.ts";
import type { EventDraft, ImageRecord } from "./types.ts";

interface ImageRow {
  id: string;
  record_json: string;
  record_sha256: string;
}

/** The checksummed part of an image record: everything but the tags, which move between images. */
type StoredImage = Omit<ImageRecord, "repoTags">;

/**
 * Images' metadata. The image itself (config, layers) is in the content store; this is what `docker
 * images` and `inspect` need quickly, plus the tags. Records carry a checksum (HTK-ENGINE-0102 on a
 * mismatch) because a damaged image ID or digest would silently run the wrong bytes.
 */
export class ImageStore {
  readonly #ctx: StateContext;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
  }

  /** Adds or replaces an image and points its repoTags at it (taking them from any other image). */
  put(image: ImageRecord): ImageRecord {
    return this.#ctx.tx(() => {
      const { repoTags, ...stored } = image;
      const createdNs = parseRfc3339Nano(image.created) ?? this.#ctx.clock();
      this.#ctx.db
        .prepare(
          `INSERT INTO images (id, record_json, record_sha256, created_ns) VALUES (?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET record_json = excluded.record_json, record_sha256 = excluded.record_sha256, created_ns = excluded.created_ns`,
        )
        .run(image.id, JSON.stringify(stored), checksumOf(stored), createdNs);
      for (const tag of repoTags) this.#setTag(tag, image.id);
      return this.get(image.id) ?? image;
    });
  }

  get(id: string): ImageRecord | undefined {
    const row = this.#ctx.db.prepare("SELECT id, record_json, record_sha256 FROM images WHERE id = ?").get(id) as ImageRow | undefined;
    return row === undefined ? undefined : this.#fromRow(row);
  }

  /**
   * By ID ("sha256:…" or bare hex, full or a unique prefix) or by tag ("busybox" means "busybox:latest").
   * Unknown → HTK-ENGINE-0121; an ambiguous ID prefix → HTK-ENGINE-0105.
   */
  resolve(ref: string): ImageRecord {
    const byTag = this.#tagged(ref) ?? (/:[^/]*$/.test(ref) || ref.includes("@") ? undefined : this.#tagged(`${ref}:latest`));
    if (byTag !== undefined) return byTag;
    const hex = ref.replace(/^sha256:/, "");
    if (/^[0-9a-f]+$/.test(hex) && hex.length > 0) {
      const rows = this.#ctx.db
        .prepare("SELECT id, record_json, record_sha256 FROM images WHERE id >= ? AND id < ? ORDER BY id LIMIT 2")
        .all(`sha256:${hex}`, `sha256:${hex}g`) as ImageRow[];
      if (rows.length > 1) throw htkError("HTK-ENGINE-0105", { prefix: ref });
      const row = rows[0];
      if (row !== undefined) return this.#fromRow(row);
    }
    throw htkError("HTK-ENGINE-0121", { name: ref });
  }

  list(): ImageRecord[] {
    const rows = this.#ctx.db.prepare("SELECT id, record_json, record_sha256 FROM images ORDER BY created_ns DESC, id").all() as ImageRow[];
    return rows.map((r) => this.#fromRow(r));
  }

  /** `docker tag`: records Docker's `tag` image event (Actor name = the new reference). */
  tag(imageId: string, tag: string): void {
    this.#ctx.tx(() => {
      this.#setTag(tag, imageId);
      this.#ctx.emit(imageEvent(imageId, "tag", tag));
    });
  }

  /** Removes a tag; true if it existed. Records `untag`. */
  untag(tag: string): boolean {
    return this.#ctx.tx(() => {
      const row = this.#ctx.db.prepare("SELECT image_id FROM image_tags WHERE tag = ?").get(tag) as { image_id: string } | undefined;
      if (row === undefined) return false;
      this.#ctx.db.prepare("DELETE FROM image_tags WHERE tag = ?").run(tag);
      this.#ctx.emit(imageEvent(row.image_id, "untag", tag));
      return true;
    });
  }

  /** Deletes the record and its tags; records `delete`. */
  delete(imageId: string): void {
    this.#ctx.tx(() => {
      const res = this.#ctx.db.prepare("DELETE FROM images WHERE id = ?").run(imageId);
      if (res.changes === 0) throw htkError("HTK-ENGINE-0121", { name: imageId });
      this.#ctx.emit(imageEvent(imageId, "delete", imageId));
    });
  }

  /** The image and every image built on it (parent chain), for the `ancestor` container filter. */
  withDescendants(imageId: string): string[] {
    const all = this.list();
    const out = [imageId];
    for (let i = 0; i < out.length; i++) for (const img of all) if (img.parent === out[i] && !out.includes(img.id)) out.push(img.id);
    return out;
  }

  #setTag(tag: string, imageId: string): void {
    this.#ctx.db
      .prepare("INSERT INTO image_tags (tag, image_id) VALUES (?, ?) ON CONFLICT (tag) DO UPDATE SET image_id = excluded.image_id")
      .run(tag, imageId);
  }

  #tagged(tag: string): ImageRecord | undefined {
    const row = this.#ctx.db.prepare("SELECT image_id FROM image_tags WHERE tag = ?").get(tag) as { image_id: string } | undefined;
    return row === undefined ? undefined : this.get(row.image_id);
  }

  #fromRow(row: ImageRow): ImageRecord {
    const stored = JSON.parse(row.record_json) as StoredImage;
    verifyChecksum("image", row.id, stored, row.record_sha256);
    const tags = (this.#ctx.db.prepare("SELECT tag FROM image_tags WHERE image_id = ? ORDER BY tag").all(row.id) as Array<{ tag: string }>).map((t) => t.tag);
    return { ...stored, repoTags: tags };
  }
}

/** Docker's image events: Actor.ID is the image ID, `name` the reference involved. */
export function imageEvent(imageId: string, action: string, name: string): EventDraft {
  return { Type: "image", Action: action, Actor: { ID: imageId, Attributes: { name } } };
}

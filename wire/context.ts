import { createHash } from "node:crypto";

/** The fields of a context manifest entry (FileEntry) that its digest covers. */
export interface ManifestFields {
  readonly path: string;
  readonly mode: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly ino: bigint;
  readonly linkTarget: string;
}

/**
 * The digest of a context manifest, as both ends compute it (SyncContextRequest.manifest_digest):
 * sha256 over one line per entry, in order: `path NUL mode NUL size NUL mtime NUL ctime NUL ino NUL
 * link LF`. Equal digests mean the engine's copy is current and nothing needs to travel.
 */
export function manifestDigest(entries: Iterable<ManifestFields>): string {
  const h = new ManifestHasher();
  for (const e of entries) h.add(e.path, e.mode, e.size, e.mtimeNs, e.ctimeNs, e.ino, e.linkTarget);
  return h.digest();
}

/**
 * {@link manifestDigest} one entry at a time, for a client that has not made the entries (a no-op
 * rebuild sends only the digest). Numbers must be safe integers (a bigint otherwise): they are written
 * as their decimal digits, as the entries' bigints are.
 */
export class ManifestHasher {
  readonly #hash = createHash("sha256");
  #pending = "";

  add(path: string, mode: number, size: bigint | number, mtimeNs: bigint, ctimeNs: bigint, ino: bigint | number, linkTarget: string): void {
    this.#pending += `${path}\0${mode}\0${size}\0${mtimeNs}\0${ctimeNs}\0${ino}\0${linkTarget}\n`;
    // Hashed some 32 KiB at a time: one update per entry costs more than its hashing.
    if (this.#pending.length >= 32_768) {
      this.#hash.update(this.#pending);
      this.#pending = "";
    }
  }

  digest(): string {
    this.#hash.update(this.#pending);
    this.#pending = "";
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

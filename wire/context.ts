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
  const h = createHash("sha256");
  // Lines are hashed some 32 KiB at a time: one update per entry costs more than its hashing.
  let pending = "";
  for (const e of entries) {
    pending += `${e.path}\0${e.mode}\0${e.size}\0${e.mtimeNs}\0${e.ctimeNs}\0${e.ino}\0${e.linkTarget}\n`;
    if (pending.length >= 32_768) {
      h.update(pending);
      pending = "";
    }
  }
  h.update(pending);
  return `sha256:${h.digest("hex")}`;
}

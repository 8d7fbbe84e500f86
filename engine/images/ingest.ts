import { PassThrough } from "node:stream";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { isDigest, type ContentStore, type Descriptor, type Digest, type RefCounter } from "../../cache/index.ts";
import { posix } from "node:path";
import { BlobLeases } from "./blob-leases.ts";
import { archiveError, isGzip, looksLikeTar, measureLayer, readArchive, safeArchivePath, waitDrain, type LayerMeasure } from "./tar.ts";

/**
 * Reading an image archive (a `docker save` tar or an OCI layout tar) into the content store, entry by
 * entry: every blob streams straight into the store (verified against its name when the name is a
 * digest), so memory stays bounded whatever the archive's size; layers are measured (diff ID, sizes)
 * in the same pass. Metadata files are kept in memory, with a size limit.
 *
 * The archive is not trusted until the caller has checked it: `discard()` deletes the blobs this
 * import stored that nothing leases, so a refused archive leaves nothing behind.
 */

/** The small files the readers need in memory. */
const METADATA = new Set(["manifest.json", "repositories", "index.json", "oci-layout"]);
const MAX_METADATA = 16 * 1024 * 1024;
const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

export interface IngestedFile extends Descriptor {
  /** Set for a file that is a layer tar (plain or gzip). */
  readonly layer?: LayerMeasure;
  readonly gzip: boolean;
}

export class ArchiveIngest {
  readonly files = new Map<string, IngestedFile>();
  readonly metadata = new Map<string, Buffer>();
  /**
   * Links: Docker before 25 saved a layer that appears twice as a symlink to its first copy
   * (`<id>/layer.tar -> ../<other id>/layer.tar`).
   */
  readonly #links = new Map<string, string>();
  /** Blobs this import put into the store that were not there before. */
  readonly #added = new Set<Digest>();
  readonly #content: ContentStore;
  readonly #refs: RefCounter;
  /**
   * Every blob the archive brings is leased as it is stored (or found stored), until `discard`: a
   * garbage collection while the archive streams or its images are recorded must not take one.
   */
  readonly #leases: BlobLeases;

  constructor(content: ContentStore, refs: RefCounter) {
    this.#content = content;
    this.#refs = refs;
    this.#leases = new BlobLeases(refs, content, "load");
  }

  /** Reads the whole archive. Throws HTK-ENGINE-0211/0213/0216 (after discarding what it stored). */
  async read(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<void> {
    try {
      for await (const entry of readArchive(source, signal)) {
        if ((entry.type === "symlink" || entry.type === "hardlink") && entry.linkname !== undefined) {
          const target = entry.type === "symlink" ? posix.join(posix.dirname(entry.path), entry.linkname) : entry.linkname;
          const safe = safeArchivePath(target);
          if (safe === undefined || target.startsWith("/")) throw htkError("HTK-ENGINE-0216", { path: `${entry.path} -> ${entry.linkname}` });
          this.#links.set(entry.path, safe);
          continue;
        }
        if (entry.type !== "file") continue;
        if (METADATA.has(entry.path)) {
          this.metadata.set(entry.path, await readSmall(entry.stream, entry.path));
          continue;
        }
        // Legacy layer directories carry a v1 JSON and a VERSION file nobody reads since Docker 1.10.
        if (/^[^/]+\/(json|VERSION)$/.test(entry.path)) continue;
        this.files.set(entry.path, await this.#ingest(entry.path, entry.stream, entry.size, signal));
      }
    } catch (err) {
      await this.discard();
      // An entry's stream fails inside the content store's put when the tar ends mid-entry.
      throw archiveError(err, signal);
    }
  }

  /** The stored file at an archive path (as manifest.json or an index names it). */
  file(path: string): IngestedFile | undefined {
    let p = safeArchivePath(path);
    for (let hops = 0; p !== undefined && hops < 16; hops++) {
      const f = this.files.get(p);
      if (f !== undefined) return f;
      p = this.#links.get(p);
    }
    return undefined;
  }

  /** Puts bytes the import itself made (a synthesised manifest), tracked for `discard`. */
  async put(bytes: Uint8Array, signal?: AbortSignal): Promise<Descriptor> {
    const desc = await this.#content.put(bytes, { ...(signal !== undefined ? { signal } : {}), lease: this.#leases.lease });
    // Leased by this import only (its own lease): nothing else holds it, so a refusal may delete it.
    if (this.#refs.blobLeaseCount(desc.digest) <= 1) this.#added.add(desc.digest);
    return desc;
  }

  async #ingest(path: string, stream: AsyncIterable<Uint8Array>, size: number, signal: AbortSignal | undefined): Promise<IngestedFile> {
    const m = BLOB_PATH.exec(path);
    const expected = m?.[1] !== undefined ? (`sha256:${m[1]}` as Digest) : undefined;
    if (expected !== undefined && isDigest(expected) && !(await this.#leases.has(expected))) this.#added.add(expected);
    let gzip = false;
    let measuring: Promise<LayerMeasure | undefined> | undefined;
    let side: PassThrough | undefined;
    let sideDead = false;
    async function* tee(): AsyncGenerator<Uint8Array> {
      let first = true;
      let head = Buffer.alloc(0);
      for await (const chunk of stream) {
        if (first) {
          head = Buffer.concat([head, chunk]);
          if (head.length < 512 && head.length < size) continue;
          first = false;
          gzip = isGzip(head);
          if (gzip || looksLikeTar(head)) {
            side = new PassThrough({ highWaterMark: 1024 * 1024 });
            measuring = measureLayer(side, gzip ? "gzip" : "none", signal).catch(() => {
              // Not a layer after all (or a damaged one): the digest check decides what is accepted.
              sideDead = true;
              side?.destroy();
              return undefined;
            });
          }
          yield* feed(head);
          continue;
        }
        yield* feed(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      }
      if (first && head.length > 0) {
        gzip = isGzip(head);
        yield head;
      }
      side?.end();
    }
    async function* feed(chunk: Buffer): AsyncGenerator<Uint8Array> {
      if (side !== undefined && !sideDead && !side.write(chunk)) {
        await waitDrain(side);
      }
      yield chunk;
    }
    let desc: Descriptor;
    try {
      desc = await this.#content.put(tee(), {
        ...(expected !== undefined ? { expected: { digest: expected, size } } : {}),
        ...(signal !== undefined ? { signal } : {}),
        lease: this.#leases.lease,
      });
    } catch (err) {
      side?.destroy();
      if (isHtkError(err, "HTK-CACHE-0002") && expected !== undefined) {
        throw htkError("HTK-ENGINE-0213", { path, expected, actual: String(err.params["actual"] ?? "other content") }, { cause: err });
      }
      throw err;
    }
    if (expected === undefined && !this.#added.has(desc.digest)) {
      // A legacy archive's file: whether it was new is known only now; a blob another image leases
      // survives `discard` anyway.
      this.#added.add(desc.digest);
    }
    const layer = measuring !== undefined ? await measuring : undefined;
    return { digest: desc.digest, size: desc.size, gzip, ...(layer !== undefined ? { layer } : {}) };
  }

  /**
   * The end of the import: drops its leases, then deletes the blobs it added that nothing else holds
   * (all of them when the archive was refused; what no recorded image needs otherwise).
   */
  async discard(): Promise<void> {
    this.#leases.release();
    for (const d of this.#added) {
      if (this.#refs.blobLeaseCount(d) > 0) continue;
      await this.#content.delete(d).catch(() => undefined);
    }
    this.#added.clear();
  }
}

async function readSmall(stream: AsyncIterable<Uint8Array>, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > MAX_METADATA) throw htkError("HTK-ENGINE-0211", { detail: `${path} is larger than ${MAX_METADATA} bytes` });
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

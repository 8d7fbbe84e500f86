import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { htkError } from "../../base/errors/index.ts";
import type { Digest } from "../../base/oci/index.ts";
import type { ContentStore } from "../../base/registry/index.ts";

/**
 * A throw-away blob store in a temporary folder: what `imagetools` needs from a store (configs read
 * for platforms and `.Image`, blobs copied between registries) without a daemon's content store.
 * Blobs stream through files, never whole into memory; `close()` removes the folder.
 */
export class SpoolStore implements ContentStore {
  private constructor(readonly root: string) {}

  static async open(): Promise<SpoolStore> {
    return new SpoolStore(await mkdtemp(join(tmpdir(), "hatake-imagetools-")));
  }

  #path(digest: Digest): string {
    return join(this.root, digest.replace(":", "-"));
  }

  async put(
    source: Uint8Array | Readable | AsyncIterable<Uint8Array>,
    opts: { readonly expected?: { readonly digest: Digest; readonly size: number }; readonly signal?: AbortSignal } = {},
  ): Promise<{ digest: Digest; size: number }> {
    const tmp = join(this.root, `ingest-${process.hrtime.bigint()}`);
    const fh = await open(tmp, "w");
    const hash = createHash("sha256");
    let size = 0;
    try {
      const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = source instanceof Uint8Array ? [source] : source;
      for await (const chunk of chunks) {
        opts.signal?.throwIfAborted();
        hash.update(chunk);
        size += chunk.byteLength;
        await fh.write(chunk);
      }
    } finally {
      await fh.close();
    }
    const digest: Digest = `sha256:${hash.digest("hex")}`;
    const want = opts.expected;
    if (want !== undefined && (want.digest !== digest || want.size !== size)) {
      await rm(tmp, { force: true });
      throw htkError("HTK-CACHE-0002", { expected: want.digest, actual: digest, size, expectedSize: want.size });
    }
    await rename(tmp, this.#path(digest));
    return { digest, size };
  }

  get(digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    return Promise.resolve(createReadStream(this.#path(digest), opts.signal === undefined ? {} : { signal: opts.signal }));
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    return readFile(this.#path(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: Digest): Promise<{ digest: Digest; size: number } | undefined> {
    const s = await stat(this.#path(digest)).catch(() => undefined);
    return s === undefined ? undefined : { digest, size: s.size };
  }

  async close(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

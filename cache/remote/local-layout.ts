import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, open, readdir, rename, rm, stat, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { digestHex, isDigest, type Digest } from "../../base/oci/digest.ts";
import { isIndexMediaType, isManifestMediaType } from "../../base/oci/media-types.ts";
import { parseManifestDocument } from "../../base/oci/parse.ts";
import type { OciDescriptor } from "../../base/oci/types.ts";
import { goJson } from "./config.ts";
import { REF_NAME_ANNOTATION } from "./types.ts";

const LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';
/** Manifests and configs are small; anything bigger is not one. */
const MAX_DOCUMENT = 4 * 1024 * 1024;

/**
 * An OCI image layout directory used as a cache (`--cache-to type=local,dest=DIR`,
 * `--cache-from type=local,src=DIR`): `oci-layout`, `index.json` naming the cache by its tag
 * (`org.opencontainers.image.ref.name`), `blobs/sha256/<hex>`. Blobs are written to a temporary
 * name, checked against their digest and renamed, so a crash never leaves a wrong blob; `index.json`
 * is replaced by rename. After a new tag, blobs no entry reaches any more are removed: BuildKit's
 * local cache only ever grows, which is the first thing its users work around.
 */
export class LocalLayout {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  blobPath(digest: Digest): string {
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  async has(d: OciDescriptor): Promise<boolean> {
    const st = await stat(this.blobPath(d.digest)).catch(() => undefined);
    return st?.isFile() === true && st.size === d.size;
  }

  /** Writes a blob unless it is there, verifying its digest and size. */
  async writeBlob(d: OciDescriptor, source: AsyncIterable<Uint8Array> | Uint8Array, signal: AbortSignal): Promise<void> {
    if (await this.has(d)) return;
    const dir = join(this.dir, "blobs", "sha256");
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.tmp-${randomBytes(8).toString("hex")}`);
    const fh = await open(tmp, "w", 0o644);
    const hash = createHash("sha256");
    let size = 0;
    try {
      const chunks = source instanceof Uint8Array ? [source] : source;
      for await (const chunk of chunks) {
        signal.throwIfAborted();
        hash.update(chunk);
        size += chunk.byteLength;
        await fh.write(chunk);
      }
      await fh.sync();
    } catch (err) {
      await fh.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== d.digest || size !== d.size) {
      await rm(tmp, { force: true });
      throw new Error(`blob ${d.digest} came out as ${actual} (${size} bytes, ${d.size} expected)`);
    }
    await rename(tmp, this.blobPath(d.digest));
  }

  /**
   * Opens a file of the layout for reading without following links: a cache directory the engine
   * reads may be a client's synced one (sync keeps symbolic links), so a link there — in place of a
   * blob, index.json, blobs/ or blobs/sha256/ — could name any file of the engine's host. Anything
   * but a regular file under real directories is refused before a byte of it is read.
   */
  async #openFile(rel: readonly string[]): Promise<{ fh: FileHandle; size: number }> {
    for (let i = 1; i < rel.length; i++) {
      const st = await lstat(join(this.dir, ...rel.slice(0, i))).catch(() => undefined);
      if (st !== undefined && !st.isDirectory()) throw new Error(`${rel.slice(0, i).join("/")}/ of the cache directory is a symbolic link or not a directory (only real files are read; copy the cache directory with real files)`);
    }
    let fh: FileHandle;
    try {
      fh = await open(join(this.dir, ...rel), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new Error(`${rel.join("/")} of the cache directory is a symbolic link (only real files are read; copy the cache directory with real files)`);
      throw err;
    }
    const st = await fh.stat().catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`${rel.join("/")} of the cache directory is not a regular file`);
    }
    return { fh, size: st.size };
  }

  async *openBlob(digest: Digest, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const { fh } = await this.#openFile(["blobs", "sha256", digestHex(digest)]);
    try {
      for (;;) {
        signal.throwIfAborted();
        const { bytesRead, buffer } = await fh.read({ buffer: Buffer.allocUnsafe(1 << 16) });
        if (bytesRead === 0) return;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }

  async #readFile(rel: readonly string[]): Promise<Buffer> {
    const { fh, size } = await this.#openFile(rel);
    try {
      if (size > MAX_DOCUMENT) throw new Error(`${rel.join("/")} of the cache directory is larger than ${MAX_DOCUMENT} bytes`);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async readDocument(d: OciDescriptor): Promise<Uint8Array> {
    if (d.size > MAX_DOCUMENT) throw new Error(`${d.digest} is larger than ${MAX_DOCUMENT} bytes`);
    const bytes = await this.#readFile(["blobs", "sha256", digestHex(d.digest)]);
    const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (actual !== d.digest) throw new Error(`blob ${d.digest} holds ${actual}`);
    return bytes;
  }

  /** The entries of `index.json`; none when the directory is not a layout (yet). */
  async entries(): Promise<OciDescriptor[]> {
    let text: string;
    try {
      text = (await this.#readFile(["index.json"])).toString("utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const doc = parseManifestDocument(text);
    if (!doc.ok || doc.value.kind !== "index") throw new Error(`index.json is not an OCI image index${doc.ok ? "" : `: ${doc.error}`}`);
    return [...doc.value.index.manifests];
  }

  /** The entry named `tag` (or with `digest`), if any. */
  async resolve(sel: { readonly tag: string; readonly digest?: Digest }): Promise<OciDescriptor | undefined> {
    const all = await this.entries();
    if (sel.digest !== undefined) return all.find((d) => d.digest === sel.digest);
    return all.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === sel.tag);
  }

  /** Names `root` `tag` in `index.json` (replacing what had that name), then drops unreachable blobs. */
  async tag(root: OciDescriptor, tag: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const kept = (await this.entries()).filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== tag);
    const entry = { mediaType: root.mediaType, digest: root.digest, size: root.size, annotations: { [REF_NAME_ANNOTATION]: tag } };
    const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [...kept, entry] };
    await writeFile(join(this.dir, "oci-layout"), LAYOUT_FILE);
    const tmp = join(this.dir, `.index-${randomBytes(6).toString("hex")}.json`);
    await writeFile(tmp, goJson(index));
    await rename(tmp, join(this.dir, "index.json"));
    await this.#collect();
  }

  /** Removes blobs that no `index.json` entry reaches (and temporary files of crashed writers). */
  async #collect(): Promise<void> {
    const reachable = new Set<string>();
    const visit = async (d: OciDescriptor, depth: number): Promise<void> => {
      if (reachable.has(d.digest) || depth > 4) return;
      reachable.add(d.digest);
      if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) return;
      let bytes: Uint8Array;
      try {
        bytes = await this.readDocument(d);
      } catch {
        return;
      }
      const doc = parseManifestDocument(bytes, d.mediaType);
      if (!doc.ok) return;
      if (doc.value.kind === "manifest") {
        for (const c of [doc.value.manifest.config, ...doc.value.manifest.layers]) reachable.add(c.digest);
      } else {
        for (const c of doc.value.index.manifests) await visit(c, depth + 1);
      }
    };
    for (const e of await this.entries()) await visit(e, 0);
    const dir = join(this.dir, "blobs", "sha256");
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const digest = `sha256:${name}`;
      if (name.startsWith(".tmp-") || (isDigest(digest) && !reachable.has(digest))) await rm(join(dir, name), { force: true });
    }
  }
}

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as tarStream from "tar-stream";
import { readTar, type ReadTarOptions, type TarEntryType } from "../snapshots/tar.ts";
import { htkError } from "../../base/errors/index.ts";
import type { Digest } from "../../cache/index.ts";

/**
 * Tar for image archives: a deterministic writer (the same entries give the same bytes: fixed owners,
 * no user names, mtimes given by the caller, entries sorted bytewise by path as Go's `filepath.Walk`
 * gives them to Docker's `archive.Tar`), a streaming reader that refuses unsafe paths and truncation,
 * and the layer measurement `docker load` needs (diff ID, tar size, content size) in one pass.
 * Promoted from the test harness's `testing/oci/tar.ts`, trimmed to what archives contain.
 */

export type ArchiveEntry =
  | { readonly type: "directory"; readonly path: string; readonly mtime?: Date }
  | { readonly type: "symlink"; readonly path: string; readonly target: string; readonly mtime?: Date }
  | { readonly type: "file"; readonly path: string; readonly content: Uint8Array; readonly mtime?: Date }
  /** A streamed file; `size` must be exactly the number of bytes `open` yields (else the archive fails). */
  | {
      readonly type: "file";
      readonly path: string;
      readonly size: number;
      readonly open: () => Promise<AsyncIterable<Uint8Array>>;
      readonly mtime?: Date;
    };

const EPOCH = new Date(0);

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * A tar stream of `entries`, sorted bytewise by path. Files stream one after the other (bounded
 * memory); a failure of any source destroys the returned stream with that error. Pass `signal` to
 * stop early.
 */
export function packArchive(entries: readonly ArchiveEntry[], opts: { signal?: AbortSignal } = {}): Readable {
  const sorted = [...entries].sort((a, b) => compareBytes(a.path, b.path));
  const pack = tarStream.pack();
  const feed = async (): Promise<void> => {
    for (const entry of sorted) {
      opts.signal?.throwIfAborted();
      await addEntry(pack, entry);
    }
    pack.finalize();
  };
  const out = Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false });
  feed().catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    pack.destroy(e);
    out.destroy(e);
  });
  return out;
}

async function addEntry(pack: tarStream.Pack, entry: ArchiveEntry): Promise<void> {
  const base = { uid: 0, gid: 0, uname: "", gname: "", mtime: entry.mtime ?? EPOCH };
  if (entry.type === "directory") {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ ...base, name: `${entry.path}/`, type: "directory", mode: 0o755 }, (err) => (err ? reject(err) : resolve()));
    });
    return;
  }
  if (entry.type === "symlink") {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ ...base, name: entry.path, type: "symlink", mode: 0o777, linkname: entry.target }, (err) => (err ? reject(err) : resolve()));
    });
    return;
  }
  if ("content" in entry) {
    const buf = Buffer.from(entry.content.buffer, entry.content.byteOffset, entry.content.byteLength);
    await new Promise<void>((resolve, reject) => {
      pack.entry({ ...base, name: entry.path, type: "file", mode: 0o644, size: buf.length }, buf, (err) => (err ? reject(err) : resolve()));
    });
    return;
  }
  const source = await entry.open();
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => reject(err instanceof Error ? err : new Error(String(err)));
    const sink = pack.entry({ ...base, name: entry.path, type: "file", mode: 0o644, size: entry.size }, (err) => (err ? fail(err) : resolve()));
    sink.on("error", fail);
    const copy = async (): Promise<void> => {
      for await (const chunk of source) {
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", () => r()));
      }
      sink.end(undefined);
    };
    copy().catch((err: unknown) => {
      sink.destroy(err instanceof Error ? err : new Error(String(err)));
      fail(err);
    });
  });
}

/** "./blobs//sha256/x" → "blobs/sha256/x"; undefined for a path that would leave the archive. */
export function safeArchivePath(name: string): string | undefined {
  if (name.startsWith("/")) return undefined;
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) return undefined;
  return parts.join("/");
}

export interface ReadEntry {
  /** Normalised path (no "./", no trailing "/"). */
  readonly path: string;
  readonly type: "file" | "directory" | "symlink" | "hardlink" | "other";
  readonly size: number;
  /** The target of a link, as written in the archive. */
  readonly linkname?: string;
  /** The entry's bytes; consume them or leave them (they are skipped when the next entry is read). */
  readonly stream: AsyncIterable<Uint8Array>;
}

/** Image archives as Docker reads them: a clean end without the zero blocks is the end; unknown entry types are skipped. */
function archiveTarOptions(signal: AbortSignal | undefined, drainTrailer: boolean): ReadTarOptions {
  return { endMarker: "optional", drainTrailer, unknownTypes: "skip", ...(signal !== undefined ? { signal } : {}) };
}

function archiveType(t: TarEntryType): ReadEntry["type"] {
  return t === "file" || t === "directory" || t === "symlink" || t === "hardlink" ? t : "other";
}

/**
 * The entries of a tar stream, one at a time, pulled from `source` as they are consumed (bounded
 * memory). Throws HTK-ENGINE-0216 on an unsafe path and HTK-ENGINE-0211 when the stream is not a tar
 * or ends in the middle of an entry.
 */
export async function* readArchive(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<ReadEntry> {
  try {
    for await (const { header: h, body } of readTar(source, archiveTarOptions(signal, false))) {
      const path = safeArchivePath(h.name);
      if (path === undefined) throw htkError("HTK-ENGINE-0216", { path: h.name });
      yield { path, type: archiveType(h.type), size: h.size, ...(h.linkname !== "" ? { linkname: h.linkname } : {}), stream: body };
    }
  } catch (err) {
    throw archiveError(err, signal);
  }
}

/** Resolves when `w` can take more, or has closed or failed (listeners removed either way). */
export function waitDrain(w: {
  once(event: "drain" | "close" | "error", fn: () => void): unknown;
  off(event: "drain" | "close" | "error", fn: () => void): unknown;
}): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off("drain", done);
      w.off("close", done);
      w.off("error", done);
      resolve();
    };
    w.once("drain", done);
    w.once("close", done);
    w.once("error", done);
  });
}

/** A failure while reading an archive as HTK-ENGINE-0211 (HtkErrors and cancellation pass through). */
export function archiveError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted === true) return signal.reason;
  if (err instanceof Error && (err.name === "HtkError" || err.name === "AbortError")) return err;
  const msg = (err instanceof Error ? err.message : String(err)).replace(/[.?!]+$/, "");
  const truncated = (err instanceof Error && err.name === "TarTruncatedError") || /unexpected end|premature close/i.test(msg);
  const detail = truncated ? `${msg}: it is truncated` : msg;
  return htkError("HTK-ENGINE-0211", { detail }, { cause: err });
}

/** What `docker load` and the image store learn from reading a layer once. */
export interface LayerMeasure {
  /** sha256 of the uncompressed tar: the config's diff ID. */
  readonly diffId: Digest;
  readonly tarSize: number;
  /** Sum of entry sizes, whiteouts excluded (Docker's layer DiffSize). */
  readonly contentSize: number;
}

export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** True when `head` (the first 512 bytes) is a tar header (ustar or old GNU/v7 with a valid checksum). */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < 512) return false;
  if (Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar") return true;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (head[i] ?? 0);
  const stored = parseInt(Buffer.from(head.subarray(148, 156)).toString("latin1").replace(/\0.*$/s, "").trim(), 8);
  return Number.isFinite(stored) && stored === sum && sum !== 32 * 8;
}

/**
 * Measures a layer: hashes the uncompressed tar and sums its entry sizes, streaming. `compression` is
 * the blob's; zstd cannot be read on Node 20 and gives undefined.
 */
export async function measureLayer(
  blob: AsyncIterable<Uint8Array>,
  compression: "none" | "gzip" | "zstd",
  signal?: AbortSignal,
): Promise<LayerMeasure | undefined> {
  if (compression === "zstd") return undefined;
  const hash = createHash("sha256");
  let tarSize = 0;
  let contentSize = 0;
  const source = Readable.from(blob, { objectMode: false });
  let input: AsyncIterable<Uint8Array> = source;
  if (compression === "gzip") {
    const gunzip = createGunzip();
    source.on("error", (e) => gunzip.destroy(e));
    input = source.pipe(gunzip);
  }
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of input) {
      hash.update(chunk);
      tarSize += chunk.byteLength;
      yield chunk;
    }
  }
  try {
    // The whole stream is hashed, trailer included: the diff ID covers every byte of the tar.
    for await (const { header: h } of readTar(hashed(), archiveTarOptions(signal, true))) {
      const base = h.name.split("/").filter((p) => p !== "").pop() ?? "";
      // Docker's UnpackLayer skips whiteout markers: they delete files, they add no content.
      if (!base.startsWith(".wh.")) contentSize += h.size;
    }
  } finally {
    source.destroy();
  }
  return { diffId: `sha256:${hash.digest("hex")}`, tarSize, contentSize };
}

import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import * as tarStream from "tar-stream";

/**
 * Tar writing for image layers and archives.
 *
 * Determinism is the point: the same entries give the same bytes, so a fixture's digest is stable run
 * to run. `packTar` therefore fixes everything a tar header could pick up from the environment (mtime,
 * owner names, entry order when given an array) and never reads the clock.
 */

interface TarEntryBase {
  /** Relative path inside the archive ("bin/sh"); a leading "/" or "./" is dropped. */
  readonly path: string;
  /** Permission bits including setuid/setgid/sticky (0o7777). */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Defaults to the pack's `mtime` option (the Unix epoch). */
  readonly mtime?: Date;
}

export type TarEntry = TarEntryBase &
  (
    | { readonly type: "directory" }
    | { readonly type: "file"; readonly content: Uint8Array }
    /**
     * A file streamed from disk (a path) or from a producer; `size` must be the number of bytes it
     * yields (a mismatch fails the archive rather than corrupting it).
     */
    | {
        readonly type: "file";
        readonly source: string | (() => AsyncIterable<Uint8Array>);
        readonly size: number;
      }
    | { readonly type: "symlink"; readonly target: string }
    /** `target` is the archive path of an entry that comes EARLIER in the archive. */
    | { readonly type: "hardlink"; readonly target: string }
    | { readonly type: "character-device" | "block-device"; readonly devmajor: number; readonly devminor: number }
    | { readonly type: "fifo" }
  );

export interface PackOptions {
  /** The mtime of entries that carry none. Default: the Unix epoch. */
  readonly mtime?: Date;
}

const EPOCH = new Date(0);

/** "./bin//sh/" → "bin/sh"; refuses ".." so an archive can never point outside its root. */
export function normalizeTarPath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new Error(`tar path must not contain "..": ${path}`);
  if (parts.length === 0) throw new Error(`empty tar path: ${JSON.stringify(path)}`);
  return parts.join("/");
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Entries in archive order: sorted bytewise by path (so parents precede children), duplicates refused,
 * and every hard link checked to point at an entry that comes before it (tar readers need that).
 */
export function sortTarEntries(entries: readonly TarEntry[]): TarEntry[] {
  const normalized = entries.map((e) => ({ ...e, path: normalizeTarPath(e.path) }) as TarEntry);
  normalized.sort((a, b) => compareBytes(a.path, b.path));
  const seen = new Set<string>();
  for (const e of normalized) {
    if (seen.has(e.path)) throw new Error(`duplicate tar entry: ${e.path}`);
    if (e.type === "hardlink" && !seen.has(normalizeTarPath(e.target))) {
      throw new Error(`hard link ${e.path} points at ${e.target}, which does not come before it`);
    }
    seen.add(e.path);
  }
  return normalized;
}

/**
 * A tar stream of `entries`. An array is sorted first (see `sortTarEntries`); an async iterable is
 * written in the order it yields (`tarEntriesFromDirectory` yields a stable order itself).
 */
export function packTar(entries: readonly TarEntry[] | AsyncIterable<TarEntry>, options: PackOptions = {}): Readable {
  const pack = tarStream.pack();
  const source: Iterable<TarEntry> | AsyncIterable<TarEntry> = Array.isArray(entries)
    ? sortTarEntries(entries as readonly TarEntry[])
    : (entries as AsyncIterable<TarEntry>);
  const feed = async (): Promise<void> => {
    for await (const entry of source) await addEntry(pack, entry, options.mtime ?? EPOCH);
    pack.finalize();
  };
  // The feeder's failure surfaces as the stream's error; the catch keeps it from being unhandled.
  feed().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false });
}

function header(entry: TarEntry, defaultMtime: Date): tarStream.Header {
  const path = normalizeTarPath(entry.path);
  const base = {
    name: entry.type === "directory" ? `${path}/` : path,
    mode: entry.mode ?? (entry.type === "directory" ? 0o755 : 0o644),
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    uname: "",
    gname: "",
    mtime: entry.mtime ?? defaultMtime,
    size: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
  switch (entry.type) {
    case "directory":
      return { ...base, type: "directory" };
    case "file":
      return { ...base, type: "file", size: "content" in entry ? entry.content.byteLength : entry.size };
    case "symlink":
      return { ...base, type: "symlink", mode: entry.mode ?? 0o777, linkname: entry.target };
    case "hardlink":
      return { ...base, type: "link", linkname: normalizeTarPath(entry.target) };
    case "character-device":
    case "block-device":
      return { ...base, type: entry.type, devmajor: entry.devmajor, devminor: entry.devminor };
    case "fifo":
      return { ...base, type: "fifo" };
  }
}

async function addEntry(pack: tarStream.Pack, entry: TarEntry, defaultMtime: Date): Promise<void> {
  const h = header(entry, defaultMtime);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown): void => reject(err instanceof Error ? err : new Error(String(err)));
    const content = entry.type === "file" && "content" in entry ? entry.content : undefined;
    const sink =
      content !== undefined
        ? pack.entry(h, Buffer.from(content.buffer, content.byteOffset, content.byteLength), (err) => (err ? fail(err) : resolve()))
        : pack.entry(h, (err) => (err ? fail(err) : resolve()));
    // A sink fails on its own (size mismatch …); without a listener that would be an uncaught error.
    sink.on("error", fail);
    if (entry.type !== "file" || "content" in entry) return;
    const copy = async (): Promise<void> => {
      const chunks = typeof entry.source === "string" ? createReadStream(entry.source) : entry.source();
      for await (const chunk of chunks) {
        if (!sink.write(chunk as Uint8Array)) await new Promise<void>((r) => sink.once("drain", () => r()));
      }
      // streamx types require an argument; undefined means "no final chunk".
      sink.end(undefined);
    };
    copy().catch((err: unknown) => {
      sink.destroy(err instanceof Error ? err : new Error(String(err)));
      fail(err);
    });
  });
}

export interface DirectoryWalkOptions {
  /**
   * Decide per relative path: "skip" leaves the entry out, "contents" keeps a directory but not what is
   * in it (for /proc, /dev …), "keep" (or undefined) keeps it.
   */
  readonly filter?: (relativePath: string) => "keep" | "skip" | "contents" | undefined;
  /** Force an owner (for rootless builds); default: the owner on disk. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Force an mtime; default: the mtime on disk. */
  readonly mtime?: Date;
}

/**
 * The entries of a directory tree, depth first with names sorted bytewise, so the order is stable.
 * Files with several links become one file and hard links to it (the first path seen is the file).
 * Sockets are skipped; extended attributes are not carried (nothing in the fixtures needs them).
 */
export async function* tarEntriesFromDirectory(
  root: string,
  options: DirectoryWalkOptions = {},
): AsyncGenerator<TarEntry> {
  const firstPathOfInode = new Map<string, string>();
  async function* walk(dir: string, rel: string): AsyncGenerator<TarEntry> {
    const names = (await readdir(dir)).sort(compareBytes);
    for (const name of names) {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const decision = options.filter?.(relPath) ?? "keep";
      if (decision === "skip") continue;
      const abs = join(dir, name);
      const st = await lstat(abs);
      const common = {
        path: relPath,
        mode: st.mode & 0o7777,
        uid: options.owner?.uid ?? st.uid,
        gid: options.owner?.gid ?? st.gid,
        mtime: options.mtime ?? new Date(Math.floor(st.mtimeMs / 1000) * 1000),
      };
      if (st.isDirectory()) {
        yield { ...common, type: "directory" };
        if (decision !== "contents") yield* walk(abs, relPath);
      } else if (st.isSymbolicLink()) {
        yield { ...common, type: "symlink", target: await readlink(abs) };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? firstPathOfInode.get(key) : undefined;
        if (first !== undefined) {
          yield { ...common, type: "hardlink", target: first };
        } else {
          if (st.nlink > 1) firstPathOfInode.set(key, relPath);
          yield { ...common, type: "file", source: abs, size: st.size };
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = splitDeviceNumber(st.rdev);
        yield {
          ...common,
          type: st.isCharacterDevice() ? "character-device" : "block-device",
          devmajor: major,
          devminor: minor,
        };
      } else if (st.isFIFO()) {
        yield { ...common, type: "fifo" };
      }
      // Sockets cannot be archived; they are skipped.
    }
  }
  yield* walk(root, "");
}

/** Linux's encoding of dev_t (glibc's gnu_dev_major/gnu_dev_minor in <sys/sysmacros.h>). */
function splitDeviceNumber(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

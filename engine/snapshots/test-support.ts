import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { Readable } from "node:stream";
import * as tarStream from "tar-stream";
import { haveXattrTools } from "./fs-tools.ts";

/**
 * Helpers for this folder's tests only: archives crafted with tar-stream (so hostile names reach the
 * reader exactly as written) and a stable description of a directory tree to compare trees by.
 */

export interface CraftedEntry {
  readonly name: string;
  readonly type?: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  readonly content?: string | Buffer;
  readonly linkname?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly pax?: Record<string, string>;
}

/** An uncompressed tar of `entries`, in the order given. */
export async function craftTar(entries: readonly CraftedEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    // A file without content is still a (0-byte) file: tar-stream waits for a body otherwise.
    const content = e.content !== undefined ? Buffer.from(e.content) : type === "file" ? Buffer.alloc(0) : undefined;
    const header: tarStream.Header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_000_000_000_000),
      size: 0,
      uname: "",
      gname: "",
      linkname: e.linkname ?? "",
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      ...(e.pax !== undefined ? { pax: e.pax } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content !== undefined) pack.entry({ ...header, size: content.length }, content, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A source that yields `data` in small chunks (to exercise chunk boundaries). */
export function chunked(data: Uint8Array, size = 777): AsyncIterable<Uint8Array> {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += size) yield Buffer.from(data.subarray(i, i + size));
    })(),
  );
}

/**
 * "path type mode uid:gid [content|target|dev]" per entry, sorted: what a tree means to a container
 * (times left out; tests check them separately).
 */
export async function describeTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === "" ? root : `${root}/${rel}`)).sort();
    for (const name of names) {
      const p = rel === "" ? name : `${rel}/${name}`;
      const abs = `${root}/${p}`;
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      const own = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${p} dir ${mode} ${own}`);
        await walk(p);
      } else if (st.isSymbolicLink()) out.push(`${p} symlink ${own} -> ${await readlink(abs)}`);
      else if (st.isFile()) {
        const links = st.nlink > 1 ? ` x${st.nlink}` : "";
        out.push(`${p} file ${mode} ${own}${links} ${JSON.stringify((await readFile(abs)).toString("utf8").slice(0, 40))}`);
      }
      else if (st.isCharacterDevice()) out.push(`${p} chardev ${mode} ${own} ${st.rdev}`);
      else if (st.isBlockDevice()) out.push(`${p} blockdev ${mode} ${own} ${st.rdev}`);
      else if (st.isFIFO()) out.push(`${p} fifo ${mode} ${own}`);
    }
  };
  await walk("");
  return out;
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * setfattr/getfattr (Debian "attr") are needed for overlay whiteouts and extended attributes. Tests
 * that need them are skipped without them, and say so in their name.
 */
export const attrTools = await haveXattrTools();

export function needsAttr(title: string): string {
  return attrTools ? title : `${title} (skipped: setfattr/getfattr are missing, Debian package "attr")`;
}

import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, link, lstat, mkdir, realpath, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { join, posix, relative, sep } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { htkError } from "../../base/errors/index.ts";
import { readTar, TarFormatError, TarTruncatedError } from "../snapshots/index.ts";
import { parseGitUrl, type GitRepos } from "../worker/git.ts";

/**
 * The build context of `POST /build`: a tar upload (plain, gzip, bzip2, xz or zstd, told apart by
 * their magic bytes as Docker's DecompressStream does) or a `remote` URL (a git repository, a tar, or
 * a single Dockerfile), written into a folder of its own. Streamed: memory is one chunk plus a tar
 * header; nothing of the archive is buffered whole.
 */

type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number): number | undefined => head[i];
  if (b(0) === 0x1f && b(1) === 0x8b) return "gzip";
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return "bzip2";
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return "xz";
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return "zstd";
  return "none";
}

/** A source with its first bytes looked at (and put back). */
async function peek(source: AsyncIterable<Uint8Array>, want: number): Promise<{ head: Uint8Array; stream: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const first: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < want) {
    const n = await it.next();
    if (n.done === true) {
      done = true;
      break;
    }
    first.push(n.value);
    have += n.value.byteLength;
  }
  const head = Buffer.concat(first);
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (head.byteLength > 0) yield head;
    if (done) return;
    for (;;) {
      const n = await it.next();
      if (n.done === true) return;
      yield n.value;
    }
  }
  return { head, stream: rest() };
}

/** A program that decompresses stdin to stdout (`bzip2 -dc`, `xz -dc`, `zstd -dc`). */
function throughProgram(program: string, source: AsyncIterable<Uint8Array>, signal: AbortSignal): { stream: AsyncIterable<Uint8Array>; done: Promise<void> } {
  const child = spawn(program, ["-dc"], { stdio: ["pipe", "pipe", "pipe"], signal });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  const feeding = pipeline(Readable.from(source), child.stdin).catch((err: unknown) => {
    // The program stopped reading (it failed, or the tar reader is done): its exit code says which.
    if ((err as NodeJS.ErrnoException).code !== "EPIPE") throw err;
  });
  const done = (async () => {
    const [code] = await Promise.all([exited, feeding]);
    if (code !== 0) {
      const detail = `${program}: ${stderr.trim().split("\n")[0]?.replace(/^\S+: /, "") ?? `exit code ${String(code)}`}`;
      if (/end of|truncated|unexpected end|ends unexpectedly/i.test(stderr)) throw htkError("HTK-BUILD-0300", { detail });
      throw htkError("HTK-BUILD-0302", { detail });
    }
  })();
  return { stream: child.stdout, done };
}

function decompressed(compression: Compression, source: AsyncIterable<Uint8Array>, signal: AbortSignal): { stream: AsyncIterable<Uint8Array>; done: Promise<void> } {
  const d = decompressor(compression, source, signal);
  // Awaited by the caller once the tar reader is done; a failure before that must not go unhandled.
  d.done.catch(() => undefined);
  return d;
}

function decompressor(compression: Compression, source: AsyncIterable<Uint8Array>, signal: AbortSignal): { stream: AsyncIterable<Uint8Array>; done: Promise<void> } {
  switch (compression) {
    case "none":
      return { stream: source, done: Promise.resolve() };
    case "gzip": {
      const gunzip = createGunzip();
      const out = new PassThrough();
      const done = pipeline(Readable.from(source), gunzip, out, { signal }).catch((err: unknown) => {
        const msg = (err as Error).message;
        if (/unexpected end/i.test(msg)) throw htkError("HTK-BUILD-0300", { detail: `gzip: ${msg}` });
        throw htkError("HTK-BUILD-0302", { detail: `gzip: ${msg}` });
      });
      return { stream: out, done };
    }
    case "bzip2":
    case "xz":
    case "zstd":
      return throughProgram(compression, source, signal);
  }
}

export interface ExtractStats {
  readonly entries: number;
  readonly bytes: number;
}

/**
 * Writes a (possibly compressed) tar stream into `dest` (an empty folder). Entries that would land
 * outside it (absolute names, `..`, a parent that is a symbolic link, a hard link to outside) are
 * refused (HTK-BUILD-0301); a stream that ends inside the archive is HTK-BUILD-0300; one that is not a
 * tar HTK-BUILD-0302. An empty body is an empty context. Owners are not kept (contexts are read as root).
 */
export async function extractContext(body: AsyncIterable<Uint8Array>, dest: string, signal: AbortSignal): Promise<ExtractStats> {
  const { head, stream } = await peek(body, 6);
  if (head.byteLength === 0) return { entries: 0, bytes: 0 };
  const d = decompressed(detectCompression(head), stream, signal);
  const realDirs = new Set<string>([""]);
  let entries = 0;
  let bytes = 0;
  const dirTimes: Array<[string, number]> = [];
  const ensureParents = async (rel: string, name: string): Promise<void> => {
    const parts = rel.split("/").slice(0, -1);
    let cur = "";
    for (const p of parts) {
      cur = cur === "" ? p : `${cur}/${p}`;
      if (realDirs.has(cur)) continue;
      const st = await lstat(join(dest, cur)).catch(() => undefined);
      if (st === undefined) await mkdir(join(dest, cur), { mode: 0o755 });
      else if (st.isSymbolicLink()) throw htkError("HTK-BUILD-0301", { path: name, reason: `passes through the symbolic link "${cur}"` });
      else if (!st.isDirectory()) throw htkError("HTK-BUILD-0301", { path: name, reason: `needs "${cur}" to be a directory, and it is a file` });
      realDirs.add(cur);
    }
  };
  // Whether the last entry was read whole: the archive may end there (see below).
  let atEntryEnd = true;
  try {
    for await (const entry of readTar(d.stream)) {
      atEntryEnd = false;
      signal.throwIfAborted();
      const h = entry.header;
      const rel = safeContextPath(h.name);
      entries++;
      if (rel === "") {
        if (h.type === "directory") continue;
        throw htkError("HTK-BUILD-0301", { path: h.name, reason: "replaces the context's root directory" });
      }
      await ensureParents(rel, h.name);
      const path = join(dest, rel);
      const existing = await lstat(path).catch(() => undefined);
      if (h.type === "directory") {
        if (existing !== undefined && !existing.isDirectory()) await rm(path, { recursive: true, force: true });
        if (existing?.isDirectory() !== true) await mkdir(path, { mode: 0o755 });
        await chmod(path, h.mode & 0o7777);
        realDirs.add(rel);
        dirTimes.push([path, h.mtime]);
        continue;
      }
      // A later entry replaces an earlier one, never writes through it (a symbolic link).
      if (existing !== undefined) {
        await rm(path, { recursive: true, force: true });
        realDirs.delete(rel);
      }
      switch (h.type) {
        case "file":
          await pipeline(Readable.from(entry.body), createWriteStream(path, { mode: 0o600 }), { signal });
          await chmod(path, h.mode & 0o7777);
          await utimes(path, h.mtime, h.mtime);
          bytes += h.size;
          break;
        case "symlink":
          await symlink(h.linkname, path);
          break;
        case "hardlink": {
          const target = safeContextPath(h.linkname);
          const st = target === "" ? undefined : await lstat(join(dest, target)).catch(() => undefined);
          if (st === undefined || st.isDirectory()) throw htkError("HTK-BUILD-0301", { path: h.name, reason: `is a hard link to "${h.linkname}", which is not a file earlier in the archive` });
          await link(join(dest, target), path);
          break;
        }
        default:
          // Devices and FIFOs have no meaning in a build context (Docker's CLI never sends them).
          break;
      }
      atEntryEnd = true;
    }
    await d.done;
  } catch (err) {
    // The docker CLI's rewritten context (`-f` outside the context) ends right after the last entry's
    // data, without padding or end-of-archive blocks; Go's tar reader, which dockerd uses, takes that
    // as the end. So do we: only an archive cut inside a header or an entry's data is truncated.
    if (err instanceof TarTruncatedError && atEntryEnd && /end-of-archive|inside an entry's data/.test(err.message)) {
      await d.done;
      for (const [path, mtime] of dirTimes.reverse()) await utimes(path, mtime, mtime).catch(() => undefined);
      return { entries, bytes };
    }
    // The decompressor's own verdict (truncated, corrupt) explains a tar error better.
    await d.done;
    if (err instanceof TarTruncatedError) throw htkError("HTK-BUILD-0300", { detail: err.message });
    if (err instanceof TarFormatError) throw htkError("HTK-BUILD-0302", { detail: err.message });
    throw err;
  }
  for (const [path, mtime] of dirTimes.reverse()) await utimes(path, mtime, mtime).catch(() => undefined);
  return { entries, bytes };
}

/** A tar entry name as a path inside the context ("" for the root); HTK-BUILD-0301 when it leaves it. */
export function safeContextPath(name: string): string {
  if (name.includes("\0")) throw htkError("HTK-BUILD-0301", { path: name, reason: "contains a NUL byte" });
  if (name.startsWith("/")) throw htkError("HTK-BUILD-0301", { path: name, reason: "is an absolute path" });
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw htkError("HTK-BUILD-0301", { path: name, reason: "climbs out of the context with \"..\"" });
  return parts.join("/");
}

/**
 * The Dockerfile named by `dockerfile` inside the context (default `Dockerfile`, then `dockerfile`, as
 * Docker's classic builder looks). Symbolic links are followed inside the context only.
 */
export async function locateDockerfile(contextDir: string, name: string | undefined): Promise<string> {
  const wanted = name === undefined || name === "" ? "Dockerfile" : name;
  const rel = posix.normalize(wanted.replace(/^\/+/, ""));
  if (rel === ".." || rel.startsWith("../")) throw htkError("HTK-BUILD-0304", { name: wanted });
  const candidates = name === undefined || name === "" ? ["Dockerfile", "dockerfile"] : [rel];
  const root = await realpath(contextDir);
  for (const c of candidates) {
    const real = await realpath(join(root, c)).catch(() => undefined);
    if (real === undefined) continue;
    const inside = relative(root, real);
    if (inside.startsWith(`..${sep}`) || inside === "..") throw htkError("HTK-BUILD-0304", { name: wanted });
    const st = await lstat(real);
    if (st.isFile()) return real;
  }
  throw htkError("HTK-BUILD-0303", { name: wanted });
}

// ---- remote contexts -----------------------------------------------------------------------------

/** Docker's `urlutil.IsGitURL`: an http(s) URL ending in `.git` (fragment allowed), `git://`, `github.com/`, `git@`. */
export function isGitUrl(s: string): boolean {
  if (/^https?:\/\//.test(s) && /\.git(?:#.+)?$/.test(s)) return true;
  return s.startsWith("git://") || s.startsWith("github.com/") || s.startsWith("git@");
}

export type RemoteContext =
  /** The context folder (a subdirectory of `dest` for `#ref:subdir`). */
  | { readonly kind: "dir"; readonly dir: string }
  /** A single text file: the Dockerfile; the context is otherwise empty. */
  | { readonly kind: "dockerfile"; readonly dir: string; readonly dockerfile: string };

/** Fetches a `remote` context into `dest` (an empty folder); git remotes through `repos` (the worker's clone cache). */
export async function fetchRemoteContext(remote: string, dest: string, repos: GitRepos, signal: AbortSignal): Promise<RemoteContext> {
  if (isGitUrl(remote)) return cloneGit(remote, dest, repos, signal);
  if (!/^https?:\/\//.test(remote)) throw htkError("HTK-BUILD-0305", { url: remote, detail: "it is neither a git repository nor an http(s) URL" });
  let res: Response;
  try {
    res = await fetch(remote, { signal, redirect: "follow" });
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw htkError("HTK-BUILD-0305", { url: remote, detail: (err as Error).message }, { cause: err });
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => undefined);
    throw htkError("HTK-BUILD-0305", { url: remote, detail: `the server answered ${res.status} ${res.statusText}` });
  }
  const { head, stream } = await peek(res.body as unknown as AsyncIterable<Uint8Array>, 512);
  const type = res.headers.get("content-type") ?? "";
  const archive = detectCompression(head) !== "none" || isTarHeader(head);
  if (!archive && (type.startsWith("text/plain") || looksLikeText(head))) {
    // Docker: "If the URI points to a single text file, the file's contents are placed into a file
    // called Dockerfile". The file is small; read it with a bound.
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const c of stream) {
      size += c.byteLength;
      if (size > MAX_REMOTE_DOCKERFILE) throw htkError("HTK-BUILD-0305", { url: remote, detail: `the Dockerfile is larger than ${MAX_REMOTE_DOCKERFILE} bytes` });
      chunks.push(c);
    }
    const file = join(dest, "Dockerfile");
    await writeFile(file, Buffer.concat(chunks));
    return { kind: "dockerfile", dir: dest, dockerfile: file };
  }
  await extractContext(stream, dest, signal);
  return { kind: "dir", dir: dest };
}

const MAX_REMOTE_DOCKERFILE = 4 * 1024 * 1024;

function isTarHeader(head: Uint8Array): boolean {
  return head.byteLength >= 262 && Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar";
}

function looksLikeText(head: Uint8Array): boolean {
  return !head.includes(0);
}

/**
 * A git remote as the classic builder takes it (`URL#ref:subdir`): checked out by the worker's git
 * runner and clone cache (engine/worker/git.ts), the tree without `.git` written into `dest`.
 */
async function cloneGit(remote: string, dest: string, repos: GitRepos, signal: AbortSignal): Promise<RemoteContext> {
  const target = parseGitUrl(remote);
  const resolved = await repos.resolve(target, signal);
  const dir = join(dest, "repo");
  await mkdir(dir);
  await repos.checkout({ target, resolved, keepGitDir: false, dest: dir, signal });
  return { kind: "dir", dir };
}

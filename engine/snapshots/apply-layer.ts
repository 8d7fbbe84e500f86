import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink } from "node:fs/promises";
import { posix } from "node:path";
import { spawn } from "node:child_process";
import { Duplex, PassThrough, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import type { Digest } from "../../cache/index.ts";
import type { LayerCompression } from "../../base/oci/index.ts";
import { makeNodes, setXattrs, type SpecialNode, type XattrSet } from "./fs-tools.ts";
import { readTar, TarFormatError, TarTruncatedError, type TarHeader } from "./tar.ts";
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_PREFIX } from "./whiteouts.ts";

/**
 * How the OCI whiteouts of a layer (`.wh.<name>`, `.wh..wh..opq`) are applied:
 * - `delete`: onto a merged tree (the copying fallback): the named path is removed, an opaque
 *   directory loses everything this layer did not put there itself (containerd's `applyNaive`);
 * - `overlay`: into a layer's own overlayfs lower directory: a whiteout becomes a 0/0 character device
 *   and an opaque marker the `trusted.overlay.opaque=y` attribute on its directory (containerd's
 *   `OverlayConvertWhiteout`), so the kernel hides what lies below.
 */
export type WhiteoutMode = "delete" | "overlay";

export interface ApplyLayerOptions {
  readonly signal: AbortSignal;
  readonly whiteouts: WhiteoutMode;
  /** The blob's compression; "auto" (the default) looks at its first bytes. */
  readonly compression?: LayerCompression | "auto";
  /** Names the layer in diagnostics (its digest, usually). */
  readonly layer?: string;
  /** When given, a layer whose uncompressed bytes do not hash to this is refused (HTK-RUNTIME-0201). */
  readonly expectedDiffId?: Digest;
  /** The zstd decoder program (default "zstd" on PATH); null: none, zstd layers are refused. */
  readonly zstdProgram?: string | null;
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar, as it streamed by. */
  readonly diffId: Digest;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  readonly entries: number;
}

/**
 * Unpacks a layer tar stream into `dest` (which must exist). Streams with bounded memory, honours
 * AbortSignal, and refuses (HTK-RUNTIME-0200) any entry that would land outside `dest`: absolute
 * names, `..`, parents that are symbolic links, hard links to outside paths. A failed apply leaves
 * `dest` partly written: callers apply into a staging directory and discard it on failure (the
 * snapshotter does), which is how "nothing half-applied remains" is kept.
 *
 * We run as root, so owners, modes (setuid included), devices and `trusted.*`/`security.*` attributes
 * are restored as recorded.
 */
export async function applyLayer(
  dest: string,
  source: AsyncIterable<Uint8Array>,
  options: ApplyLayerOptions,
): Promise<ApplyLayerResult> {
  const layer = options.layer ?? "(stream)";
  const hash = createHash("sha256");
  let size = 0;
  const { signal } = options;
  signal.throwIfAborted();
  const tarBytes = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of decompress(source, options.compression ?? "auto", layer, options.zstdProgram === undefined ? "zstd" : options.zstdProgram, signal)) {
      signal.throwIfAborted();
      hash.update(chunk);
      size += chunk.byteLength;
      yield chunk;
    }
  };
  const applier = new Applier(posix.resolve(dest), options.whiteouts, layer, signal);
  let entries = 0;
  try {
    await applier.start();
    for await (const entry of readTar(tarBytes())) {
      signal.throwIfAborted();
      entries++;
      await applier.entry(entry.header, entry.body);
    }
    await applier.finish();
  } catch (err) {
    // Writes still in flight finish (or fail) first, so the caller can remove the directory safely.
    await applier.abandon();
    throw asLayerError(err, layer);
  }
  const diffId: Digest = `sha256:${hash.digest("hex")}`;
  if (options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
    throw htkError("HTK-RUNTIME-0201", { layer, detail: `its content hashes to ${diffId}, not to its diff_id ${options.expectedDiffId}` });
  }
  return { diffId, size, entries };
}

function asLayerError(err: unknown, layer: string): unknown {
  if (isHtkError(err)) return err;
  if (err instanceof TarTruncatedError || err instanceof TarFormatError) {
    return htkError("HTK-RUNTIME-0201", { layer, detail: err.message }, { cause: err });
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("Z_")) {
    return htkError("HTK-RUNTIME-0201", { layer, detail: `its compressed data is corrupt (${(err as Error).message})` }, { cause: err });
  }
  return err;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

async function* decompress(
  source: AsyncIterable<Uint8Array>,
  compression: LayerCompression | "auto",
  layer: string,
  zstdProgram: string | null,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done === true ? new Uint8Array(0) : first.value;
  const starts = (magic: readonly number[]): boolean => magic.every((b, i) => head[i] === b);
  const kind: LayerCompression =
    compression !== "auto" ? compression : starts(GZIP_MAGIC) ? "gzip" : starts(ZSTD_MAGIC) ? "zstd" : "none";
  const rest = async function* (): AsyncGenerator<Uint8Array> {
    try {
      if (first.done !== true) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    } finally {
      // Stopped early (a refused entry): release the source (a file handle, a socket) now.
      await it.return?.();
    }
  };
  switch (kind) {
    case "none":
      yield* rest();
      return;
    case "zstd":
    case "gzip": {
      const input = Readable.from(rest(), { objectMode: false });
      const gunzip = kind === "gzip" ? createGunzip({ chunkSize: 256 * 1024 }) : await zstdDecoder(zstdProgram, layer, signal);
      if (gunzip === undefined) {
        await it.return?.();
        throw htkError("HTK-RUNTIME-0204", { layer, compression: "zstd" });
      }
      input.on("error", (err) => gunzip.destroy(err));
      const onAbort = (): void => {
        gunzip.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      input.pipe(gunzip);
      try {
        for await (const chunk of gunzip) yield chunk as Buffer;
      } finally {
        signal.removeEventListener("abort", onAbort);
        input.destroy();
        gunzip.destroy();
      }
      return;
    }
  }
}

/**
 * Node 20 has no zstd (Node 22.15 does: zlib.createZstdDecompress); a well-kept decoder package
 * (fzstd, @mongodb-js/zstd) would be a new dependency. Until then the `zstd` program (Debian package
 * "zstd") decodes, as a filter process; without it, zstd layers are refused (HTK-RUNTIME-0204).
 */
async function zstdDecoder(program: string | null, layer: string, signal: AbortSignal): Promise<Duplex | undefined> {
  if (program === null || !(await hasProgram(program))) return undefined;
  const child = spawn(program, ["-d", "-c", "-q"], { stdio: ["pipe", "pipe", "pipe"], signal });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 2048) stderr += d;
  });
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  child.on("error", (err) => out.destroy(err));
  child.on("close", (code) => {
    if (code === 0) out.end();
    else out.destroy(htkError("HTK-RUNTIME-0201", { layer, detail: `its zstd data is corrupt (${stderr.trim() || `zstd exited ${code ?? "on a signal"}`})` }));
  });
  child.stdin.on("error", () => undefined);
  // A reader that stops early (a refused entry) must not leave the decoder running.
  out.on("close", () => child.kill());
  return Duplex.from({ writable: child.stdin, readable: out });
}

const programFound = new Map<string, Promise<boolean>>();
function hasProgram(name: string): Promise<boolean> {
  let found = programFound.get(name);
  if (found === undefined) {
    found = new Promise<boolean>((resolve) => {
      const c = spawn(name, ["--version"], { stdio: "ignore" });
      c.on("error", () => resolve(false));
      c.on("close", (code) => resolve(code === 0));
    });
    programFound.set(name, found);
  }
  return found;
}

/**
 * The relative path an entry names ("" for the root itself), or HTK-RUNTIME-0200. OCI layers use
 * relative names; "./" prefixes and doubled slashes are normal and removed. Absolute names and any
 * `..` are refused rather than cleaned: Go's `filepath.Clean` would quietly re-root them, which hides a
 * hostile archive instead of reporting it.
 */
export function safeEntryPath(name: string, layer: string): string {
  if (name.startsWith("/")) throw htkError("HTK-RUNTIME-0200", { layer, path: name, reason: "is an absolute path" });
  if (name.includes("\0")) throw htkError("HTK-RUNTIME-0200", { layer, path: name, reason: "contains a NUL byte" });
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw htkError("HTK-RUNTIME-0200", { layer, path: name, reason: "climbs out of the layer with \"..\"" });
  return parts.join("/");
}

/** Files up to this size are read into memory and written in the background, overlapping I/O. */
const BUFFERED_FILE_MAX = 1024 * 1024;
/** Bounds on background writes: memory is at most MAX_INFLIGHT_BYTES of file data. */
const MAX_INFLIGHT = 16;
const MAX_INFLIGHT_BYTES = 16 * 1024 * 1024;

interface Deferred {
  readonly path: string;
  readonly header: TarHeader;
}

class Applier {
  readonly #root: string;
  readonly #mode: WhiteoutMode;
  readonly #layer: string;
  readonly #signal: AbortSignal;
  /** Directories known to be real directories (not links) under the root, so parents are checked once. */
  readonly #dirs = new Set<string>([""]);
  /** Paths this layer put in place (and their parents): an opaque marker keeps them (delete mode). */
  readonly #unpacked = new Set<string>();
  #nodes: Array<SpecialNode & Deferred> = [];
  /** The paths of `#nodes`, for the per-entry check. */
  #nodePaths = new Set<string>();
  #xattrs: XattrSet[] = [];
  #dirTimes: Deferred[] = [];
  /** Background file writes by absolute path. Their promises never reject: a failure is kept here. */
  readonly #inflight = new Map<string, Promise<void>>();
  #inflightBytes = 0;
  #failure: { readonly error: unknown } | undefined;
  /** When the destination started empty: every path this layer has written or created. */
  #touched: Set<string> | undefined;

  constructor(root: string, mode: WhiteoutMode, layer: string, signal: AbortSignal) {
    this.#root = root;
    this.#mode = mode;
    this.#layer = layer;
    this.#signal = signal;
  }

  /** Call once before the first entry. */
  async start(): Promise<void> {
    if ((await readdir(this.#root)).length === 0) this.#touched = new Set();
  }

  #touchedBefore(rel: string): boolean {
    return this.#touched === undefined || this.#touched.has(rel) || this.#dirs.has(rel);
  }

  #abs(rel: string): string {
    return rel === "" ? this.#root : `${this.#root}/${rel}`;
  }

  #unsafe(path: string, reason: string): Error {
    return htkError("HTK-RUNTIME-0200", { layer: this.#layer, path, reason });
  }

  /** Makes sure every parent of `rel` is a real directory, creating missing ones (as tar does). */
  async #parents(rel: string, name: string, create: boolean): Promise<boolean> {
    const parts = rel.split("/");
    parts.pop();
    let cur = "";
    for (const part of parts) {
      cur = cur === "" ? part : `${cur}/${part}`;
      if (this.#dirs.has(cur)) continue;
      await this.#settlePath(this.#abs(cur));
      const st = await lstat(this.#abs(cur)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (st === undefined) {
        if (!create) return false;
        await mkdir(this.#abs(cur), { mode: 0o755 });
      } else if (st.isSymbolicLink()) {
        // Writing through a link could reach any file on the host: containerd resolves it inside the
        // root instead, but a layer made by a builder never needs that, so it is refused.
        throw this.#unsafe(name, `passes through the symbolic link "${cur}"`);
      } else if (!st.isDirectory()) {
        throw this.#unsafe(name, `lies below "${cur}", which is not a directory`);
      }
      this.#dirs.add(cur);
    }
    return true;
  }

  #markUnpacked(rel: string): void {
    if (this.#mode !== "delete") return;
    let cur = rel;
    while (cur !== "" && !this.#unpacked.has(cur)) {
      this.#unpacked.add(cur);
      const slash = cur.lastIndexOf("/");
      cur = slash === -1 ? "" : cur.slice(0, slash);
    }
  }

  /** Waits for every background write; rethrows the first failure. */
  async #settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight.values()]);
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Waits for the background write of one path, if there is one. */
  async #settlePath(full: string): Promise<void> {
    const task = this.#inflight.get(full);
    if (task !== undefined) await task;
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /** Runs a file write in the background, within the bounds; later entries that touch it wait. */
  async #background(full: string, bytes: number, work: () => Promise<void>): Promise<void> {
    while (this.#inflight.size >= MAX_INFLIGHT || (this.#inflight.size > 0 && this.#inflightBytes + bytes > MAX_INFLIGHT_BYTES)) {
      await Promise.race(this.#inflight.values());
    }
    if (this.#failure !== undefined) throw this.#failure.error;
    this.#inflightBytes += bytes;
    const task = work()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        this.#inflight.delete(full);
        this.#inflightBytes -= bytes;
      });
    this.#inflight.set(full, task);
  }

  /** After a failure: lets background writes end, ignoring their results. */
  async abandon(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight.values()]);
  }

  /**
   * Removes whatever is at `rel` (never following a link). When it was a directory, the directories
   * known below it are forgotten (only then: the scan is linear in the known directories).
   */
  async #remove(rel: string, isDirectory?: boolean): Promise<void> {
    const wasDir = isDirectory ?? (await lstat(this.#abs(rel)).then((st) => st.isDirectory(), () => false));
    // A directory may hold files still being written in the background; a file may be one itself.
    if (wasDir) await this.#settle();
    else await this.#settlePath(this.#abs(rel));
    await rm(this.#abs(rel), { recursive: true, force: true });
    if (!wasDir) return;
    for (const d of this.#dirs) if (d === rel || d.startsWith(`${rel}/`)) this.#dirs.delete(d);
    // Work deferred to the end (devices, attributes, directory times) below a directory that is gone
    // is dropped: a later entry may put a symbolic link there, and those paths would then lead out.
    const gone = this.#abs(rel);
    const below = (p: string): boolean => p === gone || p.startsWith(`${gone}/`);
    this.#setNodes(this.#nodes.filter((n) => !below(n.path)));
    this.#xattrs = this.#xattrs.filter((x) => !below(x.path));
    this.#dirTimes = this.#dirTimes.filter((d) => !below(d.path));
  }

  async entry(header: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const rel = safeEntryPath(header.name, this.#layer);
    const base = rel.slice(rel.lastIndexOf("/") + 1);
    const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    if (this.#failure !== undefined) throw this.#failure.error;
    if (base.startsWith(WHITEOUT_PREFIX)) {
      // Whiteouts delete trees and read directories: background writes must have landed first.
      await this.#settle();
      return this.#whiteout(rel, parent, base, header.name);
    }

    if (rel === "") {
      if (header.type !== "directory") throw this.#unsafe(header.name, "replaces the root directory with a non-directory");
      await this.#metadata("", header);
      this.#dirTimes.push({ path: this.#root, header });
      this.#xattr(this.#root, header);
      return;
    }
    await this.#parents(rel, header.name, true);
    const full = this.#abs(rel);
    await this.#settlePath(full);
    // A node still to be made at this path (an earlier entry) is replaced, as tar replaces files.
    if (this.#nodePaths.has(full)) this.#setNodes(this.#nodes.filter((n) => n.path !== full));
    // Into a directory that started empty (a layer's own overlay directory), only paths this layer
    // wrote can exist: the lstat, one round trip per entry, is saved for all the others.
    const existing = this.#touchedBefore(rel) ? await lstat(full).catch(() => undefined) : undefined;
    this.#touched?.add(rel);
    if (existing !== undefined && !(existing.isDirectory() && header.type === "directory")) {
      // tar semantics (and containerd's): a new entry replaces what is there, except dir over dir.
      await this.#remove(rel, existing.isDirectory());
    }
    this.#markUnpacked(rel);
    switch (header.type) {
      case "directory":
        // Created now (what follows goes inside it); owner and mode meanwhile.
        if (existing?.isDirectory() !== true) await mkdir(full, { mode: 0o700 });
        this.#dirs.add(rel);
        await this.#background(full, 0, () => this.#metadata(rel, header));
        this.#dirTimes.push({ path: full, header });
        break;
      case "file": {
        const write = async (chunks: AsyncIterable<Buffer> | readonly Buffer[]): Promise<void> => {
          // O_EXCL|O_NOFOLLOW: the path was just cleared, so an open that meets anything is an attack.
          const fh = await open(full, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of chunks) {
              this.#signal.throwIfAborted();
              await fh.write(chunk);
            }
          } finally {
            await fh.close();
          }
          await this.#metadata(rel, header);
          await lutimes(full, header.mtime, header.mtime);
        };
        if (header.size <= BUFFERED_FILE_MAX) {
          // Small files are the bulk of a layer: read now (the stream moves on), written meanwhile.
          const chunks: Buffer[] = [];
          for await (const chunk of body) chunks.push(chunk);
          const data = chunks.length === 1 && chunks[0] !== undefined ? chunks : [Buffer.concat(chunks)];
          await this.#background(full, header.size, () => write(data));
        } else {
          await write(body);
        }
        break;
      }
      case "symlink":
        // The target is not checked: it is resolved later inside the container's root, and nothing
        // here ever follows a link.
        await this.#background(full, 0, async () => {
          await symlink(header.linkname, full);
          await lchown(full, header.uid, header.gid);
          await lutimes(full, header.mtime, header.mtime);
        });
        break;
      case "hardlink": {
        const targetRel = safeEntryPath(header.linkname, this.#layer);
        if (targetRel === "") throw this.#unsafe(header.name, "is a hard link to the root directory");
        if (!(await this.#parents(targetRel, header.name, false))) {
          throw htkError("HTK-RUNTIME-0201", { layer: this.#layer, detail: `the hard link "${header.name}" points at "${header.linkname}", which does not exist` });
        }
        if (this.#nodePaths.has(this.#abs(targetRel))) await this.#flushNodes();
        await this.#settlePath(this.#abs(targetRel));
        const target = await lstat(this.#abs(targetRel)).catch(() => undefined);
        if (target === undefined) {
          throw htkError("HTK-RUNTIME-0201", { layer: this.#layer, detail: `the hard link "${header.name}" points at "${header.linkname}", which does not exist` });
        }
        if (target.isDirectory()) throw this.#unsafe(header.name, "is a hard link to a directory");
        await this.#background(full, 0, () => link(this.#abs(targetRel), full));
        return;
      }
      case "char-device":
      case "block-device":
      case "fifo":
        this.#addNode({
          path: full,
          kind: header.type === "char-device" ? "char" : header.type === "block-device" ? "block" : "fifo",
          major: header.devmajor,
          minor: header.devminor,
          header,
        });
        break;
    }
    this.#xattr(full, header);
  }

  async #whiteout(rel: string, parent: string, base: string, name: string): Promise<void> {
    if (base === OPAQUE_MARKER) {
      await this.#parents(rel, name, true);
      if (this.#mode === "overlay") {
        if (parent !== "" && !this.#dirs.has(parent)) {
          await mkdir(this.#abs(parent), { mode: 0o755 });
          this.#dirs.add(parent);
        }
        this.#xattrs.push({ path: this.#abs(parent), attrs: new Map([[OVERLAY_OPAQUE_XATTR, Buffer.from("y")]]) });
        return;
      }
      const dir = this.#abs(parent);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const child of names) {
        const childRel = parent === "" ? child : `${parent}/${child}`;
        if (!this.#unpacked.has(childRel)) await this.#remove(childRel);
      }
      return;
    }
    // Other ".wh..wh." names are AUFS bookkeeping (plnk, aufs): meaningless outside AUFS.
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === "" || target === "." || target === "..") throw this.#unsafe(name, "is a whiteout without a valid name");
    const targetRel = parent === "" ? target : `${parent}/${target}`;
    if (this.#mode === "delete") {
      if (await this.#parents(targetRel, name, false)) await this.#remove(targetRel);
      return;
    }
    await this.#parents(targetRel, name, true);
    await this.#remove(targetRel);
    this.#addNode({ path: this.#abs(targetRel), kind: "char", major: 0, minor: 0, header: WHITEOUT_HEADER });
  }

  async #metadata(rel: string, header: TarHeader): Promise<void> {
    const full = this.#abs(rel);
    await lchown(full, header.uid, header.gid);
    // After chown: chown clears setuid/setgid bits.
    await chmod(full, header.mode & 0o7777);
  }

  #xattr(full: string, header: TarHeader): void {
    if (header.xattrs.size === 0) return;
    // A layer must not forge overlay state (opaque, redirect, origin …): only markers create that.
    const attrs = new Map([...header.xattrs].filter(([k]) => !k.startsWith("trusted.overlay.")));
    if (attrs.size > 0) this.#xattrs.push({ path: full, attrs });
  }

  #setNodes(nodes: Array<SpecialNode & Deferred>): void {
    this.#nodes = nodes;
    this.#nodePaths = new Set(nodes.map((n) => n.path));
  }

  #addNode(node: SpecialNode & Deferred): void {
    this.#nodes.push(node);
    this.#nodePaths.add(node.path);
  }

  async #flushNodes(): Promise<void> {
    const nodes = this.#nodes;
    this.#setNodes([]);
    await makeNodes(nodes, this.#signal);
    for (const n of nodes) {
      if (n.header === WHITEOUT_HEADER) continue;
      await lchown(n.path, n.header.uid, n.header.gid);
      await chmod(n.path, n.header.mode & 0o7777);
      await lutimes(n.path, n.header.mtime, n.header.mtime);
    }
  }

  async finish(): Promise<void> {
    await this.#settle();
    await this.#flushNodes();
    // Attributes go last: chown drops security.capability, so it must come after every chown.
    await setXattrs(this.#xattrs, this.#signal);
    // Directory times last of all: creating entries inside a directory changes its mtime.
    for (const d of this.#dirTimes.reverse()) await lutimes(d.path, d.header.mtime, d.header.mtime);
  }
}

const WHITEOUT_HEADER: TarHeader = {
  name: "",
  type: "char-device",
  mode: 0,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 0,
  linkname: "",
  devmajor: 0,
  devminor: 0,
  xattrs: new Map(),
};

import { constants, type BigIntStats } from "node:fs";
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink, utimes } from "node:fs/promises";
import { posix } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { decompressStream } from "../images/index.ts";
import { readUserDatabase } from "../runtime/index.ts";
import { encodeTarHeader, readTar, tarEnd, tarPadding, type TarWriteHeader } from "../snapshots/index.ts";
import { makeNodes } from "../snapshots/fs-tools.ts";
import { goBase, hostPathOf, resolveInContainer, type ContainerFsView, type ResolvedResource } from "./container-fs.ts";

/**
 * `docker cp` and `docker export` over a container's file system view (container-fs.ts): tar streams
 * of a resource as Docker's TarResourceRebase writes them, and the extraction of an uploaded tar as
 * Docker's Untar does it (chrooted in Docker; here every path is resolved inside the container, so
 * neither a `..` in an entry nor a symbolic link in the container leads out of it). Both stream:
 * memory is one read buffer, never a whole file or archive.
 */

const CHUNK = 256 * 1024;

function typeOf(st: BigIntStats): TarWriteHeader["type"] | undefined {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char-device";
  if (st.isBlockDevice()) return "block-device";
  if (st.isFIFO()) return "fifo";
  return undefined; // sockets: not archived, as Go's tar
}

function devNumbers(rdev: bigint): { devmajor: number; devminor: number } {
  return {
    devmajor: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    devminor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
  };
}

async function* fileData(path: string, size: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  // O_NOFOLLOW: the entry was stat'ed as a file; a link swapped in since is not followed out.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      signal.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(left, CHUNK));
      const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
      if (bytesRead === 0) {
        // It shrank while being archived: the header promised `size` bytes, so zeros keep the tar valid.
        yield Buffer.alloc(left);
        break;
      }
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
  yield tarPadding(size);
}

interface WalkCtx {
  readonly view: ContainerFsView;
  readonly signal: AbortSignal;
  /** dev:ino of multiply linked files already written → their name in the archive. */
  readonly links: Map<string, string>;
  /** The container's user and group names (Docker's tar runs chrooted, so Go looks them up there). */
  readonly users: ReadonlyMap<number, string>;
  readonly groups: ReadonlyMap<number, string>;
}

/** uid → name and gid → name from the container's /etc/passwd and /etc/group (first entry wins). */
async function ownerNames(view: ContainerFsView): Promise<{ users: Map<number, string>; groups: Map<number, string> }> {
  const users = new Map<number, string>();
  const groups = new Map<number, string>();
  const db = await readUserDatabase(hostPathOf(view, "/")).catch(() => ({ passwd: [], group: [] }));
  for (const u of db.passwd) if (!users.has(u.uid)) users.set(u.uid, u.name);
  for (const g of db.group) if (!groups.has(g.gid)) groups.set(g.gid, g.name);
  return { users, groups };
}

async function* entry(ctx: WalkCtx, containerPath: string, name: string, st: BigIntStats): AsyncGenerator<Buffer> {
  const type = typeOf(st);
  if (type === undefined) return;
  const host = hostPathOf(ctx.view, containerPath);
  const header: TarWriteHeader = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: type === "file" ? Number(st.size) : 0,
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    ...(ctx.users.has(Number(st.uid)) ? { uname: ctx.users.get(Number(st.uid)) as string } : {}),
    ...(ctx.groups.has(Number(st.gid)) ? { gname: ctx.groups.get(Number(st.gid)) as string } : {}),
    ...(type === "symlink" ? { linkname: await readlink(host) } : {}),
    ...(type === "char-device" || type === "block-device" ? devNumbers(st.rdev) : {}),
  };
  if (type === "file" && st.nlink > 1n) {
    const key = `${st.dev}:${st.ino}`;
    const first = ctx.links.get(key);
    if (first !== undefined) {
      yield encodeTarHeader({ ...header, type: "hardlink", size: 0, linkname: first });
      return;
    }
    ctx.links.set(key, name);
  }
  yield encodeTarHeader(header);
  if (type === "file") yield* fileData(host, header.size, ctx.signal);
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** A directory's entries below it, depth first, names in byte order (Go's WalkDir), under `name`. */
async function* walk(ctx: WalkCtx, containerPath: string, name: string | undefined): AsyncGenerator<Buffer> {
  ctx.signal.throwIfAborted();
  const names = (await readdir(hostPathOf(ctx.view, containerPath))).sort(byBytes);
  for (const child of names) {
    const childPath = containerPath === "/" ? `/${child}` : `${containerPath}/${child}`;
    // undefined: names relative to the walk's root (export); "": Docker's rebase of "/" ("/bin" …).
    const childName = name === undefined ? child : `${name}/${child}`;
    let st: BigIntStats;
    try {
      st = await lstat(hostPathOf(ctx.view, childPath), { bigint: true });
    } catch {
      continue; // gone meanwhile
    }
    yield* entry(ctx, childPath, childName, st);
    if (st.isDirectory()) yield* walk(ctx, childPath, childName);
  }
}

/**
 * The tar `docker cp CONTAINER:PATH` receives (Docker's TarResourceRebaseOpts): a directory's
 * entries under the name of the path asked for ("dir", "dir/x" …; "." and "./x" for "dir/."), a
 * single entry for anything else (a link stays a link). Whole-second times, PAX only when needed.
 */
export async function* archiveResource(view: ContainerFsView, resource: ResolvedResource, signal: AbortSignal): AsyncGenerator<Buffer> {
  const ctx: WalkCtx = { view, signal, links: new Map(), ...(await ownerNames(view)) };
  const rebase = goBase(resource.absPath);
  if (resource.stat.isDirectory()) {
    // Docker replaces the leading "." by the name asked for; the root's "/" becomes "" (names "/bin" …).
    const prefix = rebase === "/" ? "" : rebase;
    yield* entry(ctx, resource.containerPath, prefix, resource.stat);
    yield* walk(ctx, resource.containerPath, prefix);
  } else {
    yield* entry(ctx, resource.containerPath, rebase, resource.stat);
  }
  yield tarEnd();
}

/** `docker export`: every entry of the root file system, named relative to it ("bin/", "bin/sh" …). */
export async function* exportRootfs(view: ContainerFsView, signal: AbortSignal): AsyncGenerator<Buffer> {
  const ctx: WalkCtx = { view, signal, links: new Map(), ...(await ownerNames(view)) };
  for await (const chunk of walk(ctx, "/", undefined)) yield chunk;
  yield tarEnd();
}

// ---------------------------------------------------------------------------------------------------
// Extraction

export interface ExtractOptions {
  /** Refuse to replace a directory by a non-directory or the other way round (`docker cp`'s default). */
  readonly noOverwriteDirNonDir: boolean;
  /** `copyUIDGID`: every entry gets the container user's IDs instead of the archive's. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly signal: AbortSignal;
}

/** Go's filepath.Clean of an entry name, without leading or trailing slashes; "" is ".". */
function cleanEntryName(name: string): string {
  const n = posix.normalize(name).replace(/\/+$/, "");
  if (n === "" || n === "/") return ".";
  return n.replace(/^\/+/, "") || ".";
}

/**
 * Extracts an uploaded tar (plain or compressed: gzip, bzip2, xz, zstd) into the directory
 * `destination` of the container (already resolved, links followed), as Docker's Untar: missing
 * parents are made (0755), an existing entry is replaced unless both are directories, directories'
 * times are set last. Names that climb out of the destination and links whose targets would are
 * refused (HTK-ENGINE-0519/0520), as Docker refuses breakouts.
 */
export async function extractArchive(view: ContainerFsView, destination: string, source: AsyncIterable<Uint8Array>, opts: ExtractOptions): Promise<void> {
  const { signal } = opts;
  const dirTimes: Array<{ host: string; mtime: number }> = [];
  const invalid = (detail: string): Error => htkError("HTK-ENGINE-0521", { detail });
  try {
    for await (const e of readTar(decompressStream(source, { signal, describeError: invalid }))) {
      signal.throwIfAborted();
      const h = e.header;
      const name = cleanEntryName(h.name);
      if (name === ".." || name.startsWith("../")) throw htkError("HTK-ENGINE-0519", { name, dest: destination });
      const entryPath = name === "." ? destination : posix.join(destination, name);
      // The parent is resolved inside the container (its links followed there); the entry itself is not.
      const parent = await resolveInContainer(view, posix.dirname(entryPath), true);
      if (name !== ".") await mkdir(parent.hostPath, { recursive: true, mode: 0o755 });
      const base = posix.basename(entryPath);
      const containerPath = name === "." ? parent.containerPath : posix.join(parent.containerPath, base);
      const host = name === "." ? (await resolveInContainer(view, destination, true)).hostPath : posix.join(parent.hostPath, base);

      const existing = await lstat(host, { bigint: true }).catch(() => undefined);
      if (existing !== undefined) {
        const isDir = existing.isDirectory();
        if (opts.noOverwriteDirNonDir && isDir && h.type !== "directory") throw htkError("HTK-ENGINE-0517", { path: containerPath, dest: destination });
        if (opts.noOverwriteDirNonDir && !isDir && h.type === "directory") throw htkError("HTK-ENGINE-0518", { path: containerPath, dest: destination });
        // The destination itself: it stays as it is (the reader skips the entry's data).
        if (isDir && name === ".") continue;
        if (!(isDir && h.type === "directory")) await rm(host, { recursive: true, force: true });
      }

      const mode = h.mode & 0o7777;
      switch (h.type) {
        case "directory":
          if (existing === undefined || !existing.isDirectory()) await mkdir(host, { mode });
          break;
        case "file": {
          const fh = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
          try {
            for await (const chunk of e.body) await fh.write(chunk);
          } finally {
            await fh.close();
          }
          break;
        }
        case "hardlink": {
          // Docker: the target, taken inside the destination, must stay there.
          const target = posix.join(destination, cleanEntryName(h.linkname));
          if (target !== destination && !target.startsWith(`${destination === "/" ? "" : destination}/`)) {
            throw htkError("HTK-ENGINE-0520", { kind: "hardlink", path: target, target: h.linkname });
          }
          const resolved = await resolveInContainer(view, target, false);
          await link(resolved.hostPath, host);
          break;
        }
        case "symlink": {
          const target = posix.join(posix.dirname(entryPath), h.linkname);
          if (target !== destination && !target.startsWith(`${destination === "/" ? "" : destination}/`)) {
            throw htkError("HTK-ENGINE-0520", { kind: "symlink", path: entryPath, target: h.linkname });
          }
          await symlink(h.linkname, host);
          break;
        }
        case "char-device":
        case "block-device":
        case "fifo":
          await makeNodes([{ path: host, kind: h.type === "fifo" ? "fifo" : h.type === "char-device" ? "char" : "block", major: h.devmajor, minor: h.devminor }], signal);
          break;
        default: {
          const never: never = h.type;
          throw invalid(`unhandled tar entry type ${String(never)}`);
        }
      }
      const owner = opts.owner ?? { uid: h.uid, gid: h.gid };
      await lchown(host, owner.uid, owner.gid);
      if (h.type !== "symlink" && h.type !== "hardlink") await chmod(host, mode);
      if (h.type === "directory") dirTimes.push({ host, mtime: h.mtime });
      else if (h.type === "symlink") await lutimes(host, h.mtime, h.mtime).catch(() => undefined);
      else if (h.type !== "hardlink") await utimes(host, h.mtime, h.mtime);
    }
  } catch (err) {
    if (isHtkError(err) || signal.aborted) throw err;
    // A file system call that failed (no space, a read-only mount …) versus a stream that is not a tar.
    if (typeof (err as NodeJS.ErrnoException).syscall === "string") throw htkError("HTK-ENGINE-0523", { detail: (err as Error).message }, { cause: err });
    throw invalid(err instanceof Error ? err.message : String(err));
  }
  // Last, so that what was written into them does not move their times again.
  for (const d of dirTimes.reverse()) await utimes(d.host, d.mtime, d.mtime).catch(() => undefined);
}

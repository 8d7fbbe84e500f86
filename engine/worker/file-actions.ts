import { execFile, spawn } from "node:child_process";
import { constants, type Stats } from "node:fs";
import { chmod, copyFile, lchown, lstat, lutimes, mkdir, open, readdir, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import { htkError } from "../../base/errors/index.ts";
import { compile, type DockerignoreMatcher } from "../../base/dockerignore/index.ts";
import { expandPattern, hasMeta } from "../../cache/index.ts";
import type { CopyAction, MkdirAction, MkfileAction, RmAction } from "../../llb/index.ts";
import { resolveInRoot } from "./rootfs-path.ts";
import { resolveOwner, type Owner } from "./users.ts";

const run = promisify(execFile);

/**
 * The four file actions of LLB on plain directory trees, with BuildKit's semantics (its file backend
 * and fsutil's copy): paths are resolved inside the filesystem (links never escape it), owners given by
 * name are looked up in the filesystem being changed, modes and times are kept unless told otherwise.
 */

export async function mkdirAction(root: string, a: MkdirAction, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const owner = a.owner === undefined ? undefined : await resolveOwner(root, a.owner);
  const target = await resolveInRoot(root, a.path, true);
  const st = await lstatOrUndefined(target);
  if (st !== undefined) {
    if (st.isDirectory()) return;
    throw htkError("HTK-BUILD-0005", { action: "mkdir", path: a.path, detail: "a file of that name exists" });
  }
  if (!a.makeParents && (await lstatOrUndefined(posix.dirname(target))) === undefined) {
    throw htkError("HTK-BUILD-0005", { action: "mkdir", path: a.path, detail: "its parent directory does not exist" });
  }
  await makeDirs(root, target, a.mode, owner);
}

export async function mkfileAction(root: string, a: MkfileAction, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const owner = a.owner === undefined ? undefined : await resolveOwner(root, a.owner);
  const target = await resolveInRoot(root, a.path, true);
  if ((await lstatOrUndefined(posix.dirname(target))) === undefined) {
    throw htkError("HTK-BUILD-0005", { action: "mkfile", path: a.path, detail: "its parent directory does not exist" });
  }
  await writeFile(target, a.data, { mode: a.mode });
  await chmod(target, a.mode);
  if (owner !== undefined) await lchown(target, owner.uid, owner.gid);
}

export async function rmAction(root: string, a: RmAction, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const paths = a.allowWildcard && hasMeta(a.path) ? await glob(root, a.path) : [a.path];
  if (paths.length === 0 && !a.allowNotFound) {
    throw htkError("HTK-BUILD-0005", { action: "rm", path: a.path, detail: "nothing matches" });
  }
  for (const p of paths) {
    const target = await resolveInRoot(root, p, false);
    if ((await lstatOrUndefined(target)) === undefined) {
      if (a.allowNotFound) continue;
      throw htkError("HTK-BUILD-0005", { action: "rm", path: p, detail: "it does not exist" });
    }
    await rm(target, { recursive: true, force: true });
  }
}

/**
 * COPY/ADD: `src` from `srcRoot` to `dest` in `destRoot`.
 * - a destination ending in `/`, or an existing directory, receives the source by its base name;
 * - a directory source with `copyDirContents` gives its contents, not itself (Dockerfile COPY);
 * - `attemptUnpackArchive` unpacks a local tar (plain, gzip, bzip2, xz) into the destination (ADD);
 * - `--chown` applies to everything copied and to the directories created for it, `--chmod` to
 *   everything copied; otherwise owners, modes and times come from the source.
 */
export async function copyAction(srcRoot: string, destRoot: string, a: CopyAction, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  const owner = a.owner === undefined ? undefined : await resolveOwner(destRoot, a.owner);
  const wildcard = a.allowWildcard && hasMeta(a.src);
  const sources = wildcard ? await glob(srcRoot, a.src) : [a.src];
  if (sources.length === 0) {
    if (a.allowEmptyWildcard) return;
    throw htkError("HTK-CACHE-0006", { path: a.src });
  }
  const filter = makeFilter(a.include, a.exclude);
  const destHost = await resolveInRoot(destRoot, a.dest, true);
  for (const src of sources) {
    signal.throwIfAborted();
    const srcHost = await resolveInRoot(srcRoot, src, a.followSymlinks);
    const st = await lstatOrUndefined(srcHost);
    if (st === undefined) throw htkError("HTK-CACHE-0006", { path: src });
    const destStat = await lstatOrUndefined(destHost);
    const destIsDir = a.dest.endsWith("/") || sources.length > 1 || destStat?.isDirectory() === true;
    if (st.isDirectory() && a.copyDirContents) {
      await ensureDir(destRoot, destHost, a, owner);
      if (owner === undefined && a.mode === undefined && a.include.length === 0 && a.exclude.length === 0) {
        // Nothing to change on the way: GNU cp keeps owners, modes, times and links, and shares blocks
        // where the filesystem can — far faster than a file-by-file copy for a large context.
        await fastCopyContents(srcHost, destHost, a, signal);
      } else {
        await copyChildren(srcHost, destHost, "", a, owner, filter, signal);
      }
    } else if (a.attemptUnpackArchive && st.isFile() && (await isArchive(srcHost))) {
      await ensureDir(destRoot, destHost, a, owner);
      await run("tar", ["-x", "--same-owner", "-p", "-f", srcHost, "-C", destHost], { signal });
    } else {
      const target = destIsDir ? posix.join(destHost, posix.basename(srcHost)) : destHost;
      if (destIsDir) await ensureDir(destRoot, destHost, a, owner);
      else await ensureParent(destRoot, target, a, owner);
      await copyEntry(srcHost, target, st, a, owner, filter, "", signal);
    }
  }
}

async function fastCopyContents(src: string, dest: string, a: CopyAction, signal: AbortSignal): Promise<void> {
  try {
    await run("cp", ["-a", "--reflink=auto", "--", `${src}/.`, dest], { signal, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? "");
    const m = /cannot overwrite (?:non-)?directory '([^']*)'/.exec(stderr);
    if (m !== null) throw htkError("HTK-BUILD-0001", { what: `"${posix.basename(m[1] ?? "")}"`, dest: a.dest }, { cause: err });
    throw err;
  }
}

type PathFilter = (rel: string, isDir: boolean) => "copy" | "skip" | "descend";

/** COPY --exclude (Docker's ignore-file semantics) and include patterns, relative to the source. */
function makeFilter(include: readonly string[], exclude: readonly string[]): PathFilter {
  const ex: DockerignoreMatcher | undefined = exclude.length > 0 ? compile(exclude, "COPY --exclude") : undefined;
  const inc: DockerignoreMatcher | undefined = include.length > 0 ? compile(include, "COPY include") : undefined;
  return (rel, isDir) => {
    if (ex?.matchesOrParentMatches(rel) === true) return isDir && ex.hasExceptions ? "descend" : "skip";
    if (inc !== undefined && !inc.matchesOrParentMatches(rel)) return isDir ? "descend" : "skip";
    return "copy";
  };
}

async function copyChildren(
  srcDir: string,
  destDir: string,
  rel: string,
  a: CopyAction,
  owner: Owner | undefined,
  filter: PathFilter,
  signal: AbortSignal,
): Promise<void> {
  const names = (await readdir(srcDir)).sort();
  for (const name of names) {
    signal.throwIfAborted();
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const srcPath = posix.join(srcDir, name);
    const st = await lstat(srcPath);
    const verdict = filter(childRel, st.isDirectory());
    if (verdict === "skip") continue;
    if (verdict === "descend") {
      // A directory only some of whose entries are wanted: created only if something lands in it.
      const dest = posix.join(destDir, name);
      const before = await lstatOrUndefined(dest);
      await mkdir(dest, { recursive: true });
      await copyChildren(srcPath, dest, childRel, a, owner, filter, signal);
      if (before === undefined && (await readdir(dest)).length === 0) await rm(dest, { recursive: true });
      else await applyMeta(dest, st, a, owner, true);
      continue;
    }
    await copyEntry(srcPath, posix.join(destDir, name), st, a, owner, filter, childRel, signal);
  }
}

async function copyEntry(
  src: string,
  dest: string,
  st: Stats,
  a: CopyAction,
  owner: Owner | undefined,
  filter: PathFilter,
  rel: string,
  signal: AbortSignal,
): Promise<void> {
  const existing = await lstatOrUndefined(dest);
  if (existing !== undefined) {
    const sameKind = existing.isDirectory() === st.isDirectory();
    if (!sameKind) {
      if (!a.alwaysReplaceExisting && existing.isDirectory()) {
        throw htkError("HTK-BUILD-0001", { what: `the file "${posix.basename(src)}"`, dest: a.dest });
      }
      await rm(dest, { recursive: true, force: true });
    } else if (!st.isDirectory()) {
      await rm(dest, { force: true });
    }
  }
  if (st.isDirectory()) {
    await mkdir(dest, { recursive: true });
    await copyChildren(src, dest, rel, a, owner, filter, signal);
    await applyMeta(dest, st, a, owner, true);
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(src), dest);
    await lchown(dest, owner?.uid ?? st.uid, owner?.gid ?? st.gid);
    await lutimes(dest, st.atime, st.mtime);
  } else if (st.isFile()) {
    await copyFile(src, dest, constants.COPYFILE_FICLONE);
    await applyMeta(dest, st, a, owner, false);
  } else {
    // Devices, fifos and sockets: recreated as they are (tar does it faithfully).
    await run("cp", ["-a", "--", src, dest], { signal });
    await applyMeta(dest, st, a, owner, false);
  }
}

async function applyMeta(path: string, st: Stats, a: CopyAction, owner: Owner | undefined, isDir: boolean): Promise<void> {
  await lchown(path, owner?.uid ?? st.uid, owner?.gid ?? st.gid);
  // chown clears setuid/setgid bits: the mode goes on after it.
  const mode = a.mode ?? st.mode & 0o7777;
  await chmod(path, isDir && a.mode !== undefined ? a.mode : mode);
  await utimes(path, st.atime, st.mtime);
}

/** The destination directory itself, created (with parents) when allowed. */
async function ensureDir(root: string, dir: string, a: CopyAction, owner: Owner | undefined): Promise<void> {
  const st = await lstatOrUndefined(dir);
  if (st?.isDirectory() === true) return;
  if (st !== undefined) throw htkError("HTK-BUILD-0001", { what: posix.basename(a.src) === "" ? "the source" : `"${a.src}"`, dest: a.dest });
  if (!a.createDestPath && (await lstatOrUndefined(posix.dirname(dir))) === undefined) {
    throw htkError("HTK-BUILD-0005", { action: "copy", path: a.dest, detail: "its parent directory does not exist" });
  }
  await makeDirs(root, dir, 0o755, owner);
}

async function ensureParent(root: string, target: string, a: CopyAction, owner: Owner | undefined): Promise<void> {
  const parent = posix.dirname(target);
  const st = await lstatOrUndefined(parent);
  if (st?.isDirectory() === true) return;
  if (st !== undefined) throw htkError("HTK-BUILD-0001", { what: `"${a.src}"`, dest: a.dest });
  if (!a.createDestPath) throw htkError("HTK-BUILD-0005", { action: "copy", path: a.dest, detail: "its parent directory does not exist" });
  await makeDirs(root, parent, 0o755, owner);
}

/** mkdir -p where every directory created gets `mode` and `owner` (existing ones are left alone). */
async function makeDirs(root: string, dir: string, mode: number, owner: Owner | undefined): Promise<void> {
  const rel = posix.relative(root, dir);
  if (rel.startsWith("..")) throw htkError("HTK-BUILD-0003", { path: dir });
  let current = root;
  for (const part of rel.split("/").filter((p) => p !== "")) {
    current = posix.join(current, part);
    const st = await lstatOrUndefined(current);
    if (st?.isDirectory() === true) continue;
    if (st !== undefined) throw htkError("HTK-BUILD-0005", { action: "mkdir", path: posix.join("/", posix.relative(root, current)), detail: "a file of that name exists" });
    await mkdir(current, { mode });
    await chmod(current, mode);
    if (owner !== undefined) await lchown(current, owner.uid, owner.gid);
  }
}

/** Go `path.Match` expansion of a pattern inside a root (links followed inside it), sorted. */
export async function glob(root: string, pattern: string): Promise<string[]> {
  const candidates = await expandPattern(pattern, async (base) => {
    try {
      return await readdir(await resolveInRoot(root, base, true));
    } catch {
      return undefined;
    }
  });
  const out: string[] = [];
  for (const c of candidates) if ((await lstatOrUndefined(await resolveInRoot(root, c, false))) !== undefined) out.push(c);
  return out;
}

/**
 * Docker's rule for ADD: a local file is unpacked when it is a tar archive, plain or compressed with
 * gzip, bzip2 or xz. A compressed file that holds something else (a plain `.gz`) is copied as is, so
 * the first block after decompression must be a valid tar header (its checksum is what Go's tar reader
 * checks).
 */
async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  let head: Buffer;
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  let decompressor: string | undefined;
  if (head[0] === 0x1f && head[1] === 0x8b) decompressor = "gzip";
  else if (head.subarray(0, 3).toString("latin1") === "BZh") decompressor = "bzip2";
  else if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) decompressor = "xz";
  if (decompressor === undefined) return isTarHeader(head);
  const first = await firstDecompressedBlock(decompressor, path);
  return isTarHeader(first);
}

function firstDecompressedBlock(program: string, path: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const child = spawn(program, ["-dc", "--", path], { stdio: ["ignore", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on("data", (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= 512) child.kill();
    });
    child.once("error", () => resolve(Buffer.alloc(0)));
    child.once("close", () => resolve(Buffer.concat(chunks).subarray(0, 512)));
  });
}

function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  if (block.subarray(257, 262).toString("latin1") === "ustar") return true;
  const stored = Number.parseInt(block.subarray(148, 156).toString("latin1").replace(/\0.*$/s, "").trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === stored;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}


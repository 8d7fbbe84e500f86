import type { BigIntStats } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { rfc3339Nano } from "../state/index.ts";

/**
 * A container's file system as `docker cp` sees it, and path resolution inside it that never leaves
 * it (Go's securejoin / Docker's FollowSymlinkInScope: an absolute link target starts again at the
 * container's root, `..` stops at the root, links are followed at most 255 times).
 *
 * The view is a root directory on the host plus the mounts that lie over it: a running container's
 * is `/proc/<pid>/root` (the kernel walks its mount namespace, volumes and tmpfs included), a stopped
 * one's is its mounted root file system with the binds and volumes it would have, mapped to their
 * host folders (Docker mounts them for the copy).
 */

export interface FsMount {
  /** The mount point in the container (absolute, clean). */
  readonly destination: string;
  /** Where its files are on the host. */
  readonly source: string;
}

export interface ContainerFsView {
  readonly root: string;
  readonly mounts: readonly FsMount[];
}

const MAX_LINKS = 255;

/** The host path of a clean, absolute container path (the deepest mount over it, else the root). */
export function hostPathOf(view: ContainerFsView, containerPath: string): string {
  let best: FsMount | undefined;
  for (const m of view.mounts) {
    if (containerPath === m.destination || containerPath.startsWith(m.destination === "/" ? "/" : `${m.destination}/`)) {
      if (best === undefined || m.destination.length > best.destination.length) best = m;
    }
  }
  // "/." for the root itself: a running container's root is the magic link /proc/<pid>/root, which
  // lstat would report as a link, not as the directory it leads to.
  if (best === undefined) return containerPath === "/" ? `${view.root}/.` : `${view.root}${containerPath}`;
  const rest = containerPath.slice(best.destination.length);
  return rest === "" ? best.source : posix.join(best.source, rest);
}

async function lstatOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(path, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

/**
 * `path` (absolute or relative to the container's root) with every symbolic link resolved inside the
 * container; the last component's link only when `followFinal`. Components that do not exist are
 * taken as they are (lexically), so a destination that is yet to be created resolves too.
 */
export async function resolveInContainer(view: ContainerFsView, path: string, followFinal: boolean): Promise<{ readonly containerPath: string; readonly hostPath: string }> {
  const pending = posix.normalize(`/${path}`).split("/").filter((c) => c !== "");
  const done: string[] = [];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    if (missing) {
      done.push(part);
      continue;
    }
    const containerPath = `/${[...done, part].join("/")}`;
    const st = await lstatOrUndefined(hostPathOf(view, containerPath));
    if (st === undefined) {
      missing = true;
      done.push(part);
      continue;
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followFinal)) {
      if (++links > MAX_LINKS) throw htkError("HTK-ENGINE-0522", { path });
      const target = await readlink(hostPathOf(view, containerPath));
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter((c) => c !== ""));
      continue;
    }
    done.push(part);
  }
  const containerPath = `/${done.join("/")}`;
  return { containerPath, hostPath: hostPathOf(view, containerPath) };
}

/**
 * Docker's archive.PreserveTrailingDotOrSeparator: the cleaned absolute path, keeping a trailing
 * "/" or "/." of the original (they mean "the directory's contents").
 */
export function absoluteKeepingTrailing(path: string): string {
  const clean = posix.normalize(`/${path}`).replace(/(.)\/+$/, "$1");
  if (path.endsWith("/.") && clean !== "/") return `${clean}/.`;
  if (path.endsWith("/.") && clean === "/") return "/.";
  if ((path.endsWith("/") || path === "") && clean !== "/") return `${clean}/`;
  return clean;
}

/** Go's filepath.Base: trailing slashes dropped, "/" for the root. */
export function goBase(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return path.startsWith("/") ? "/" : ".";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Go's os.FileMode bits of a stat (what ContainerPathStat's `mode` carries). */
export function goFileMode(st: BigIntStats): number {
  // Added, not OR-ed: the type bits reach 2^31, beyond JavaScript's 32-bit signed bitwise operators.
  const mode = Number(st.mode);
  let out = mode & 0o777;
  if (st.isDirectory()) out += 2 ** 31;
  else if (st.isSymbolicLink()) out += 2 ** 27;
  else if (st.isBlockDevice()) out += 2 ** 26;
  else if (st.isCharacterDevice()) out += 2 ** 26 + 2 ** 21;
  else if (st.isFIFO()) out += 2 ** 25;
  else if (st.isSocket()) out += 2 ** 24;
  if ((mode & 0o4000) !== 0) out += 2 ** 23;
  if ((mode & 0o2000) !== 0) out += 2 ** 22;
  if ((mode & 0o1000) !== 0) out += 2 ** 20;
  return out;
}

/** Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros dropped) in UTC: the state clock's format. */
export const goTimeJson = rfc3339Nano;

/** Docker's ContainerPathStat (the `X-Docker-Container-Path-Stat` header, base64 of its JSON). */
export interface ContainerPathStat {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: string;
  readonly linkTarget: string;
}

/** A resource to archive or stat, resolved as Docker's container.ResolvePath does. */
export interface ResolvedResource {
  /** The path as asked for, absolute, with its trailing "/" or "/." kept. */
  readonly absPath: string;
  /** The container path with its directory's links resolved (not the last component's). */
  readonly containerPath: string;
  readonly hostPath: string;
  readonly stat: BigIntStats;
  readonly info: ContainerPathStat;
}

/**
 * Docker's ResolvePath + StatPath: the directory part resolved inside the container, the last
 * component as it is (a link stays a link: `linkTarget` is where it leads, fully resolved).
 * Undefined when there is nothing there.
 */
export async function statResource(view: ContainerFsView, path: string): Promise<ResolvedResource | undefined> {
  const absPath = absoluteKeepingTrailing(path);
  const slash = absPath.lastIndexOf("/");
  const dirPart = absPath.slice(0, slash + 1);
  const basePart = absPath.slice(slash + 1);
  const dir = await resolveInContainer(view, dirPart, true);
  const containerPath = basePart === "" || basePart === "." ? dir.containerPath : posix.join(dir.containerPath, basePart);
  const hostPath = hostPathOf(view, containerPath);
  const st = await lstatOrUndefined(hostPath);
  if (st === undefined) return undefined;
  let linkTarget = "";
  if (st.isSymbolicLink()) linkTarget = (await resolveInContainer(view, absPath, true)).containerPath;
  return {
    absPath,
    containerPath,
    hostPath,
    stat: st,
    info: { name: goBase(absPath), size: Number(st.size), mode: goFileMode(st), mtime: goTimeJson(st.mtimeNs), linkTarget },
  };
}

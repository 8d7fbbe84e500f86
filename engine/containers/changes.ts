import type { BigIntStats } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { getXattrsTree } from "../snapshots/fs-tools.ts";
import { OVERLAY_OPAQUE_XATTR } from "../snapshots/index.ts";

/**
 * `docker diff` (Docker's archive.OverlayChanges / ChangesDirs): what a container's writable layer
 * changed against its image, in the walk order Docker reports (depth first, names in byte order):
 * Kind 0 modified ("C"), 1 added ("A"), 2 deleted ("D"). A directory that only holds changes is
 * reported as modified (its parent, for an added or deleted entry, once).
 *
 * Docker keeps the files it creates for every container (the mount points of /etc/hosts,
 * /etc/resolv.conf, /etc/hostname, /dev/console …, `.dockerenv`) in an init layer under the
 * writable one, so they never show up; here the runtime creates them in the writable layer, so they
 * are left out by name, and /etc and /dev count as changed only when something else in them is.
 */

export type ChangeKind = 0 | 1 | 2;

export interface Change {
  readonly Path: string;
  readonly Kind: ChangeKind;
}

/** Docker's init layer (daemon/initlayer): created for every container, never part of its changes. */
export const INIT_LAYER_PATHS: ReadonlySet<string> = new Set([
  "/dev/pts",
  "/dev/shm",
  "/proc",
  "/sys",
  "/.dockerenv",
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/hostname",
  "/dev/console",
  "/etc/mtab",
]);

/** Directories the init layer's files live in. */
export const INIT_LAYER_PARENTS: ReadonlySet<string> = new Set(["/dev", "/etc"]);

async function statOrUndefined(path: string, follow: boolean): Promise<BigIntStats | undefined> {
  try {
    return follow ? await stat(path, { bigint: true }) : await lstat(path, { bigint: true });
  } catch {
    return undefined;
  }
}

/** Go's sameFsTime: equal, or equal seconds when either side has no sub-second part. */
function sameFsTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  const s = 1_000_000_000n;
  return a / s === b / s && (a % s === 0n || b % s === 0n);
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

interface Walk {
  readonly upper: string;
  readonly lower: string | undefined;
  /** overlay: `upper` is an overlayfs upper directory (whiteouts, opaque directories); compare: two full trees. */
  readonly mode: "overlay" | "compare";
  readonly opaque: ReadonlySet<string>;
  readonly changes: Change[];
  readonly changedDirs: Set<string>;
  readonly signal: AbortSignal;
}

function record(w: Walk, path: string, kind: ChangeKind, isDir: boolean): void {
  if (isDir) w.changedDirs.add(path);
  if (kind !== 0) {
    const parent = path.slice(0, path.lastIndexOf("/")) || "/";
    if (parent !== "/" && !w.changedDirs.has(parent)) {
      w.changes.push({ Path: parent, Kind: 0 });
      w.changedDirs.add(parent);
    }
  }
  w.changes.push({ Path: path, Kind: kind });
}

async function walk(w: Walk, dir: string): Promise<void> {
  w.signal.throwIfAborted();
  const upperNames = (await readdir(dir === "/" ? w.upper : `${w.upper}${dir}`)).sort(byBytes);
  for (const name of upperNames) {
    const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
    if (INIT_LAYER_PATHS.has(path)) continue;
    const st = await statOrUndefined(`${w.upper}${path}`, false);
    if (st === undefined) continue;
    const isDir = st.isDirectory();
    if (w.mode === "overlay" && st.isCharacterDevice() && st.rdev === 0n) {
      record(w, path, 2, false);
      continue;
    }
    // One lstat of the lower entry; a symlink is followed only where the comparison needs its target.
    const belowLink = w.lower === undefined ? undefined : await statOrUndefined(`${w.lower}${path}`, false);
    const below = belowLink?.isSymbolicLink() === true ? await statOrUndefined(`${w.lower}${path}`, true) : belowLink;
    let kind: ChangeKind | undefined;
    if (w.mode === "overlay" && isDir && w.opaque.has(`${w.upper}${path}`) && below !== undefined) {
      // Docker's overlayDeletedFile: an opaque directory over one that existed is reported deleted.
      kind = 2;
    } else if (INIT_LAYER_PARENTS.has(path) && isDir) {
      // The runtime created mount points here; it changed only if its metadata did.
      kind = below === undefined || (below.isDirectory() && below.mode === st.mode && below.uid === st.uid && below.gid === st.gid) ? undefined : 0;
    } else if (below === undefined) {
      kind = 1;
    } else if (isDir && below.isDirectory() && st.size === below.size && st.mode === below.mode && sameFsTime(st.mtimeNs, below.mtimeNs)) {
      kind = undefined;
    } else if (w.mode === "compare" && !isDir && belowLink !== undefined && unchangedFile(st, belowLink)) {
      kind = undefined;
    } else {
      kind = 0;
    }
    if (kind !== undefined) record(w, path, kind, isDir);
    if (isDir) await walk(w, path);
  }
  if (w.mode === "compare" && w.lower !== undefined) {
    const lowerDir = dir === "/" ? w.lower : `${w.lower}${dir}`;
    const lowerNames = await readdir(lowerDir).catch(() => [] as string[]);
    const upperSet = new Set(upperNames);
    for (const name of lowerNames.sort(byBytes)) {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      if (!upperSet.has(name) && !INIT_LAYER_PATHS.has(path)) record(w, path, 2, false);
    }
  }
}

/** containerd's double-walk rule for two plain trees: same type, mode, owner, size and mtime. */
function unchangedFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.size === b.size && a.mtimeNs === b.mtimeNs && a.rdev === b.rdev;
}

/**
 * The changes of an overlayfs upper directory over `lower` (the image's layers as one read-only view;
 * undefined for a container of an empty image).
 */
export async function overlayChanges(upper: string, lower: string | undefined, signal: AbortSignal): Promise<Change[]> {
  const attrs = await getXattrsTree(upper, signal);
  const opaque = new Set([...attrs].filter(([, a]) => a.get(OVERLAY_OPAQUE_XATTR)?.toString() === "y").map(([p]) => p));
  const w: Walk = { upper, lower, mode: "overlay", opaque, changes: [], changedDirs: new Set(), signal };
  await walk(w, "/");
  return w.changes;
}

/** The changes between two full trees (the snapshotter's copy mode): the container's and its image's. */
export async function treeChanges(tree: string, base: string | undefined, signal: AbortSignal): Promise<Change[]> {
  const w: Walk = { upper: tree, lower: base, mode: "compare", opaque: new Set(), changes: [], changedDirs: new Set(), signal };
  await walk(w, "/");
  return w.changes;
}

import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";

const MAX_LINKS = 255;

/**
 * The host path of `path` inside the filesystem rooted at `root`, resolving symbolic links as the
 * container would see them: an absolute link target is relative to `root`, and `..` never climbs
 * above it (Go's securejoin rule, which BuildKit's file ops use). Missing components are fine: the
 * rest of the path is appended as is, so a destination that does not exist yet still resolves.
 * `followFinal` decides whether a link in the last component is followed (COPY's follow-symlinks).
 */
export async function resolveInRoot(root: string, path: string, followFinal: boolean): Promise<string> {
  const pending = posix.normalize(`/${path}`).split("/").filter((c) => c !== "");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = posix.join(root, ...done, part);
    const isLast = pending.length === 0;
    let st;
    try {
      st = await lstat(candidate);
    } catch {
      done.push(part, ...pending);
      return posix.join(root, ...done);
    }
    if (st.isSymbolicLink() && (!isLast || followFinal)) {
      if (++links > MAX_LINKS) throw htkError("HTK-BUILD-0003", { path });
      const target = await readlink(candidate);
      const parts = target.split("/").filter((c) => c !== "");
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...parts);
      continue;
    }
    done.push(part);
  }
  return posix.join(root, ...done);
}

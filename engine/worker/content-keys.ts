import { posix } from "node:path";
import type { ChecksumTree, ContextHasher } from "../../cache/index.ts";
import type { ContentKey, ContentSelector } from "../../solver/index.ts";

/**
 * A COPY source's key answered from the checksum tree a local-context snapshot was made with, without
 * hashing the snapshot again. Only plain (non-wildcard) paths of non-link entries are answered: a path
 * through a symbolic link is resolved by the hasher.
 */
export function keyFromTree(tree: ChecksumTree, selector: ContentSelector): ContentKey | undefined {
  if (selector.wildcard) return undefined;
  const at = posix.normalize(`/${selector.path}`).replace(/(.)\/$/, "$1");
  const node = tree.entries[at];
  if (node === undefined || node.type === "symlink") return undefined;
  const prefix = at === "/" ? "/" : `${at}/`;
  const entries = Object.fromEntries(Object.entries(tree.entries).filter(([p]) => p === at || p.startsWith(prefix)));
  return { digest: node.digest, tree: { source: at, digest: node.digest, entries } };
}

/** A selector's key hashed on a snapshot's root filesystem. */
export async function hashSelector(hasher: ContextHasher, root: string, selector: ContentSelector, signal: AbortSignal): Promise<ContentKey> {
  const path = selector.path === "" || selector.path === "/" ? "." : selector.path.replace(/^\/+/, "");
  const tree = await hasher.checksumTree(root, path, {
    wildcard: selector.wildcard,
    followLinks: selector.followLinks,
    allowEmptyWildcard: selector.allowEmptyWildcard,
    signal,
  });
  return { digest: tree.digest, tree };
}

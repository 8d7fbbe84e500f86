/**
 * Whether an ADD source is a git repository, and which (BuildKit's `ParseGitRef` of v0.13): the
 * `git://`, `ssh://` and `git@` transports, `github.com/…` shorthands, and http(s) URLs whose path
 * ends in `.git`; a `#ref[:subdir]` fragment picks a branch, tag or commit and a subdirectory.
 */
export interface GitRef {
  readonly remote: string;
  readonly ref: string;
  readonly subdir: string;
}

export function parseGitRef(src: string): GitRef | undefined {
  const hash = src.indexOf("#");
  const base = hash === -1 ? src : src.slice(0, hash);
  const fragment = hash === -1 ? "" : src.slice(hash + 1);
  const isGit =
    base.startsWith("git://") ||
    base.startsWith("ssh://") ||
    base.startsWith("git@") ||
    base.startsWith("github.com/") ||
    (/^https?:\/\//.test(base) && /\.git\/?$/.test(base.replace(/[?].*$/, "")));
  if (!isGit) return undefined;
  const colon = fragment.indexOf(":");
  const remote = base.startsWith("github.com/") ? `https://${base}` : base;
  return { remote, ref: colon === -1 ? fragment : fragment.slice(0, colon), subdir: colon === -1 ? "" : fragment.slice(colon + 1) };
}

export const isHttpSource = (src: string): boolean => /^https?:\/\//.test(src) && parseGitRef(src) === undefined;

import { mkdir, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import type { DockerfileSource, GitBuildContext } from "../build/engine-builds.ts";
import { redactRemote } from "../worker/git.ts";
import type { GitRepos } from "../worker/git.ts";
import { fetchRemoteContext, isGitUrl } from "./build-context.ts";

/**
 * A Solve whose context is a URL (`docker build https://…/repo.git#ref:subdir`, `docker build
 * https://…/ctx.tar`): buildx sends it as the `context` frontend attribute and syncs no directory.
 *
 * - a git repository becomes the build's git source in the engine (BuildKit's git context: resolved to
 *   a commit, cached by it, the Dockerfile read from it — `filename` is a path inside it);
 * - an http(s) URL is BuildKit's http context: a tar archive (any compression) is the context, any
 *   other file the Dockerfile of an empty context; it is fetched into a folder of this build's.
 */
export interface RemoteContextLease {
  readonly context: string | GitBuildContext;
  /** The Dockerfile when the client sent none. */
  readonly dockerfile: DockerfileSource;
  release(): Promise<void>;
}

export async function remoteContext(url: string, filename: string, opts: { readonly repos: GitRepos; readonly scratch: string; readonly signal: AbortSignal }): Promise<RemoteContextLease> {
  if (isGitUrl(url) || url.startsWith("ssh://")) {
    return { context: { kind: "git", url }, dockerfile: { kind: "file", path: filename }, release: async () => undefined };
  }
  if (!/^https?:\/\//.test(url)) throw htkError("HTK-BUILD-0401", { url: redactRemote(url), detail: "it is neither a git repository nor an http(s) URL" });
  const dir = join(opts.scratch, "remote-context");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const fetched = await fetchRemoteContext(url, dir, opts.repos, opts.signal);
    const dockerfile: DockerfileSource = fetched.kind === "dockerfile" ? { kind: "file", path: relative(fetched.dir, fetched.dockerfile) } : { kind: "file", path: filename };
    return { context: fetched.dir, dockerfile, release };
  } catch (err) {
    await release();
    throw err;
  }
}

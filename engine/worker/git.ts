import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rm, stat, utimes } from "node:fs/promises";
import { posix } from "node:path";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import type { GitSource } from "../../llb/index.ts";
import { Mutex, copyInto } from "./runtime-helpers.ts";

/**
 * Git sources (BuildKit's `source/git`): the one place the engine runs git. A remote is fetched into a
 * bare repository of its own under `<worker root>/git/` (the local clone cache: one per remote, at
 * most {@link MAX_REPOS}, least recently used removed first), a ref is resolved to a commit with
 * `ls-remote` (what the cache key is made of), and a commit is checked out into a directory.
 *
 * git runs with prompts off (a remote that wants credentials fails at once, as auth failure), in its own
 * process group, killed with everything it started when the signal aborts.
 */

/** What a git source names: the remote, the ref (empty: the default branch) and a subdirectory. */
export interface GitTarget {
  readonly remote: string;
  readonly ref: string;
  readonly subdir: string;
}

/**
 * The source's `ref` carries `ref:subdir` (BuildKit's dockerfile frontend passes the URL fragment so and
 * its git identifier splits it at the first colon).
 */
export function gitTarget(source: Pick<GitSource, "remote" | "ref">): GitTarget {
  const colon = source.ref.indexOf(":");
  return { remote: source.remote, ref: colon === -1 ? source.ref : source.ref.slice(0, colon), subdir: colon === -1 ? "" : source.ref.slice(colon + 1) };
}

/** `https://u:p@host/x.git#ref:sub` → the remote and the fragment's ref and subdirectory. */
export function parseGitUrl(url: string): GitTarget {
  const hash = url.indexOf("#");
  const base = hash === -1 ? url : url.slice(0, hash);
  const remote = base.startsWith("github.com/") ? `https://${base}` : base;
  return gitTarget({ remote, ref: hash === -1 ? "" : url.slice(hash + 1) });
}

export function isCommitSha(ref: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);
}

/** A URL with its password (or token) hidden, as BuildKit's RedactCredentials writes it. */
export function redactRemote(remote: string): string {
  return remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]+)@/i, (_, scheme: string, cred: string) => `${scheme}${cred.includes(":") ? `${cred.slice(0, cred.indexOf(":"))}:xxxxx` : "xxxxx"}@`);
}

/** BuildKit's cache key of a checkout: the commit, `.git` when kept, `:subdir` when one is named. */
export function gitCacheKey(commit: string, subdir: string, keepGitDir: boolean): string {
  return `${commit}${keepGitDir ? ".git" : ""}${subdir === "" ? "" : `:${subdir}`}`;
}

// ---- running git ---------------------------------------------------------------------------------

interface RunOptions {
  readonly signal: AbortSignal;
  /** For error messages: the remote the command is about. */
  readonly remote: string;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Stdout kept at most this many bytes (the rest is dropped); default 1 MiB. */
  readonly maxStdout?: number;
  /** A dumb-HTTP server (or an old one) cannot serve shallow fetches: retry without `--depth=1`. */
  readonly depthFallback?: boolean;
}

const MAX_STDERR = 16 * 1024;

/** Runs git; resolves with its stdout; rejects with an HTK-RUNTIME-030x error that names the cause. */
export async function runGit(args: readonly string[], opts: RunOptions): Promise<Buffer> {
  try {
    return await runOnce(args, opts);
  } catch (err) {
    const e = err as GitExit;
    if (opts.depthFallback === true && e instanceof GitExit && /depth|shallow/i.test(e.stderr) && args.includes("--depth=1")) {
      return runGit(
        args.filter((a) => a !== "--depth=1"),
        { ...opts, depthFallback: false },
      );
    }
    if (e instanceof GitExit) throw classify(e, opts.remote, args);
    throw err;
  }
}

class GitExit extends Error {
  constructor(
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`git exited with ${String(code)}: ${stderr}`);
  }
}

function runOnce(args: readonly string[], opts: RunOptions): Promise<Buffer> {
  opts.signal.throwIfAborted();
  return new Promise<Buffer>((resolve, reject) => {
    // Its own process group: git starts helpers (git-remote-http, ssh) that a kill of git alone would leave.
    const child = spawn("git", ["-c", "protocol.file.allow=user", ...args], {
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        GIT_TERMINAL_PROMPT: "0",
        // A remote that asks for a password gets none: the fetch fails (auth) instead of waiting.
        GIT_ASKPASS: "/bin/false",
        SSH_ASKPASS: "/bin/false",
        GIT_SSH_COMMAND: process.env["GIT_SSH_COMMAND"] ?? "ssh -o BatchMode=yes",
        LC_ALL: "C",
        ...opts.env,
      },
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    const maxOut = opts.maxStdout ?? 1024 * 1024;
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      if (outBytes >= maxOut) return;
      out.push(d.subarray(0, maxOut - outBytes));
      outBytes += d.byteLength;
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      if (stderr.length < MAX_STDERR) stderr += d;
    });
    const kill = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    opts.signal.addEventListener("abort", kill, { once: true });
    child.on("error", (err: NodeJS.ErrnoException) => {
      opts.signal.removeEventListener("abort", kill);
      reject(err.code === "ENOENT" ? htkError("HTK-RUNTIME-0306", { detail: err.message }, { cause: err }) : err);
    });
    child.on("close", (code) => {
      opts.signal.removeEventListener("abort", kill);
      if (opts.signal.aborted) return reject(opts.signal.reason as Error);
      if (code === 0) return resolve(Buffer.concat(out));
      reject(new GitExit(code, stderr));
    });
  });
}

/** The failure as the user should read it: unreachable, no such repository, auth, or git's own words. */
function classify(e: GitExit, remote: string, args: readonly string[]): HtkError {
  const text = e.stderr;
  const last = text.trim().split("\n").filter((l) => l.trim() !== "").at(-1)?.replace(/^(fatal|error): /, "") ?? `exit code ${String(e.code)}`;
  const url = redactRemote(remote);
  const detail = redactRemote(last);
  if (/Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|returned error: 40[13]|Access denied|Host key verification failed|Invalid username or password/i.test(text)) {
    return htkError("HTK-RUNTIME-0302", { url, detail });
  }
  if (/returned error: 404|Repository not found|does not appear to be a git repository|repository .* not found|No such file or directory|not a git repository/i.test(text)) {
    return htkError("HTK-RUNTIME-0301", { url, detail });
  }
  if (/Could not resolve host|Connection refused|Failed to connect|Couldn't connect|Connection timed out|Network is unreachable|No route to host|Could not read from remote repository|Operation timed out|Connection reset|unable to access/i.test(text)) {
    return htkError("HTK-RUNTIME-0300", { url, detail });
  }
  return htkError("HTK-RUNTIME-0304", { url, command: `git ${args.find((a) => !a.startsWith("-") && !a.includes("=") && !a.startsWith("/")) ?? ""}`.trim(), detail });
}

// ---- the clone cache ------------------------------------------------------------------------------

/** Bare repositories kept at once; the least recently used goes first. */
export const MAX_REPOS = 32;

/** Every ref this cache writes into a bare repository lives under here. */
const OWN_REFS = "refs/htk";

/** What a ref resolved to: the commit, and whether the ref is a branch or a tag (for a kept `.git`). */
export interface GitResolved {
  readonly commit: string;
  readonly branch?: string;
  readonly tag?: string;
}

export interface CheckoutOptions {
  readonly target: GitTarget;
  readonly resolved: GitResolved;
  readonly keepGitDir: boolean;
  /** An empty directory that receives the tree (a snapshot's root). */
  readonly dest: string;
  readonly signal: AbortSignal;
}

/** The bare repositories of the remotes builds used (`<worker root>/git/`). */
export class GitRepos {
  readonly #root: string;
  readonly #max: number;
  readonly #locks = new Map<string, Mutex>();

  constructor(root: string, opts: { readonly maxRepos?: number } = {}) {
    this.#root = root;
    this.#max = opts.maxRepos ?? MAX_REPOS;
  }

  #dir(remote: string): string {
    return posix.join(this.#root, "repos", createHash("sha256").update(remote).digest("hex").slice(0, 32));
  }

  async #locked<T>(remote: string, signal: AbortSignal, fn: (dir: string) => Promise<T>): Promise<T> {
    let lock = this.#locks.get(remote);
    if (lock === undefined) this.#locks.set(remote, (lock = new Mutex()));
    const unlock = await lock.lock(signal);
    try {
      return await fn(this.#dir(remote));
    } finally {
      unlock();
    }
  }

  /**
   * The commit a ref names now (BuildKit's CacheKey): a full SHA as it is, else `ls-remote` (branches
   * win over tags, an annotated tag gives the commit it points to). HTK-RUNTIME-0303 when the remote
   * has no such ref.
   */
  async resolve(target: GitTarget, signal: AbortSignal): Promise<GitResolved> {
    if (isCommitSha(target.ref)) return { commit: target.ref };
    const opts = { signal, remote: target.remote };
    if (target.ref === "") {
      const out = (await runGit(["ls-remote", "--symref", "--", target.remote, "HEAD"], opts)).toString("utf8");
      const sha = out.split("\n").find((l) => l.endsWith("\tHEAD") && !l.startsWith("ref: "))?.split("\t")[0];
      if (sha === undefined || !isCommitSha(sha)) throw htkError("HTK-RUNTIME-0303", { url: redactRemote(target.remote), ref: "HEAD (the default branch)" });
      const branch = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out)?.[1];
      return { commit: sha, ...(branch === undefined ? {} : { branch }) };
    }
    const out = (await runGit(["ls-remote", "--", target.remote, target.ref, `${target.ref}^{}`], opts)).toString("utf8");
    const name = target.ref.replace(/^refs\//, "");
    let exact: string | undefined;
    let head: string | undefined;
    let tag: string | undefined;
    for (const line of out.split("\n")) {
      const [sha, ref] = line.split("\t");
      if (sha === undefined || ref === undefined) continue;
      if (ref === `refs/${name}`) exact = sha;
      else if (ref === `refs/heads/${name}`) head = sha;
      else if (ref === `refs/tags/${name}` || ref === `refs/tags/${name}^{}`) tag = sha;
    }
    // An exact name (refs/heads/x, refs/tags/x, refs/pull/1/head) says what it is itself.
    const plain = target.ref.replace(/^refs\/(heads|tags)\//, "");
    if (exact !== undefined && isCommitSha(exact)) {
      if (target.ref.startsWith("refs/heads/")) return { commit: exact, branch: plain };
      if (target.ref.startsWith("refs/tags/")) return { commit: tag ?? exact, tag: plain };
      return { commit: exact };
    }
    if (head !== undefined && isCommitSha(head)) return { commit: head, branch: name };
    if (tag !== undefined && isCommitSha(tag)) return { commit: tag, tag: name.replace(/^tags\//, "") };
    throw htkError("HTK-RUNTIME-0303", { url: redactRemote(target.remote), ref: target.ref });
  }

  /**
   * Makes sure the commit is in the remote's bare repository: by ref name with `--depth=1` where the
   * server allows it, else (a commit that is no branch tip, a dumb-HTTP server) a full fetch.
   */
  async #fetch(dir: string, target: GitTarget, commit: string, signal: AbortSignal): Promise<void> {
    const opts = { signal, remote: target.remote };
    const g = (args: readonly string[], more: Partial<RunOptions> = {}): Promise<Buffer> => runGit(["--git-dir", dir, ...args], { ...opts, ...more });
    if ((await stat(posix.join(dir, "HEAD")).catch(() => undefined)) === undefined) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await runGit(["init", "--bare", "--quiet", dir], opts);
      await g(["remote", "add", "origin", target.remote]);
      // The checkouts fetch from here by commit.
      await g(["config", "uploadpack.allowAnySHA1InWant", "true"]);
    } else {
      await g(["remote", "set-url", "origin", target.remote]);
    }
    const have = (): Promise<boolean> => g(["cat-file", "-e", `${commit}^{commit}`]).then(
      () => true,
      () => false,
    );
    if (!(await have())) {
      await rm(posix.join(dir, "shallow.lock"), { force: true });
      if (!isCommitSha(target.ref)) {
        const name = target.ref === "" ? "HEAD" : target.ref;
        await g(["fetch", "--quiet", "--depth=1", "--no-tags", "--force", "origin", `${name}:${OWN_REFS}/fetched/${createHash("sha256").update(name).digest("hex").slice(0, 16)}`], { depthFallback: true });
      } else {
        await g(["fetch", "--quiet", "--depth=1", "--no-tags", "origin", commit]).catch(() => undefined);
      }
      if (!(await have())) {
        // The ref moved since ls-remote, or a commit that is no tip: everything, unshallowed.
        const shallow = (await stat(posix.join(dir, "shallow")).catch(() => undefined)) !== undefined;
        await g(["fetch", "--quiet", ...(shallow ? ["--unshallow"] : []), "--force", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]);
      }
      if (!(await have())) throw htkError("HTK-RUNTIME-0303", { url: redactRemote(target.remote), ref: target.ref === "" ? commit : `${target.ref} (${commit})` });
    }
    // A ref per commit checked out: a later fetch by commit finds it advertised, and git's gc keeps it.
    await g(["update-ref", `${OWN_REFS}/commits/${commit}`, commit]);
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
  }

  /** The bytes of a file at a commit (the Dockerfile of a git context); undefined when absent. */
  async readFile(target: GitTarget, commit: string, path: string, signal: AbortSignal, maxBytes = 16 * 1024 * 1024): Promise<Uint8Array | undefined> {
    const rel = posix.join(target.subdir, path).replace(/^\/+/, "");
    return this.#locked(target.remote, signal, async (dir) => {
      await this.#fetch(dir, target, commit, signal);
      const opts = { signal, remote: target.remote };
      const type = await runGit(["--git-dir", dir, "cat-file", "-t", `${commit}:${rel}`], opts).then(
        (b) => b.toString("utf8").trim(),
        () => undefined,
      );
      if (type !== "blob") return undefined;
      return runGit(["--git-dir", dir, "cat-file", "blob", `${commit}:${rel}`], { ...opts, maxStdout: maxBytes });
    });
  }

  /**
   * Checks the commit out into `dest`: the subdirectory's contents at its root, submodules updated,
   * `.git` kept only when asked (then as a repository whose origin is the remote, the ref checked out).
   */
  async checkout(o: CheckoutOptions): Promise<void> {
    const { target, signal } = o;
    const commit = o.resolved.commit;
    await this.#locked(target.remote, signal, async (dir) => {
      await this.#fetch(dir, target, commit, signal);
      const opts = { signal, remote: target.remote };
      const g = (args: readonly string[], more: Partial<RunOptions> = {}): Promise<Buffer> => runGit(["--git-dir", dir, ...args], { ...opts, ...more });
      const subdir = posix.normalize(`/${target.subdir}`).slice(1);
      if (subdir !== "") {
        const type = await g(["cat-file", "-t", `${commit}:${subdir}`]).then(
          (b) => b.toString("utf8").trim(),
          () => "missing",
        );
        if (type !== "tree") throw htkError("HTK-RUNTIME-0305", { url: redactRemote(target.remote), subdir: target.subdir, commit, detail: type === "missing" ? "there is no such path" : "it is a file" });
      }
      const submodules = await g(["cat-file", "-e", `${commit}:.gitmodules`]).then(
        () => true,
        () => false,
      );
      if (!o.keepGitDir && !submodules) {
        // The tree alone, written by git from the cache's objects (a private index: checkouts run side by side).
        const index = posix.join(this.#root, "tmp", `index-${randomBytes(8).toString("hex")}`);
        await mkdir(posix.dirname(index), { recursive: true });
        try {
          const env = { GIT_INDEX_FILE: index };
          await g(["--work-tree", o.dest, "read-tree", subdir === "" ? `${commit}^{tree}` : `${commit}:${subdir}`], { env });
          await g(["--work-tree", o.dest, "checkout-index", "--all", "--force"], { env, cwd: o.dest });
        } finally {
          await rm(index, { force: true });
        }
        return;
      }
      await this.#fullCheckout(dir, o, subdir);
    });
  }

  /** A repository of its own (for `.git` kept, or submodules): fetched from the cache, origin = the remote. */
  async #fullCheckout(cacheDir: string, o: CheckoutOptions, subdir: string): Promise<void> {
    const { target, signal } = o;
    const commit = o.resolved.commit;
    const opts = { signal, remote: target.remote };
    const work = subdir === "" ? o.dest : posix.join(this.#root, "tmp", `checkout-${randomBytes(8).toString("hex")}`);
    await mkdir(work, { recursive: true });
    try {
      const g = (args: readonly string[], more: Partial<RunOptions> = {}): Promise<Buffer> => runGit(args, { ...opts, cwd: work, ...more });
      await g(["-c", "init.defaultBranch=master", "init", "--quiet"]);
      // file:// rather than a path: no local-clone shortcuts that could reach other host files.
      await g(["remote", "add", "origin", `file://${cacheDir}`]);
      const branch = o.resolved.branch;
      const local = branch !== undefined ? `refs/heads/${branch}` : o.resolved.tag !== undefined ? `refs/tags/${o.resolved.tag}` : undefined;
      await g(["fetch", "--quiet", "--depth=1", "--update-head-ok", "origin", `${OWN_REFS}/commits/${commit}${local === undefined ? "" : `:${local}`}`], { depthFallback: true });
      if (branch !== undefined) await g(["checkout", "--quiet", branch]);
      else await g(["checkout", "--quiet", "--detach", commit]);
      await g(["remote", "set-url", "origin", target.remote]);
      await g(["submodule", "update", "--quiet", "--init", "--recursive", "--depth=1"], { depthFallback: true });
      await g(["reflog", "expire", "--all", "--expire=now"]);
      await rm(posix.join(work, ".git", "FETCH_HEAD"), { force: true });
      if (!o.keepGitDir) await removeGitDirs(work, signal);
      if (subdir !== "") await copyInto(posix.join(work, subdir), o.dest, signal);
    } finally {
      if (subdir !== "") await rm(work, { recursive: true, force: true });
    }
  }

  /** Removes the least recently used repositories beyond the bound (none in use). */
  async trim(signal: AbortSignal): Promise<void> {
    const base = posix.join(this.#root, "repos");
    const names = await readdir(base).catch(() => [] as string[]);
    if (names.length <= this.#max) return;
    const dated = await Promise.all(names.map(async (n) => ({ n, t: (await stat(posix.join(base, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
    dated.sort((a, b) => a.t - b.t);
    const busy = new Set([...this.#locks].filter(([, l]) => l.held).map(([remote]) => posix.basename(this.#dir(remote))));
    for (const { n } of dated.slice(0, names.length - this.#max)) {
      signal.throwIfAborted();
      if (!busy.has(n)) await rm(posix.join(base, n), { recursive: true, force: true });
    }
  }

  /** Drops leftovers of checkouts a killed process left (called when the worker opens). */
  async clean(): Promise<void> {
    await rm(posix.join(this.#root, "tmp"), { recursive: true, force: true });
  }
}

/** `.git` directories and submodule `.git` files: a tracked tree never contains an entry of that name. */
async function removeGitDirs(dir: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = posix.join(dir, e.name);
    if (e.name === ".git") await rm(p, { recursive: true, force: true });
    else if (e.isDirectory() && !(await lstat(p)).isSymbolicLink()) await removeGitDirs(p, signal);
  }
}

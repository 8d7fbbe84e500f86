import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { freePort, startGitServer, tempDir, type GitServer, type TestRepo } from "../../testing/index.ts";
import { GitRepos, gitTarget, parseGitUrl, redactRemote } from "./git.ts";

// The clone cache and checkouts against real git over HTTP (git http-backend, and dumb HTTP).
describe("git sources: GitRepos", () => {
  let srv: GitServer;
  let app: TestRepo;
  let first: string;
  let repos: GitRepos;

  beforeAll(async () => {
    srv = await startGitServer(await tempDir("git-server"));
    app = srv.repo("app", { "README": "one\n", "sub/inner.txt": "inner\n" });
    first = app.head();
    app.tag("v1");
    app.tag("v1-annotated", true);
    app.commit({ "README": "two\n" });
    repos = new GitRepos(await tempDir("git-cache"));
  });
  afterAll(async () => srv.close());

  const ac = (): AbortSignal => new AbortController().signal;
  const checkout = async (url: string, keepGitDir = false): Promise<string> => {
    const t = parseGitUrl(url);
    const dest = join(await tempDir("git-dest"), "out");
    mkdirSync(dest);
    const resolved = await repos.resolve(t, ac());
    await repos.checkout({ target: t, resolved, keepGitDir, dest, signal: ac() });
    return dest;
  };

  it("resolves branches, tags (annotated: the commit), commits and the default branch", async () => {
    const smart = srv.url("smart", "app");
    expect((await repos.resolve(parseGitUrl(`${smart}#main`), ac())).commit).toBe(app.head());
    expect(await repos.resolve(parseGitUrl(smart), ac())).toEqual({ commit: app.head(), branch: "main" });
    expect(await repos.resolve(parseGitUrl(`${smart}#v1`), ac())).toEqual({ commit: first, tag: "v1" });
    expect((await repos.resolve(parseGitUrl(`${smart}#v1-annotated`), ac())).commit).toBe(first);
    expect((await repos.resolve(parseGitUrl(`${smart}#${first}`), ac())).commit).toBe(first);
    expect(gitTarget({ remote: "r", ref: "main:a/b" })).toEqual({ remote: "r", ref: "main", subdir: "a/b" });
    expect(redactRemote("https://user:token@h/x.git")).toBe("https://user:xxxxx@h/x.git");
  });

  it("checks out a branch, a tag, a commit and a subdirectory, over smart and dumb HTTP, without .git", async () => {
    for (const kind of ["smart", "dumb"] as const) {
      const url = srv.url(kind, "app");
      expect(readFileSync(join(await checkout(`${url}#main`), "README"), "utf8")).toBe("two\n");
      expect(readFileSync(join(await checkout(`${url}#v1`), "README"), "utf8")).toBe("one\n");
      const byCommit = await checkout(`${url}#${first}`);
      expect(readFileSync(join(byCommit, "README"), "utf8")).toBe("one\n");
      expect(existsSync(join(byCommit, ".git"))).toBe(false);
      expect(readdirSync(await checkout(`${url}#main:sub`))).toEqual(["inner.txt"]);
    }
  });

  it("keeps .git as a repository on the branch whose origin is the remote", async () => {
    const dir = await checkout(`${srv.url("smart", "app")}#main`, true);
    const g = (...args: string[]): string => execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();
    expect(g("rev-parse", "HEAD")).toBe(app.head());
    expect(g("rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
    expect(g("remote", "get-url", "origin")).toBe(srv.url("smart", "app"));
    expect(g("status", "--porcelain")).toBe("");
  });

  it("updates submodules", async () => {
    const lib = srv.repo("lib", { "lib.txt": "library\n" });
    const withSub = srv.repo("withsub", { "top.txt": "top\n" });
    withSub.submodule("vendor/lib", "lib", srv.url("smart", "lib"));
    const dir = await checkout(`${srv.url("smart", "withsub")}#main`);
    expect(readFileSync(join(dir, "vendor/lib/lib.txt"), "utf8")).toBe("library\n");
    expect(existsSync(join(dir, ".git")) || existsSync(join(dir, "vendor/lib/.git"))).toBe(false);
    expect(lib.head()).toMatch(/^[0-9a-f]{40}$/);
  });

  it("names unreachable remotes, missing repositories, unknown refs, auth failures and missing subdirectories", async () => {
    const id = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
        return "ok";
      } catch (err) {
        return isHtkError(err) ? err.id : String(err);
      }
    };
    const port = await freePort();
    expect(await id(repos.resolve(parseGitUrl(`http://127.0.0.1:${port}/x.git#main`), ac()))).toBe("HTK-RUNTIME-0300");
    expect(await id(repos.resolve(parseGitUrl(`${srv.url("smart", "nope")}#main`), ac()))).toBe("HTK-RUNTIME-0301");
    expect(await id(repos.resolve(parseGitUrl(`${srv.url("dumb", "nope")}#main`), ac()))).toBe("HTK-RUNTIME-0301");
    expect(await id(repos.resolve(parseGitUrl(`${srv.url("smart", "app")}#no-such-branch`), ac()))).toBe("HTK-RUNTIME-0303");
    expect(await id(repos.resolve(parseGitUrl(`${srv.url("auth", "app")}#main`), ac()))).toBe("HTK-RUNTIME-0302");
    expect(await id(checkout(`${srv.url("smart", "app")}#main:missing`))).toBe("HTK-RUNTIME-0305");
    const missingCommit = "0".repeat(40);
    expect(await id(checkout(`${srv.url("smart", "app")}#${missingCommit}`))).toBe("HTK-RUNTIME-0303");
  });

  it("an abort kills git (a server that never answers)", async () => {
    const ctl = new AbortController();
    const before = srv.stalled();
    const p = repos.resolve(parseGitUrl(`${srv.url("stall", "app")}#main`), ctl.signal);
    p.catch(() => undefined);
    while (srv.stalled() === before) await new Promise((r) => setTimeout(r, 20));
    ctl.abort(new DOMException("stop", "AbortError"));
    await expect(p).rejects.toThrow(/stop/);
    const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`${srv.port}/stall`));
    expect(left).toEqual([]);
  });
});

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { startGitServer, tempDir, type GitServer, type TestRepo } from "../../testing/index.ts";
import { cacheUsage, pruneCache } from "../../engine/build/cache-usage.ts";

/** `hatake build --data-root` (in-process, the runtime worker) with ADD of git repositories served over HTTP. */
async function build(root: string, dataRoot: string, dockerfile: string, args: readonly string[] = []): Promise<{ code: number; err: string; out: string }> {
  const ctx = join(root, `ctx-${Math.random().toString(36).slice(2)}`);
  mkdirSync(ctx);
  writeFileSync(join(ctx, "Dockerfile"), dockerfile);
  const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
  const io = memoryIo({ cwd: root, env: {} });
  const code = await main(["build", "--data-root", dataRoot, "--progress=plain", "-o", `type=local,dest=${out}`, ...args, ctx], io);
  return { code, err: io.err(), out };
}

/** The progress lines of the step named `name`: whether it was CACHED or ran. */
function cached(progress: string, name: string): boolean {
  const id = new RegExp(`^#(\\d+) \\[[^\\]]*\\] ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m").exec(progress)?.[1];
  if (id === undefined) throw new Error(`no step "${name}" in:\n${progress}`);
  return new RegExp(`^#${id} CACHED$`, "m").test(progress);
}

describe("hatake build: ADD <git repository>", () => {
  let srv: GitServer;
  let app: TestRepo;
  let root: string;

  beforeAll(async () => {
    root = await tempDir("build-git");
    srv = await startGitServer(join(root, "git"));
    app = srv.repo("app", { "README": "v1\n", "sub/inner.txt": "inner\n" });
    app.tag("v1");
  });
  afterAll(async () => srv.close());

  it("at a branch, a tag and a commit, with a subdirectory and --keep-git-dir; cached until the branch moves", async () => {
    const url = srv.url("smart", "app");
    const first = app.head();
    app.commit({ "README": "v2\n" });
    const dockerfile = `FROM scratch
ADD ${url}#main /branch
ADD ${url}#v1 /tag
ADD ${url}#${first} /commit
ADD ${url}#main:sub /sub
ADD --keep-git-dir=true ${url}#main /kept
`;
    const dataRoot = join(root, "data");
    const one = await build(root, dataRoot, dockerfile);
    expect(one.code, one.err).toBe(0);
    expect(readFileSync(join(one.out, "branch/README"), "utf8")).toBe("v2\n");
    expect(readFileSync(join(one.out, "tag/README"), "utf8")).toBe("v1\n");
    expect(readFileSync(join(one.out, "commit/README"), "utf8")).toBe("v1\n");
    expect(readFileSync(join(one.out, "sub/inner.txt"), "utf8")).toBe("inner\n");
    expect(existsSync(join(one.out, "sub/README"))).toBe(false);
    expect(existsSync(join(one.out, "branch/.git"))).toBe(false);
    expect(existsSync(join(one.out, "kept/.git/HEAD"))).toBe(true);
    expect(readFileSync(join(one.out, "kept/.git/HEAD"), "utf8")).toBe("ref: refs/heads/main\n");

    // Nothing moved: every step is cached (the refs are still resolved, as BuildKit does).
    const two = await build(root, dataRoot, dockerfile);
    expect(two.code, two.err).toBe(0);
    for (const step of [`ADD ${url}#main /branch`, `ADD ${url}#v1 /tag`, `ADD ${url}#${first} /commit`]) expect(cached(two.err, step)).toBe(true);

    // A new commit on main: what reads main is fetched again, the tag and the commit stay cached.
    app.commit({ "README": "v3\n" });
    const three = await build(root, dataRoot, dockerfile, ["--explain-cache"]);
    expect(three.code, three.err).toBe(0);
    expect(readFileSync(join(three.out, "branch/README"), "utf8")).toBe("v3\n");
    expect(cached(three.err, `ADD ${url}#main /branch`)).toBe(false);
    expect(cached(three.err, `ADD ${url}#v1 /tag`)).toBe(true);
    expect(cached(three.err, `ADD ${url}#${first} /commit`)).toBe(true);
    expect(three.err).toContain(`now points to ${app.head()}`);

    // The clone cache is a build-cache record (du), and prune removes it.
    const usage = await cacheUsage(dataRoot);
    expect(usage.records.filter((r) => r.type === "source.git.checkout").map((r) => r.description)).toEqual([`shared git repo for ${url}`]);
    await pruneCache(dataRoot, { all: true, signal: new AbortController().signal, notice: () => undefined });
    expect((await cacheUsage(dataRoot)).records.filter((r) => r.type === "source.git.checkout")).toEqual([]);
  });

  it("a ref the repository does not have fails the step with HTK-RUNTIME-0303", async () => {
    const r = await build(root, join(root, "data-bad"), `FROM scratch\nADD ${srv.url("smart", "app")}#no-such-ref /x\n`);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("HTK-RUNTIME-0303");
    expect(r.err).not.toContain("not implemented");
  });
});

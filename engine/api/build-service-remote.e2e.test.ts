import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtures, installPlugin, startGitServer, type GitServer, type TestRepo } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * Contexts that are no local directory, through the real docker CLI 28 and the plugin on a test engine:
 * a git repository (resolved, fetched and cached by the engine, as BuildKit's git context), a remote
 * tar, and stdin (a Dockerfile alone, or a tar).
 */
describe("docker build with git, URL and stdin contexts", () => {
  let engine: TestEngine;
  let srv: GitServer;
  let app: TestRepo;
  const { busybox } = fixtures();
  const docker = (args: string[], input?: string | Uint8Array) => engine.docker(args, { timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });

  beforeAll(async () => {
    engine = await startTestEngine();
    await installPlugin(engine.env["DOCKER_CONFIG"] as string);
    srv = await startGitServer(join(engine.root, "git"));
    app = srv.repo("app", {
      "Dockerfile": `FROM ${busybox.reference}\nCOPY top.txt /top.txt\n`,
      "top.txt": "top\n",
      "sub/Dockerfile": `FROM ${busybox.reference}\nCOPY inner.txt /inner.txt\nRUN cat /inner.txt > /copy.txt\n`,
      "sub/inner.txt": "inner-1\n",
      "alt/Dockerfile": `FROM ${busybox.reference}\nCOPY top.txt /alt.txt\n`,
    });
  }, 180_000);
  afterAll(async () => {
    await srv?.close();
    await engine?.stop();
  });

  it("docker buildx build URL#main:sub builds the repository's subdirectory; cached until main moves", async () => {
    const url = `${srv.url("smart", "app")}#main:sub`;
    const one = await docker(["buildx", "build", "--progress=plain", "-t", "git-ctx/sub", url]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toContain(`[internal] load git source ${url}`);
    expect((await docker(["run", "--rm", "git-ctx/sub", "cat", "/copy.txt"])).stdout).toBe("inner-1\n");

    const two = await docker(["buildx", "build", "--progress=plain", "-t", "git-ctx/sub", url]);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).toMatch(/\[3\/3\] RUN cat \/inner.txt > \/copy.txt\n#\d+ CACHED/);

    app.commit({ "sub/inner.txt": "inner-2\n" });
    const three = await docker(["buildx", "build", "--progress=plain", "-t", "git-ctx/sub", url]);
    expect(three.code, three.stderr).toBe(0);
    expect(three.stderr).not.toMatch(/\[3\/3\] RUN cat \/inner.txt > \/copy.txt\n#\d+ CACHED/);
    expect((await docker(["run", "--rm", "git-ctx/sub", "cat", "/copy.txt"])).stdout).toBe("inner-2\n");
  });

  it("docker build URL (default branch, dumb HTTP) and -f a path inside the repository", async () => {
    const r = await docker(["build", "-q", "-t", "git-ctx/top", srv.url("dumb", "app")]);
    expect(r.code, r.stderr).toBe(0);
    expect((await docker(["run", "--rm", "git-ctx/top", "cat", "/top.txt"])).stdout).toBe("top\n");
    const f = await docker(["build", "-q", "-f", "sub/Dockerfile", "-t", "git-ctx/f", `${srv.url("smart", "app")}#main:sub`]);
    expect(f.code).not.toBe(0);
    expect(f.stderr).toContain("HTK-BUILD-0400");
    const f2 = await docker(["build", "-q", "-f", "alt/Dockerfile", "-t", "git-ctx/f", `${srv.url("smart", "app")}`]);
    expect(f2.code, f2.stderr).toBe(0);
    expect((await docker(["run", "--rm", "git-ctx/f", "cat", "/alt.txt"])).stdout).toBe("top\n");
  });

  it("--call check and --call outline read the Dockerfile from the git repository (subdir and -f inside it)", async () => {
    const lint = srv.repo("lint", {
      "Dockerfile": `FROM ${busybox.reference} AS Builder\nARG VERSION=1\nRUN echo $VERSION\n`,
      "sub/Other.Dockerfile": `FROM ${busybox.reference} AS base\nARG FLAVOUR=plain\nRUN echo $FLAVOUR\n`,
    });
    expect(lint).toBeDefined();
    const check = await docker(["buildx", "build", "--call", "check", srv.url("smart", "lint")]);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toMatch(/^Check complete, 1 warning has been found!\n\nWARNING: StageNameCasing - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/stage-name-casing\/\nStage name 'Builder' should be lowercase\n/);
    const outline = await docker(["buildx", "build", "--call=outline", srv.url("smart", "lint")]);
    expect(outline.code, outline.stderr).toBe(0);
    expect(outline.stdout).toMatch(/^TARGET: +builder\n\nBUILD ARG +VALUE +DESCRIPTION\nVERSION +1/);
    const sub = await docker(["buildx", "build", "--call=outline", "-f", "Other.Dockerfile", `${srv.url("smart", "lint")}#main:sub`]);
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stdout).toMatch(/^TARGET: +base\n\nBUILD ARG +VALUE +DESCRIPTION\nFLAVOUR +plain/);
    const clean = await docker(["buildx", "build", "--call", "check", `${srv.url("smart", "lint")}#main:sub`, "-f", "Other.Dockerfile"]);
    expect(clean, clean.stderr).toMatchObject({ code: 0, stdout: "Check complete, no warnings found.\n" });
  });

  it("a remote tar, and stdin: a Dockerfile alone or a (gzip) tar context", async () => {
    const dir = join(engine.root, "tar-ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), `FROM ${busybox.reference}\nCOPY t.txt /t.txt\n`);
    writeFileSync(join(dir, "t.txt"), "from-a-tar\n");
    const tar = execFileSync("tar", ["-c", "-C", dir, "."]);
    writeFileSync(join(srv.root, "served", "ctx.tar"), tar);
    const remote = await docker(["build", "-q", "-t", "url-ctx/tar", `http://127.0.0.1:${srv.port}/dumb/ctx.tar`]);
    expect(remote.code, remote.stderr).toBe(0);
    expect((await docker(["run", "--rm", "url-ctx/tar", "cat", "/t.txt"])).stdout).toBe("from-a-tar\n");

    const df = await docker(["build", "-q", "-t", "stdin/df", "-"], `FROM ${busybox.reference}\nRUN echo from-stdin > /s.txt\n`);
    expect(df.code, df.stderr).toBe(0);
    expect((await docker(["run", "--rm", "stdin/df", "cat", "/s.txt"])).stdout).toBe("from-stdin\n");

    const gz = await docker(["build", "-q", "-t", "stdin/tar", "-"], execFileSync("gzip", ["-c"], { input: tar }));
    expect(gz.code, gz.stderr).toBe(0);
    expect((await docker(["run", "--rm", "stdin/tar", "cat", "/t.txt"])).stdout).toBe("from-a-tar\n");

    const both = await docker(["build", "-f", "-", "-"], "FROM scratch\n");
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("can't use stdin for both build context and dockerfile");
    const broken = await docker(["build", "-q", "-"], Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(600, 7)]));
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain("HTK-BUILDX-0071");
  });

  it("an unknown ref, a missing repository and an unreachable remote fail with their own IDs", async () => {
    const ref = await docker(["build", "-q", `${srv.url("smart", "app")}#no-such-branch`]);
    expect(ref.code).toBe(1);
    expect(ref.stderr).toContain("HTK-RUNTIME-0303");
    const missing = await docker(["build", "-q", srv.url("smart", "missing")]);
    expect(missing.stderr).toContain("HTK-RUNTIME-0301");
    const auth = await docker(["build", "-q", srv.url("auth", "app")]);
    expect(auth.stderr).toContain("HTK-RUNTIME-0302");
    const gone = await docker(["build", "-q", "http://127.0.0.1:9/x.git"]);
    expect(gone.stderr).toContain("HTK-RUNTIME-0300");
    expect(`${ref.stderr}${missing.stderr}${gone.stderr}`).not.toContain("not implemented");
  });

  it("SIGINT to docker while the engine fetches cancels the build and kills git", async () => {
    const before = srv.stalled();
    const child = spawn("docker", ["build", "--progress=plain", srv.url("stall", "app")], { env: engine.env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    while (srv.stalled() === before) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    const code = await exited;
    expect(code, stderr).not.toBe(0);
    // The engine aborts the fetch: no git process for that URL is left.
    let left: string[] = [];
    for (let i = 0; i < 100; i++) {
      left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(`${srv.port}/stall`));
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toEqual([]);
  });
});

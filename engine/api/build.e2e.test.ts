import { execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtures, run, tempDir } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

// POST /build (the classic API path) with real clients: the docker CLI with DOCKER_BUILDKIT=0, and
// docker-py (Debian's python3-docker).
describe("POST /build with the docker CLI (DOCKER_BUILDKIT=0) and docker-py", () => {
  let engine: TestEngine;
  const { busybox } = fixtures();
  const classic = { env: { DOCKER_BUILDKIT: "0" } };

  beforeAll(async () => {
    engine = await startTestEngine();
  });
  afterAll(async () => {
    await engine.stop();
  });

  async function project(files: Record<string, string>): Promise<string> {
    const dir = join(await tempDir("api-build"), "ctx");
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(join(dir, p, ".."), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    return dir;
  }

  it("builds with Docker's classic output; a second build is cached and gives the same image", async () => {
    const dir = await project({
      Dockerfile: `FROM ${busybox.reference}\nENV GREETING=hello\nCOPY msg.txt /msg.txt\nRUN echo "built: $GREETING" && cat /msg.txt > /copy.txt\nCMD ["cat", "/copy.txt"]\n`,
      "msg.txt": "from the context\n",
    });
    const r = await engine.docker(["build", "-t", "api-build/x", dir], classic);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toContain(`Step 1/5 : FROM ${busybox.reference}`);
    expect(lines).toContain("Step 2/5 : ENV GREETING=hello");
    expect(lines).toContain("Step 3/5 : COPY msg.txt /msg.txt");
    expect(lines).toContain('Step 4/5 : RUN echo "built: $GREETING" && cat /msg.txt > /copy.txt');
    expect(lines).toContain("built: hello");
    expect(lines).toContain('Step 5/5 : CMD ["cat", "/copy.txt"]');
    expect(r.stdout).toMatch(/^ ---> Running in [0-9a-f]{12}$/m);
    expect(r.stdout).toMatch(/^ ---> Removed intermediate container [0-9a-f]{12}$/m);
    const built = /^Successfully built ([0-9a-f]{12})$/m.exec(r.stdout)?.[1];
    expect(built).toBeDefined();
    expect(lines).toContain(`Successfully tagged api-build/x:latest`);
    // The last step's ID is the image's, as Docker prints it.
    expect(lines[lines.indexOf(`Successfully built ${built ?? ""}`) - 1]).toBe(` ---> ${built ?? ""}`);

    const again = await engine.docker(["build", "-t", "api-build/x", dir], classic);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.match(/^ ---> Using cache$/gm)?.length).toBe(4);
    expect(again.stdout).not.toContain("built: hello");
    expect(again.stdout).toContain(`Successfully built ${built ?? ""}`);

    // -q prints the image ID only.
    const quiet = await engine.docker(["build", "-q", dir], classic);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout.trim()).toMatch(new RegExp(`^sha256:${built ?? ""}[0-9a-f]{52}$`));
  });

  it("a failing RUN ends with Docker's text and the command's exit code", async () => {
    const dir = await project({ Dockerfile: `FROM ${busybox.reference}\nRUN echo before-failing\nRUN exit 3\n` });
    const r = await engine.docker(["build", dir], classic);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("Step 3/3 : RUN exit 3");
    expect(r.stderr).toContain("The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    expect(r.stdout).not.toContain("Successfully built");
  });

  it("--build-arg, --target, -f outside the context, .dockerignore, --label", async () => {
    const dir = await project({
      "build.Dockerfile": `FROM ${busybox.reference} AS base\nARG WHO=nobody\nRUN echo "hello $WHO" > /who\nRUN ls /ctx-files 2>/dev/null || true\nCOPY . /ctx-files/\nRUN ls /ctx-files | sort | tr '\\n' ' ' && echo\n\nFROM base AS never\nRUN exit 9\n`,
      "keep.txt": "k",
      "secret.txt": "s",
      ".dockerignore": "secret.txt\n",
    });
    const dockerfile = join(dir, "..", "elsewhere.Dockerfile");
    writeFileSync(dockerfile, readFileSync(join(dir, "build.Dockerfile")));
    const r = await engine.docker(["build", "-f", dockerfile, "--target", "base", "--build-arg", "WHO=hatake", "--label", "org.example=1", "-t", "api-build/args", dir], classic);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain("Step 1/6 : FROM");
    expect(r.stdout).not.toContain("RUN exit 9");
    // The CLI adds its copy of the Dockerfile and .dockerignore itself to the excludes (as with Docker).
    expect(r.stdout, r.stdout).toMatch(/^build\.Dockerfile keep\.txt $/m);
    expect(r.stdout).not.toContain("secret.txt");
  });

  it("an unused --build-arg is Docker's warning; an unknown target and a missing Dockerfile are errors", async () => {
    const dir = await project({ Dockerfile: `FROM ${busybox.reference}\nRUN true\n` });
    const r = await engine.docker(["build", "--build-arg", "UNUSED=1", dir], classic);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("[Warning] One or more build-args [UNUSED] were not consumed");
    const t = await engine.docker(["build", "--target", "nope", dir], classic);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/nope/);
    // The docker CLI checks -f itself; the API answers a name that is not in the context.
    const res = await fetchBuild(engine, "dockerfile=Nope.Dockerfile", tarOf(dir));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).message).toMatch(/^Cannot locate specified Dockerfile: Nope\.Dockerfile \[HTK-BUILD-0303\]/);
  });

  it("contexts: gzip, bzip2 and xz uploads, a tar URL, a plain Dockerfile URL and a git repository", async () => {
    const dir = await project({ Dockerfile: `FROM ${busybox.reference}\nCOPY f.txt /f.txt\nRUN cat /f.txt\n`, "f.txt": "compressed-context\n" });
    const plain = tarOf(dir);
    for (const [tool, args] of [["gzip", ["-c"]], ["bzip2", ["-c"]], ["xz", ["-c"]]] as const) {
      writeFileSync(join(dir, "f.txt"), `compressed-context-${tool}\n`);
      const body = execFileSync(tool, args, { input: tarOf(dir) });
      const res = await fetchBuild(engine, "t=api-build/compressed", body);
      expect(res.status, tool).toBe(200);
      expect(res.body, tool).toContain(`compressed-context-${tool}`);
      expect(res.body).toContain("Successfully tagged api-build/compressed:latest");
    }
    // Truncated and unsafe archives.
    const cut = await fetchBuild(engine, "", plain.subarray(0, 700));
    expect(JSON.parse(cut.body).message).toContain("[HTK-BUILD-0300]");
    const evil = await fetchBuild(engine, "", evilTar());
    expect(JSON.parse(evil.body).message).toContain("[HTK-BUILD-0301]");
    const junk = await fetchBuild(engine, "", Buffer.from("x".repeat(2048)));
    expect(JSON.parse(junk.body).message).toContain("[HTK-BUILD-0302]");

    // Remote contexts from a local HTTP server: a tar, a single Dockerfile, a git repository (dumb HTTP).
    const served = await tempDir("api-build-remote");
    writeFileSync(join(served, "ctx.tar.gz"), execFileSync("gzip", ["-c"], { input: plain }));
    writeFileSync(join(served, "Dockerfile"), `FROM ${busybox.reference}\nRUN echo from-a-remote-dockerfile\n`);
    const repo = join(served, "work");
    mkdirSync(join(repo, "sub"), { recursive: true });
    writeFileSync(join(repo, "sub", "Dockerfile"), `FROM ${busybox.reference}\nCOPY g.txt /g.txt\nRUN cat /g.txt\n`);
    writeFileSync(join(repo, "sub", "g.txt"), "from-git-subdir\n");
    const git = (args: string[], cwd: string): void => void execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...args], { cwd });
    git(["init", "-q", "-b", "main"], repo);
    git(["add", "."], repo);
    git(["commit", "-q", "-m", "c"], repo);
    git(["clone", "-q", "--bare", repo, join(served, "repo.git")], served);
    git(["update-server-info"], join(served, "repo.git"));
    const server = await serveDir(served);
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const tarUrl = await fetchBuild(engine, `remote=${encodeURIComponent(`${base}/ctx.tar.gz`)}`, Buffer.alloc(0));
      expect(tarUrl.body).toContain("compressed-context");
      const file = await fetchBuild(engine, `remote=${encodeURIComponent(`${base}/Dockerfile`)}`, Buffer.alloc(0));
      expect(file.body).toContain("from-a-remote-dockerfile");
      const r = await engine.docker(["build", `${base}/repo.git#main:sub`], classic);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("from-git-subdir");
      const bad = await fetchBuild(engine, `remote=${encodeURIComponent(`${base}/missing.git`)}`, Buffer.alloc(0));
      expect(JSON.parse(bad.body).message).toContain("[HTK-RUNTIME-0301]");
      const gone = await fetchBuild(engine, `remote=${encodeURIComponent(`${base}/nothing-here`)}`, Buffer.alloc(0));
      expect(JSON.parse(gone.body).message).toContain("[HTK-BUILD-0305]");
    } finally {
      server.close();
    }
  });

  it("parameters: version=2 names docker buildx, bad JSON and versions are 400s, cancel needs an id", async () => {
    const dir = await project({ Dockerfile: `FROM ${busybox.reference}\n` });
    const v2 = await fetchBuild(engine, "version=2", tarOf(dir));
    expect(v2.status).toBe(400);
    expect(JSON.parse(v2.body).message).toMatch(/docker buildx.*\[HTK-BUILD-0307\]|\[HTK-BUILD-0307\].*docker buildx/);
    const v9 = await fetchBuild(engine, "version=9", tarOf(dir));
    expect(JSON.parse(v9.body).message).toMatch(/^invalid version 9 \[HTK-BUILD-0309\]/);
    const args = await fetchBuild(engine, "buildargs=%7Bnope", tarOf(dir));
    expect(v9.status).toBe(400);
    expect(JSON.parse(args.body).message).toContain("[HTK-BUILD-0308]");
    // JSON null is "not set", as Go decodes it (the docker 20.10 CLI sends ulimits=null).
    const nulls = await fetchBuild(engine, "ulimits=null&buildargs=null&labels=null&cachefrom=null", tarOf(dir));
    expect(nulls.status, nulls.body).toBe(200);
    expect(nulls.body).toContain("Successfully built");
    const cancel = await post(engine, "/build/cancel", Buffer.alloc(0));
    expect(cancel.status).toBe(400);
    expect(JSON.parse(cancel.body).message).toMatch(/^build ID not provided \[HTK-BUILD-0310\]/);
    expect((await post(engine, "/build/cancel?id=unknown-build", Buffer.alloc(0))).status).toBe(200);
  });

  it("docker-py builds through client.api.build and reads the stream", async () => {
    const dir = await project({ Dockerfile: `FROM ${busybox.reference}\nRUN echo from-docker-py\n` });
    const script = `
import docker, json, sys
client = docker.DockerClient(base_url=sys.argv[1])
out = []
for chunk in client.api.build(path=sys.argv[2], tag="api-build/py", decode=True):
    out.append(chunk)
print(json.dumps(out))
`;
    const r = await run("/usr/bin/python3", ["-c", script, engine.host, dir]);
    expect(r.code, r.stderr).toBe(0);
    const chunks = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const streams = chunks.map((c) => c["stream"]).filter((s): s is string => typeof s === "string").join("");
    expect(streams).toContain("from-docker-py");
    expect(streams).toMatch(/Successfully built [0-9a-f]{12}/);
    expect(chunks.some((c) => typeof (c["aux"] as { ID?: string } | undefined)?.ID === "string")).toBe(true);
  });

  it("docker builder prune -f removes the build cache", async () => {
    const r = await engine.docker(["builder", "prune", "-f"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Total reclaimed space: /m);
    const all = await engine.docker(["builder", "prune", "-af", "--filter", "until=1h"]);
    expect(all.code, all.stderr).toBe(0);
  });
});

function tarOf(dir: string): Buffer {
  return execFileSync("tar", ["-c", "-C", dir, "."]);
}

/** A tar whose one entry climbs out of the context. */
function evilTar(): Buffer {
  const h = Buffer.alloc(512);
  h.write("../escape.txt", 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write("00000000001\0", 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const data = Buffer.alloc(512);
  data.write("x");
  return Buffer.concat([h, data, Buffer.alloc(1024)]);
}

async function post(engine: TestEngine, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: engine.socket, path: `/v1.45${path}`, method: "POST", headers: { "Content-Type": "application/x-tar", "Content-Length": body.length } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function fetchBuild(engine: TestEngine, query: string, body: Buffer): Promise<{ status: number; body: string }> {
  return post(engine, `/build${query === "" ? "" : `?${query}`}`, body);
}

async function serveDir(root: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = join(root, decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/"));
    try {
      const data = readFileSync(path);
      res.writeHead(200, { "Content-Type": path.endsWith("Dockerfile") ? "text/plain" : "application/octet-stream" }).end(data);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import type { BuildOutput } from "../../engine/build/local-build.ts";
import { parseBuildArgs, parseOutput, parseSecrets, withShorthands } from "./build.ts";
import { findPlugin } from "./build-engine.ts";
import { isHtkError } from "../../base/errors/index.ts";
import { fileURLToPath } from "node:url";

const REPO = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(dockerfile: string, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "htk-build-"));
  dirs.push(root);
  mkdirSync(join(root, "ctx"));
  writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, "ctx", p, ".."), { recursive: true });
    writeFileSync(join(root, "ctx", p), text);
  }
  return root;
}

async function build(root: string, ...extra: string[]): Promise<{ code: number; err: string; out: string }> {
  // The file worker's behaviour, also on machines where crun is usable (the runtime worker has e2e tests).
  const io = memoryIo({ cwd: root, env: { HATAKE_BUILD_WORKER: "file" } });
  const code = await main(["build", "--data-root", "data", "--progress=plain", ...extra, "ctx"], io);
  return { code, err: io.err(), out: io.out() };
}

const MULTI_STAGE = `FROM scratch AS assets
COPY assets/ /assets/
FROM scratch
WORKDIR /app
ENV MODE=prod
LABEL org.example.team=builders
COPY --from=assets /assets/logo.txt ./
COPY app.txt conf/ ./
`;

describe("hatake build (in-process, FROM scratch)", () => {
  it("builds a multi-stage Dockerfile into a local directory", async () => {
    const root = project(MULTI_STAGE, { "assets/logo.txt": "logo\n", "app.txt": "app\n", "conf/settings.ini": "a=1\n" });
    const r = await build(root, "-o", "type=local,dest=out", "--metadata-file", "meta.json");
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(root, "out/app/logo.txt"), "utf8")).toBe("logo\n");
    expect(readFileSync(join(root, "out/app/app.txt"), "utf8")).toBe("app\n");
    expect(readFileSync(join(root, "out/app/settings.ini"), "utf8")).toBe("a=1\n");
    expect(r.err).toMatch(/#\d+ \[stage-1 2\/3\] COPY --from=assets \/assets\/logo.txt \.\/\n#\d+ DONE \d+\.\ds/);
    expect(JSON.parse(readFileSync(join(root, "meta.json"), "utf8"))["buildx.build.ref"]).toMatch(/^hatake\/local\//);
  });

  it("caches: an identical rebuild and a touch are CACHED; an edit re-runs only what depends on it and --explain-cache names the file", async () => {
    const root = project(MULTI_STAGE, { "assets/logo.txt": "logo\n", "app.txt": "app\n", "conf/settings.ini": "a=1\n" });
    expect((await build(root)).code).toBe(0);
    const again = await build(root);
    expect(again.err).not.toMatch(/DONE/);
    expect((again.err.match(/CACHED/g) ?? []).length).toBeGreaterThanOrEqual(4);
    const later = new Date(Date.now() + 120_000);
    for (const f of ["assets/logo.txt", "app.txt", "conf/settings.ini"]) utimesSync(join(root, "ctx", f), later, later);
    expect((await build(root)).err).not.toMatch(/DONE/);
    writeFileSync(join(root, "ctx/app.txt"), "app v2\n");
    const edited = await build(root, "--explain-cache");
    expect(edited.code).toBe(0);
    expect(edited.err).toMatch(/\[stage-1 3\/3\] COPY app.txt conf\/ \.\/\n#\d+ DONE/);
    expect(edited.err).toMatch(/\[stage-1 2\/3\] COPY --from=assets \/assets\/logo.txt \.\/\n#\d+ CACHED/);
    expect(edited.err).toContain('file "/app.txt" changed');
  });

  it("writes a tar output", async () => {
    const root = project("FROM scratch\nCOPY a.txt /a.txt\n", { "a.txt": "A" });
    expect((await build(root, "-o", "type=tar,dest=out.tar")).code).toBe(0);
    expect(execFileSync("tar", ["-tf", join(root, "out.tar")], { encoding: "utf8" }).split("\n")).toContain("./a.txt");
  });

  it("shows a Dockerfile error with its code frame and exits 1", async () => {
    const root = project("FROM scratch\nCOPPY a /a\n", { a: "" });
    const r = await build(root);
    expect(r.code).toBe(1);
    expect(r.err).toContain("COPPY");
    expect(r.err).toMatch(/HTK-DOCKERFILE-\d{4}/);
  });

  it("fails a RUN step with the step named and the worker's diagnostic as the cause", async () => {
    const root = project('FROM scratch\nRUN ["/true"]\n', {});
    const r = await build(root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ERROR: failed to solve: HTK-SOLVER-0001: The step "\[1\/1\] RUN \["\/true"\]" failed/);
    expect(r.err).toContain("caused by: HtkError: HTK-RUNTIME-0001");
  });

  it("--load puts the image in the data root's store, which the file worker has not (HTK-RUNTIME-0001); without --data-root the build goes to the engine", async () => {
    const root = project("FROM scratch\n", {});
    for (const flags of [["--load"], ["-o", "type=docker"]]) {
      const r = await build(root, ...flags);
      expect(r.code).toBe(1);
      expect(r.err).toContain("HTK-RUNTIME-0001: The step needs an image store to tag or export an image");
    }
    // In-process options are refused before anything is sent (HTK-CLI-0005).
    const io = memoryIo({ cwd: root, env: { DOCKER_HOST: "unix:///run/some-engine.sock" } });
    expect(await main(["build", "--explain-cache", "ctx"], io)).toBe(1);
    expect(io.err()).toContain("HTK-CLI-0005: The option --explain-cache of \"hatake build\" works in in-process builds only");
  });

  it("finds this installation's docker-buildx plugin, or says how to build it (HTK-CLI-0006)", () => {
    expect(findPlugin(join(REPO, "cli", "commands"))).toBe(join(REPO, "bin", "docker-buildx"));
    const err = (() => {
      try {
        return findPlugin("/");
      } catch (e) {
        return e;
      }
    })();
    expect(isHtkError(err, "HTK-CLI-0006")).toBe(true);
  });

  it("needs the runtime worker's image store for -t (HTK-RUNTIME-0001 on the file worker)", async () => {
    const root = project("FROM scratch\n", {});
    const r = await build(root, "-t", "x:1");
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTK-RUNTIME-0001");
  });

  it("parses --secret forms (src=, env=, bare id)", async () => {
    const root = project("FROM scratch\n", { "tok.txt": "v1" });
    const s = await parseSecrets(["id=a,src=ctx/tok.txt", "id=b,env=B", "id=C"], { B: "v2", C: "v3" }, root);
    expect(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, new TextDecoder().decode(v)]))).toEqual({ a: "v1", b: "v2", C: "v3" });
  });
});

describe("build flag parsing", () => {
  it("reads build args as docker does", () => {
    expect(parseBuildArgs(["A=1", "B=", "C", "D"], { C: "from-env" })).toEqual({ A: "1", B: "", C: "from-env" });
    expect(() => parseBuildArgs(["=x"], {})).toThrow(/HTK-CLI-0002/);
  });

  it("reads outputs as buildx does", () => {
    expect(parseOutput("out")).toEqual({ type: "local", dest: "out" });
    expect(parseOutput("type=tar,dest=x.tar")).toEqual({ type: "tar", dest: "x.tar" });
    expect(() => parseOutput("type=cacheonly,dest=x")).toThrow(/HTK-CLI-0004/);
    expect(parseOutput("type=registry,name=r/a:1")).toEqual({ type: "image", names: ["r/a:1"], push: true });
    expect(parseOutput("type=image,name=r/a:1,push=true")).toEqual({ type: "image", names: ["r/a:1"], push: true });
    expect(parseOutput("type=image")).toEqual({ type: "image", names: [], push: false });
    // A docker output without dest is a load (buildx's docker driver makes it type=image).
    expect(parseOutput("type=docker")).toEqual({ type: "image", names: [], push: false });
    expect(parseOutput("type=docker,name=a/b:1")).toEqual({ type: "image", names: ["a/b:1"], push: false });
    const img = (names: string[], push: boolean): BuildOutput => ({ type: "image", names, push });
    expect(withShorthands([], false, true)).toEqual([img([], false)]);
    expect(withShorthands([], true, true)).toEqual([img([], true), img([], false)]);
    expect(withShorthands([img(["a"], false)], false, true)).toEqual([img(["a"], false)]);
    expect(withShorthands([{ type: "tar", dest: "x" }], false, false)).toEqual([{ type: "tar", dest: "x" }]);
    expect(() => parseOutput("type=local")).toThrow(/HTK-CLI-0002/);
  });
});

describe("build checks during hatake build", () => {
  it("lists findings after the build, as BuildKit does", async () => {
    const root = project("FROM scratch as Base\nCOPY a /a\n", { a: "x" });
    const r = await build(root);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/ 2 warnings found \(use hatake dockerfile check to expand\):\n - StageNameCasing: Stage name 'Base' should be lowercase \(line 1\)\n - FromAsCasing: 'as' and 'FROM' keywords' casing do not match \(line 1\)/);
  });

  it("fails before building when the Dockerfile asks for checks as errors", async () => {
    const root = project("# check=error=true\nFROM scratch as Base\nCOPY a /a\n", { a: "x" });
    const r = await build(root);
    expect(r.code).toBe(1);
    expect(r.err).toContain("ERROR: failed to solve: lint violation found for rules: StageNameCasing, FromAsCasing");
    expect(r.err).toContain("HTK-DOCKERFILE-0301");
  });
});

describe("automatic garbage collection after a build", () => {
  it("--gc-keep-storage removes least-recently-used results so the next build runs again", async () => {
    const root = project("FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n", { "a.txt": "A", "b.txt": "B" });
    expect((await build(root)).code).toBe(0);
    expect((await build(root)).err).not.toMatch(/DONE/);
    const collected = await build(root, "--gc-keep-storage", "1B");
    expect(collected.code, collected.err).toBe(0);
    const after = await build(root);
    expect(after.code).toBe(0);
    expect(after.err).toMatch(/COPY b.txt \/b.txt\n#\d+ DONE/);
    expect((await build(root, "--gc-keep-storage", "lots")).err).toContain("HTK-CLI-0002");
  });
});

import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtures } from "../../testing/index.ts";
import { suiteEngine } from "../e2e/harness.ts";

/**
 * `docker build` and `docker buildx build` with the real docker CLI 28 and the installed plugin, on a
 * test engine: BuildKit's plain progress, the image in the engine, outputs, metadata, --call, a failing
 * RUN's error layout and exit code.
 */
describe("docker build through the buildx plugin", () => {
  const engine = suiteEngine({ plugin: true });
  const { busybox } = fixtures();
  const docker = (args: string[], cwd?: string) => engine.docker(args, { ...(cwd === undefined ? {} : { cwd }), timeoutMs: 120_000 });

  function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
    const dir = join(engine.root, "contexts", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(join(dir, p, ".."), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    return dir;
  }

  it("docker build -t x . runs on the engine's builder with BuildKit's plain progress; the image runs", async () => {
    const dir = context("app", `FROM ${busybox.reference}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt > /copy.txt && echo built\n`, { "hello.txt": "hello\n" });
    const r = await docker(["build", "--progress=plain", "-t", "buildx-e2e/app", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const registry = busybox.reference.replace(/\/busybox:latest$/, "");
    expect(r.stderr).toMatch(/^#0 building with "default" instance using hatake driver\n\n#1 \[internal\] load build definition from Dockerfile\n#1 transferring dockerfile: \d+B done\n#1 DONE \d+\.\ds\n/);
    expect(r.stderr).toContain(`[internal] load metadata for ${registry}/busybox:latest`);
    expect(r.stderr).toMatch(/#\d+ \[internal\] load \.dockerignore\n#\d+ transferring context: 2B done/);
    expect(r.stderr).toMatch(/#\d+ \[1\/3\] FROM /);
    expect(r.stderr).toMatch(/#(\d+) \[3\/3\] RUN cat \/hello.txt > \/copy.txt && echo built\n#\1 \d+\.\d{3} built\n#\1 DONE/);
    expect(r.stderr).toMatch(/#(\d+) exporting to image\n#\1 exporting layers done\n#\1 writing image sha256:[0-9a-f]{64} done\n#\1 naming to docker\.io\/buildx-e2e\/app done\n#\1 DONE \d+\.\ds\n$/);
    const run = await docker(["run", "--rm", "buildx-e2e/app", "cat", "/copy.txt"]);
    expect(run, run.stderr).toMatchObject({ code: 0, stdout: "hello\n" });

    // An unchanged rebuild: everything cached, the same image.
    const again = await docker(["buildx", "build", "--progress=plain", "-t", "buildx-e2e/app", "."], dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/\[3\/3\] RUN cat \/hello.txt > \/copy.txt && echo built\n#\d+ CACHED/);
  });

  it("a FROM tag that moved between two builds of the same client is resolved again (the memo is per build)", async () => {
    const registry = busybox.reference.replace(/\/busybox:latest$/, "");
    const base = `${registry}/moving-base-${Date.now().toString(36)}:latest`;
    const push = async (marker: string): Promise<void> => {
      const dir = context(`moving-${marker}`, `FROM ${busybox.reference}\nRUN echo ${marker} > /marker\n`);
      const r = await docker(["buildx", "build", "--progress=plain", "--push", "-t", base, "."], dir);
      expect(r.code, r.stderr).toBe(0);
    };
    const app = context("moving-app", `FROM ${base}\nRUN cat /marker > /seen\n`);
    const buildAndRun = async (): Promise<string> => {
      const r = await docker(["build", "--progress=plain", "-t", "buildx-e2e/moving", "."], app);
      expect(r.code, r.stderr).toBe(0);
      return (await docker(["run", "--rm", "buildx-e2e/moving", "cat", "/seen"])).stdout;
    };
    await push("one");
    expect(await buildAndRun()).toBe("one\n");
    await push("two");
    expect(await buildAndRun()).toBe("two\n");
  });

  it("sends an unchanged 5,000-file context once: the second build transfers no manifest and no file", async () => {
    const dir = context("many", `FROM scratch\nCOPY . /ctx/\n`);
    for (let d = 0; d < 50; d++) {
      mkdirSync(join(dir, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(dir, `d${d}`, `f${f}.txt`), `${d}-${f}\n`);
    }
    const env = { HATAKE_BUILDX_TIMING: "1" };
    const first = await engine.docker(["buildx", "build", "-q", "."], { cwd: dir, env, timeoutMs: 300_000 });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/context synced \(5051 entries, manifest sent, 5001 files and \d+ bytes sent\)/);
    const second = await engine.docker(["buildx", "build", "-q", "."], { cwd: dir, env, timeoutMs: 300_000 });
    expect(second.stderr).toMatch(/context synced \(5051 entries, manifest not sent, 0 files and 0 bytes sent\)/);
    writeFileSync(join(dir, "d7", "f7.txt"), "changed\n");
    const third = await engine.docker(["buildx", "build", "-q", "."], { cwd: dir, env, timeoutMs: 300_000 });
    expect(third.stderr).toMatch(/context synced \(5051 entries, manifest sent, 1 files and 8 bytes sent\)/);
    // The worker's mirror skips its walk while the copy's version is unchanged, and sees the edit.
    expect(second.stdout.trim()).toBe(first.stdout.trim());
    expect(third.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(third.stdout.trim()).not.toBe(second.stdout.trim());
  });

  it("after a no-op rebuild still sees a touched file, an edit, a file turned into a directory and a removal", async () => {
    const dir = context("noop-then", `FROM scratch\nCOPY . /ctx/\n`, { "a.txt": "A\n", "b.txt": "B\n", "sub/c.txt": "C\n" });
    const env = { HATAKE_BUILDX_TIMING: "1" };
    const build = async (): Promise<{ files: string[]; stderr: string; read: (p: string) => string }> => {
      const out = join(dir, "..", "noop-then-out");
      rmSync(out, { recursive: true, force: true });
      const r = await engine.docker(["buildx", "build", "--progress=plain", "-o", `type=local,dest=${out}`, "."], { cwd: dir, env });
      expect(r.code, r.stderr).toBe(0);
      const files = readdirSync(join(out, "ctx"), { recursive: true, withFileTypes: true }).map((d) => `${join(d.parentPath, d.name).slice(out.length + 5)}${d.isDirectory() ? "/" : ""}`);
      return { files: files.sort(), stderr: r.stderr, read: (p) => readFileSync(join(out, "ctx", p), "utf8") };
    };
    await build();
    const noop = await build();
    expect(noop.stderr).toMatch(/context synced \(\d+ entries, manifest not sent, 0 files and 0 bytes sent\)/);
    // Touched, same content: the manifest differs (mtime), the content is the same.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, "a.txt"), later, later);
    const touched = await build();
    expect(touched.stderr).toMatch(/context synced \(\d+ entries, manifest sent, /);
    expect(touched.read("a.txt")).toBe("A\n");
    // Same size, new content, right after a no-op.
    await build();
    writeFileSync(join(dir, "b.txt"), "b\n");
    expect((await build()).read("b.txt")).toBe("b\n");
    // A file replaced by a directory, and a file removed.
    rmSync(join(dir, "a.txt"));
    mkdirSync(join(dir, "a.txt"));
    writeFileSync(join(dir, "a.txt", "inner.txt"), "I\n");
    rmSync(join(dir, "sub", "c.txt"));
    const changed = await build();
    expect(changed.files).toEqual(["Dockerfile", "a.txt/", "a.txt/inner.txt", "b.txt", "sub/"]);
    expect(changed.read("a.txt/inner.txt")).toBe("I\n");
  });

  it("writes --metadata-file with BuildKit's keys, --iidfile, -q prints the image ID", async () => {
    const dir = context("meta", `FROM ${busybox.reference}\nRUN echo meta > /m\n`);
    const r = await docker(["buildx", "build", "-q", "--metadata-file", "meta.json", "--iidfile", "iid", "-t", "buildx-e2e/meta:1", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(meta).sort()).toEqual(["buildx.build.ref", "containerimage.config.digest", "containerimage.descriptor", "containerimage.digest", "image.name"]);
    expect(meta["buildx.build.ref"]).toMatch(/^default\/default\/[a-z0-9]{25}$/);
    expect(meta["image.name"]).toBe("docker.io/buildx-e2e/meta:1");
    expect(meta["containerimage.descriptor"]).toMatchObject({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: meta["containerimage.digest"] });
    expect(r.stdout).toBe(`${meta["containerimage.config.digest"] as string}\n`);
    expect(readFileSync(join(dir, "iid"), "utf8")).toBe(meta["containerimage.config.digest"]);
  });

  it("-o type=local,dest=… and -o type=tar bring the result's files to the client", async () => {
    const dir = context("out", `FROM scratch\nCOPY a.txt sub/b.txt /files/\n`, { "a.txt": "A", "sub/b.txt": "B" });
    const r = await docker(["buildx", "build", "--progress=plain", "-o", "type=local,dest=out", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, "out", "files", "a.txt"), "utf8")).toBe("A");
    expect(readFileSync(join(dir, "out", "files", "b.txt"), "utf8")).toBe("B");
    expect(r.stderr).toMatch(/#(\d+) exporting to client directory\n#\1 copying files \S+( \d+\.\ds)? done\n#\1 DONE/);
    const t = await docker(["buildx", "build", "-q", "-o", "type=tar,dest=out.tar", "."], dir);
    expect(t.code, t.stderr).toBe(0);
    expect(readFileSync(join(dir, "out.tar")).subarray(257, 262).toString()).toBe("ustar");
    // HTK-BUILDX-0025: a destination that cannot be made.
    const bad = await docker(["buildx", "build", "-q", "-o", "type=local,dest=a.txt/x", "."], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ERROR: The build's files could not be written to .*a\.txt\/x: .*\n  HTK-BUILDX-0025: /);
  });

  it("--call check, outline and targets answer from the frontend without building", async () => {
    const dir = context("calls", `FROM ${busybox.reference} AS Builder\nARG VERSION=1\nRUN echo $VERSION\nFROM builder\n`);
    const check = await docker(["buildx", "build", "--call", "check", "."], dir);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^Check complete, 1 warning has been found!\n\nWARNING: StageNameCasing - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/stage-name-casing\/\nStage name 'Builder' should be lowercase\n/);
    const json = await docker(["build", "--call=check,format=json", "."], dir);
    expect((JSON.parse(json.stdout) as { warnings: Array<{ ruleName: string }> }).warnings.map((w) => w.ruleName)).toEqual(["StageNameCasing"]);
    const outline = await docker(["buildx", "build", "--call=outline", "--target", "Builder", "."], dir);
    expect(outline).toMatchObject({ code: 0 });
    expect(outline.stdout).toMatch(/^TARGET: +builder\n\nBUILD ARG +VALUE +DESCRIPTION\nVERSION +1/);
    const targets = await docker(["buildx", "build", "--call", "targets", "."], dir);
    expect(targets.stdout).toMatch(/^TARGET.*\nbuilder\n/);
  });

  it("a failing RUN exits 1 with BuildKit's error layout", async () => {
    const dir = context("fail", `FROM ${busybox.reference}\nRUN echo first\nRUN echo oops && exit 3\n`);
    const r = await docker(["build", "--progress=plain", "."], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/#(\d+) \[3\/3\] RUN echo oops && exit 3\n#\1 \d\.\d{3} oops\n#\1 ERROR: process "\/bin\/sh -c echo oops && exit 3" did not complete successfully: exit code: 3\n/);
    expect(r.stderr).toMatch(
      /------\n > \[3\/3\] RUN echo oops && exit 3:\n\d\.\d{3} oops\n------\nDockerfile:3\n--------------------\n   1 \|     FROM .*\n   2 \|     RUN echo first\n   3 \| >>> RUN echo oops && exit 3\n   4 \|     \n--------------------\nERROR: failed to build: failed to solve: process "\/bin\/sh -c echo oops && exit 3" did not complete successfully: exit code: 3\n/,
    );
  });

  it("secrets reach RUN --mount=type=secret on request, and are not left in the engine", async () => {
    const dir = context("secret", `FROM ${busybox.reference}\nRUN --mount=type=secret,id=token cat /run/secrets/token > /seen\n`, { "token.txt": "s3cr3t" });
    const r = await docker(["buildx", "build", "--progress=plain", "--secret", "id=token,src=token.txt", "-t", "buildx-e2e/secret", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const run = await docker(["run", "--rm", "buildx-e2e/secret", "cat", "/seen"]);
    expect(run.stdout).toBe("s3cr3t");
  });

  it("fails before building for a missing context or Dockerfile, with buildx's texts (HTK-BUILDX-0022, HTK-BUILDX-0023)", async () => {
    const none = await docker(["build", join(engine.root, "no-such-dir")]);
    expect(none).toMatchObject({ code: 1, stderr: `ERROR: unable to prepare context: path "${join(engine.root, "no-such-dir")}" not found\n` });
    const dir = join(engine.root, "contexts", "empty");
    mkdirSync(dir, { recursive: true });
    const nofile = await docker(["build", "."], dir);
    expect(nofile).toMatchObject({ code: 1, stderr: "ERROR: failed to build: failed to solve: failed to read dockerfile: open Dockerfile: no such file or directory\n" });
    const noargs = await docker(["build"]);
    expect(noargs.code).toBe(1);
    expect(noargs.stderr).toMatch(/^ERROR: "docker buildx build" requires exactly 1 argument\./);
  });

  it("a Dockerfile that does not parse fails in BuildKit's layout: the code frame, 'dockerfile parse error on line N: …', our diagnostic after it", async () => {
    const dir = context("unknown-instruction", "FROM scratch\nFOO bar\nCOPY a /a\n");
    const r = await docker(["build", "--progress=plain", "."], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/#1 DONE \d+\.\ds\n/);
    expect(r.stderr.slice(r.stderr.indexOf("Dockerfile:2"))).toBe(
      "Dockerfile:2\n--------------------\n   1 |     FROM scratch\n   2 | >>> FOO bar\n   3 |     COPY a /a\n   4 |     \n--------------------\n" +
        "ERROR: failed to build: failed to solve: dockerfile parse error on line 2: unknown instruction: FOO\n" +
        "  HTK-DOCKERFILE-0011: Use one of the Dockerfile instructions: ADD, ARG, CMD, COPY, ENTRYPOINT, ENV, EXPOSE, FROM, HEALTHCHECK, LABEL, MAINTAINER, ONBUILD, RUN, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR.\n",
    );
    const typo = context("typo-instruction", "FROM scratch\nCOPPY a /a\n");
    const t = await docker(["buildx", "build", "-q", "."], typo);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(" 2 | >>> COPPY a /a\n   3 |     \n--------------------\nERROR: failed to build: failed to solve: dockerfile parse error on line 2: unknown instruction: COPPY (did you mean COPY?)\n");
    // The classic builder's POST /build: dockerd's 400 with instructions.Parse's text.
    const classic = await engine.docker(["build", "."], { cwd: dir, env: { DOCKER_BUILDKIT: "0" } });
    expect(classic.code).toBe(1);
    expect(classic.stderr).toContain("Error response from daemon: dockerfile parse error on line 2: unknown instruction: FOO [HTK-DOCKERFILE-0310] HTK-DOCKERFILE-0011: ");
  });

  it("docker build --help shows buildx's flags", async () => {
    const r = await docker(["build", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage:  docker buildx build [OPTIONS] PATH | URL | -");
    expect(r.stdout).toContain("Aliases:\n  docker build, docker builder build, docker image build, docker buildx b");
    expect(r.stdout).toMatch(/--metadata-file string +Write build result metadata to a file/);
    expect(r.stdout).toMatch(/--call string +Set method for evaluating build/);
  });
});

describe("cancelling docker build", () => {
  const engine = suiteEngine({ plugin: true });
  const { busybox } = fixtures();

  it("SIGINT to the docker CLI cancels the build in the engine (the CLI closes the plugin socket)", async () => {
    const dir = join(engine.root, "ctx-cancel");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), `FROM ${busybox.reference}\nRUN echo started && sleep 37\n`);
    const child = spawn("docker", ["build", "--progress=plain", "."], { cwd: dir, env: engine.env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (/\d \bstarted\n/.test(stderr)) resolve();
      });
      void exited.then(() => reject(new Error(`docker build ended before the step ran:\n${stderr}`)));
    });
    child.kill("SIGINT");
    const code = await exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/#\d+ CANCELED\n[^]*ERROR: failed to build: failed to solve: Canceled: context canceled\n$/);
    // The step's process is gone from the machine: the engine cancelled the build, not just the stream.
    for (;;) {
      if (!sleepersRunning()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sleepersRunning()).toBe(false);
  });
});

/** Whether a `sleep 37` (the cancelled step's process) still runs anywhere on the machine. */
function sleepersRunning(): boolean {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\u000037\u0000") return true;
    } catch {
      // Gone meanwhile.
    }
  }
  return false;
}

describe("build cache and history through the plugin", () => {
  const engine = suiteEngine({ plugin: true });

  it("du lists the cache, history shows the builds, docker builder prune (forwarded to buildx) empties it", async () => {
    const dir = join(engine.root, "ctx-cache");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY f /f\n");
    writeFileSync(join(dir, "f"), "x");
    expect((await engine.docker(["build", "-q", "."], { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY missing /m\n");
    expect((await engine.docker(["build", "-q", "."], { cwd: dir })).code).toBe(1);

    const du = await engine.docker(["buildx", "du"]);
    expect(du.code, du.stderr).toBe(0);
    expect(du.stdout).toMatch(/^ID\t+RECLAIMABLE\tSIZE\t+LAST ACCESSED\n/);
    expect(du.stdout).toMatch(/\nReclaimable:\t\S+\nTotal:\t+\S+\n$/);
    expect((await engine.docker(["buildx", "du", "--verbose"])).stdout).toMatch(/ID:\t+\S+\n[^]*Reclaimable:\t+true\n/);

    const ls = await engine.docker(["buildx", "history", "ls"]);
    expect(ls.code, ls.stderr).toBe(0);
    const lines = ls.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^BUILD ID +NAME +STATUS +CREATED AT +DURATION +$/);
    expect(lines[1]).toMatch(/^[a-z0-9]{25} +ctx-cache +Error +(Less than a second|\d+ seconds?) ago +\d+\.\ds +$/);
    expect(lines[2]).toMatch(/^[a-z0-9]{25} +ctx-cache +Completed /);
    const inspect = await engine.docker(["buildx", "history", "inspect"]);
    expect(inspect.stdout).toMatch(/^Name: +ctx-cache\nContext: +\.\nDockerfile: +Dockerfile\n\nStarted: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nDuration: +\d+\.\ds\nBuild Steps: +\d+\/\d+ \(\d+% cached\)\n\nError: +.*missing/);
    const older = await engine.docker(["buildx", "history", "logs", "^1"]);
    expect(older.stdout).toMatch(/#\d+ \[1\/1\] COPY f \/f\n#\d+ DONE/);
    // HTK-BUILDX-0027: no such record.
    expect((await engine.docker(["buildx", "history", "inspect", "^9"])).stderr).toMatch(/HTK-BUILDX-0027/);
    const ref = (lines[2] ?? "").split(" ")[0] ?? "";
    expect((await engine.docker(["buildx", "history", "rm", ref])).code).toBe(0);
    expect((await engine.docker(["buildx", "history", "ls", "--format", "{{.Ref}}"])).stdout).not.toContain(ref);

    const prune = await engine.docker(["builder", "prune", "-af"]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/^ID\t+RECLAIMABLE\tSIZE\t+LAST ACCESSED\n[^]*Total:\t\S+\n$/);
    expect((await engine.docker(["buildx", "du"])).stdout).toMatch(/Total:\t+0B\n$/);
  });
});

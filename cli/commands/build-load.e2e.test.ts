import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { fixtures, tempDir } from "../../testing/index.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { startTestEngine } from "../../engine/e2e/harness.ts";

/**
 * `--load` (buildx: -o type=docker loaded into the engine's image store). In-process builds load into
 * the data root's own image store; loading into an engine goes through a docker archive and the real
 * `docker load`, which is what HTK-BUILD-0230 tells a `--load` without --data-root to do.
 */
describe("hatake build --load", () => {
  const reg = (): string => fixtures().registry.host;

  async function project(): Promise<string> {
    const root = await tempDir("build-load");
    mkdirSync(join(root, "ctx"), { recursive: true });
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${reg()}/busybox\nRUN echo loaded > /built.txt\nCMD ["cat", "/built.txt"]\n`);
    return root;
  }

  async function hatake(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; err: string }> {
    const io = memoryIo({ cwd, env });
    const code = await main(["build", "--progress=plain", ...args], io);
    return { code, err: io.err() };
  }

  it("with --data-root: into the data root's image store, under the -t names or untagged (also -o type=docker without dest)", async () => {
    const root = await project();
    const tagged = await hatake(root, ["--data-root", "data", "--load", "-t", "load/app:1", "--metadata-file", "tagged.json", "ctx"]);
    expect(tagged.err, tagged.err).not.toContain("ERROR");
    expect(tagged.code).toBe(0);
    expect(tagged.err).toContain("exporting to image");
    const named = await hatake(root, ["--data-root", "data", "-o", "type=docker,name=load/app:2", "ctx"]);
    expect(named.code, named.err).toBe(0);
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${reg()}/busybox\nRUN echo untagged > /built.txt\n`);
    const untagged = await hatake(root, ["--data-root", "data", "--load", "--metadata-file", "untagged.json", "ctx"]);
    expect(untagged.code, untagged.err).toBe(0);

    const images = await ImageStore.openAt(join(root, "data"));
    const meta = (file: string): string => (JSON.parse(readFileSync(join(root, file), "utf8")) as Record<string, string>)["containerimage.config.digest"] ?? "";
    const first = images.resolve("load/app:1");
    expect(first.config.digest).toBe(meta("tagged.json"));
    expect(images.resolve("load/app:2").id).toBe(first.id);
    // Another image, loaded without -t: kept without a name (what docker shows as <none>).
    const loose = images.lookup(meta("untagged.json"));
    expect(loose).toBeDefined();
    expect(loose?.id).not.toBe(first.id);
    expect(images.repoTags(loose?.id ?? first.id)).toEqual([]);
  });

  it("without --data-root the build runs in the engine (through the buildx plugin): --load puts the image in its store, docker run runs it", async () => {
    const root = await project();
    const engine = await startTestEngine();
    try {
      const built = await hatake(root, ["--load", "-t", "load/app:3", "--progress", "plain", "ctx"], { DOCKER_HOST: engine.host });
      expect(built.code, built.err).toBe(0);
      expect(built.err).toMatch(/#\d+ naming to docker\.io\/load\/app:3/);
      const inspect = await engine.docker(["image", "inspect", "--format", "{{json .Config.Cmd}}", "load/app:3"]);
      expect(inspect.stdout.trim()).toBe('["cat","/built.txt"]');
      const ran = await engine.docker(["run", "--rm", "--network", "none", "load/app:3"]);
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stdout).toBe("loaded\n");
      // A failing build keeps buildx's exit code through hatake.
      const refused = await hatake(root, ["--explain-cache", "ctx"], { DOCKER_HOST: engine.host });
      expect(refused.code).toBe(1);
      expect(refused.err).toContain("HTK-CLI-0005");
    } finally {
      await engine.stop();
    }
  });
});

import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, installPlugin, run } from "../../testing/index.ts";
import { PLUGIN_VERSION } from "../metadata.ts";

/** The plugin under the real docker CLI 28, installed as tools/up.sh installs it; no engine needed. */
describe("docker-buildx under the docker CLI", () => {
  const root = mkdtempSync(join(tmpdir(), "htk-buildx-e2e-"));
  const env: NodeJS.ProcessEnv & { DOCKER_CONFIG: string } = { ...process.env, DOCKER_CONFIG: join(root, "config"), DOCKER_HOST: `unix://${join(root, "no-engine.sock")}` };
  delete env["DOCKER_CONTEXT"];
  delete env["BUILDX_BUILDER"];
  const docker = (args: string[]) => run("docker", args, { env, timeoutMs: 60_000 });

  beforeAll(async () => installPlugin(env.DOCKER_CONFIG), 180_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("is listed by the CLI and answers `docker buildx version` without a daemon", async () => {
    const help = await docker(["--help"]);
    expect(help.stdout).toMatch(/buildx\*\s+Docker Buildx \(HATAKE builder\)/);
    const v = await docker(["buildx", "version"]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(new RegExp(`^hatake/buildx ${PLUGIN_VERSION.replaceAll(".", "\\.")}( [0-9a-f]+)?\\n$`));
  });

  it("passes the CLI's global flags through and keeps cobra's exit codes", async () => {
    expect((await docker(["-D", "--context", "default", "buildx", "version"])).code).toBe(0);
    const bad = await docker(["buildx", "version", "--nope"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toBe("unknown flag: --nope\nSee 'docker buildx version --help'.\n");
  });

  it("says how to build the bundle when it is missing (HTK-BUILDX-0001)", async () => {
    const bare = join(root, "bare");
    mkdirSync(join(bare, "bin"), { recursive: true });
    copyFileSync(join(REPO_ROOT, "bin", "docker-buildx"), join(bare, "bin", "docker-buildx"));
    const r = await run(join(bare, "bin", "docker-buildx"), ["version"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("HTK-BUILDX-0001: Run \"npm run build\"");
  });
});

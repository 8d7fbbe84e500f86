import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { resolveConfig, startDaemon, type RunningDaemon } from "../index.ts";

const exec = promisify(execFile);

// The real docker CLI (28.x) against the engine: the judge of compatibility.
describe("the docker CLI against the engine", () => {
  let root = "";
  let daemon: RunningDaemon | undefined;
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "htk-cli-"));
    const sock = join(root, "docker.sock");
    const { config } = resolveConfig({ dataRoot: join(root, "data"), hosts: [`unix://${sock}`] }, {});
    daemon = await startDaemon(config, { version: "0.1.0", gitCommit: "" }, createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "fatal"));
    env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(root, "docker-config") };
  });
  afterAll(async () => {
    await daemon?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("docker version negotiates API 1.45 and shows the server", async () => {
    const { stdout } = await exec("docker", ["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}} {{.Client.APIVersion}}"], { env });
    expect(stdout.trim()).toBe("1.45 linux/amd64 1.45");
    const full = await exec("docker", ["version"], { env });
    expect(full.stdout).toContain("Server: HATAKE Engine");
    expect(full.stdout).toMatch(/API version:\s+1\.45 \(minimum version 1\.24\)/);
  });

  it("an endpoint the engine does not have yet gives a daemon error with a diagnostic ID, not a crash", async () => {
    const r = await exec("docker", ["ps"], { env }).catch((e: { code: number; stderr: string }) => e);
    expect("code" in r ? r.code : 0).toBe(1);
    expect("stderr" in r ? r.stderr : "").toMatch(/Error response from daemon: The engine has no endpoint GET \/v1\.45\/containers\/json\. \[HTK-API-0001\]/);
  });
});

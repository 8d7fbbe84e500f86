import { describe, expect, it } from "vitest";
import { suiteEngine } from "./harness.ts";

// The real docker CLI (28.x) against the engine: the judge of compatibility.
describe("the docker CLI against the engine", () => {
  const engine = suiteEngine();

  it("docker version negotiates API 1.45 and shows the server", async () => {
    const short = await engine.docker(["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}} {{.Client.APIVersion}}"]);
    expect(short.stdout.trim()).toBe("1.45 linux/amd64 1.45");
    const full = await engine.docker(["version"]);
    expect(full.stdout).toContain("Server: HATAKE Engine");
    expect(full.stdout).toMatch(/API version:\s+1\.45 \(minimum version 1\.24\)/);
  });
});

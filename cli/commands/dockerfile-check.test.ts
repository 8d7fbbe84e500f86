import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { memoryIo } from "../testing.ts";
import { dockerfileCommand } from "./dockerfile.ts";

describe("hatake dockerfile check", () => {
  const dir = mkdtempSync(join(tmpdir(), "htk-df-check-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "Dockerfile"), "FROM alpine AS BuilD\nRUN true\n");
  writeFileSync(join(dir, "clean.Dockerfile"), 'FROM alpine\nCMD ["true"]\n');
  writeFileSync(join(dir, "strict.Dockerfile"), "# check=error=true\nFROM alpine AS BuilD\n");
  writeFileSync(join(dir, "args.Dockerfile"), "ARG IMG\nFROM alpine:${IMG:-3.20}\nARG V\nWORKDIR ${V}app\n");
  writeFileSync(join(dir, "unknown.Dockerfile"), "FROM alpine\nCOPPY a b\n");
  writeFileSync(join(dir, "badopt.Dockerfile"), "# check=bogus=1\nFROM alpine\n");
  writeFileSync(join(dir, "ignored.Dockerfile"), "# check=experimental=CopyIgnoredFile\nFROM alpine\nCOPY secret.txt /\n");
  writeFileSync(join(dir, "ignored.Dockerfile.dockerignore"), "secret.txt\n");

  it("prints docker's check report and exits 1 when there are warnings", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "Dockerfile"], io)).toBe(1);
    expect(io.out()).toBe(
      [
        "Check complete, 1 warning has been found!",
        "",
        "WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
        "Stage name 'BuilD' should be lowercase",
        "Dockerfile:1",
        "--------------------",
        "   1 | >>> FROM alpine AS BuilD",
        "   2 |     RUN true",
        "   3 |     ",
        "--------------------",
        "",
      ].join("\n"),
    );
    expect(io.err()).toBe("");
  });

  it("exits 0 with 'no warnings found' for a clean file", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "clean.Dockerfile"], io)).toBe(0);
    expect(io.out()).toBe("Check complete, no warnings found.\n");
  });

  it("prints BuildKit's lint JSON with --format json", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "--format", "json", "Dockerfile"], io)).toBe(1);
    const json = JSON.parse(io.out()) as { warnings: { ruleName: string; detail: string; location: unknown }[]; sources: { filename: string }[] };
    expect(json.warnings).toEqual([
      {
        ruleName: "StageNameCasing",
        description: "Stage names should be lowercase",
        url: "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
        detail: "Stage name 'BuilD' should be lowercase",
        location: { ranges: [{ start: { line: 1 }, end: { line: 1 } }] },
      },
    ]);
    expect(json.sources[0]?.filename).toBe("Dockerfile");
    const clean = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "--format=json", "clean.Dockerfile"], clean)).toBe(0);
    expect(JSON.parse(clean.out())).toMatchObject({ warnings: null });
  });

  it("fails the check with docker's error when the file says error=true", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "strict.Dockerfile"], io)).toBe(1);
    expect(io.out()).toContain("WARNING: StageNameCasing");
    expect(io.err().split("\n")[0]).toBe("ERROR: lint violation found for rules: StageNameCasing");
    const json = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "--format", "json", "strict.Dockerfile"], json)).toBe(1);
    expect(JSON.parse(json.out())).toMatchObject({ buildError: { message: "lint violation found for rules: StageNameCasing" } });
  });

  it("takes --build-arg, including BUILDKIT_DOCKERFILE_CHECK", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "args.Dockerfile"], io)).toBe(1);
    expect(io.out()).toContain("WARNING: WorkdirRelativePath");
    const withArg = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "--build-arg", "V=/", "args.Dockerfile"], withArg)).toBe(0);
    const skip = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip=WorkdirRelativePath", "args.Dockerfile"], skip)).toBe(0);
    const quiet = memoryIo({ cwd: dir, env: { BUILDKIT_DOCKERFILE_CHECK: "skip=all" } });
    expect(await dockerfileCommand.run(["check", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK", "Dockerfile"], quiet)).toBe(0);
  });

  it("uses the Dockerfile's .dockerignore for CopyIgnoredFile", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "ignored.Dockerfile"], io)).toBe(1);
    expect(io.out()).toContain('Attempting to Copy file "secret.txt" that is excluded by .dockerignore');
  });

  it("reports where BuildKit would stop (an unknown instruction) as an error", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "unknown.Dockerfile"], io)).toBe(1);
    expect(io.err().split("\n")[0]).toBe("ERROR: dockerfile parse error on line 2: unknown instruction: COPPY (did you mean COPY?)");
    expect(io.err()).toContain("ERROR HTK-DOCKERFILE-0303: The build checks stopped at line 2, where a build would stop too: dockerfile parse error on line 2: unknown instruction: COPPY (did you mean COPY?).");
  });

  it("reports an unusable check configuration with HTK-DOCKERFILE-0302", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["check", "badopt.Dockerfile"], io)).toBe(1);
    expect(io.err()).toContain("HTK-DOCKERFILE-0302");
    expect(io.out()).toBe("");
  });

  it("reads standard input and rejects a bad --format", async () => {
    const io = memoryIo({ cwd: dir, stdin: "FROM alpine\nMAINTAINER me\n" });
    expect(await dockerfileCommand.run(["check", "-"], io)).toBe(1);
    expect(io.out()).toContain("Dockerfile:2");
    await expect(dockerfileCommand.run(["check", "--format", "xml", "Dockerfile"], memoryIo({ cwd: dir }))).rejects.toThrow(/text or json/);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { memoryIo } from "../testing.ts";
import { dockerfileCommand } from "./dockerfile.ts";

describe("hatake dockerfile", () => {
  const dir = mkdtempSync(join(tmpdir(), "htk-df-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "Dockerfile"), 'FROM alpine AS build\nRUN echo \\\n  hi\nCMD ["sh"]\n');
  writeFileSync(join(dir, "bad.Dockerfile"), "FROM alpine\nENV NAME\n");
  writeFileSync(join(dir, "warn.Dockerfile"), "FROM alpine\nRUN a \\\n\n b\n");

  it("parse --dump prints BuildKit's dump", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["parse", "--dump", "Dockerfile"], io)).toBe(0);
    expect(io.out()).toBe('(from "alpine" "AS" "build")\n(run "echo   hi")\n(cmd "sh")\n');
    expect(io.err()).toBe("");
  });

  it("parse --json prints the tree", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["parse", "--json", join(dir, "Dockerfile")], io)).toBe(0);
    const tree = JSON.parse(io.out()) as { kind: string; instructions: { keyword: string }[] };
    expect(tree.kind).toBe("dockerfile");
    expect(tree.instructions.map((i) => i.keyword)).toEqual(["from", "run", "cmd"]);
  });

  it("reads standard input for -", async () => {
    const io = memoryIo({ cwd: dir, stdin: "FROM a\n" });
    expect(await dockerfileCommand.run(["parse", "--dump", "-"], io)).toBe(0);
    expect(io.out()).toBe('(from "a")\n');
  });

  it("prints the code frame and ID of a rejected file to stderr and exits 1", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["parse", "--dump", "bad.Dockerfile"], io)).toBe(1);
    expect(io.out()).toBe("");
    expect(io.err()).toContain("ERROR HTK-DOCKERFILE-0005:");
    expect(io.err()).toContain(" --> bad.Dockerfile:2:5");
    expect(io.err()).toContain("2 | ENV NAME\n  |     ^^^^");
  });

  it("prints warnings to stderr and still succeeds", async () => {
    const io = memoryIo({ cwd: dir });
    expect(await dockerfileCommand.run(["parse", "warn.Dockerfile"], io)).toBe(0);
    expect(io.out()).toBe('(from "alpine")\n(run "a  b")\n');
    expect(io.err()).toContain("WARNING HTK-DOCKERFILE-0010:");
  });

  it("reports a missing file as HTK-DOCKERFILE-0013", async () => {
    const io = memoryIo({ cwd: dir });
    const err = await dockerfileCommand.run(["parse", "nope"], io).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-DOCKERFILE-0013")).toBe(true);
  });

  it("suggests a subcommand for a typo", async () => {
    const err = await dockerfileCommand.run(["prase", "x"], memoryIo()).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-CLI-0001")).toBe(true);
    expect(err instanceof Error ? err.message : "").toContain('Did you mean "dockerfile parse"?');
  });

  it("shows help", async () => {
    const io = memoryIo();
    expect(await dockerfileCommand.run(["parse", "--help"], io)).toBe(0);
    expect(io.out()).toMatch(/^Usage: hatake dockerfile parse/);
    expect(await dockerfileCommand.run([], io)).toBe(2);
  });
});

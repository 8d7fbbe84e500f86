import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { memoryIo } from "../testing.ts";
import { contextCommand, humanBytes } from "./context.ts";

const root = mkdtempSync(join(tmpdir(), "htk-context-ls-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(rel: string, content: string | number): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), typeof content === "number" ? "x".repeat(content) : content);
}

write("app/.dockerignore", "node_modules\n*.log\n!keep.log\nbuild\n!build/dist/**\n");
write("app/Dockerfile", 10);
write("app/a.log", 5);
write("app/keep.log", 5);
write("app/sub/b.log", 7);
write("app/node_modules/pkg/index.js", 1000);
write("app/build/tmp/x", 50);
write("app/build/dist/app.js", 300);
write("app/src/main.go", 2048);
mkdirSync(join(root, "app/empty"));
write("app/docker/Dockerfile.dev", 1);
write("app/docker/Dockerfile.dev.dockerignore", "src\n**/*.log\n");

async function run(args: string[]) {
  const io = memoryIo({ cwd: root });
  const code = await contextCommand.run(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe("hatake context ls", () => {
  it("lists what a build would send, with Docker's .dockerignore rules", async () => {
    const r = await run(["ls", "app"]);
    expect(r.code).toBe(0);
    expect(r.out.split("\n")).toEqual([
      ".dockerignore",
      "Dockerfile",
      "build/",
      "build/dist/",
      "build/dist/app.js",
      "docker/",
      "docker/Dockerfile.dev",
      "docker/Dockerfile.dev.dockerignore",
      "empty/",
      "keep.log",
      "src/",
      "src/main.go",
      // *.log is anchored at the root: sub/b.log stays (gitignore would drop it).
      "sub/",
      "sub/b.log",
      "",
    ]);
  });

  it("uses <Dockerfile>.dockerignore next to the Dockerfile given with -f", async () => {
    const r = await run(["ls", "-f", "app/docker/Dockerfile.dev", "app"]);
    expect(r.out).not.toContain("src/main.go");
    expect(r.out).not.toContain("b.log");
    expect(r.out).toContain("node_modules/pkg/index.js");
  });

  it("adds the total and the largest directories with --size", async () => {
    const r = await run(["ls", "--size", "app"]);
    const summary = r.out.split("\n\n")[1] ?? "";
    expect(summary).toContain(`Ignore file: ${join("app", ".dockerignore")}`);
    expect(summary).toContain("Total: 8 files, 6 directories, 0 symlinks; 2.4 KiB (2434 bytes)");
    const lines = summary.split("\n");
    expect(lines.slice(2, 5)).toEqual(["Largest directories:", "     2.0 KiB  src/", "       300 B  build/"]);
    const files = lines.slice(lines.indexOf("Largest files:") + 1).filter((l) => l !== "");
    expect(files).toEqual(["     2.0 KiB  src/main.go", "       300 B  build/dist/app.js", "        50 B  .dockerignore", "        13 B  docker/Dockerfile.dev.dockerignore", "        10 B  Dockerfile"]);
  });

  it("prints help and reports usage errors with IDs", async () => {
    expect((await run(["ls", "--help"])).out).toMatch(/^Usage: hatake context ls/);
    expect((await run([])).code).toBe(2);
    await expect(run(["ls"])).rejects.toSatisfy((e: unknown) => isHtkError(e, "HTK-CLI-0002"));
    await expect(run(["lss", "app"])).rejects.toSatisfy((e: unknown) => isHtkError(e, "HTK-CLI-0001") && /Did you mean "context ls"/.test((e as Error).message));
    await expect(run(["ls", "missing"])).rejects.toSatisfy((e: unknown) => isHtkError(e, "HTK-DOCKERFILE-0111"));
  });

  it("formats sizes", () => {
    expect(humanBytes(0)).toBe("0 B");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(humanBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
  });
});

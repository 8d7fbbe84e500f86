import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDockerignore } from "./ignore-file.ts";

const root = mkdtempSync(join(tmpdir(), "htk-ignore-file-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(rel: string, text: string): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), text);
}

describe("loadDockerignore", () => {
  write("ctx/.dockerignore", "from-context\n");
  write("ctx/foo/Dockerfile.dev", "FROM scratch\n");
  write("ctx/foo/Dockerfile.dev.dockerignore", "# dev\nfrom-dev\n");
  write("ctx/Dockerfile.dockerignore", "from-default-dockerfile\n");
  write("ctx/bar/Dockerfile", "FROM scratch\n");
  write("ctx/bar/Dockerfile.dockerignore", "");
  write("plain/.dockerignore", "a\n!a/b\n");

  it("prefers <Dockerfile>.dockerignore next to the Dockerfile", async () => {
    const r = await loadDockerignore("ctx", { dockerfile: "ctx/foo/Dockerfile.dev", cwd: root });
    expect(r.file).toBe(join(root, "ctx/foo/Dockerfile.dev.dockerignore"));
    expect(r.patterns).toEqual(["from-dev"]);
    expect(r.matcher.matchesOrParentMatches("from-dev")).toBe(true);
    expect(r.matcher.matchesOrParentMatches("from-context")).toBe(false);
  });

  it("checks Dockerfile.dockerignore for the default Dockerfile too", async () => {
    const r = await loadDockerignore(join(root, "ctx"));
    expect(r.patterns).toEqual(["from-default-dockerfile"]);
  });

  it("lets an empty Dockerfile-specific file switch the context file off", async () => {
    const r = await loadDockerignore("ctx", { dockerfile: "ctx/bar/Dockerfile", cwd: root });
    expect(r.file).toBe(join(root, "ctx/bar/Dockerfile.dockerignore"));
    expect(r.patterns).toEqual([]);
  });

  it("falls back to <context>/.dockerignore, and to nothing", async () => {
    const r = await loadDockerignore("plain", { cwd: root });
    expect(r.patterns).toEqual(["a", "!a/b"]);
    expect(r.matcher.hasExceptions).toBe(true);
    const none = await loadDockerignore(join(root, "ctx/foo"));
    expect(none.file).toBeUndefined();
    expect(none.matcher.matchesOrParentMatches("anything")).toBe(false);
  });
});

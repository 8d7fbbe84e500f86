import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { gitCacheKey, isCommitSha, parseGitUrl, runGit } from "./git.ts";

describe("git runner", () => {
  const signal = new AbortController().signal;
  const idOf = async (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => "ok",
      (err: unknown) => (isHtkError(err) ? err.id : String(err)),
    );

  it("parses git URLs and fragments as BuildKit's git identifier", () => {
    expect(parseGitUrl("https://h/x.git#v1:a/b")).toEqual({ remote: "https://h/x.git", ref: "v1", subdir: "a/b" });
    expect(parseGitUrl("git@github.com:o/r.git")).toEqual({ remote: "git@github.com:o/r.git", ref: "", subdir: "" });
    expect(parseGitUrl("github.com/o/r#main")).toEqual({ remote: "https://github.com/o/r", ref: "main", subdir: "" });
    expect(isCommitSha("a".repeat(40))).toBe(true);
    expect(isCommitSha("abc1234")).toBe(false);
    expect(gitCacheKey("c0ffee", "sub", true)).toBe("c0ffee.git:sub");
  });

  it("a git failure it cannot place keeps git's own words (HTK-RUNTIME-0304); no git at all is HTK-RUNTIME-0306", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-git-unit-"));
    await runGit(["init", "--quiet", dir], { signal, remote: dir });
    const err = await runGit(["cat-file", "-p", "no-such-object"], { signal, remote: dir, cwd: dir }).catch((e: unknown) => e);
    expect(isHtkError(err) && err.id).toBe("HTK-RUNTIME-0304");
    expect(String((err as Error).message)).toMatch(/no-such-object/);
    expect(await idOf(runGit(["version"], { signal, remote: dir, env: { PATH: "/nonexistent" } }))).toBe("HTK-RUNTIME-0306");
  });
});

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { GitRepos } from "../worker/git.ts";
import { remoteContext } from "./build-service-remote.ts";

describe("remote build contexts of the build service", () => {
  const scratch = mkdtempSync(join(tmpdir(), "htk-remote-ctx-"));
  const opts = { repos: new GitRepos(join(scratch, "git")), scratch, signal: new AbortController().signal };

  it("a git URL becomes a git context whose Dockerfile is a path inside it", async () => {
    const lease = await remoteContext("https://example.invalid/x.git#main:sub", "docker/Dockerfile", opts);
    expect(lease.context).toEqual({ kind: "git", url: "https://example.invalid/x.git#main:sub" });
    expect(lease.dockerfile).toEqual({ kind: "file", path: "docker/Dockerfile" });
    for (const url of ["git@example.invalid:o/r.git", "git://example.invalid/r", "ssh://git@example.invalid/r.git"]) expect((await remoteContext(url, "Dockerfile", opts)).context).toEqual({ kind: "git", url });
  });

  it("anything else than git or http(s) is HTK-BUILD-0401", async () => {
    const err = await remoteContext("ftp://example.invalid/ctx.tar", "Dockerfile", opts).catch((e: unknown) => e);
    expect(isHtkError(err) && err.id).toBe("HTK-BUILD-0401");
  });
});

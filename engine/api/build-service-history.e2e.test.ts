import { request } from "node:http";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/** `docker buildx history` (inspect --explain-cache, open, ls --filter, rm ^N) with the real docker CLI and the plugin. */
describe("buildx history through the plugin", () => {
  let engine: TestEngine;
  let dir: string;
  const docker = (args: string[], env: NodeJS.ProcessEnv = {}) => engine.docker(args, { cwd: dir, timeoutMs: 120_000, env });

  beforeAll(async () => {
    engine = await startTestEngine({ plugin: true });
    dir = join(engine.root, "ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n");
    writeFileSync(join(dir, "a.txt"), "one\n");
    writeFileSync(join(dir, "b.txt"), "b\n");
    expect((await docker(["buildx", "build", "--progress=plain", "."])).code).toBe(0);
    writeFileSync(join(dir, "a.txt"), "two, longer\n");
    const again = await docker(["buildx", "build", "--progress=plain", "."]);
    expect(again.code, again.stderr).toBe(0);
  }, 240_000);
  afterAll(async () => engine?.stop());

  it("inspect --explain-cache says which file made a step miss the cache", async () => {
    const r = await docker(["buildx", "history", "inspect", "--explain-cache"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\nCache misses:\n(?: {2}.*\n)* {2}#\d+ \[1\/2\] COPY a\.txt \/a\.txt\n {4}file "\/a\.txt" changed in \[internal\] load build context \(content\)\n/);
    expect(r.stdout).toMatch(/ {2}#\d+ \[2\/2\] COPY b\.txt \/b\.txt\n {4}input \[1\/2\] COPY a\.txt \/a\.txt changed \(see #\d+\)\n/);
    expect(r.stdout).toMatch(/\nPrint build logs: docker buildx history logs \w+\n$/);
    const json = await docker(["buildx", "history", "inspect", "--explain-cache", "--format", "json"]);
    expect((JSON.parse(json.stdout) as { CacheExplanation: string[] }).CacheExplanation.join("\n")).toContain('file "/a.txt" changed');
    // Without the flag, inspect prints no such section.
    expect((await docker(["buildx", "history", "inspect"])).stdout).not.toContain("Cache misses:");
  });

  it("ls --filter and --format json; rm ^1 removes the older build", async () => {
    const all = await docker(["buildx", "history", "ls", "--format", "json"]);
    const rows = all.stdout.trim().split("\n").map((l) => JSON.parse(l) as { ref: string; status: string; total_steps: number });
    expect(rows).toHaveLength(2);
    expect(rows[0]?.ref).toMatch(/^default\/default\/\w+$/);
    expect(rows[0]?.status).toBe("Completed");
    expect((await docker(["buildx", "history", "ls", "--filter", "status=completed", "--format", "{{.Ref}}"])).stdout.trim().split("\n")).toHaveLength(2);
    expect((await docker(["buildx", "history", "ls", "--filter", "status=error", "--format", "{{.Ref}}"])).stdout).toBe("");
    expect((await docker(["buildx", "history", "ls", "--filter", "duration<1h", "--format", "{{.Ref}}"])).stdout.trim().split("\n")).toHaveLength(2);
    const bad = await docker(["buildx", "history", "ls", "--filter", "colour=blue"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("HTK-BUILDX-0112");
    const older = (rows[1]?.ref ?? "").split("/").at(-1) ?? "";
    const onlyOlder = await docker(["buildx", "history", "ls", "--filter", `ref=${older}`, "--format", "{{.Ref}}"]);
    expect(onlyOlder.stdout).toBe(`${older}\n`);
    // A custom format shows the GUI link when the engine is reachable by a browser.
    const link = await docker(["buildx", "history", "ls", "--filter", `ref=${older}`, "--format", "{{.Link}}"], { HATAKE_GUI_URL: "http://127.0.0.1:9" });
    expect(link.stdout).toBe(`http://127.0.0.1:9/ui/builds/default/default/${older}\n`);
    expect((await docker(["buildx", "history", "rm", "^1"])).code).toBe(0);
    const left = await docker(["buildx", "history", "ls", "--format", "{{.Ref}}"]);
    expect(left.stdout.trim().split("\n")).toHaveLength(1);
    expect(left.stdout).not.toContain(older);
  });

  it("open prints the GUI page's URL, and the engine serves that page", async () => {
    const refused = await docker(["buildx", "history", "open"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTK-BUILDX-0111");
    const r = await docker(["buildx", "history", "open"], { HATAKE_GUI_URL: "http://127.0.0.1:9/" });
    expect(r.code, r.stderr).toBe(0);
    const m = /^http:\/\/127\.0\.0\.1:9(\/ui\/builds\/default\/default\/(\w+))\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const page = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request({ socketPath: engine.socket, path: m?.[1] ?? "" }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(page.status).toBe(200);
    expect(page.type).toBe("text/html; charset=utf-8");
    expect(page.body).toContain(`<h1>Build <code>${m?.[2] ?? ""}</code></h1>`);
    expect(page.body).toMatch(/<dd id="status">completed<\/dd>/);
    expect(page.body).toContain("COPY a.txt /a.txt");
    expect(page.body).toContain("file &#34;/a.txt&#34; changed in [internal] load build context (content)");
  });

  it("buildx du, docker system df and prune account the build service's context copies (source.local)", async () => {
    const copiesDir = join(engine.dataRoot, "buildx", "contexts");
    const copies = () => readdirSync(copiesDir).filter((n) => /^[0-9a-f]{32}$/.test(n));
    const [copy] = copies();
    expect(copy).toBeDefined();
    const du = await docker(["buildx", "du", "--verbose", "--filter", `id=${copy ?? ""}`]);
    expect(du.code, du.stderr).toBe(0);
    expect(du.stdout).toMatch(new RegExp(`^ID:\\s+${copy ?? ""}\\n`));
    expect(du.stdout).toMatch(/\nType:\s+source\.local\n/);
    expect(du.stdout).toMatch(/\nDescription:\s+local source for context\n/);
    const df = await docker(["system", "df", "-v", "--format", "{{json .}}"]);
    expect(df.code, df.stderr).toBe(0);
    const cache = (JSON.parse(df.stdout) as { BuildCache: { ID: string; CacheType: string }[] }).BuildCache;
    expect(cache.find((c) => c.ID.startsWith((copy ?? "").slice(0, 12)))?.CacheType).toBe("source.local");
    // prune removes the copy; the next build sends the context again and works.
    const pruned = await docker(["buildx", "prune", "-f", "--filter", "type=source.local"]);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(copies()).toEqual([]);
    const rebuilt = await docker(["buildx", "build", "--progress=plain", "."]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(copies()).toHaveLength(1);
  });
});

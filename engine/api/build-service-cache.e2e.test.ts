import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startFaultProxy, type FaultProxy } from "../../cache/registry/fixtures.test-support.ts";
import { installPlugin, run } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * Issue 6's acceptance through the real docker CLI 28 and our buildx plugin: two engines with their
 * own data roots share a real registry (behind a counting proxy). Engine A exports a cache, engine B
 * (empty) imports it: every step CACHED, the same image digest, only the final image's layers fetched.
 */
describe("docker buildx build --cache-to / --cache-from between two engines", () => {
  let a: TestEngine;
  let b: TestEngine;
  let proxy: FaultProxy;
  let config: string;

  beforeAll(async () => {
    proxy = await startFaultProxy(`http://${inject("registry").host}`, () => ({ kind: "forward" }));
    a = await startTestEngine();
    b = await startTestEngine();
    config = a.env["DOCKER_CONFIG"] as string;
    await installPlugin(config);
  }, 240_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await proxy?.close();
  });

  /** The docker CLI against an engine, with the one plugin install. */
  const docker = (engine: TestEngine, args: readonly string[], cwd?: string, input?: string) =>
    engine.docker(args, { env: { DOCKER_CONFIG: config }, timeoutMs: 240_000, ...(cwd === undefined ? {} : { cwd }), ...(input === undefined ? {} : { input }) });

  /** A multi-stage build; `variant` makes its keys its own (each test starts with caches B does not have). */
  function context(name: string, variant: string, files: Record<string, string> = {}): string {
    const dir = join(a.root, "contexts", name);
    mkdirSync(dir, { recursive: true });
    const all = {
      Dockerfile: `FROM ${proxy.host}/busybox AS builder
WORKDIR /src
RUN echo ${variant} > /variant
COPY app.c lib.c ./
RUN cat app.c lib.c > /out.bin && echo built >> /out.bin
RUN echo intermediate > /tmp/x

FROM ${proxy.host}/busybox
COPY --from=builder /out.bin /app/out.bin
COPY conf.txt /etc/app.conf
RUN cat /etc/app.conf > /app/conf.copy
RUN echo last > /app/last
CMD ["cat", "/app/out.bin"]
`,
      "app.c": "int main() { return 0; }\n",
      "lib.c": "int lib;\n",
      "conf.txt": "port=80\n",
      ...files,
    };
    for (const [p, text] of Object.entries(all)) writeFileSync(join(dir, p), text);
    return dir;
  }

  /** `#N [stage n/m] …` vertices and whether each ended CACHED or ran. */
  function steps(err: string): { name: string; cached: boolean; ran: boolean }[] {
    const names = new Map<string, string>();
    for (const m of err.matchAll(/^#(\d+) (\[(?!internal\])[^\n]*)$/gm)) if (!names.has(m[1] as string)) names.set(m[1] as string, m[2] as string);
    return [...names].map(([n, name]) => ({ name, cached: new RegExp(`^#${n} CACHED$`, "m").test(err), ran: new RegExp(`^#${n} DONE`, "m").test(err) }));
  }

  /** Distinct blobs fetched through the proxy since `mark`. */
  function blobGets(mark: number): string[] {
    const out = new Set<string>();
    for (const r of proxy.log.slice(mark)) {
      const m = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.url);
      if (r.method === "GET" && m !== null) out.add(m[1] as string);
    }
    return [...out];
  }

  function digestOf(dir: string, file: string): string {
    return (JSON.parse(readFileSync(join(dir, file), "utf8")) as Record<string, string>)["containerimage.digest"] ?? "";
  }

  async function layerCount(engine: TestEngine, image: string): Promise<number> {
    const r = await docker(engine, ["image", "inspect", "--format", "{{len .RootFS.Layers}}", image]);
    expect(r.code, r.stderr).toBe(0);
    return Number(r.stdout.trim());
  }

  it("type=registry,mode=max: B builds fully CACHED, the same image, fetching only the final image's layers; an edit re-runs only its dependents", async () => {
    const variant = randomBytes(4).toString("hex");
    const ref = `${proxy.host}/enginecache/max-${variant}:cache`;
    const ctxA = context(`reg-a-${variant}`, variant);
    const built = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", `type=registry,ref=${ref},mode=max`, "-t", "cache-e2e/app:a", "--metadata-file", "meta.json", "."], ctxA);
    expect(built.code, built.stderr).toBe(0);
    // BuildKit's vertex and statuses, after the image's.
    expect(built.stderr).toMatch(/#(\d+) exporting to image\n[\s\S]*\n\n#(\d+) exporting cache to registry\n#\2 preparing build cache for export\n#\2 preparing build cache for export \d+\.\ds done\n(#\2 writing (layer|config) sha256:[0-9a-f]{64}( \d+\.\ds done)?\n)+#\2 writing cache image manifest sha256:[0-9a-f]{64} to [^\n]+\n#\2 writing cache image manifest [^\n]+ done\n#\2 DONE \d+\.\ds\n$/);
    const aDigest = digestOf(ctxA, "meta.json");
    expect(aDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const ctxB = context(`reg-b-${variant}`, variant);
    const mark = proxy.log.length;
    const imported = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", `type=registry,ref=${ref}`, "-t", "cache-e2e/app:b", "--metadata-file", "meta.json", "."], ctxB);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain(`importing cache manifest from ${ref}`);
    expect(imported.stderr).not.toContain("WARNING");
    const s = steps(imported.stderr);
    expect(s.length).toBe(10);
    expect(s.filter((x) => !x.cached), imported.stderr).toEqual([]);
    expect(digestOf(ctxB, "meta.json")).toBe(aDigest);
    // Fetched: the base image's config, the cache config, and each layer of the final image once.
    const layers = await layerCount(b, "cache-e2e/app:b");
    expect(blobGets(mark).length).toBe(layers + 2);

    // One source file edited: only the steps that read it, and what follows them, run.
    const ctxC = context(`reg-c-${variant}`, variant, { "conf.txt": "port=8080\n" });
    const edited = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", ref, "."], ctxC);
    expect(edited.code, edited.stderr).toBe(0);
    expect(steps(edited.stderr).filter((x) => x.ran).map((x) => x.name)).toEqual([
      "[stage-1 3/5] COPY conf.txt /etc/app.conf",
      "[stage-1 4/5] RUN cat /etc/app.conf > /app/conf.copy",
      "[stage-1 5/5] RUN echo last > /app/last",
    ]);
  });

  it("type=local: the directory stays on the client (exported through the service, imported by a sync); B builds fully CACHED", async () => {
    const variant = randomBytes(4).toString("hex");
    const ctxA = context(`local-a-${variant}`, variant);
    const cacheDir = join(a.root, `local-cache-${variant}`);
    const built = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", `type=local,dest=${cacheDir},mode=max`, "--metadata-file", "meta.json", "-t", "cache-e2e/local:a", "."], ctxA);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/#(\d+) exporting cache to client directory\n#\1 preparing build cache for export\n/);
    const index = JSON.parse(readFileSync(join(cacheDir, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"])).toEqual(["latest"]);
    expect(readFileSync(join(cacheDir, "oci-layout"), "utf8")).toBe('{"imageLayoutVersion":"1.0.0"}');
    expect(readdirSync(cacheDir).filter((n) => n.startsWith("."))).toEqual([]);

    // A second tag in the same directory keeps the first one.
    const tagged = await docker(a, ["buildx", "build", "-q", "--cache-to", `type=local,dest=${cacheDir},tag=other`, "."], ctxA);
    expect(tagged.code, tagged.stderr).toBe(0);
    const index2 = JSON.parse(readFileSync(join(cacheDir, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
    expect(index2.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"]).sort()).toEqual(["latest", "other"]);

    const ctxB = context(`local-b-${variant}`, variant);
    const imported = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", `type=local,src=${cacheDir}`, "--metadata-file", "meta.json", "-t", "cache-e2e/local:b", "."], ctxB);
    expect(imported.code, imported.stderr).toBe(0);
    expect(steps(imported.stderr).filter((x) => !x.cached), imported.stderr).toEqual([]);
    expect(digestOf(ctxB, "meta.json")).toBe(digestOf(ctxA, "meta.json"));

    // A directory that holds no cache yet (a pipeline's first run): BuildKit's warning, and the build goes on.
    const none = await docker(b, ["buildx", "build", "-q", "--cache-from", `type=local,src=${join(a.root, "no-cache-here")}`, "."], ctxB);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toContain("WARNING: local cache import at");
    expect(existsSync(join(a.root, "no-cache-here"))).toBe(false);
  });

  it("type=inline (min): --cache-from IMAGE on B after A pushed the image; the classic API's cachefrom (docker-py) too", async () => {
    const variant = randomBytes(4).toString("hex");
    const image = `${proxy.host}/enginecache/inline-${variant}:1`;
    const ctxA = context(`inline-a-${variant}`, variant);
    const built = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", "type=inline", "-t", image, "--metadata-file", "meta.json", "."], ctxA);
    expect(built.code, built.stderr).toBe(0);
    const pushed = await docker(a, ["push", image]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const ctxB = context(`inline-b-${variant}`, variant);
    const imported = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", image, "-t", "cache-e2e/inline:b", "--metadata-file", "meta.json", "."], ctxB);
    expect(imported.code, imported.stderr).toBe(0);
    const s = steps(imported.stderr);
    expect(s.filter((x) => !x.cached), imported.stderr).toEqual([]);
    expect(s.some((x) => x.name.startsWith("[stage-1 5/5]"))).toBe(true);
    // The same layers (A's config also carries the inline cache, B's does not: the digests differ, as BuildKit's).
    const rootfs = async (engine: TestEngine, name: string): Promise<string> => (await engine.docker(["image", "inspect", "--format", "{{json .RootFS.Layers}}", name])).stdout;
    expect(await rootfs(b, "cache-e2e/inline:b")).toBe(await rootfs(a, image));

    // POST /build with cachefrom=[IMAGE] on a third, empty engine: docker-py, as CI scripts call it.
    const c = await startTestEngine();
    try {
      const ctxC = context(`inline-c-${variant}`, variant);
      const script = `
import docker, json, sys
client = docker.DockerClient(base_url=sys.argv[1])
out = []
for chunk in client.api.build(path=sys.argv[2], tag="cache-e2e/classic:c", cache_from=[sys.argv[3]], decode=True):
    out.append(chunk)
print(json.dumps(out))
`;
      const py = await run("python3", ["-c", script, c.host, ctxC, image], { timeoutMs: 240_000 });
      expect(py.code, py.stderr).toBe(0);
      const stream = (JSON.parse(py.stdout) as { stream?: string; error?: string }[]).map((m) => m.stream ?? m.error ?? "").join("");
      expect(stream).not.toContain("error");
      expect(await rootfs(c, "cache-e2e/classic:c")).toBe(await rootfs(a, image));
      // Every step came from the cache: the classic stream says so for each one.
      expect(stream.match(/ ---> Using cache/g)?.length ?? 0).toBeGreaterThanOrEqual(5);
    } finally {
      await c.stop();
    }
  });

  it("refuses gha/s3/azblob with what works (HTK-BUILDX-0050); ignore-error=true warns and builds on", async () => {
    const ctx = join(a.root, "contexts", "small");
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), `FROM ${proxy.host}/busybox\nRUN echo small > /s\n`);
    const gha = await docker(a, ["buildx", "build", "--cache-to", "type=gha", "."], ctx);
    expect(gha.code).toBe(1);
    expect(gha.stderr).toContain("HTK-BUILDX-0050");
    expect(gha.stderr).toContain("type=registry,ref=");
    const ignored = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", "type=registry,ref=127.0.0.1:1/nothing:cache,ignore-error=true", "."], ctx);
    expect(ignored.code, ignored.stderr).toBe(0);
    expect(ignored.stderr).toMatch(/warning found|warnings found/);
    const failed = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", "type=registry,ref=127.0.0.1:1/nothing:cache", "."], ctx);
    expect(failed.code).toBe(1);
  });

  it("warns when mode=min leaves a multi-stage build's other stages out (HTK-CACHE-0207)", async () => {
    const variant = randomBytes(4).toString("hex");
    const ctxA = context(`min-${variant}`, variant);
    const r = await docker(a, ["buildx", "build", "--progress=plain", "--cache-to", `type=registry,ref=${proxy.host}/enginecache/min-${variant}:cache`, "."], ctxA);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\d+ warnings? found/);
    expect(r.stderr).toContain("HTK-CACHE-0207");
    expect(r.stderr).toContain('"builder"');
  });

  it("uses the client's registry credentials (docker login), asked for by the engine; without them the registry refuses", async () => {
    const auth = inject("authRegistry");
    const variant = randomBytes(4).toString("hex");
    const ref = `${auth.host}/enginecache/auth-${variant}:cache`;
    const login = await docker(a, ["login", "-u", auth.username, "--password-stdin", auth.host], undefined, auth.password);
    expect(login.code, login.stderr).toBe(0);
    try {
      const ctxA = context(`auth-a-${variant}`, variant);
      const built = await docker(a, ["buildx", "build", "-q", "--cache-to", `type=registry,ref=${ref},mode=max`, "."], ctxA);
      expect(built.code, built.stderr).toBe(0);
      const ctxB = context(`auth-b-${variant}`, variant);
      const imported = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", ref, "."], ctxB);
      expect(imported.code, imported.stderr).toBe(0);
      expect(steps(imported.stderr).filter((x) => !x.cached), imported.stderr).toEqual([]);
    } finally {
      await docker(a, ["logout", auth.host]);
    }
    // Logged out: the engine has no credentials of its own for the client's registry.
    const ctxC = context(`auth-c-${variant}`, `${variant}-c`);
    const refused = await docker(b, ["buildx", "build", "--progress=plain", "--cache-from", ref, "."], ctxC);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTK-CACHE-0203");
  });
});

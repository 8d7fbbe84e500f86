import { chmod, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { fixtures, run, tempDir } from "../../testing/index.ts";
import { ContentStore } from "../content-store.ts";
import { sha256Of, type Digest } from "../../base/oci/digest.ts";
import { RegistryClient, type PullProgress, type RegistryClientOptions } from "../../base/registry/client.ts";
import { MediaTypes } from "../../base/oci/media-types.ts";
import { DockerConfigCredentials, anonymous, staticCredentials } from "../../base/registry/credentials.ts";
import { generateImage, startFaultProxy } from "./fixtures.test-support.ts";
import type { Method } from "../../base/registry/session.ts";

// Against the real registries of testing/global-setup.ts (distribution 2.8 on 127.0.0.1, plain HTTP:
// insecure by Docker's loopback rule, so the client falls back from HTTPS to HTTP on its own).

const FAST_RETRY = { retries: 3, baseDelayMs: 20, maxDelayMs: 200 };

async function store(label = "store"): Promise<ContentStore> {
  return ContentStore.open(join(await tempDir(label), "content"));
}

function client(opts: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient({ credentials: anonymous, retry: FAST_RETRY, certsDir: "/nonexistent", proxy: {}, ...opts });
}

async function verifyAll(s: ContentStore, digests: readonly Digest[]): Promise<void> {
  for (const d of digests) {
    const chunks: Buffer[] = [];
    for await (const c of await s.get(d)) chunks.push(c as Buffer);
    expect(sha256Of(Buffer.concat(chunks))).toBe(d);
  }
}

async function expectHtk(p: Promise<unknown>, id: string): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isHtkError(err), String(err)).toBe(true);
  expect((err as { id: string }).id, String(err)).toBe(id);
  return err as Error;
}

describe("pull from the real registry", () => {
  it("pulls busybox by tag and by digest into a content store, every digest verified", async () => {
    const { busybox } = fixtures();
    const c = client();
    const s = await store();
    try {
      const events: PullProgress[] = [];
      const r = await c.pull(busybox.reference, { store: s, onProgress: (e) => events.push(e) });
      expect(r.root.digest).toBe(busybox.manifestDigest);
      expect(r.manifest.config.digest).toBe(busybox.configDigest);
      expect(r.manifest.layers.map((l) => l.digest)).toEqual([busybox.layerDigest]);
      expect(r.config.rootfs.diff_ids).toEqual([busybox.diffId]);
      expect(new Set(r.fetched)).toEqual(new Set([busybox.configDigest, busybox.layerDigest]));
      await verifyAll(s, [busybox.manifestDigest, busybox.configDigest, busybox.layerDigest]);

      // By digest, into the same store: nothing is downloaded again.
      const byDigest = await c.pull(`${busybox.reference.replace(/:latest$/, "")}@${busybox.manifestDigest}`, { store: s });
      expect(byDigest.root.digest).toBe(busybox.manifestDigest);
      expect(byDigest.fetched).toEqual([]);
      expect(new Set(byDigest.skipped)).toEqual(new Set([busybox.configDigest, busybox.layerDigest]));

      // By digest into an empty store.
      const s2 = await store("store2");
      const fresh = await c.pull(`${busybox.reference.replace(/:latest$/, "")}@${busybox.manifestDigest}`, { store: s2 });
      expect(fresh.bytesFetched).toBeGreaterThan(0);
      await verifyAll(s2, [busybox.manifestDigest, busybox.configDigest, busybox.layerDigest]);
    } finally {
      await c.close();
    }
  });

  it("names an unknown tag (HTK-REGISTRY-0008)", async () => {
    const { registry } = fixtures();
    const c = client();
    try {
      await expectHtk(c.pull(`${registry.host}/busybox:no-such-tag`, { store: await store() }), "HTK-REGISTRY-0008");
      // distribution 2.8 answers MANIFEST_UNKNOWN, not NAME_UNKNOWN, for a repository it never saw
      // (HTK-REGISTRY-0007 is produced against a registry that says NAME_UNKNOWN in client.test.ts).
      await expectHtk(c.resolve(`${registry.host}/no/such/repo:latest`), "HTK-REGISTRY-0008");
    } finally {
      await c.close();
    }
  });
});

describe("push to the real registry", () => {
  it("pushes a generated image, pulls it back with the same digests, skopeo agrees", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [300_000, 70_000]);
    const repo = `${registry.host}/hatake-e2e/push-${Date.now()}`;
    const methods: Method[] = [];
    const c = client({ chunkSize: 128 * 1024, onRequest: (m) => methods.push(m) });
    try {
      const pushed = await c.push(`${repo}:v1`, { store: src, root: img.manifest });
      // Chunked: the 300 kB layer compresses to ~300 kB, so three PATCHes; the 70 kB one fits one PUT.
      const layerSizes = img.layers.map((l) => l.size);
      const expectedPatches = layerSizes.filter((n) => n > 128 * 1024).reduce((sum, n) => sum + Math.ceil(n / (128 * 1024)), 0);
      expect(methods.filter((m) => m === "PATCH")).toHaveLength(expectedPatches);
      expect(expectedPatches).toBeGreaterThanOrEqual(3);
      expect(pushed.digest).toBe(img.manifest.digest);
      expect(new Set(pushed.uploaded)).toEqual(new Set([img.config.digest, ...img.layers.map((l) => l.digest)]));

      const dst = await store("dst");
      const pulled = await c.pull(`${repo}:v1`, { store: dst });
      expect(pulled.root.digest).toBe(img.manifest.digest);
      expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest));
      await verifyAll(dst, [img.manifest.digest, img.config.digest, ...img.layers.map((l) => l.digest)]);

      // An independent client sees the same image.
      const inspect = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${repo}:v1`], { timeoutMs: 60_000 });
      expect(inspect.code, inspect.stderr).toBe(0);
      const info = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[] };
      expect(info.Digest).toBe(img.manifest.digest);
      expect(info.Layers).toEqual(img.layers.map((l) => l.digest));
    } finally {
      await c.close();
    }
  });

  it("pushes an OCI index with two platforms and pulls the one asked for", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const amd = await generateImage(src, [20_000], "amd64", true);
    const arm = await generateImage(src, [21_000], "arm64", true);
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { ...amd.manifest, platform: { os: "linux", architecture: "amd64" } },
          { ...arm.manifest, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      }),
    );
    const idx = await src.put(indexBytes);
    const root = { mediaType: MediaTypes.ociIndex, digest: idx.digest, size: idx.size };
    const repo = `${registry.host}/hatake-e2e/multi-${Date.now()}`;
    const c = client();
    try {
      const pushed = await c.push(`${repo}:v1`, { store: src, root });
      expect(pushed.digest).toBe(idx.digest);
      const pulled = await c.pull(`${repo}:v1`, { store: await store("dst"), platform: { os: "linux", architecture: "aarch64" } });
      expect(pulled.root.digest).toBe(idx.digest);
      expect(pulled.manifestDescriptor.digest).toBe(arm.manifest.digest);
      expect(pulled.fetched).toContain(arm.layers[0]?.digest);
      expect(pulled.fetched).not.toContain(amd.layers[0]?.digest);
      const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${repo}:v1`], { timeoutMs: 60_000 });
      expect(raw.code, raw.stderr).toBe(0);
      expect(sha256Of(Buffer.from(raw.stdout))).toBe(idx.digest);
    } finally {
      await c.close();
    }
  });

  it("re-push skips every blob with a HEAD and uploads nothing", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [50_000, 60_000]);
    const repo = `${registry.host}/hatake-e2e/repush-${Date.now()}`;
    const seen: Array<{ method: Method; path: string }> = [];
    const c = client({ onRequest: (method, url) => seen.push({ method, path: url.pathname }) });
    try {
      await c.push(`${repo}:v1`, { store: src, root: img.manifest });
      seen.length = 0;
      const again = await c.push(`${repo}:v1`, { store: src, root: img.manifest });
      expect(again.uploaded).toEqual([]);
      expect(new Set(again.existing)).toEqual(new Set([img.config.digest, ...img.layers.map((l) => l.digest)]));
      const blobHeads = seen.filter((r) => r.method === "HEAD" && r.path.includes("/blobs/"));
      expect(blobHeads).toHaveLength(3);
      expect(seen.filter((r) => r.path.includes("/blobs/uploads"))).toEqual([]);
      expect(seen.filter((r) => r.method === "PUT")).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it("mounts blobs across repositories instead of uploading them", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [40_000]);
    const stamp = Date.now();
    const a = `hatake-e2e/mount-a-${stamp}`;
    const b = `hatake-e2e/mount-b-${stamp}`;
    const c = client();
    try {
      await c.push(`${registry.host}/${a}:v1`, { store: src, root: img.manifest });
      const r = await c.push(`${registry.host}/${b}:v1`, { store: src, root: img.manifest, mountFrom: [a] });
      expect(new Set(r.mounted)).toEqual(new Set([img.config.digest, img.layers[0]?.digest]));
      expect(r.uploaded).toEqual([]);
      expect(await c.blobExists(`${registry.host}/${b}`, img.layers[0]?.digest ?? "sha256:")).toBe(true);
    } finally {
      await c.close();
    }
  });
});

describe("basic-auth registry", () => {
  it("works with the right credentials and names the cause without or with wrong ones (HTK-REGISTRY-0005)", async () => {
    const { authRegistry, busybox } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [10_000]);
    const ref = `${authRegistry.host}/hatake-e2e/auth:v1`;
    const good = client({ credentials: staticCredentials({ [authRegistry.host]: { kind: "basic", username: authRegistry.username, password: authRegistry.password } }) });
    const wrong = client({ credentials: staticCredentials({ [authRegistry.host]: { kind: "basic", username: authRegistry.username, password: "wrong" } }) });
    const none = client();
    try {
      const pushed = await good.push(ref, { store: src, root: img.manifest });
      expect(pushed.digest).toBe(img.manifest.digest);
      const pulled = await good.pull(ref, { store: await store("dst") });
      expect(pulled.root.digest).toBe(img.manifest.digest);

      const noCreds = await expectHtk(none.pull(ref, { store: await store() }), "HTK-REGISTRY-0005");
      expect(noCreds.message).toContain(authRegistry.host);
      expect((noCreds as unknown as { nextStep: string }).nextStep).toBe(`Log in with "docker login ${authRegistry.host}" and try again.`);
      const bad = await expectHtk(wrong.pull(ref, { store: await store() }), "HTK-REGISTRY-0005");
      expect(bad.message).toContain("refused the credentials");
      await expectHtk(wrong.push(`${authRegistry.host}/x:y`, { store: src, root: img.manifest }), "HTK-REGISTRY-0005");
      expect(busybox.reference).toBeTruthy();
    } finally {
      await Promise.all([good.close(), wrong.close(), none.close()]);
    }
  });
});

describe("credentials from config.json and a credential helper", () => {
  it("pulls from the basic-auth registry with what docker-credential-<name> returns", async () => {
    const { authRegistry } = fixtures();
    const dir = await tempDir("docker-config");
    // A credential helper as docker-credential-helpers ship them: server URL on stdin, JSON on stdout.
    const helper = join(dir, "docker-credential-e2e");
    await writeFile(
      helper,
      `#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "${authRegistry.host}" ]; then\n  printf '{"ServerURL":"%s","Username":"${authRegistry.username}","Secret":"${authRegistry.password}"}' "$server"\n  exit 0\nfi\necho "credentials not found in native keychain"\nexit 1\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(join(dir, "config.json"), JSON.stringify({ credHelpers: { [authRegistry.host]: "e2e" } }));
    const creds = new DockerConfigCredentials({ configDir: dir, env: { ...process.env, PATH: `${dir}:${process.env["PATH"] ?? ""}` } });
    const src = await store("src");
    const img = await generateImage(src, [5_000]);
    const c = client({ credentials: creds });
    try {
      const ref = `${authRegistry.host}/hatake-e2e/helper-${Date.now()}:v1`;
      await c.push(ref, { store: src, root: img.manifest });
      const pulled = await c.pull(ref, { store: await store("dst") });
      expect(pulled.root.digest).toBe(img.manifest.digest);
    } finally {
      await c.close();
    }
  });
});

describe("bearer-token registry (a token-checking proxy in front of the real one)", () => {
  it("pushes with a cross-repository mount and pulls, getting tokens for exactly the scopes needed", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [30_000]);
    const stamp = Date.now();
    const a = `hatake-e2e/bearer-a-${stamp}`;
    const b = `hatake-e2e/bearer-b-${stamp}`;
    const issued: string[][] = [];
    let realm = "";
    const challenge = (scope: string | undefined, error?: string): Record<string, string> => ({
      "www-authenticate": `Bearer realm="${realm}",service="hatake-test"${scope !== undefined ? `,scope="${scope}"` : ""}${error !== undefined ? `,error="${error}"` : ""}`,
    });
    const proxy = await startFaultProxy(registry.url, (req) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/token") {
        const scopes = url.searchParams.getAll("scope");
        issued.push(scopes);
        return { kind: "respond", status: 200, body: JSON.stringify({ token: Buffer.from(JSON.stringify(scopes)).toString("base64url"), expires_in: 300 }) };
      }
      const auth = req.headers.authorization;
      const granted: string[] = auth?.startsWith("Bearer ") === true ? (JSON.parse(Buffer.from(auth.slice(7), "base64url").toString("utf8")) as string[]) : [];
      if (url.pathname === "/v2/") return granted.length > 0 || auth !== undefined ? { kind: "forward", dropAuthorization: true } : { kind: "respond", status: 401, headers: challenge(undefined) };
      const repo = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(url.pathname)?.[1] ?? "";
      const need = [`repository:${repo}:${req.method === "GET" || req.method === "HEAD" ? "pull" : "push"}`];
      const from = url.searchParams.get("from");
      if (from !== null) need.push(`repository:${from}:pull`);
      const has = (n: string): boolean => {
        const [, res, action] = /^(.*):([^:]+)$/.exec(n) ?? [];
        return granted.some((g) => g.startsWith(`${res}:`) && g.slice((res ?? "").length + 1).split(",").includes(action ?? ""));
      };
      const missing = need.filter((n) => !has(n));
      if (missing.length > 0) return { kind: "respond", status: 401, headers: challenge(missing.join(" "), auth === undefined ? undefined : "insufficient_scope") };
      return { kind: "forward", dropAuthorization: true };
    });
    realm = `http://${proxy.host}/token`;
    const c = client();
    try {
      await c.push(`${proxy.host}/${a}:v1`, { store: src, root: img.manifest });
      const r = await c.push(`${proxy.host}/${b}:v1`, { store: src, root: img.manifest, mountFrom: [a] });
      expect(new Set(r.mounted)).toEqual(new Set([img.config.digest, img.layers[0]?.digest]));
      const pulled = await c.pull(`${proxy.host}/${b}:v1`, { store: await store("dst") });
      expect(pulled.root.digest).toBe(img.manifest.digest);
      // One token per scope set, reused for every blob and manifest of that set.
      expect(issued).toEqual([
        [`repository:${a}:pull,push`],
        [`repository:${b}:pull,push`],
        [`repository:${a}:pull`, `repository:${b}:pull,push`],
        [`repository:${b}:pull`],
      ]);
    } finally {
      await proxy.close();
      await c.close();
    }
  });
});

describe("faults between client and registry", () => {
  it("resumes a layer download with Range after the connection drops mid-way, and the blob verifies", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [2_000_000]);
    const layer = img.layers[0];
    if (layer === undefined) throw new Error("no layer");
    const repo = `hatake-e2e/resume-${Date.now()}`;
    const c = client();
    let cut = false;
    const proxy = await startFaultProxy(registry.url, (req) => {
      if (!cut && req.method === "GET" && req.url?.includes(`/blobs/${layer.digest}`) === true) {
        cut = true;
        return { kind: "cut", afterBytes: Math.floor(layer.size / 2) };
      }
      return { kind: "forward" };
    });
    try {
      await c.push(`${registry.host}/${repo}:v1`, { store: src, root: img.manifest });
      const dst = await store("dst");
      const events: PullProgress[] = [];
      const r = await c.pull(`${proxy.host}/${repo}:v1`, { store: dst, onProgress: (e) => events.push(e) });
      expect(r.fetched).toContain(layer.digest);
      const resumes = events.filter((e) => e.kind === "blob-resume");
      expect(resumes).toHaveLength(1);
      expect(resumes[0]).toMatchObject({ digest: layer.digest, attempt: 1 });
      const offset = (resumes[0] as { offset: number }).offset;
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThan(layer.size);
      const blobGets = proxy.log.filter((l) => l.method === "GET" && l.url.includes(layer.digest));
      expect(blobGets.map((l) => l.range)).toEqual([undefined, `bytes=${offset}-`]);
      await verifyAll(dst, [layer.digest]);
    } finally {
      await proxy.close();
      await c.close();
    }
  });

  it("refuses a blob with a corrupted byte (HTK-REGISTRY-0011) and stores nothing of it", async () => {
    const { registry } = fixtures();
    const src = await store("src");
    const img = await generateImage(src, [300_000]);
    const layer = img.layers[0];
    if (layer === undefined) throw new Error("no layer");
    const repo = `hatake-e2e/corrupt-${Date.now()}`;
    const c = client();
    const proxy = await startFaultProxy(registry.url, (req) =>
      req.method === "GET" && req.url?.includes(`/blobs/${layer.digest}`) === true ? { kind: "corrupt", offset: 1000 } : { kind: "forward" },
    );
    try {
      await c.push(`${registry.host}/${repo}:v1`, { store: src, root: img.manifest });
      const root = join(await tempDir("dst"), "content");
      const dst = await ContentStore.open(root);
      const err = await expectHtk(c.pull(`${proxy.host}/${repo}:v1`, { store: dst }), "HTK-REGISTRY-0011");
      expect(err.message).toContain(layer.digest);
      expect(await dst.has(layer.digest)).toBe(false);
      expect(await readdir(join(root, "ingest"))).toEqual([]);
      const stored = await readdir(join(root, "blobs", "sha256"));
      expect(stored).not.toContain(layer.digest.slice(7));
    } finally {
      await proxy.close();
      await c.close();
    }
  });

  it("retries a 503 (honouring Retry-After) and then succeeds", async () => {
    const { registry, busybox } = fixtures();
    const c = client();
    let failures = 0;
    const proxy = await startFaultProxy(registry.url, (req) => {
      if (req.url?.includes("/manifests/") === true && failures < 2) {
        failures++;
        return { kind: "status", status: 503, headers: { "retry-after": "0" } };
      }
      return { kind: "forward" };
    });
    try {
      const r = await c.pull(`${proxy.host}/busybox:latest`, { store: await store() });
      expect(r.root.digest).toBe(busybox.manifestDigest);
      expect(failures).toBe(2);
      expect(proxy.log.filter((l) => l.url.includes("/manifests/latest")).length).toBe(3);
    } finally {
      await proxy.close();
      await c.close();
    }
  });
});

import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect as connectTcp, createServer as createNetServer, type AddressInfo } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCancellation, isHtkError } from "../../base/errors/index.ts";
import { ContentStore } from "../content-store.ts";
import { MediaTypes } from "../../base/oci/media-types.ts";
import { RegistryClient, mapBounded, type RegistryClientOptions } from "../../base/registry/client.ts";
import { anonymous, staticCredentials } from "../../base/registry/credentials.ts";
import { generateImage, type GeneratedImage } from "./fixtures.test-support.ts";
import { Hosts, proxyFor } from "../../base/registry/hosts.ts";
import { retryDelay } from "../../base/registry/session.ts";

// The client against small in-process fake registries: every failure mode that a real registry will
// not produce on request (403, NAME_UNKNOWN, 429, schema 1, bad JSON, bearer tokens, TLS …).

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => unknown;

interface Fake {
  readonly host: string;
  readonly url: string;
  readonly requests: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }>;
  close(): Promise<void>;
}

const open: Array<() => Promise<void>> = [];
let dir: string;
let src: ContentStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "htk-regclient-"));
  src = await ContentStore.open(join(dir, "src"));
});
afterEach(async () => {
  for (const close of open.splice(0)) await close();
  await rm(dir, { recursive: true, force: true });
});

async function fake(handler: Handler, opts: { tls?: { key: string; cert: string }; bind?: string } = {}): Promise<Fake> {
  const requests: Fake["requests"] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const body = Buffer.concat(parts);
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: body.toString("utf8") });
      Promise.resolve(handler(req, res, body)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  };
  const server = opts.tls !== undefined ? createHttpsServer(opts.tls, listener) : createHttpServer(listener);
  const bind = opts.bind ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, bind, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  open.push(close);
  return { host: `${bind}:${port}`, url: `${opts.tls !== undefined ? "https" : "http"}://${bind}:${port}`, requests, close };
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(value));
}

function distErr(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  json(res, status, { errors: [{ code, message }] }, headers);
}

/** Serves `img` (from `src`) as repository "app", tag "v1", like a registry would. */
async function serveImage(img: GeneratedImage, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = req.url ?? "";
  if (url === "/v2/" || url === "/v2") {
    json(res, 200, {});
    return true;
  }
  const m = /^\/v2\/app\/manifests\/(.+)$/.exec(url);
  if (m !== null && (m[1] === "v1" || m[1] === img.manifest.digest)) {
    const bytes = await src.readBytes(img.manifest.digest);
    res.writeHead(200, { "content-type": img.manifest.mediaType, "docker-content-digest": img.manifest.digest, "content-length": String(bytes.length) });
    res.end(req.method === "HEAD" ? undefined : bytes);
    return true;
  }
  const b = /^\/v2\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url);
  if (b !== null && (await src.has(b[1] as `sha256:${string}`))) {
    const bytes = await src.readBytes(b[1] as `sha256:${string}`);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes.length) });
    res.end(req.method === "HEAD" ? undefined : bytes);
    return true;
  }
  return false;
}

const FAST = { retries: 2, baseDelayMs: 5, maxDelayMs: 20 };

function client(opts: RegistryClientOptions = {}): RegistryClient {
  const c = new RegistryClient({ credentials: anonymous, retry: FAST, certsDir: join(dir, "certs.d"), proxy: {}, ...opts });
  open.push(() => c.close());
  return c;
}

async function fail(p: Promise<unknown>): Promise<Error & { id?: string; nextStep?: string }> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as Error & { id?: string },
  );
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("bearer token auth", () => {
  it("gets one token per scope set with the stored credentials, and reuses it for the whole pull", async () => {
    const img = await generateImage(src, [1000, 2000]);
    let tokens = 0;
    const reg: Fake = await fake(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/token") {
        expect(req.headers.authorization).toBe(`Basic ${Buffer.from("alice:pw").toString("base64")}`);
        expect(url.searchParams.get("service")).toBe("fake");
        expect(url.searchParams.getAll("scope")).toEqual(["repository:app:pull"]);
        expect(url.searchParams.get("account")).toBe("alice");
        tokens++;
        return json(res, 200, { token: `tok-${tokens}`, expires_in: 300, issued_at: new Date().toISOString() });
      }
      if (req.headers.authorization !== "Bearer tok-1") {
        return distErr(res, 401, "UNAUTHORIZED", "authentication required", {
          "www-authenticate": `Bearer realm="${reg.url}/token",service="fake",scope="repository:app:pull"`,
        });
      }
      if (!(await serveImage(img, req, res))) distErr(res, 404, "BLOB_UNKNOWN", "nope");
    });
    const c = client({ credentials: staticCredentials({ [reg.host]: { kind: "basic", username: "alice", password: "pw" } }) });
    const dst = await ContentStore.open(join(dir, "dst"));
    const r = await c.pull(`${reg.host}/app:v1`, { store: dst });
    expect(r.root.digest).toBe(img.manifest.digest);
    expect(tokens).toBe(1);
    // The ping learnt the challenge, so no request after it went out without a token.
    const unauth = reg.requests.filter((q) => q.url !== "/token" && q.headers.authorization === undefined);
    expect(unauth.map((q) => q.url)).toEqual(["/v2/"]);
  });

  it("fetches a new token when the cached one is about to expire", async () => {
    const img = await generateImage(src, [100]);
    let tokens = 0;
    let lifetime = 1;
    const reg: Fake = await fake(async (req, res) => {
      if (req.url?.startsWith("/token") === true) {
        tokens++;
        return json(res, 200, { token: `t${tokens}`, expires_in: lifetime });
      }
      if (req.headers.authorization?.startsWith("Bearer t") !== true) {
        return distErr(res, 401, "UNAUTHORIZED", "no", { "www-authenticate": `Bearer realm="${reg.url}/token",service="fake"` });
      }
      await serveImage(img, req, res);
    });
    const c = client();
    await c.resolve(`${reg.host}/app:v1`);
    await c.resolve(`${reg.host}/app:v1`);
    // A 1 s token is inside the 5 s safety margin: every request gets a fresh one.
    expect(tokens).toBe(2);
    lifetime = 300;
    await c.resolve(`${reg.host}/app:v1`);
    await c.resolve(`${reg.host}/app:v1`);
    expect(tokens).toBe(3);
  });

  it("exchanges an identity token with the OAuth2 refresh grant", async () => {
    const img = await generateImage(src, [100]);
    const reg: Fake = await fake(async (req, res, body) => {
      if (req.url === "/oauth") {
        expect(req.method).toBe("POST");
        const form = new URLSearchParams(body.toString("utf8"));
        expect(form.get("grant_type")).toBe("refresh_token");
        expect(form.get("refresh_token")).toBe("idtok");
        expect(form.get("scope")).toBe("repository:app:pull");
        return json(res, 200, { access_token: "acc", expires_in: 60 });
      }
      if (req.headers.authorization !== "Bearer acc") {
        return distErr(res, 401, "UNAUTHORIZED", "no", { "www-authenticate": `Bearer realm="${reg.url}/oauth",service="fake"` });
      }
      if (!(await serveImage(img, req, res))) distErr(res, 404, "BLOB_UNKNOWN", "nope");
    });
    const c = client({ credentials: staticCredentials({ [reg.host]: { kind: "identity-token", username: "", token: "idtok" } }) });
    const r = await c.resolve(`${reg.host}/app:v1`);
    expect(r.descriptor.digest).toBe(img.manifest.digest);
  });

  it("reports a refused token request as an auth failure with the login hint (HTK-REGISTRY-0005)", async () => {
    const reg: Fake = await fake((req, res) => {
      if (req.url?.startsWith("/token") === true) return distErr(res, 401, "UNAUTHORIZED", "bad credentials");
      distErr(res, 401, "UNAUTHORIZED", "no", { "www-authenticate": `Bearer realm="${reg.url}/token",service="fake"` });
    });
    const c = client({ credentials: staticCredentials({ [reg.host]: { kind: "basic", username: "a", password: "wrong" } }) });
    const err = await fail(c.resolve(`${reg.host}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0005");
    expect(err.nextStep).toBe(`Log in with "docker login ${reg.host}" and try again.`);
  });
});

describe("registry errors name their cause", () => {
  it("403 denied (HTK-REGISTRY-0006)", async () => {
    const reg = await fake((req, res) => (req.url === "/v2/" ? json(res, 200, {}) : distErr(res, 403, "DENIED", "requested access to the resource is denied")));
    const err = await fail(client().resolve(`${reg.host}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0006");
    expect(err.message).toContain("requested access to the resource is denied");
  });

  it("unknown repository (HTK-REGISTRY-0007)", async () => {
    const reg = await fake((req, res) => (req.url === "/v2/" ? json(res, 200, {}) : distErr(res, 404, "NAME_UNKNOWN", "repository name not known to registry")));
    const err = await fail(client().resolve(`${reg.host}/nope:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0007");
    expect(err.message).toContain('"nope"');
  });

  it("429 after every retry (HTK-REGISTRY-0009), honouring Retry-After", async () => {
    const reg = await fake((req, res) => (req.url === "/v2/" ? json(res, 200, {}) : distErr(res, 429, "TOOMANYREQUESTS", "slow down", { "retry-after": "0" })));
    const err = await fail(client().resolve(`${reg.host}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0009");
    expect(reg.requests.filter((r) => r.url.includes("/manifests/")).length).toBe(FAST.retries + 1);
  });

  it("5xx after every retry (HTK-REGISTRY-0010)", async () => {
    const reg = await fake((req, res) => (req.url === "/v2/" ? json(res, 200, {}) : distErr(res, 502, "UNAVAILABLE", "bad gateway")));
    const err = await fail(client().resolve(`${reg.host}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0010");
    expect(err.message).toContain("502");
  });

  it("a manifest whose bytes do not match the digest asked for (HTK-REGISTRY-0011)", async () => {
    const img = await generateImage(src, [10]);
    const reg = await fake(async (req, res) => {
      if (req.url?.includes("/manifests/") === true) {
        res.writeHead(200, { "content-type": MediaTypes.dockerManifest });
        res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: img.config, layers: [] }));
        return;
      }
      await serveImage(img, req, res);
    });
    const dst = await ContentStore.open(join(dir, "dst"));
    const err = await fail(client().pull(`${reg.host}/app@${img.manifest.digest}`, { store: dst }));
    expect(err.id).toBe("HTK-REGISTRY-0011");
    expect(await dst.has(img.manifest.digest)).toBe(false);
  });

  it("schema 1 and unknown manifest types (HTK-REGISTRY-0012)", async () => {
    const body = JSON.stringify({ schemaVersion: 1, name: "app", tag: "v1", fsLayers: [] });
    const reg = await fake((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      res.writeHead(200, { "content-type": MediaTypes.dockerManifestSchema1Signed });
      res.end(req.method === "HEAD" ? undefined : body);
    });
    const err = await fail(client().pull(`${reg.host}/app:v1`, { store: await ContentStore.open(join(dir, "dst")) }));
    expect(err.id).toBe("HTK-REGISTRY-0012");
    expect(err.message).toContain("schema 1");
  });

  it("malformed manifests (HTK-REGISTRY-0013)", async () => {
    const reg = await fake((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      res.writeHead(200, { "content-type": MediaTypes.ociManifest });
      res.end(req.method === "HEAD" ? undefined : '{"schemaVersion":2,"config":{}}');
    });
    const err = await fail(client().pull(`${reg.host}/app:v1`, { store: await ContentStore.open(join(dir, "dst")) }));
    expect(err.id).toBe("HTK-REGISTRY-0013");
    expect(err.message).toContain("manifest.config.mediaType");
  });

  it("an index without the wanted platform (HTK-REGISTRY-0014)", async () => {
    const img = await generateImage(src, [10], "s390x", true);
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [{ ...img.manifest, platform: { os: "linux", architecture: "s390x" } }] }),
    );
    const reg = await fake(async (req, res) => {
      if (req.url === "/v2/app/manifests/multi") {
        res.writeHead(200, { "content-type": MediaTypes.ociIndex });
        res.end(req.method === "HEAD" ? undefined : index);
        return;
      }
      await serveImage(img, req, res);
    });
    const c = client();
    const err = await fail(c.pull(`${reg.host}/app:multi`, { store: await ContentStore.open(join(dir, "dst")), platform: { os: "linux", architecture: "amd64" } }));
    expect(err.id).toBe("HTK-REGISTRY-0014");
    expect(err.message).toContain("linux/s390x");
    const ok = await c.pull(`${reg.host}/app:multi`, { store: await ContentStore.open(join(dir, "dst2")), platform: { os: "linux", architecture: "s390x" } });
    expect(ok.manifestDescriptor.digest).toBe(img.manifest.digest);
    expect(ok.index?.manifests).toHaveLength(1);
    // The manifest alone, as `docker manifest inspect` shows it; arm64 runs nothing here.
    const m = await c.fetchManifest(`${reg.host}/app:multi`, { platform: { os: "linux", architecture: "s390x" } });
    expect(m.root.mediaType).toBe(MediaTypes.ociIndex);
    expect(m.manifest.layers).toHaveLength(1);
    expect((await fail(c.fetchManifest(`${reg.host}/app:multi`, { platform: { os: "linux", architecture: "arm64" } }))).id).toBe("HTK-REGISTRY-0014");
  });

  it("invalid references (HTK-REGISTRY-0015)", async () => {
    const err = await fail(client().resolve("Bad/Name:tag"));
    expect(err.id).toBe("HTK-REGISTRY-0015");
    expect(err.message).toContain("must be lowercase");
  });

  it("a blob whose connection drops on every attempt (HTK-REGISTRY-0017), nothing stored", async () => {
    const img = await generateImage(src, [200_000]);
    const layer = img.layers[0];
    const reg = await fake(async (req, res) => {
      if (layer !== undefined && req.url?.includes(layer.digest) === true && req.method === "GET") {
        res.writeHead(200, { "content-length": String(layer.size) });
        res.write(Buffer.alloc(100));
        setTimeout(() => res.socket?.destroy(), 5);
        return;
      }
      await serveImage(img, req, res);
    });
    const dst = await ContentStore.open(join(dir, "dst"));
    const err = await fail(client().pull(`${reg.host}/app:v1`, { store: dst }));
    expect(err.id).toBe("HTK-REGISTRY-0017");
    expect(layer !== undefined && (await dst.has(layer.digest))).toBe(false);
    expect(await readdir(join(dir, "dst", "ingest"))).toEqual([]);
  });

  it("an upload without a Location header (HTK-REGISTRY-0018)", async () => {
    const img = await generateImage(src, [10]);
    const reg = await fake((req, res) => {
      if (req.url === "/v2/") return json(res, 200, {});
      if (req.method === "HEAD") return distErr(res, 404, "BLOB_UNKNOWN", "");
      res.writeHead(202);
      res.end();
    });
    const err = await fail(client().push(`${reg.host}/app:v1`, { store: src, root: img.manifest }));
    expect(err.id).toBe("HTK-REGISTRY-0018");
    expect(err.message).toContain("no Location header");
  });
});

describe("network failures name their cause", () => {
  it("DNS (HTK-REGISTRY-0001)", async () => {
    const err = await fail(client().resolve("registry.invalid/app:v1"));
    expect(err.id).toBe("HTK-REGISTRY-0001");
    expect(err.message).toContain('"registry.invalid"');
  });

  it("connection refused (HTK-REGISTRY-0002)", async () => {
    const port = await freePort();
    const err = await fail(client().resolve(`127.0.0.1:${port}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0002");
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  it("an unreachable proxy (HTK-REGISTRY-0004)", async () => {
    const reg = await fake((_req, res) => json(res, 200, {}));
    const port = await freePort();
    const proxy = `http://127.0.0.1:${port}`;
    const err = await fail(client({ proxy: { httpProxy: proxy, httpsProxy: proxy } }).resolve(`${reg.host}/app:v1`));
    expect(err.id).toBe("HTK-REGISTRY-0004");
    expect(err.message).toContain(proxy);
    // NO_PROXY exempts the host: the request then reaches the registry.
    expect(proxyFor(new URL(`http://${reg.host}/v2/`), { httpProxy: proxy, noProxy: "127.0.0.1" })).toBeUndefined();
    expect(proxyFor(new URL("https://r.example.com/v2/"), { httpsProxy: proxy, noProxy: ".example.com" })).toBeUndefined();
    expect(proxyFor(new URL("https://r.example.org/v2/"), { httpsProxy: proxy, noProxy: ".example.com" })).toBe(proxy);
  });

  it("goes through HTTP(S)_PROXY with CONNECT, and around it for NO_PROXY hosts", async () => {
    const img = await generateImage(src, [1000]);
    const reg = await fake(async (req, res) => {
      await serveImage(img, req, res);
    });
    const connects: string[] = [];
    const proxyServer = createNetServer((client) => {
      client.once("data", (head: Buffer) => {
        const line = head.toString("latin1").split("\r\n")[0] ?? "";
        const target = /^CONNECT (\S+) HTTP/.exec(line)?.[1];
        if (target === undefined) {
          client.destroy();
          return;
        }
        connects.push(target);
        const [h, p] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
        const upstream = connectTcp(p, h, () => {
          client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
          client.pipe(upstream).pipe(client);
        });
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
      });
    });
    await new Promise<void>((resolve) => proxyServer.listen(0, "127.0.0.1", () => resolve()));
    open.push(() => new Promise<void>((resolve) => proxyServer.close(() => resolve())));
    const proxy = `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;
    const viaProxy = client({ proxy: { httpProxy: proxy, httpsProxy: proxy } });
    const r = await viaProxy.pull(`${reg.host}/app:v1`, { store: await ContentStore.open(join(dir, "dst")) });
    expect(r.root.digest).toBe(img.manifest.digest);
    expect(connects.length).toBeGreaterThan(0);
    expect(new Set(connects)).toEqual(new Set([reg.host]));
    connects.length = 0;
    const bypass = client({ proxy: { httpProxy: proxy, httpsProxy: proxy, noProxy: "127.0.0.1" } });
    await bypass.pull(`${reg.host}/app:v1`, { store: await ContentStore.open(join(dir, "dst2")) });
    expect(connects).toEqual([]);
  });

  const publicIp = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)?.address;
  let haveOpenssl = true;
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    haveOpenssl = false;
  }

  it.skipIf(publicIp === undefined || !haveOpenssl)("an untrusted certificate (HTK-REGISTRY-0003), trusted through certs.d/<host>/ca.crt", async () => {
    const ip = publicIp ?? "";
    const keyFile = join(dir, "key.pem");
    const certFile = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=hatake-test", "-addext", `subjectAltName=IP:${ip}`], { stdio: "ignore" });
    const [key, cert] = await Promise.all([readFile(keyFile, "utf8"), readFile(certFile, "utf8")]);
    const reg = await fake((_req, res) => json(res, 200, {}), { tls: { key, cert }, bind: ip });
    // Not loopback and not listed: secure, so the self-signed certificate is refused.
    const err = await fail(client().ping(reg.host));
    expect(err.id, String(err)).toBe("HTK-REGISTRY-0003");
    await mkdir(join(dir, "certs.d", reg.host), { recursive: true });
    await writeFile(join(dir, "certs.d", reg.host, "ca.crt"), cert);
    expect(await client().ping(reg.host)).toEqual({ origin: `https://${reg.host}`, insecure: false });
    // Listed as insecure: reached over HTTPS without verification, as dockerd does.
    expect(await new RegistryClient({ credentials: anonymous, certsDir: "/nonexistent", proxy: {}, insecureRegistries: [reg.host] }).ping(reg.host)).toEqual({
      origin: `https://${reg.host}`,
      insecure: true,
    });
  });
});

describe("downloads", () => {
  it("resumes against a server that ignores Range (a full 200 again): the bytes already stored are skipped", async () => {
    const img = await generateImage(src, [150_000]);
    const layer = img.layers[0];
    let gets = 0;
    const reg = await fake(async (req, res) => {
      if (layer !== undefined && req.url?.includes(layer.digest) === true && req.method === "GET") {
        gets++;
        const bytes = await src.readBytes(layer.digest);
        res.writeHead(200, { "content-length": String(bytes.length) });
        if (gets === 1) {
          res.write(bytes.subarray(0, 70_000));
          setTimeout(() => res.socket?.destroy(), 5);
          return;
        }
        expect(req.headers.range).toMatch(/^bytes=\d+-$/);
        res.end(bytes);
        return;
      }
      await serveImage(img, req, res);
    });
    const dst = await ContentStore.open(join(dir, "dst"));
    const r = await client().pull(`${reg.host}/app:v1`, { store: dst });
    expect(r.fetched).toContain(layer?.digest);
    expect(gets).toBe(2);
  });

  it("follows a blob redirect to storage without sending the registry's credentials there", async () => {
    const img = await generateImage(src, [5_000]);
    const layer = img.layers[0];
    const storage = await fake(async (req, res) => {
      expect(req.headers.authorization).toBeUndefined();
      const d = /\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1] as `sha256:${string}`;
      res.end(await src.readBytes(d));
    });
    const reg = await fake(async (req, res) => {
      if (req.url !== "/v2/" && req.headers.authorization === undefined) return distErr(res, 401, "UNAUTHORIZED", "", { "www-authenticate": 'Basic realm="r"' });
      if (layer !== undefined && req.url?.includes(layer.digest) === true) {
        res.writeHead(307, { location: `${storage.url}/storage/${layer.digest}` });
        res.end();
        return;
      }
      await serveImage(img, req, res);
    });
    const c = client({ credentials: staticCredentials({ [reg.host]: { kind: "basic", username: "u", password: "p" } }) });
    const r = await c.pull(`${reg.host}/app:v1`, { store: await ContentStore.open(join(dir, "dst")) });
    expect(r.fetched).toContain(layer?.digest);
    expect(storage.requests).toHaveLength(1);
  });

  it("stops sibling downloads after the first failure and reports that failure", async () => {
    const started: number[] = [];
    const err = await fail(
      mapBounded([1, 2, 3, 4, 5], 2, undefined, async (n, signal) => {
        started.push(n);
        if (n === 2) throw new Error("boom");
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, 5_000);
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        });
      }),
    );
    expect(err.message).toBe("boom");
    expect(started).toEqual([1, 2]);
  });
});

describe("hosts, retries and cancellation", () => {
  it("treats loopback and listed registries as insecure, like dockerd", async () => {
    const h = new Hosts({ insecureRegistries: ["my.registry:5000", "10.1.0.0/16"], proxy: {} });
    expect(await h.isInsecure("127.0.0.1:5000")).toBe(true);
    expect(await h.isInsecure("127.9.9.9")).toBe(true);
    expect(await h.isInsecure("[::1]:5000")).toBe(true);
    expect(await h.isInsecure("localhost:5000")).toBe(true);
    expect(await h.isInsecure("my.registry:5000")).toBe(true);
    expect(await h.isInsecure("my.registry:5001")).toBe(false);
    expect(await h.isInsecure("10.1.2.3:443")).toBe(true);
    expect(await h.isInsecure("10.2.0.1")).toBe(false);
    expect(await h.isInsecure("registry-1.docker.io")).toBe(false);
    expect(await h.isInsecure("registry.invalid")).toBe(false);
    await h.close();
  });

  it("waits as Retry-After says, else backs off exponentially within bounds", () => {
    const p = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(retryDelay(p, 1, "2")).toBe(2000);
    expect(retryDelay(p, 1, new Date(10_000).toUTCString(), 7_000)).toBe(3000);
    for (let i = 0; i < 20; i++) {
      const d = retryDelay(p, 3, undefined);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
    expect(retryDelay(p, 10, undefined)).toBeLessThanOrEqual(1000);
  });

  it("stops a pull promptly on abort, as a cancellation, leaving nothing in the store", async () => {
    const img = await generateImage(src, [100_000]);
    const layer = img.layers[0];
    const reg = await fake(async (req, res) => {
      if (layer !== undefined && req.url?.includes(layer.digest) === true && req.method === "GET") {
        res.writeHead(200, { "content-length": String(layer.size) });
        res.write(Buffer.alloc(10));
        return; // never finishes
      }
      await serveImage(img, req, res);
    });
    const dst = await ContentStore.open(join(dir, "dst"));
    const ac = new AbortController();
    const p = client().pull(`${reg.host}/app:v1`, { store: dst, signal: ac.signal, onProgress: (e) => e.kind === "blob-start" && e.digest === layer?.digest && setTimeout(() => ac.abort(), 30) });
    const err = await fail(p);
    expect(isCancellation(err), String(err)).toBe(true);
    expect(isHtkError(err)).toBe(false);
    expect(layer !== undefined && (await dst.has(layer.digest))).toBe(false);
  });
});

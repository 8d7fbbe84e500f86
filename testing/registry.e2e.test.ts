import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readOciLayout, sha256Digest, MediaType } from "./oci/index.ts";
import { fixtures, run, skopeoCopy, tempDir } from "./index.ts";

// Acceptance: the local registries work, the push from global set-up landed, auth is enforced.

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

describe("plain registry", () => {
  it("serves back the pushed busybox byte for byte", async () => {
    const { busybox } = fixtures();
    const out = join(await tempDir("pull"), "oci");
    await skopeoCopy(`docker://${busybox.reference}`, `oci:${out}:latest`);
    const pulled = await readOciLayout(out, "latest");
    expect(pulled.manifestDescriptor.digest).toBe(busybox.manifestDigest);
    expect(pulled.manifest.config.digest).toBe(busybox.configDigest);
    expect(pulled.layers.map((l) => l.descriptor.digest)).toEqual([busybox.layerDigest]);
    const [local, remote] = await Promise.all([readFile(busybox.layerPath), readFile(pulled.layers[0]?.path ?? "")]);
    expect(remote.equals(local)).toBe(true);
  });

  it("lists busybox in /v2/_catalog and answers the manifest with its digest", async () => {
    const { registry, busybox } = fixtures();
    const catalog = await fetch(`${registry.url}/v2/_catalog`);
    expect(catalog.status).toBe(200);
    expect(((await catalog.json()) as { repositories: string[] }).repositories).toContain("busybox");
    const res = await fetch(`${registry.url}/v2/busybox/manifests/latest`, { headers: { accept: MediaType.imageManifest } });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(busybox.manifestDigest);
    expect(sha256Digest(Buffer.from(await res.arrayBuffer()))).toBe(busybox.manifestDigest);
  });

  it("the docker-archive fixture carries the same image (skopeo reads it)", async () => {
    const { busybox } = fixtures();
    const out = join(await tempDir("archive"), "oci");
    await skopeoCopy(`docker-archive:${busybox.dockerArchive}`, `oci:${out}:latest`, { preserveDigests: false });
    const fromArchive = await readOciLayout(out, "latest");
    expect(fromArchive.manifest.config.digest).toBe(busybox.configDigest);
    expect(fromArchive.config.rootfs.diff_ids).toEqual([busybox.diffId]);
    const inspect = await run("skopeo", ["--insecure-policy", "inspect", `docker-archive:${busybox.dockerArchive}`]);
    expect(inspect.code).toBe(0);
    expect((JSON.parse(inspect.stdout) as { RepoTags?: string[]; Layers: string[] }).Layers).toHaveLength(1);
  });
});

describe("auth registry", () => {
  it("refuses anonymous access with a Basic challenge", async () => {
    const { authRegistry } = fixtures();
    const res = await fetch(`${authRegistry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
    const wrong = await fetch(`${authRegistry.url}/v2/`, { headers: { authorization: basic(authRegistry.username, "wrong") } });
    expect(wrong.status).toBe(401);
  });

  it("accepts the right credentials, for the API and for a push and pull", async () => {
    const { authRegistry, busybox } = fixtures();
    const auth = basic(authRegistry.username, authRegistry.password);
    expect((await fetch(`${authRegistry.url}/v2/`, { headers: { authorization: auth } })).status).toBe(200);
    const creds = `${authRegistry.username}:${authRegistry.password}`;
    const ref = `${authRegistry.host}/private/busybox:latest`;
    await skopeoCopy(`oci:${busybox.ociDir}:${busybox.ociRef}`, `docker://${ref}`, { destCreds: creds });
    const anonymous = await fetch(`${authRegistry.url}/v2/private/busybox/manifests/latest`, { headers: { accept: MediaType.imageManifest } });
    expect(anonymous.status).toBe(401);
    const res = await fetch(`${authRegistry.url}/v2/private/busybox/manifests/latest`, {
      headers: { accept: MediaType.imageManifest, authorization: auth },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("docker-content-digest")).toBe(busybox.manifestDigest);
  });
});

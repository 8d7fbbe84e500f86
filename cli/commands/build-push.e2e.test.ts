import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { fixtures, runChecked, tempDir } from "../../testing/index.ts";

/** `--push`, `-o type=registry` and `-o type=image,push=true`, checked with skopeo (an independent client). */
describe("hatake build --push", () => {
  const reg = (): string => fixtures().registry.host;

  async function hatakeBuild(cwd: string, args: readonly string[]): Promise<{ code: number; err: string }> {
    const io = memoryIo({ cwd, env: {} });
    const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
    return { code, err: io.err() };
  }

  async function project(): Promise<string> {
    const root = await tempDir("push-build");
    mkdirSync(join(root, "ctx"), { recursive: true });
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${reg()}/busybox\nRUN echo pushed > /pushed.txt\nCOPY a.txt /a.txt\nCMD ["cat", "/pushed.txt"]\n`);
    writeFileSync(join(root, "ctx", "a.txt"), "a\n");
    return root;
  }

  async function inspect(ref: string): Promise<{ digest: string; layers: string[]; raw: string }> {
    const info = JSON.parse((await runChecked("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`])).stdout) as { Digest: string; Layers: string[] };
    const raw = (await runChecked("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`])).stdout;
    return { digest: info.Digest, layers: info.Layers, raw };
  }

  it("pushes the built image; skopeo reads the same digests; BuildKit's progress lines", async () => {
    const root = await project();
    const name = `${reg()}/buildfix/push:1`;
    const r = await hatakeBuild(root, ["-t", name, "--push"]);
    expect(r.err, r.err).not.toContain("ERROR");
    expect(r.code).toBe(0);
    const images = await ImageStore.openAt(join(root, "data"));
    const manifest = images.resolve(name).manifests[0]?.descriptor;
    if (manifest === undefined) throw new Error("no manifest");
    expect(r.err).toMatch(/#\d+ exporting to image\n/);
    expect(r.err).toMatch(/#\d+ exporting layers( [\d.]+s)? done\n/);
    expect(r.err).toContain(`naming to ${name} done`);
    expect(r.err).toMatch(/#\d+ pushing layers\n(#\d+ [^\n]*\n)*#\d+ pushing layers( [\d.]+s)? done\n/);
    expect(r.err).toContain(`pushing manifest for ${name}@${manifest.digest}`);
    expect(r.err).toMatch(/#\d+ DONE [\d.]+s\n$/);

    const pushed = await inspect(name);
    expect(pushed.digest).toBe(manifest.digest);
    expect(`sha256:${createHash("sha256").update(pushed.raw).digest("hex")}`).toBe(manifest.digest);
    const local = JSON.parse((await images.content.readBytes(manifest.digest)).toString()) as { layers: { digest: string }[] };
    expect(pushed.layers).toEqual(local.layers.map((l) => l.digest));
    // The base layer was already in the registry (busybox): only new blobs were sent, the result is complete.
    const copied = join(root, "pulled");
    await runChecked("skopeo", ["copy", "--src-tls-verify=false", `docker://${name}`, `oci:${copied}:x`]);

    // type=registry,name= and type=image,name=,push=true: same image (cached build), other names.
    const other = `${reg()}/buildfix/push-registry:2`;
    const third = `${reg()}/buildfix/push-image:3`;
    const again = await hatakeBuild(root, ["-o", `type=registry,name=${other}`, "-o", `type=image,name=${third},push=true`]);
    expect(again.err, again.err).not.toContain("ERROR");
    expect((await inspect(other)).digest).toBe(manifest.digest);
    expect((await inspect(third)).digest).toBe(manifest.digest);
  });

  it("pushes to a registry that wants basic auth, with the credentials docker login leaves", async () => {
    const auth = fixtures().authRegistry;
    const root = await project();
    const config = join(root, "docker-config");
    mkdirSync(config);
    writeFileSync(join(config, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString("base64") } } }));
    const name = `${auth.host}/buildfix/push-auth:1`;
    const before = process.env["DOCKER_CONFIG"];
    process.env["DOCKER_CONFIG"] = config;
    try {
      const r = await hatakeBuild(root, ["-t", name, "--push"]);
      expect(r.err, r.err).not.toContain("ERROR");
      expect(r.code).toBe(0);
    } finally {
      if (before === undefined) delete process.env["DOCKER_CONFIG"];
      else process.env["DOCKER_CONFIG"] = before;
    }
    const info = JSON.parse((await runChecked("skopeo", ["inspect", "--tls-verify=false", "--creds", `${auth.username}:${auth.password}`, `docker://${name}`])).stdout) as { Digest: string };
    const images = await ImageStore.openAt(join(root, "data"));
    expect(info.Digest).toBe(images.resolve(name).manifests[0]?.descriptor.digest);
  });

  it("refuses a push without a name (HTK-BUILD-0202) and an invalid one (Docker's text)", async () => {
    const root = await project();
    const r = await hatakeBuild(root, ["--push"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTK-BUILD-0202");
    expect(r.err).toContain("tag is needed when pushing to registry");
    const bad = await hatakeBuild(root, ["-o", "type=registry,name=UPPER/Case:x"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("invalid reference format: repository name (Case) must be lowercase");
  });
});

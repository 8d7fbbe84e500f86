import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installPlugin, run } from "../../testing/index.ts";

/**
 * `docker buildx imagetools` through the real docker CLI 28 and the plugin, against the harness's
 * registries: the client talks to them itself (no engine), with the docker config's credentials.
 */
describe("docker buildx imagetools", () => {
  const root = mkdtempSync(join(tmpdir(), "htk-imagetools-e2e-"));
  const env: NodeJS.ProcessEnv & { DOCKER_CONFIG: string } = { ...process.env, DOCKER_CONFIG: join(root, "config"), DOCKER_HOST: `unix://${join(root, "no-engine.sock")}` };
  delete env["DOCKER_CONTEXT"];
  delete env["BUILDX_BUILDER"];
  const docker = (args: string[]) => run("docker", args, { env, timeoutMs: 120_000 });
  const registry = inject("registry");
  const auth = inject("authRegistry");
  const busybox = inject("busybox");

  beforeAll(async () => {
    await installPlugin(env.DOCKER_CONFIG);
    mkdirSync(env.DOCKER_CONFIG, { recursive: true });
    const token = Buffer.from(`${auth.username}:${auth.password}`).toString("base64");
    writeFileSync(join(env.DOCKER_CONFIG, "config.json"), JSON.stringify({ auths: { [auth.host]: { auth: token } } }));
  }, 180_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("inspects a manifest as buildx prints it, and --raw gives the bytes of its digest", async () => {
    const r = await docker(["buildx", "imagetools", "inspect", busybox.reference]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Name:      ${busybox.reference.replaceAll(".", "\\.")}\\nMediaType: application/vnd\\.[a-z.]+manifest[a-z.0-9]*\\+json\\nDigest:    ${busybox.manifestDigest}\\n$`));
    const raw = await run("docker", ["buildx", "imagetools", "inspect", "--raw", busybox.reference], { env });
    expect(raw.code).toBe(0);
    expect(`sha256:${createHash("sha256").update(raw.stdout).digest("hex")}`).toBe(busybox.manifestDigest);
    expect(raw.stdout.endsWith("\n")).toBe(false);
    const both = await docker(["buildx", "imagetools", "inspect", "--raw", "--format", "{{json .Manifest}}", busybox.reference]);
    expect(both.code).toBe(1);
    expect(both.stderr).toBe("ERROR: format and raw cannot be used together\n"); // HTK-BUILDX-0100
  });

  it("creates an index in another repository (blobs mounted), then inspects it with Manifests and templates", async () => {
    const target = `${registry.host}/buildxcmds/multi:v1`;
    const dry = await docker(["buildx", "imagetools", "create", "--dry-run", "-t", target, busybox.reference]);
    expect(dry.code, dry.stderr).toBe(0);
    const index = JSON.parse(dry.stdout) as { schemaVersion: number; mediaType: string; manifests: { digest: string; platform: { os: string; architecture: string } }[] };
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.digest).toBe(busybox.manifestDigest);
    expect(index.manifests[0]?.platform).toMatchObject({ os: "linux", architecture: "amd64" });

    const made = await docker(["buildx", "imagetools", "create", "--progress", "plain", "-t", target, busybox.reference]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toContain(`#1 [internal] pushing ${target}\n`);
    expect(made.stderr).toContain(`copying ${busybox.manifestDigest} from ${busybox.reference} to ${target}`);
    const digest = `sha256:${createHash("sha256").update(dry.stdout.slice(0, -1)).digest("hex")}`;
    expect(made.stderr).toContain(`pushing ${digest} to ${target}`);

    const shown = await docker(["buildx", "imagetools", "inspect", target]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toBe(
      `Name:      ${target}\nMediaType: ${index.mediaType}\nDigest:    ${digest}\n           \nManifests: \n` +
        `  Name:      ${target}@${busybox.manifestDigest}\n  MediaType: ${(index.manifests[0] as unknown as { mediaType: string }).mediaType}\n  Platform:  linux/amd64\n`,
    );
    // An independent client agrees the index and the copied manifest are there.
    const sk = await run("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${target}`]);
    expect(sk.code, sk.stderr).toBe(0);
    expect(sk.stdout).toBe(dry.stdout.slice(0, -1));
    const child = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.host}/buildxcmds/multi@${busybox.manifestDigest}`]);
    expect(child.code, child.stderr).toBe(0);

    const manifest = await docker(["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", target]);
    expect(manifest.code, manifest.stderr).toBe(0);
    expect(JSON.parse(manifest.stdout)).toMatchObject({ schemaVersion: 2, digest, size: dry.stdout.length - 1, manifests: [{ digest: busybox.manifestDigest }] });
    const image = await docker(["buildx", "imagetools", "inspect", "--format", "{{json .Image}}", target]);
    expect(image.code, image.stderr).toBe(0);
    expect(JSON.parse(image.stdout)).toMatchObject({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [busybox.diffId] } });
    const name = await docker(["buildx", "imagetools", "inspect", "--format", "{{.Name}} {{.Image.Architecture}}", target]);
    expect(name.stdout).toBe(`${target} amd64`);
  });

  it("copies across registries with the docker config's credentials, and --append keeps what the tag had", async () => {
    const target = `${auth.host}/buildxcmds/copy:v1`;
    const made = await docker(["buildx", "imagetools", "create", "-t", target, busybox.reference]);
    expect(made.code, made.stderr).toBe(0);
    const shown = await docker(["buildx", "imagetools", "inspect", target]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`  Name:      ${target}@${busybox.manifestDigest}\n`);
    // --append with the same source again: the manifest is deduplicated, the index is the same.
    const again = await docker(["buildx", "imagetools", "create", "--append", "--dry-run", "-t", target, busybox.reference]);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { manifests: unknown[] }).manifests).toHaveLength(1);
    // Without credentials the registry refuses.
    const anonymous = { ...env, DOCKER_CONFIG: join(root, "empty") };
    await installPlugin(anonymous.DOCKER_CONFIG);
    const refused = await run("docker", ["buildx", "imagetools", "inspect", target], { env: anonymous });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTK-REGISTRY-0005");
  });

  it("--platform keeps those platforms of an index (and copies only their manifests); --metadata-file writes the descriptor and name", async () => {
    // A second manifest: busybox's with an annotation (other bytes, the same blobs), pushed beside it.
    const raw = await run("docker", ["buildx", "imagetools", "inspect", "--raw", busybox.reference], { env });
    const manifest = JSON.parse(raw.stdout) as { mediaType: string; annotations?: Record<string, string> };
    const other = Buffer.from(JSON.stringify({ ...manifest, annotations: { "org.example.copy": "arm64" } }));
    const otherDigest = `sha256:${createHash("sha256").update(other).digest("hex")}`;
    const repoPath = busybox.reference.slice(registry.host.length + 1).replace(/:[^:/]+$/, "");
    const put = await fetch(`http://${registry.host}/v2/${repoPath}/manifests/${otherDigest}`, { method: "PUT", headers: { "content-type": manifest.mediaType }, body: other });
    expect(put.status).toBe(201);
    const desc = join(root, "arm64.json");
    // No mediaType: buildx then resolves the digest in the repository (with one, it would resolve the tag).
    writeFileSync(desc, JSON.stringify({ digest: otherDigest, size: other.length, platform: { os: "linux", architecture: "arm64" } }));
    // In busybox's repository: a descriptor source needs the one repository to be inferred.
    const both = `${registry.host}/${repoPath}:both`;
    const made = await docker(["buildx", "imagetools", "create", "-t", both, busybox.reference, "-f", desc]);
    expect(made.code, made.stderr).toBe(0);

    const target = `${registry.host}/buildxcmds/arm-only:v1`;
    const dry = await docker(["buildx", "imagetools", "create", "--dry-run", "--platform", "linux/arm64", "-t", target, both]);
    expect(dry.code, dry.stderr).toBe(0);
    const index = JSON.parse(dry.stdout) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    expect(index.manifests.map((m) => [m.digest, m.platform.architecture])).toEqual([[otherDigest, "arm64"]]);

    const metadata = join(root, "metadata.json");
    const pushed = await docker(["buildx", "imagetools", "create", "--progress", "plain", "-p", "linux/arm64", "--metadata-file", metadata, "-t", target, both]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toContain(`copying ${otherDigest} from ${both} to ${target}`);
    expect(pushed.stderr).not.toContain(`copying ${busybox.manifestDigest}`);
    const digest = `sha256:${createHash("sha256").update(dry.stdout.slice(0, -1)).digest("hex")}`;
    expect(JSON.parse(readFileSync(metadata, "utf8"))).toEqual({
      "containerimage.descriptor": { mediaType: JSON.parse(dry.stdout).mediaType, digest, size: dry.stdout.length - 1 },
      "image.name": `${registry.host}/buildxcmds/arm-only`,
    });
    const shown = await docker(["buildx", "imagetools", "inspect", target]);
    expect(shown.stdout).toContain("  Platform:  linux/arm64\n");
    expect(shown.stdout).not.toContain("linux/amd64");

    // buildx's refusals (HTK-BUILDX-0161, HTK-BUILDX-0162, HTK-BUILDX-0160).
    expect((await docker(["buildx", "imagetools", "create", "--dry-run", "--platform", "linux/s390x", both])).stderr).toBe("ERROR: none of the manifests match the provided platforms\n");
    expect((await docker(["buildx", "imagetools", "create", "--dry-run", "--prefer-index=false", "--platform", "linux/arm64", busybox.reference])).stderr).toBe("ERROR: input platform linux/amd64 does not match any of the provided platforms\n");
    expect((await docker(["buildx", "imagetools", "create", "--dry-run", "--platform", "linux//x", both])).stderr).toBe('ERROR: "linux//x": unknown operating system or architecture: invalid argument\n');
  });

  it("refuses what buildx refuses, with its texts", async () => {
    expect((await docker(["buildx", "imagetools", "create", "--dry-run"])).stderr).toBe("ERROR: no sources specified\n"); // HTK-BUILDX-0101
    expect((await docker(["buildx", "imagetools", "create", busybox.reference])).stderr).toBe("ERROR: can't push with no tags specified, please set --tag or --dry-run\n"); // HTK-BUILDX-0102
    const bad = await docker(["buildx", "imagetools", "create", "--dry-run", "sha256:abc"]);
    expect(bad.stderr).toBe('ERROR: failed to parse source "sha256:abc", valid sources are digests, references and descriptors: invalid checksum digest length\n'); // HTK-BUILDX-0103
    const digestOnly = await docker(["buildx", "imagetools", "create", "--dry-run", busybox.manifestDigest]);
    expect(digestOnly.stderr).toBe("ERROR: no repositories specified, please set a reference in tag or source\n"); // HTK-BUILDX-0104
    const two = await docker(["buildx", "imagetools", "create", "--dry-run", `${registry.host}/a:1`, `${registry.host}/b:1`, busybox.manifestDigest]);
    expect(two.stderr).toBe(`ERROR: multiple repositories specified, cannot infer repository for "${busybox.manifestDigest}"\n`); // HTK-BUILDX-0105
    const ann = await docker(["buildx", "imagetools", "create", "--dry-run", "--annotation", "nokey", busybox.reference]);
    expect(ann.stderr).toBe('ERROR: failed to parse annotations: invalid annotation "nokey", expected key=value\n'); // HTK-BUILDX-0108
    const tpl = await docker(["buildx", "imagetools", "inspect", "--format", "{{range .Manifest}}x{{end}}", busybox.reference]);
    expect(tpl.stderr).toContain("HTK-BUILDX-0109");
    const ref = await docker(["buildx", "imagetools", "inspect", "busybox:bad:tag"]);
    expect(ref.stderr).toContain("HTK-BUILDX-0110");
  });
});

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtures, installPlugin, startGitServer, tempDir } from "../../testing/index.ts";
import { startTestEngine, suiteEngine } from "../e2e/harness.ts";

/**
 * docker buildx build's flags beyond the everyday ones, through the real docker CLI 28 and the plugin
 * on a test engine: each works as with Docker+BuildKit, or is refused with the reason.
 */
describe("docker buildx build: more flags", () => {
  const engine = suiteEngine({ plugin: true });
  const { busybox } = fixtures();
  const docker = (args: string[], cwd?: string) => engine.docker(args, { ...(cwd === undefined ? {} : { cwd }), timeoutMs: 180_000 });

  function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
    const dir = join(engine.root, "contexts", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(join(dir, p, ".."), { recursive: true });
      writeFileSync(join(dir, p), text);
    }
    return dir;
  }

  it("--no-cache-filter runs the named stages' steps again and keeps the others cached", async () => {
    const dir = context("nocache", `FROM ${busybox.reference} AS a\nRUN echo stage-a > /a\nFROM ${busybox.reference} AS b\nRUN echo stage-b > /b\nFROM b\nCOPY --from=a /a /a\n`);
    expect((await docker(["buildx", "build", "-q", "."], dir)).code).toBe(0);
    const r = await docker(["buildx", "build", "--progress=plain", "--no-cache-filter", "a", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/#(\d+) \[a 2\/2\] RUN echo stage-a > \/a\n#\1 DONE/);
    expect(r.stderr).toMatch(/#(\d+) \[b 2\/2\] RUN echo stage-b > \/b\n#\1 CACHED/);
  });

  it("--allow grants what the engine allows: network.host (dockerd's default), not security.insecure (HTK-ENGINE-0721); unknown names are buildx's error", async () => {
    const dir = context("allow", `FROM ${busybox.reference}\nRUN --network=host echo on-host-network\n`);
    const denied = await docker(["buildx", "build", "--progress=plain", "."], dir);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("network.host is not allowed");
    const ok = await docker(["buildx", "build", "--progress=plain", "--allow", "network.host", "."], dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain("on-host-network");
    const insecure = await docker(["buildx", "build", "--allow", "security.insecure", "."], dir);
    expect(insecure.code).toBe(1);
    expect(insecure.stderr).toContain("granting entitlement security.insecure is not allowed by build daemon configuration");
    const bogus = await docker(["buildx", "build", "--allow", "network.bogus", "."], dir);
    expect(bogus).toMatchObject({ code: 1, stderr: "ERROR: unknown entitlement network.bogus\n" });
  });

  it("--allow security.insecure on an engine whose daemon.json allows it runs RUN --security=insecure privileged", async () => {
    const other = await startTestEngine({ flags: { builder: { entitlements: { "security-insecure": true } } } });
    try {
      await installPlugin(other.env["DOCKER_CONFIG"] as string);
      const dir = context("insecure", `FROM ${busybox.reference}\nRUN --security=insecure grep CapEff /proc/self/status\n`);
      const r = await other.docker(["buildx", "build", "--progress=plain", "--no-cache", "--allow", "security.insecure", "."], { cwd: dir, timeoutMs: 180_000 });
      expect(r.code, r.stderr).toBe(0);
      // CAP_SYS_ADMIN (bit 21), which Docker's default set leaves out.
      const caps = BigInt(`0x${/CapEff:\s+([0-9a-f]{16})/.exec(r.stderr)?.[1] ?? "0"}`);
      expect(caps & (1n << 21n)).not.toBe(0n);
      const without = await other.docker(["buildx", "build", "--progress=plain", "."], { cwd: dir, timeoutMs: 180_000 });
      expect(without.code).toBe(1);
      expect(without.stderr).toContain("security.insecure");
    } finally {
      await other.stop();
    }
  });

  it("--build-context NAME=DIR (synced like the context), NAME=docker-image://REF, NAME=git URL replace stages, images and COPY --from sources", async () => {
    const extra = context("extra-files", "", { "extra.txt": "from-extra\n" });
    const dir = context(
      "named",
      `FROM base AS b\nRUN echo base-ran > /base\nFROM scratch\nCOPY --from=extra extra.txt /e.txt\nCOPY --from=b /base /base\nCOPY --from=repo README /readme\n`,
    );
    const srv = await startGitServer(await tempDir("git-named"));
    try {
      srv.repo("named", { README: "from-git\n" });
      const r = await docker(
        ["buildx", "build", "--progress=plain", "--build-context", "extra=../extra-files", "--build-context", `base=docker-image://${busybox.reference}`, "--build-context", `repo=${srv.url("smart", "named")}`, "-o", "type=local,dest=out", "."],
        dir,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("[context extra] load from client");
      expect(readFileSync(join(dir, "out", "e.txt"), "utf8")).toBe("from-extra\n");
      expect(readFileSync(join(dir, "out", "base"), "utf8")).toBe("base-ran\n");
      expect(readFileSync(join(dir, "out", "readme"), "utf8")).toBe("from-git\n");
      // A changed file in the named directory is sent again and used.
      writeFileSync(join(extra, "extra.txt"), "changed\n");
      const again = await docker(["buildx", "build", "-q", "--build-context", "extra=../extra-files", "--build-context", `base=docker-image://${busybox.reference}`, "--build-context", `repo=${srv.url("smart", "named")}`, "-o", "type=local,dest=out2", "."], dir);
      expect(again.code, again.stderr).toBe(0);
      expect(readFileSync(join(dir, "out2", "e.txt"), "utf8")).toBe("changed\n");
    } finally {
      await srv.close();
    }
  });

  it("--build-context errors: buildx's texts for the value (HTK-BUILDX-0080); what the engine cannot use, with the reason (HTK-ENGINE-0722)", async () => {
    const dir = context("named-bad", `FROM scratch\nCOPY --from=x a /\n`);
    expect(await docker(["buildx", "build", "--build-context", "novalue", "."], dir)).toMatchObject({ code: 1, stderr: "ERROR: invalid context value: novalue, expected key=value\n" });
    expect(await docker(["buildx", "build", "--build-context", "x=./missing", "."], dir)).toMatchObject({ code: 1, stderr: "ERROR: failed to get build context x: stat ./missing: no such file or directory\n" });
    const oci = await docker(["buildx", "build", "--build-context", "x=oci-layout:///tmp/layout", "."], dir);
    expect(oci.code).toBe(1);
    // OCI layouts are read on the client (build-service-oci-layout.e2e.test.ts); a missing one is refused there.
    expect(oci.stderr).toMatch(/^ERROR: The build context oci-layout:\/\/\/tmp\/layout cannot be used: \/tmp\/layout is not a directory\.\n {2}HTK-BUILDX-0164: /);
    const tarball = await docker(["buildx", "build", "--build-context", "x=https://example.invalid/ctx.tar.gz", "."], dir);
    expect(tarball.code).toBe(1);
    expect(tarball.stderr).toContain("only git repositories are fetched from URLs");
    const target = await docker(["buildx", "build", "--build-context", "x=target:other", "."], dir);
    expect(target.stderr).toContain("exists only in docker buildx bake");
  });

  it("--annotation goes on the image manifest (also pushed); index annotations have no place in a single-platform image (HTK-ENGINE-0723)", async () => {
    const { registry } = fixtures();
    const dir = context("annotate", `FROM ${busybox.reference}\nRUN echo annotated > /a\n`);
    const ref = `${registry.host}/pluginout/annotated:1`;
    const r = await docker(["buildx", "build", "-q", "--annotation", "org.opencontainers.image.title=hello", "--annotation", "manifest:com.example.k=v", "--push", "-t", ref, "--metadata-file", "m.json", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const digest = (JSON.parse(readFileSync(join(dir, "m.json"), "utf8")) as Record<string, string>)["containerimage.digest"];
    const raw = await engine.docker(["buildx", "imagetools", "inspect", "--raw", ref], { timeoutMs: 60_000 });
    expect(raw.code, raw.stderr).toBe(0);
    expect((JSON.parse(raw.stdout) as { annotations?: Record<string, string> }).annotations).toEqual({ "org.opencontainers.image.title": "hello", "com.example.k": "v" });
    const inspect = await engine.docker(["buildx", "imagetools", "inspect", ref], { timeoutMs: 60_000 });
    expect(inspect.stdout).toContain(digest);
    const index = await docker(["buildx", "build", "-q", "--annotation", "index:k=v", "."], dir);
    expect(index.code).toBe(1);
    expect(index.stderr).toContain("HTK-ENGINE-0723");
    const bad = await docker(["buildx", "build", "-q", "--annotation", "novalue", "."], dir);
    expect(bad).toMatchObject({ code: 1 });
    expect(bad.stderr).toContain('invalid annotation "novalue", expected key=value');
  });

  it("--attest/--sbom/--provenance: turned off is accepted, asked for is refused with the reason (HTK-BUILDX-0082)", async () => {
    const dir = context("attest", `FROM scratch\nCOPY Dockerfile /\n`);
    expect((await docker(["buildx", "build", "-q", "--provenance=false", "--sbom=false", "--attest", "type=provenance,disabled=true", "."], dir)).code).toBe(0);
    const sbom = await docker(["buildx", "build", "-q", "--sbom=true", "."], dir);
    expect(sbom.code).toBe(1);
    expect(sbom.stderr).toMatch(/^ERROR: The build option --sbom \(an SBOM attestation\) cannot be honoured: this builder makes no attestations.*\n  HTK-BUILDX-0082: /);
    expect((await docker(["buildx", "build", "-q", "--provenance", "mode=max", "."], dir)).stderr).toContain("--provenance (a provenance attestation) cannot be honoured");
    expect((await docker(["buildx", "build", "-q", "--attest", "generator=x", "."], dir)).stderr).toBe("ERROR: attestation type not specified\n");
  });

  it("--add-host and --network reach RUN steps", async () => {
    const dir = context("hosts", `FROM ${busybox.reference}\nRUN grep myhost /etc/hosts\nRUN ip -o link | cut -d: -f2\n`);
    const r = await docker(["buildx", "build", "--progress=plain", "--no-cache", "--add-host", "myhost:10.1.2.3", "--network", "none", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/10\.1\.2\.3\s+myhost/);
    // --network none: only the loopback interface.
    expect(r.stderr).toMatch(/#(\d+) \[3\/3\] RUN ip -o link \| cut -d: -f2\n#\1 \S+ +lo\n#\1 DONE/);
  });
});

import { describe, expect, it } from "vitest";
import { ensureBenchBases, ensureDebianBookworm } from "./bases.ts";
import { readOciLayout } from "./oci/index.ts";
import { createBundle, fixtures, run, runBundle, tempDir } from "./index.ts";

// The first run debootstraps Debian (minutes, needs deb.debian.org); later runs use the cache in
// .cache/fixtures/debian-bookworm/. Opt in with HATAKE_TEST_DEBIAN=1.
const enabled = process.env["HATAKE_TEST_DEBIAN"] === "1";

describe.skipIf(!enabled)("bench bases (needs ~3 min debootstrap on first run; set HATAKE_TEST_DEBIAN=1)", () => {
  it("pushes busybox and debian:bookworm, and the Debian image runs", { timeout: 900_000 }, async () => {
    const { registry, busybox } = fixtures();
    const refs = await ensureBenchBases(registry.host);
    expect(refs).toEqual({ busybox: `${registry.host}/busybox:latest`, debian: `${registry.host}/debian:bookworm` });

    const debian = await ensureDebianBookworm();
    const inspect = await run("skopeo", ["--insecure-policy", "inspect", "--tls-verify=false", `docker://${refs.debian}`]);
    expect(inspect.code).toBe(0);
    const remote = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[]; Os: string };
    expect(remote.Digest).toBe(debian.manifestDigest);
    expect(remote.Layers).toEqual([debian.layerDigest]);
    const bb = JSON.parse((await run("skopeo", ["--insecure-policy", "inspect", "--tls-verify=false", `docker://${refs.busybox}`])).stdout) as {
      Digest: string;
    };
    expect(bb.Digest).toBe(busybox.manifestDigest);

    const image = await readOciLayout(debian.ociDir, debian.ociRef);
    const bundle = await tempDir("debian-bundle");
    await createBundle(bundle, [debian.layerPath], image.config, { args: ["sh", "-c", "cat /etc/debian_version; dpkg -s dpkg | grep ^Status"] });
    const result = await runBundle(bundle, { id: `htk-test-${process.pid}-debian`, stateDir: await tempDir("crun-state") });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^12\.\d+\nStatus: install ok installed\n$/);
  });
});

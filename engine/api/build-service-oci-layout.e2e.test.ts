import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fixtures, run } from "../../testing/index.ts";
import { suiteEngine } from "../e2e/harness.ts";

/**
 * `--build-context NAME=oci-layout://DIR[:TAG][@sha256:…]` through the real docker CLI and the plugin:
 * the layout (made by skopeo from the busybox fixture) is synced as local contexts are, and the
 * engine builds FROM its image without any registry.
 */
describe("docker build --build-context with an OCI layout", () => {
  const engine = suiteEngine({ plugin: true });
  const { busybox } = fixtures();
  const docker = (args: string[], cwd?: string) => engine.docker(args, { timeoutMs: 120_000, ...(cwd === undefined ? {} : { cwd }) });

  it("FROM a named context that is an OCI layout on the client: by tag, by digest; an unknown tag is refused", async () => {
    const layout = join(engine.root, "layout");
    const copied = await run("skopeo", ["copy", "--src-tls-verify=false", `docker://${busybox.reference}`, `oci:${layout}:v1`], { timeoutMs: 120_000 });
    expect(copied.code, copied.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const digest = index.manifests[0]?.digest ?? "";

    const dir = join(engine.root, "ctx");
    mkdirSync(dir, { recursive: true });
    // "layoutbase" exists in no registry: only the named context can give it.
    writeFileSync(join(dir, "Dockerfile"), "FROM layoutbase\nRUN echo from-layout > /marker\n");
    const r = await docker(["buildx", "build", "--progress=plain", "--build-context", `layoutbase=oci-layout://${layout}:v1`, "-t", "oci-ctx/app", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const ran = await docker(["run", "--rm", "oci-ctx/app", "cat", "/marker"]);
    expect(ran).toMatchObject({ code: 0, stdout: "from-layout\n" });
    expect((await docker(["run", "--rm", "oci-ctx/app", "busybox", "true"])).code).toBe(0);

    const pinned = await docker(["build", "-q", "--build-context", `layoutbase=oci-layout://${layout}@${digest}`, "-t", "oci-ctx/pinned", "."], dir);
    expect(pinned.code, pinned.stderr).toBe(0);

    const missing = await docker(["build", "-q", "--build-context", `layoutbase=oci-layout://${layout}:nope`, "."], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("HTK-BUILDX-0164");
    expect(missing.stderr).toContain('index.json has no image tagged "nope"');
  });
});

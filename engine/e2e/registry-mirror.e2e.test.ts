import { describe, expect, inject, it } from "vitest";
import { skopeoCopy } from "../../testing/index.ts";
import { startTestEngine } from "./harness.ts";

/**
 * dockerd's --registry-mirror: `docker pull busybox` (docker.io/library/busybox, which this machine
 * cannot reach) is served by the mirror, a local registry holding library/busybox. A mirror that
 * fails is skipped for the next one.
 */
describe("registry mirrors", () => {
  it("pull a docker.io image through the first mirror that has it", async () => {
    const registry = inject("registry");
    const busybox = inject("busybox");
    await skopeoCopy(`docker://${busybox.reference}`, `docker://${registry.host}/library/busybox:latest`);
    // The first mirror refuses connections (nothing listens on port 1); the second one serves.
    const engine = await startTestEngine({ flags: { registryMirrors: ["http://127.0.0.1:1", `http://${registry.host}`] } });
    try {
      const pulled = await engine.docker(["pull", "busybox"]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout).toContain("Status: Downloaded newer image for busybox:latest");
      expect(pulled.stdout).toContain(`Digest: ${busybox.manifestDigest}`);
      const info = await engine.docker(["info", "--format", "{{json .RegistryConfig.Mirrors}}"]);
      expect(info.stdout.trim()).toBe(`["http://127.0.0.1:1/","http://${registry.host}/"]`);
      const ran = await engine.docker(["run", "--rm", "--network", "none", "busybox", "echo", "from the mirror"]);
      expect(ran.stdout).toBe("from the mirror\n");
    } finally {
      await engine.stop();
    }
  });
});

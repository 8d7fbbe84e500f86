import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readOciLayout, type ImageConfig } from "./oci/index.ts";
import { createBundle, fixtures, runBundle, tempDir, type BundleOptions } from "./index.ts";

// Acceptance: crun runs a container from the busybox fixture on this machine.

let config: ImageConfig;
beforeAll(async () => {
  const { busybox } = fixtures();
  config = (await readOciLayout(busybox.ociDir, busybox.ociRef)).config;
});

async function runBusybox(id: string, options: BundleOptions): Promise<{ result: Awaited<ReturnType<typeof runBundle>>; stateDir: string }> {
  const { busybox } = fixtures();
  const bundle = await tempDir("bundle");
  const stateDir = await tempDir("crun-state");
  await createBundle(bundle, [busybox.layerPath], config, options);
  const result = await runBundle(bundle, { id: `htk-test-${process.pid}-${id}`, stateDir });
  return { result, stateDir };
}

describe("crun with the busybox fixture", () => {
  it('runs echo hello: stdout "hello\\n", exit code 0, no state left', async () => {
    const { result, stateDir } = await runBusybox("echo", { args: ["echo", "hello"] });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("hello\n");
    expect(result.code).toBe(0);
    expect(await readdir(stateDir)).toEqual([]);
  });

  it("reports a failing command's exit status", async () => {
    const { result } = await runBusybox("exit3", { args: ["sh", "-c", "exit 3"] });
    expect(result.code).toBe(3);
  });

  it("runs the image's default command with its environment and user database", async () => {
    // Cmd is ["sh"]; with stdin at /dev/null the shell reads EOF and exits 0.
    const { result: sh } = await runBusybox("default", {});
    expect(sh.code).toBe(0);
    const { result } = await runBusybox("env", {
      args: ["sh", "-c", 'echo "$PATH"; id -un; ls -ld /tmp | cut -c1-10; test -x /bin/busybox && echo ok'],
    });
    expect(result.stdout.split("\n")).toEqual([config.config?.Env?.[0]?.slice("PATH=".length), "root", "drwxrwxrwt", "ok", ""]);
  });

  it("keeps writes inside the container's root file system", async () => {
    const { busybox } = fixtures();
    const bundle = await tempDir("bundle");
    const stateDir = await tempDir("crun-state");
    await createBundle(bundle, [busybox.layerPath], config, { args: ["sh", "-c", "echo data > /root/file && cat /root/file"] });
    const result = await runBundle(bundle, { id: `htk-test-${process.pid}-write`, stateDir });
    expect(result.stdout).toBe("data\n");
    expect(await readdir(join(bundle, "rootfs", "root"))).toEqual(["file"]);
  });
});

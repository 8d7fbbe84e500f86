import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { parseImageConfig } from "../../base/oci/index.ts";
import { hostPlatform } from "../../engine/build/runtime-stack.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { fixtures, tempDir } from "../../testing/index.ts";

describe("hatake build --platform", () => {
  async function hatakeBuild(cwd: string, args: readonly string[]): Promise<{ code: number; err: string }> {
    const io = memoryIo({ cwd, env: {} });
    const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
    return { code, err: io.err() };
  }

  it("builds the host's platform (TARGETPLATFORM, the image's architecture) and refuses others (HTK-BUILD-0204)", async () => {
    const host = hostPlatform();
    const hostText = `${host.os}/${host.architecture}`;
    const root = await tempDir("platform");
    mkdirSync(join(root, "ctx"));
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM ${fixtures().registry.host}/busybox\nARG TARGETPLATFORM\nARG BUILDPLATFORM\nRUN echo "target=$TARGETPLATFORM build=$BUILDPLATFORM arch=$(uname -m)"\n`);
    const ok = await hatakeBuild(root, ["--platform", hostText, "-t", "platform/app:1"]);
    expect(ok.err, ok.err).not.toContain("ERROR");
    expect(ok.err).toContain(`target=${hostText} build=${hostText}`);
    const images = await ImageStore.openAt(join(root, "data"));
    const config = parseImageConfig(await images.content.readBytes(images.resolve("platform/app:1").config.digest));
    expect(config.ok && config.value.architecture).toBe(host.architecture);
    expect(config.ok && config.value.os).toBe("linux");

    const foreign = host.architecture === "arm64" ? "linux/amd64" : "linux/arm64";
    const bad = await hatakeBuild(root, ["--platform", `${hostText},${foreign}`]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("HTK-BUILD-0204");
    expect(bad.err).toContain(`The build asks for ${foreign}, but this machine runs only ${hostText} containers`);
    expect(bad.err).toContain("no binfmt_misc handlers, no QEMU");
  });
});

import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { buildPlatform } from "./platforms.ts";

describe("--platform", () => {
  const host = { os: "linux", architecture: "amd64" };
  const error = (f: () => unknown): Error => {
    try {
      f();
    } catch (err) {
      return err as Error;
    }
    throw new Error("no error");
  };

  it("takes the host's platform in any spelling, once or several times", () => {
    expect(buildPlatform(["linux/amd64"], host)).toEqual(host);
    expect(buildPlatform(["amd64", "linux/x86_64,linux/amd64"], host)).toEqual(host);
    expect(buildPlatform(["linux/arm64/v8"], { os: "linux", architecture: "arm64", variant: "v8" })).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
  });

  it("refuses other platforms: no emulation here (HTK-BUILD-0204)", () => {
    const err = error(() => buildPlatform(["linux/amd64,linux/arm64", "linux/riscv64"], host));
    expect(isHtkError(err, "HTK-BUILD-0204")).toBe(true);
    expect(err.message).toContain("linux/arm64, linux/riscv64");
    expect(err.message).toContain("only linux/amd64 containers");
    expect(err.message).toContain("no QEMU");
  });

  it("refuses what is not a platform (HTK-CLI-0052)", () => {
    expect(isHtkError(error(() => buildPlatform(["linux//amd64"], host)), "HTK-CLI-0052")).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { formatPlatformSpec, normalizePlatform, parsePlatformSpec } from "./platform.ts";

const AMD64 = { os: "linux", architecture: "amd64" };

describe("platforms (containerd platforms.Parse / Normalize)", () => {
  it("normalizes aliases and default variants", () => {
    expect(normalizePlatform({ os: "Linux", architecture: "x86_64" })).toEqual(AMD64);
    expect(normalizePlatform({ os: "linux", architecture: "aarch64", variant: "v8" })).toEqual({ os: "linux", architecture: "arm64" });
    expect(normalizePlatform({ os: "linux", architecture: "arm" })).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(normalizePlatform({ os: "linux", architecture: "armhf" })).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
  });

  it("parses os, arch, os/arch and os/arch/variant", () => {
    expect(parsePlatformSpec("linux/arm64", AMD64)).toEqual({ ok: true, platform: { os: "linux", architecture: "arm64" } });
    expect(parsePlatformSpec("linux/arm/v6", AMD64)).toEqual({ ok: true, platform: { os: "linux", architecture: "arm", variant: "v6" } });
    expect(parsePlatformSpec("windows", AMD64)).toEqual({ ok: true, platform: { os: "windows", architecture: "amd64" } });
    expect(parsePlatformSpec("arm64", AMD64)).toEqual({ ok: true, platform: { os: "linux", architecture: "arm64" } });
    for (const bad of ["linux/nonsense", "a/b/c/d", "", "linux/*"]) expect(parsePlatformSpec(bad, AMD64).ok, bad).toBe(false);
    expect(formatPlatformSpec({ os: "linux", architecture: "arm", variant: "v7" })).toBe("linux/arm/v7");
  });
});

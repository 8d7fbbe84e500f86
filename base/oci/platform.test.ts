import { describe, expect, it } from "vitest";
import { MediaTypes } from "./media-types.ts";
import { compatiblePlatforms, formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformEquals, platformMatches, selectManifest } from "./platform.ts";
import type { OciDescriptor, Platform } from "./types.ts";

const p = (os: string, architecture: string, variant?: string): Platform => ({ os, architecture, ...(variant !== undefined ? { variant } : {}) });

describe("platform normalisation", () => {
  it.each([
    [p("linux", "x86_64"), "linux/amd64"],
    [p("Linux", "x86-64"), "linux/amd64"],
    [p("linux", "aarch64"), "linux/arm64/v8"],
    [p("linux", "arm64"), "linux/arm64/v8"],
    [p("linux", "arm64", "8"), "linux/arm64/v8"],
    [p("linux", "armhf"), "linux/arm/v7"],
    [p("linux", "armel"), "linux/arm/v6"],
    [p("linux", "arm"), "linux/arm/v7"],
    [p("linux", "arm", "6"), "linux/arm/v6"],
    [p("linux", "i386"), "linux/386"],
    [p("macos", "arm64"), "darwin/arm64/v8"],
    [p("linux", "riscv64"), "linux/riscv64"],
  ])("%j → %s", (input, out) => {
    expect(formatPlatform(input)).toBe(out);
  });

  it("treats arm64 and arm64/v8 as one platform (default variants)", () => {
    expect(platformEquals(p("linux", "arm64"), p("linux", "arm64", "v8"))).toBe(true);
    expect(platformEquals(p("linux", "amd64"), p("linux", "amd64", "v1"))).toBe(true);
    expect(platformEquals(p("linux", "arm", "v7"), p("linux", "arm", "v6"))).toBe(false);
    expect(normalizePlatform(p("linux", "aarch64")).variant).toBe("v8");
  });

  it("parses --platform values", () => {
    expect(parsePlatform("linux/arm64")).toEqual({ ok: true, value: p("linux", "arm64", "v8") });
    expect(parsePlatform("linux/arm/v6")).toEqual({ ok: true, value: p("linux", "arm", "v6") });
    expect(parsePlatform("arm64", p("linux", "amd64"))).toEqual({ ok: true, value: p("linux", "arm64", "v8") });
    expect(parsePlatform("linux", p("linux", "amd64"))).toEqual({ ok: true, value: p("linux", "amd64", "v1") });
    expect(parsePlatform("linux//x").ok).toBe(false);
    expect(parsePlatform("a/b/c/d").ok).toBe(false);
    expect(parsePlatform("windows", p("linux", "amd64")).ok).toBe(false);
  });

  it("knows the host", () => {
    const h = hostPlatform();
    expect(h.os).toBe(process.platform);
    expect(h.architecture).not.toBe("x64");
  });
});

describe("platform matching (containerd's Only)", () => {
  it("runs lower variants and 32-bit siblings, in order of preference", () => {
    expect(compatiblePlatforms(p("linux", "arm", "v7")).map(formatPlatform)).toEqual(["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]);
    expect(compatiblePlatforms(p("linux", "arm64")).map(formatPlatform)).toEqual([
      "linux/arm64/v8", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5",
    ]);
    expect(compatiblePlatforms(p("linux", "amd64", "v3")).map(formatPlatform)).toEqual(["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]);
    expect(platformMatches(p("linux", "arm", "v6"), p("linux", "arm", "v7"))).toBe(false);
    expect(platformMatches(p("linux", "amd64"), p("windows", "amd64"))).toBe(false);
  });

  const d = (n: number, platform?: Platform): OciDescriptor => ({
    mediaType: MediaTypes.ociManifest,
    digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    size: 1,
    ...(platform !== undefined ? { platform } : {}),
  });

  it("selects the best entry of an index", () => {
    const list = [d(1, p("linux", "386")), d(2, p("linux", "amd64")), d(3, p("linux", "arm64", "v8")), d(4, p("linux", "arm", "v6")), d(5, p("linux", "arm", "v7")), d(6, p("unknown", "unknown")), d(7)];
    expect(selectManifest(list, p("linux", "amd64"))?.digest).toBe(list[1]?.digest);
    expect(selectManifest(list, p("linux", "aarch64"))?.digest).toBe(list[2]?.digest);
    expect(selectManifest(list, p("linux", "arm", "v7"))?.digest).toBe(list[4]?.digest);
    expect(selectManifest(list, p("linux", "arm", "v6"))?.digest).toBe(list[3]?.digest);
    expect(selectManifest(list.slice(0, 1), p("linux", "amd64"))?.digest).toBe(list[0]?.digest);
    expect(selectManifest(list, p("linux", "s390x"))).toBeUndefined();
    expect(selectManifest([d(8, p("linux", "arm64"))], p("linux", "arm64", "v8"))?.digest).toBe(d(8).digest);
  });
});

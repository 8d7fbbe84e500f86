import { describe, expect, it } from "vitest";
import { formatOutline, formatTargets, listTargets, outlineDockerfile } from "./outline.ts";
import { BUILD_PLATFORM, fakeResolver } from "./test-support.ts";

const DF = [
  "# GO_VERSION the Go toolchain",
  "ARG GO_VERSION=1.22",
  "ARG UNUSED=1",
  "",
  "# build compiles the app",
  "FROM golang:${GO_VERSION} AS build",
  "# MODE release or debug",
  "ARG MODE=release",
  "RUN --mount=type=secret,id=token,required --mount=type=ssh go build",
  "",
  "# release is the final image",
  "FROM scratch AS release",
  "COPY --from=build /out /",
  "",
].join("\n");

describe("outline (--call=outline)", () => {
  it("lists the args, secrets and ssh the target uses, with descriptions, in BuildKit's JSON shape", async () => {
    const { result, diagnostics } = await outlineDockerfile(DF, { resolveImageConfig: fakeResolver().resolve, buildPlatform: BUILD_PLATFORM });
    expect(diagnostics).toEqual([]);
    expect({ ...result, sources: undefined }).toEqual({
      name: "release",
      description: "is the final image",
      args: [
        { name: "GO_VERSION", value: "1.22", description: "the Go toolchain", location: { ranges: [{ start: { line: 2 }, end: { line: 2 } }] } },
        { name: "MODE", value: "release", description: "release or debug", location: { ranges: [{ start: { line: 8 }, end: { line: 8 } }] } },
      ],
      secrets: [{ name: "token", required: true, location: { ranges: [{ start: { line: 9 }, end: { line: 9 } }] } }],
      ssh: [{ name: "default", location: { ranges: [{ start: { line: 9 }, end: { line: 9 } }] } }],
      sources: undefined,
    });
    expect(Buffer.from(result?.sources?.[0] ?? "", "base64").toString()).toBe(DF);
    expect(formatOutline(result ?? {})).toBe(
      [
        "TARGET:      release",
        "DESCRIPTION: is the final image",
        "",
        "BUILD ARG    VALUE     DESCRIPTION",
        "GO_VERSION   1.22      the Go toolchain",
        "MODE         release   release or debug",
        "",
        "SECRET   REQUIRED",
        "token    true",
        "",
        "SSH       REQUIRED",
        "default",
        "",
      ].join("\n"),
    );
  });

  it("follows --target", async () => {
    const { result } = await outlineDockerfile(DF, { target: "build", buildPlatform: BUILD_PLATFORM });
    expect(result?.name).toBe("build");
    expect(result?.description).toBe("compiles the app");
  });
});

describe("targets (--call=targets)", () => {
  it("lists every stage with its description, base and the default", () => {
    const { result } = listTargets(`${DF}FROM --platform=linux/arm64 busybox\n`);
    expect(result?.targets).toEqual([
      { name: "build", description: "compiles the app", base: "golang:${GO_VERSION}", location: { ranges: [{ start: { line: 6 }, end: { line: 6 } }] } },
      { name: "release", description: "is the final image", base: "scratch", location: { ranges: [{ start: { line: 12 }, end: { line: 12 } }] } },
      { default: true, base: "busybox", platform: "linux/arm64", location: { ranges: [{ start: { line: 14 }, end: { line: 14 } }] } },
    ]);
    expect(formatTargets(result ?? { targets: [], sources: [] })).toBe(
      ["TARGET                DESCRIPTION", "build                 compiles the app", "release               is the final image", "(unnamed) (default)", ""].join("\n"),
    );
  });

  it("reports instruction errors as diagnostics", () => {
    const { result, diagnostics } = listTargets("FROM a AS 9x\n");
    expect(result).toBeUndefined();
    expect(diagnostics[0]?.id).toBe("HTK-DOCKERFILE-0206");
  });
});

import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { runChecks, type CheckOptions, type CheckResult } from "./index.ts";

function check(text: string, opts: CheckOptions = {}): CheckResult {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, opts);
}

function lint(text: string, opts: CheckOptions = {}): { rule: string; detail: string; line: number }[] {
  return check(text, opts).findings.map((f) => ({ rule: f.rule, detail: f.message, line: f.lines.start }));
}

describe("DuplicateStageName and ReservedStageName", () => {
  it("warns about a stage name used twice (case-insensitively) at the second use", () => {
    expect(lint("\nFROM scratch AS b\nFROM scratch AS b\n")).toEqual([
      { rule: "DuplicateStageName", detail: 'Duplicate stage name "b", stage names should be unique', line: 3 },
    ]);
    expect(lint("FROM scratch AS b\nFROM scratch AS B\n").map((f) => f.rule)).toEqual(["StageNameCasing", "DuplicateStageName"]);
    expect(lint("FROM scratch AS b1\nFROM scratch AS b2\n")).toEqual([]);
  });

  it("warns about the reserved names scratch and context, not about using them as bases", () => {
    expect(lint("\nFROM scratch AS scratch\nFROM scratch AS context\n")).toEqual([
      { rule: "ReservedStageName", detail: 'Stage name should not use the same name as reserved stage "scratch"', line: 2 },
      { rule: "ReservedStageName", detail: 'Stage name should not use the same name as reserved stage "context"', line: 3 },
    ]);
    expect(lint("FROM scratch\nFROM scratch AS a\n")).toEqual([]);
  });
});

describe("UndefinedArgInFrom", () => {
  it("is silent for declared global ARGs and the automatic platform ARGs", () => {
    expect(lint("ARG base=scratch\nFROM $base\nCOPY Dockerfile .\n")).toEqual([]);
    expect(lint("ARG BUILDPLATFORM=linux/amd64\nFROM --platform=$BUILDPLATFORM scratch\n")).toEqual([]);
    expect(lint("FROM --platform=$BUILDPLATFORM scratch\n")).toEqual([]);
    expect(lint("ARG VERSION\nFROM alpine:3${VERSION:-.20}\n")).toEqual([]);
  });

  it("suggests the automatic ARG a name was misspelled from", () => {
    const r = check("\nFROM --platform=$BULIDPLATFORM scratch\nCOPY Dockerfile .\n");
    expect(r.findings.map((f) => [f.rule, f.message, f.lines.start])).toEqual([
      ["UndefinedArgInFrom", "FROM argument 'BULIDPLATFORM' is not declared (did you mean BUILDPLATFORM?)", 2],
    ]);
    // BuildKit then fails: the platform is empty.
    expect(r.stopped?.message).toBe("empty platform value from expression $BULIDPLATFORM");
  });

  it("suggests a declared global ARG", () => {
    expect(lint("\nARG MY_OS=linux\nARG MY_ARCH=amd64\nFROM --platform=linux/${MYARCH} busybox\n").map((f) => f.detail)).toEqual([
      "FROM argument 'MYARCH' is not declared (did you mean MY_ARCH?)",
    ]);
  });

  it("reports an undeclared ARG in the image name without a suggestion when none is close", () => {
    expect(lint("\nARG tag=latest\nFROM busybox:${tag}${version} AS b\nCOPY Dockerfile .\n")).toEqual([
      { rule: "UndefinedArgInFrom", detail: "FROM argument 'version' is not declared", line: 3 },
    ]);
  });
});

describe("InvalidDefaultArgInFrom", () => {
  it("warns when the defaults alone give an invalid image name, even if --build-arg fixes it", () => {
    expect(lint("\nARG VERSION\nFROM busybox:$VERSION\n", { buildArgs: { VERSION: "latest" } })).toEqual([
      { rule: "InvalidDefaultArgInFrom", detail: "Default value for ARG busybox:$VERSION results in empty or invalid base image name", line: 3 },
    ]);
    expect(lint("\nARG IMAGE\nFROM $IMAGE\n", { buildArgs: { IMAGE: "busybox:latest" } })).toEqual([
      { rule: "InvalidDefaultArgInFrom", detail: "Default value for ARG $IMAGE results in empty or invalid base image name", line: 3 },
    ]);
    expect(lint('\nARG SFX="box:"\nFROM busy${SFX}\n', { buildArgs: { SFX: "box:latest" } }).map((f) => f.detail)).toEqual([
      "Default value for ARG busy${SFX} results in empty or invalid base image name",
    ]);
  });

  it("is silent when the defaults give a valid name, empty or not", () => {
    expect(lint('\nARG VERSION="latest"\nFROM busybox:${VERSION}\n', { buildArgs: { VERSION: "latest" } })).toEqual([]);
    expect(lint('\nARG BUSYBOX_VARIANT=""\nFROM busybox:stable${BUSYBOX_VARIANT}\n', { buildArgs: { BUSYBOX_VARIANT: "-musl" } })).toEqual([]);
    expect(lint("\nARG BUSYBOX_VARIANT\nFROM busybox:stable${BUSYBOX_VARIANT}\n", { buildArgs: { BUSYBOX_VARIANT: "-musl" } })).toEqual([]);
    expect(lint("ARG TAG\nFROM alpine:${TAG:-3.14}\n")).toEqual([]);
    expect(lint("FROM localhost:5000/my/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n")).toEqual([]);
  });

  it("treats upper-case repository names as invalid, as Docker does", () => {
    expect(lint("ARG R=Alpine\nFROM $R\n").map((f) => f.rule)).toEqual(["InvalidDefaultArgInFrom"]);
  });
});

describe("FromPlatformFlagConstDisallowed", () => {
  it("warns about a constant platform", () => {
    expect(lint("\nFROM --platform=linux/amd64 scratch\n")).toEqual([
      { rule: "FromPlatformFlagConstDisallowed", detail: 'FROM --platform flag should not use constant value "linux/amd64"', line: 2 },
    ]);
  });

  it("is silent when the stage name mentions the OS or architecture, or a variable is used", () => {
    expect(lint("FROM --platform=linux/amd64 scratch AS my_amd64_stage\n")).toEqual([]);
    expect(lint("FROM --platform=linux/amd64 scratch AS linux\n")).toEqual([]);
    expect(lint("FROM --platform=$BUILDPLATFORM scratch\n")).toEqual([]);
  });

  it("normalises the platform like containerd before comparing (x86_64 is amd64)", () => {
    expect(lint("FROM --platform=linux/x86_64 scratch AS amd64-build\n")).toEqual([]);
  });
});

describe("RedundantTargetPlatform", () => {
  it("warns about $TARGETPLATFORM and ${TARGETPLATFORM}, quoting the flag as written", () => {
    expect(lint("\nFROM --platform=$TARGETPLATFORM scratch\n")).toEqual([
      {
        rule: "RedundantTargetPlatform",
        detail: "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        line: 2,
      },
    ]);
    expect(lint("FROM --platform=${TARGETPLATFORM} scratch\n").map((f) => f.detail)).toEqual([
      "Setting platform to predefined ${TARGETPLATFORM} in FROM is redundant as this is the default behavior",
    ]);
  });

  it("is silent when other variables take part or the value differs", () => {
    expect(lint("FROM --platform=$TARGETOS/$TARGETARCH scratch\n")).toEqual([]);
    expect(lint("FROM --platform=$BUILDPLATFORM scratch\n")).toEqual([]);
    expect(lint("FROM --platform=${TARGETPLATFORM}/v2 scratch\n", { targetPlatform: "linux/amd64" }).map((f) => f.rule)).toEqual([]);
  });
});

describe("where BuildKit's conversion stops", () => {
  it("stops at an instruction before the first FROM, after its parse-time warnings", () => {
    const r = check("MAINTAINER me\nFROM scratch AS A\n");
    expect(r.findings.map((f) => f.rule)).toEqual(["MaintainerDeprecated"]);
    expect(r.stopped).toMatchObject({ message: "no build stage in current context", range: { start: { line: 1 } } });
  });

  it("stops on a FROM with the wrong number of words, an unknown flag, a blank base or an unknown target", () => {
    expect(check("FROM a b\n").stopped?.message).toBe("dockerfile parse error on line 1: FROM requires either one or three arguments");
    expect(check("FROM --pull a\n").stopped?.message).toBe("dockerfile parse error on line 1: unknown flag: pull");
    expect(check("ARG B\nFROM $B\n").stopped?.message).toBe("base name ($B) should not be blank");
    expect(check("FROM a AS x\n", { target: "y" }).stopped?.message).toBe('target stage "y" could not be found');
    expect(check("FROM --platform=linux/*/x a\n").stopped?.message).toBe("failed to parse platform linux/*/x");
  });

  it("does not stop for a clean file", () => {
    expect(check("ARG A=1\nFROM alpine:3.$A\n").stopped).toBeUndefined();
  });
});

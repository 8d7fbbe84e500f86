import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { runChecks, type CheckOptions } from "./index.ts";

function lint(text: string, opts: CheckOptions = {}): { rule: string; detail: string; line: number }[] {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, opts).findings.map((f) => ({ rule: f.rule, detail: f.message, line: f.lines.start }));
}

const undefinedVar = (name: string, line: number, suggestion?: string) => ({
  rule: "UndefinedVar",
  detail: `Usage of undefined variable '$${name}'${suggestion === undefined ? "" : ` (did you mean $${suggestion}?)`}`,
  line,
});

describe("UndefinedVar", () => {
  it("is silent for declared ARGs (with or without a value) and ARGs of a base stage", () => {
    expect(lint("\nFROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n")).toEqual([]);
    expect(lint("\nFROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n")).toEqual([]);
  });

  it("never looks into RUN, CMD or ENTRYPOINT text (the container's shell expands it)", () => {
    expect(lint("\nFROM alpine\nRUN echo $PATH $nope\nCMD [\"sh\", \"-c\", \"echo $nope\"]\n")).toEqual([]);
  });

  it("warns about a variable used before its ARG", () => {
    expect(lint("\nFROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n")).toEqual([undefinedVar("foo", 3)]);
  });

  it("suggests a close name from the stage's environment", () => {
    const text = "\nFROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n";
    expect(lint(text)).toEqual([undefinedVar("DIR_ASSET", 6, "DIR_ASSETS")]);
    expect(lint("\nFROM alpine\nENV PATH=$PAHT:/tmp/bin\n")).toEqual([undefinedVar("PAHT", 3, "PATH")]);
  });

  it("checks every stage when linting and the target's stages in a build", () => {
    const text = "\nFROM scratch AS first\nCOPY $foo .\n\nFROM scratch AS second\nCOPY $bar .\n";
    expect(lint(text)).toEqual([undefinedVar("foo", 3), undefinedVar("bar", 6)]);
    expect(lint(text, { target: "second" })).toEqual([undefinedVar("bar", 6)]);
  });

  it("follows COPY --from and RUN --mount=from= to the stages a target needs", () => {
    const text = "FROM scratch AS a\nCOPY $x .\nFROM scratch AS b\nCOPY $y .\nFROM scratch AS c\nCOPY --from=a /x /x\nRUN --mount=type=bind,from=b,target=/b true\n";
    expect(lint(text, { target: "c" }).map((f) => f.line)).toEqual([2, 4]);
    expect(lint("FROM scratch AS a\nCOPY $x .\nFROM scratch\nCOPY --from=0 /x /x\n", { target: "1" }).length).toBe(0);
  });

  it("expands a whole ENV against the environment before it", () => {
    expect(lint("FROM scratch\nENV A=1 B=$A\n")).toEqual([undefinedVar("A", 2)]);
    expect(lint("FROM scratch\nENV A=1\nENV B=$A\n")).toEqual([]);
  });

  it("does not count global ARGs in a stage unless redeclared there", () => {
    expect(lint("ARG V=1\nFROM scratch\nCOPY $V .\n")).toEqual([undefinedVar("V", 3)]);
    expect(lint("ARG V=1\nFROM scratch\nARG V\nCOPY $V .\n")).toEqual([]);
    expect(lint("FROM scratch\nCOPY $TARGETARCH .\n")).toEqual([undefinedVar("TARGETARCH", 2)]);
    expect(lint("FROM scratch\nARG TARGETARCH\nCOPY $TARGETARCH .\n")).toEqual([]);
  });

  it("looks at ARG defaults, COPY flags, WORKDIR, USER, LABEL, VOLUME, STOPSIGNAL and heredocs", () => {
    const text = [
      "FROM scratch",
      "ARG A=$a1",
      "COPY --chown=$a2 x /y",
      "WORKDIR /$a3",
      "USER $a4",
      "LABEL k=$a5",
      "VOLUME $a6",
      "STOPSIGNAL $a7",
      "COPY <<EOF /f",
      "$a8",
      "EOF",
      "COPY <<'EOF' /g",
      "$quoted",
      "EOF",
      "EXPOSE $a9",
      "",
    ].join("\n");
    expect(lint(text).map((f) => f.detail.replace(/^Usage of undefined variable '\$(\w+)'.*$/, "$1"))).toEqual([
      "a1",
      "a2",
      "a3",
      "a4",
      "a5",
      "a6",
      "a7",
      "a8",
    ]);
  });

  it("knows what the base image defines when the caller tells it", () => {
    const text = "FROM golang\nWORKDIR $GOPATH/src\n";
    expect(lint(text)).toEqual([undefinedVar("GOPATH", 2, "PATH")]);
    expect(lint(text, { baseImageEnv: (ref) => (ref === "golang" ? ["GOPATH=/go", "PATH=/go/bin"] : undefined) })).toEqual([]);
  });

  it("runs a base stage's ONBUILD triggers in the child, reported at the child's FROM", () => {
    const text = "FROM scratch AS base\nONBUILD COPY $trig .\nONBUILD ENV k v\nFROM base\nRUN true\n";
    expect(lint(text).map((f) => [f.rule, f.line])).toEqual([
      ["UndefinedVar", 4],
      ["LegacyKeyValueFormat", 4],
    ]);
    expect(lint("FROM scratch AS base\nONBUILD ARG trig\nFROM base\nCOPY $trig .\n")).toEqual([]);
  });

  it("stops at triggers BuildKit refuses", () => {
    const { result } = parseDockerfile("FROM scratch\nONBUILD FROM alpine\n");
    expect(runChecks(result!, {}).stopped?.message).toBe("dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger");
    const chained = parseDockerfile("FROM scratch\nONBUILD ONBUILD RUN x\n").result;
    expect(runChecks(chained!, {}).stopped?.message).toBe("dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  });

  it("skips BuildKit's SBOM ARGs", () => {
    expect(lint("FROM scratch\nCOPY $BUILDKIT_SBOM_SCAN_STAGE .\n")).toEqual([]);
  });

  it("uses --build-arg values for stage ARGs", () => {
    expect(lint("FROM scratch\nARG X\nENV Y=$X\nWORKDIR $Y\n", { buildArgs: { X: "/abs" } })).toEqual([]);
  });

  it("stops where BuildKit's expansion fails", () => {
    const { result } = parseDockerfile("FROM scratch\nCOPY ${x .\nCOPY $y .\n");
    const r = runChecks(result!, {});
    expect(r.findings).toEqual([]);
    expect(r.stopped?.range.start.line).toBe(2);
  });
});

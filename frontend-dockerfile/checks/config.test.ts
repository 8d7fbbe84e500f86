import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { checksFailedDiagnostic, checksFailedMessage, parseCheckConfig, runChecks, type CheckOptions, type CheckResult } from "./index.ts";

function check(text: string, opts: CheckOptions = {}): CheckResult {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, opts);
}

const body = "FROM scratch as base\ncopy Dockerfile .\n";

describe("# check= directive", () => {
  it("runs every non-experimental rule by default, as warnings", () => {
    const r = check(body);
    expect(r.findings.map((f) => f.rule)).toEqual(["FromAsCasing", "ConsistentInstructionCasing"]);
    expect(r.findings.every((f) => f.severity === "warning")).toBe(true);
    expect(r.asErrors).toBe(false);
    expect(r.configSource).toBe("default");
  });

  it("skip=all and skip=<rules> silence rules; error=true without findings is no error", () => {
    expect(check(`#check=skip=all\n${body}`).findings).toEqual([]);
    const r = check(`#check=skip=all;error=true\n${body}`);
    expect(r.findings).toEqual([]);
    expect(r.asErrors).toBe(false);
    expect(checksFailedDiagnostic(r)).toBeUndefined();
    expect(check(`#check=skip=ConsistentInstructionCasing,FromAsCasing\n${body}`).findings).toEqual([]);
    expect(check(`#check=skip=ConsistentInstructionCasing,FromAsCasing;error=true\n${body}`).asErrors).toBe(false);
    expect(check(`#check=skip=ConsistentInstructionCasing\n${body}`).findings.map((f) => f.rule)).toEqual(["FromAsCasing"]);
  });

  it("error=true turns findings into errors that fail the build with BuildKit's message", () => {
    const r = check(`# check=skip=ConsistentInstructionCasing;error=true\n${body}`);
    expect(r.asErrors).toBe(true);
    expect(r.findings.map((f) => [f.rule, f.severity, f.lines.start])).toEqual([["FromAsCasing", "error", 2]]);
    expect(checksFailedMessage(r.findings)).toBe("lint violation found for rules: FromAsCasing");
    const d = checksFailedDiagnostic(r, "Dockerfile");
    expect(d?.id).toBe("HTK-DOCKERFILE-0301");
    expect(d?.severity).toBe("error");
    expect(d?.buildkitMessage).toBe("lint violation found for rules: FromAsCasing");
    expect(d?.message).toContain("FromAsCasing");
  });

  it("the BUILDKIT_DOCKERFILE_CHECK build-arg replaces the directive entirely", () => {
    const r = check(`#check=skip=all\n${body}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: "skip=ConsistentInstructionCasing;error=true" } });
    expect(r.configSource).toBe("build-arg");
    expect(r.findings.map((f) => f.rule)).toEqual(["FromAsCasing"]);
    expect(r.asErrors).toBe(true);
    const quiet = check(`#check=error=true\n${body}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: "skip=all" } });
    expect(quiet.findings).toEqual([]);
    expect(quiet.asErrors).toBe(false);
    // Present but empty still wins over the directive.
    expect(check(`#check=skip=all\n${body}`, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: "" } }).findings).toHaveLength(2);
  });

  it("a client's check configuration wins over both", () => {
    const r = check(`#check=skip=all\n${body}`, { checkConfig: "skip=FromAsCasing", buildArgs: { BUILDKIT_DOCKERFILE_CHECK: "skip=all" } });
    expect(r.configSource).toBe("option");
    expect(r.findings.map((f) => f.rule)).toEqual(["ConsistentInstructionCasing"]);
  });

  it("reports an unusable configuration as HTK-DOCKERFILE-0302 with BuildKit's text and checks nothing", () => {
    const r = check(`# check=skip=all;bogus=1\n${body}`);
    expect(r.findings).toEqual([]);
    expect(r.configError?.id).toBe("HTK-DOCKERFILE-0302");
    expect(r.configError?.severity).toBe("error");
    expect(r.configError?.buildkitMessage).toBe('failed to parse check options: invalid check option "bogus"');
    expect(r.configError?.range.start.line).toBe(1);
    const fromArg = check(body, { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: "error=yes" } });
    expect(fromArg.configError?.message).toContain("BUILDKIT_DOCKERFILE_CHECK");
  });
});

describe("parseCheckConfig (BuildKit ParseLintOptions)", () => {
  it("reads skip, experimental and error, trimming keys, values and rule names", () => {
    expect(parseCheckConfig(" skip = A , B ; experimental=all; error = True ")).toEqual({
      ok: true,
      config: { skipAll: false, skip: ["A", "B"], experimentalAll: true, experimental: [], error: true },
    });
    expect(parseCheckConfig("")).toEqual({ ok: true, config: { skipAll: false, skip: [], experimentalAll: false, experimental: [], error: false } });
    expect(parseCheckConfig("error=0")).toMatchObject({ ok: true, config: { error: false } });
  });

  it("rejects options it does not know, parts without =, and non-boolean error values", () => {
    expect(parseCheckConfig("skip")).toEqual({ ok: false, message: 'invalid check option "skip"' });
    expect(parseCheckConfig("warn=all")).toEqual({ ok: false, message: 'invalid check option "warn"' });
    expect(parseCheckConfig("error=yes")).toEqual({
      ok: false,
      message: 'failed to parse check option "error=yes": strconv.ParseBool: parsing "yes": invalid syntax',
    });
  });

  it("splits into at most three options, like Go's SplitN", () => {
    const r = parseCheckConfig("skip=a;experimental=b;error=true;skip=c");
    expect(r.ok).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { parseInstructions, type Command, type InstructionsResult } from "./instructions.ts";
import { parseRunMount, readCsvRecord, ramInBytes } from "./run-mount.ts";

function instructions(text: string): InstructionsResult {
  const p = parseDockerfile(text);
  if (p.result === undefined) throw new Error(p.diagnostics.map((d) => d.message).join("\n"));
  return parseInstructions(p.result);
}

function only(text: string): Command {
  const r = instructions(`FROM scratch\n${text}\n`);
  expect(r.diagnostics).toEqual([]);
  const c = r.stages[0]?.commands[0];
  if (c === undefined) throw new Error("no command");
  return c;
}

function firstError(text: string): { id: string; buildkit?: string; line: number; column: number; suggestion?: string } {
  const r = instructions(text);
  const d = r.diagnostics.find((x) => x.severity === "error");
  if (d === undefined) throw new Error("expected an error");
  return {
    id: d.id,
    line: d.range.start.line,
    column: d.range.start.column,
    ...(d.buildkitMessage === undefined ? {} : { buildkit: d.buildkitMessage }),
    ...(d.suggestion === undefined ? {} : { suggestion: d.suggestion }),
  };
}

describe("stages", () => {
  it("groups commands under FROM, keeps global ARGs apart, lowercases names and reads doc comments", () => {
    const r = instructions("ARG A=1\n# Build compiles it\nFROM busybox AS Build\nRUN x\nFROM build\nENV a=b\n");
    expect(r.diagnostics).toEqual([]);
    expect(r.metaArgs.map((a) => a.args)).toEqual([[{ key: "A", value: "1", comment: "" }]]);
    expect(r.stages.map((s) => [s.index, s.name, s.baseName, s.commands.map((c) => c.kind)])).toEqual([
      [0, "build", "busybox", ["run"]],
      [1, undefined, "build", ["env"]],
    ]);
    // The doc comment is matched against the name as written in the comment (BuildKit getComment).
    expect(instructions("# build compiles it\nFROM busybox AS build\n").stages[0]?.comment).toBe("compiles it");
  });

  it("reads FROM --platform and ARG descriptions", () => {
    const r = instructions("# VERSION the version to build\nARG VERSION=1.2\nFROM --platform=$BUILDPLATFORM alpine\n");
    expect(r.metaArgs[0]?.args[0]?.comment).toBe("the version to build");
    expect(r.stages[0]?.platform).toBe("$BUILDPLATFORM");
  });

  it("HTK-DOCKERFILE-0205: an instruction before the first FROM", () => {
    expect(firstError("RUN echo\nFROM scratch\n")).toMatchObject({ id: "HTK-DOCKERFILE-0205", buildkit: "no build stage in current context", line: 1 });
  });

  it("HTK-DOCKERFILE-0206: an invalid stage name", () => {
    expect(firstError("FROM busybox AS 1abc\n")).toMatchObject({ id: "HTK-DOCKERFILE-0206", line: 1, column: 17 });
    expect(firstError("FROM busybox AS a$b\n").buildkit).toBe('invalid name for build stage: "a$b", name can\'t start with a number or contain symbols');
  });

  it("HTK-DOCKERFILE-0204: wrong argument counts, with BuildKit's text", () => {
    expect(firstError("FROM a b\n")).toMatchObject({ id: "HTK-DOCKERFILE-0204", buildkit: "FROM requires either one or three arguments" });
    expect(firstError("FROM scratch\nCOPY onlyone\n").buildkit).toBe("COPY requires at least two arguments, but only one was provided. Destination could not be determined");
    expect(firstError("FROM scratch\nWORKDIR\n").buildkit).toBe("WORKDIR requires exactly one argument");
    expect(firstError("FROM scratch\nSHELL /bin/sh -c\n").buildkit).toBe("SHELL requires the arguments to be in JSON form");
    expect(firstError("FROM scratch\nHEALTHCHECK CMD\n").buildkit).toBe("Missing command after HEALTHCHECK CMD");
    expect(firstError("FROM scratch\nHEALTHCHECK FOO x\n").buildkit).toBe('Unknown type "FOO" in HEALTHCHECK (try CMD)');
    expect(firstError("FROM scratch\nHEALTHCHECK NONE x\n").buildkit).toBe("HEALTHCHECK NONE takes no arguments");
    expect(firstError("FROM scratch\nCOPY a <<EOF\nx\nEOF\n").buildkit).toBe("COPY cannot accept a heredoc as a destination");
    expect(firstError("FROM scratch\nARG =x\n").buildkit).toBe("ARG names can not be blank");
  });

  it("HTK-DOCKERFILE-0011: an unknown instruction, with a suggestion", () => {
    expect(firstError("FROM scratch\nCOPPY a b\n")).toMatchObject({ id: "HTK-DOCKERFILE-0011", suggestion: "COPY", buildkit: "unknown instruction: COPPY (did you mean COPY?)" });
  });

  it("a bad FROM still opens its stage (no cascade of 'before FROM' errors)", () => {
    expect(instructions("FROM a AS 9x\nRUN x\n").diagnostics.map((d) => d.id)).toEqual(["HTK-DOCKERFILE-0206"]);
  });

  it("collects one diagnostic per bad instruction", () => {
    const r = instructions("FROM scratch\nCOPPY a b\nRUNN x\nRUN ok\n");
    expect(r.diagnostics.map((d) => [d.id, d.range.start.line])).toEqual([
      ["HTK-DOCKERFILE-0011", 2],
      ["HTK-DOCKERFILE-0011", 3],
    ]);
    expect(r.stages[0]?.commands.map((c) => c.kind)).toEqual(["run"]);
  });
});

describe("flags", () => {
  it("HTK-DOCKERFILE-0200: an unknown flag, located on the flag, with a suggestion", () => {
    expect(firstError("FROM scratch\nCOPY --chmodd=644 a b\n")).toMatchObject({
      id: "HTK-DOCKERFILE-0200",
      buildkit: "unknown flag: chmodd (did you mean chmod?)",
      suggestion: "chmod",
      line: 2,
      column: 6,
    });
    expect(firstError("FROM scratch\nWORKDIR --x /a\n")).toMatchObject({ id: "HTK-DOCKERFILE-0200", buildkit: "unknown flag: x" });
    expect(firstError("FROM --plattform=linux/amd64 scratch\n").suggestion).toBe("platform");
  });

  it("HTK-DOCKERFILE-0201: duplicate flags, missing values, bad booleans", () => {
    expect(firstError("FROM scratch\nCOPY --from=a --from=b x y\n")).toMatchObject({ id: "HTK-DOCKERFILE-0201", buildkit: "duplicate flag specified: from" });
    expect(firstError("FROM scratch\nCOPY --from x y\n").buildkit).toBe("missing a value on flag: from");
    expect(firstError("FROM scratch\nCOPY --link=maybe x y\n").buildkit).toBe("expecting boolean value for flag link, not: maybe");
    expect(firstError("FROM scratch\nCOPY --link= x y\n").buildkit).toBe("missing a value on flag: link");
  });

  it("ARG and STOPSIGNAL ignore flags, as BuildKit never parses theirs", () => {
    expect(only("ARG --foo X").kind).toBe("arg");
    expect(only("STOPSIGNAL --foo SIGTERM").kind).toBe("stopsignal");
  });

  it("reads every COPY and ADD flag", () => {
    expect(only("COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git a b /dst/")).toMatchObject({
      kind: "copy",
      from: "build",
      chown: "app:app",
      chmod: "0755",
      link: true,
      parents: true,
      exclude: ["*.md", ".git"],
      files: { sourcePaths: ["a", "b"], dest: "/dst/", sourceContents: [] },
    });
    expect(only("ADD --keep-git-dir=true --checksum=sha256:abc --link=false https://x/y.tgz /dst/")).toMatchObject({
      kind: "add",
      keepGitDir: true,
      checksum: "sha256:abc",
      link: false,
    });
    expect(firstError("FROM scratch\nCOPY --checksum=sha256:abc a b\n").id).toBe("HTK-DOCKERFILE-0200");
  });

  it("reads RUN --network and --security; HTK-DOCKERFILE-0202 for other values", () => {
    expect(only("RUN --network=none --security=insecure true")).toMatchObject({ kind: "run", network: "none", security: "insecure" });
    expect(firstError("FROM scratch\nRUN --network=bridge true\n")).toMatchObject({ id: "HTK-DOCKERFILE-0202", buildkit: 'unsupported network mode "bridge"', column: 5 });
    expect(firstError("FROM scratch\nRUN --security=privileged true\n").buildkit).toBe('unsupported security mode "privileged"');
  });

  it("reads HEALTHCHECK options (Go durations, --start-interval); HTK-DOCKERFILE-0202 for bad ones", () => {
    expect(only("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://x/")).toMatchObject({
      kind: "healthcheck",
      health: { test: ["CMD-SHELL", "curl -f http://x/"], interval: 30e9, timeout: 90e9, startPeriod: 5e8, startInterval: 2e9, retries: 3 },
    });
    expect(only('HEALTHCHECK CMD ["curl", "x"]')).toMatchObject({ health: { test: ["CMD", "curl", "x"] } });
    expect(only("HEALTHCHECK NONE")).toMatchObject({ health: { test: ["NONE"] } });
    expect(firstError("FROM scratch\nHEALTHCHECK --interval=10 CMD x\n")).toMatchObject({ id: "HTK-DOCKERFILE-0202", buildkit: 'time: invalid duration "10"' });
    expect(firstError("FROM scratch\nHEALTHCHECK --timeout=10us CMD x\n").buildkit).toBe('Interval "timeout" cannot be less than 1ms');
    expect(firstError("FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n").buildkit).toBe("--retries cannot be negative (-1)");
    expect(firstError("FROM scratch\nHEALTHCHECK --retries=x CMD x\n").id).toBe("HTK-DOCKERFILE-0202");
  });
});

describe("RUN --mount", () => {
  const ok = (s: string): unknown => {
    const r = parseRunMount(s, (value) => ({ ok: true, value }));
    if (!r.ok) throw new Error(r.problem.message);
    return r.mount;
  };
  const err = (s: string): string => {
    const r = parseRunMount(s, (value) => ({ ok: true, value }));
    if (r.ok) throw new Error("expected an error");
    return r.problem.message;
  };

  it("applies BuildKit's defaults per type", () => {
    expect(ok("target=/src")).toEqual({ kind: "bind", target: "/src", source: "", readonly: true });
    expect(ok("type=bind,from=build,source=/out,target=/o,rw")).toEqual({ kind: "bind", target: "/o", source: "/out", from: "build", readonly: false });
    expect(ok("type=cache,target=/root/.cache")).toEqual({ kind: "cache", target: "/root/.cache", id: "/root/.cache", sharing: "shared", source: "", readonly: false });
    expect(ok("type=cache,id=go,target=/go,sharing=locked,uid=1000,gid=1000,mode=0700,ro")).toMatchObject({ id: "go", sharing: "locked", uid: 1000, gid: 1000, mode: 0o700, readonly: true });
    expect(ok("type=tmpfs,target=/t,size=64m")).toEqual({ kind: "tmpfs", target: "/t", sizeBytes: 64 * 2 ** 20 });
    expect(ok("type=secret,id=aws")).toEqual({ kind: "secret", id: "aws", target: "/run/secrets/aws", required: false, mode: 0o400, uid: 0, gid: 0 });
    expect(ok("type=secret,target=/root/.npmrc,required")).toMatchObject({ id: ".npmrc", target: "/root/.npmrc", required: true });
    expect(ok("type=secret,id=tok,env=TOKEN")).toEqual({ kind: "secret", id: "tok", env: "TOKEN", required: false, mode: 0o400, uid: 0, gid: 0 });
    expect(ok("type=ssh")).toEqual({ kind: "ssh", id: "default", required: false, mode: 0o600, uid: 0, gid: 0 });
    expect(ok("TYPE=SSH,ID=gh,required=true")).toMatchObject({ kind: "ssh", id: "gh", required: true });
  });

  it("rejects what BuildKit rejects, with its text", () => {
    expect(err("type=volume,target=/x")).toBe('unsupported mount type "volume"');
    expect(err("type=cahce,target=/x")).toBe('unsupported mount type "cahce" (did you mean cache?)');
    expect(err("type=cache,target=/x,sharing=everyone")).toBe('unsupported sharing value "everyone"');
    expect(err("target=/x,mode=0755")).toBe('mode not allowed for "bind" type mounts');
    expect(err("type=bind,target=/x,required")).toBe("unexpected key 'required' for mount type 'bind'");
    expect(err("target=/x,foo=bar")).toBe("unexpected key 'foo' in 'foo=bar'");
    expect(err("target=/x,tagret=/y")).toBe("unexpected key 'tagret' in 'tagret=/y' (did you mean target?)");
    expect(err("target=/x,nonsense")).toBe("invalid field 'nonsense' must be a key=value pair");
    expect(err("target=/x,ro=maybe")).toBe("invalid value for ro: maybe");
    expect(err("type=cache,target=/x,uid=abc")).toBe("invalid value abc for uid");
    expect(err("type=secret,from=x,id=a")).toBe("secret mount should not have a from");
    expect(err("type=secret,source=a,id=b")).toBe("both source and id can't be set");
    expect(err("type=secret")).toBe("invalid secret mount. one of source, target required");
    expect(err("type=bind,target=/x,sharing=shared")).toBe("invalid cache sharing set for bind mount");
    expect(err("from=$STAGE,target=/x")).toBe("'from' doesn't support variable expansion, define alias stage instead");
  });

  it("HTK-DOCKERFILE-0203: a bad --mount is located on its flag", () => {
    expect(firstError("FROM scratch\nRUN --mount=type=cache true\n")).toMatchObject({ id: "HTK-DOCKERFILE-0203", buildkit: "mount target is required", column: 5 });
  });

  it("reads CSV as Go's encoding/csv and sizes as go-units", () => {
    expect(readCsvRecord('a=1,"b=x,y",c')).toEqual({ ok: true, fields: ["a=1", "b=x,y", "c"] });
    expect(readCsvRecord('a="x')).toMatchObject({ ok: false });
    expect(ramInBytes("1.5g")).toBe(1.5 * 2 ** 30);
    expect(ramInBytes("512")).toBe(512);
    expect(ramInBytes("lots")).toBeUndefined();
  });
});

describe("ONBUILD and heredocs", () => {
  it("keeps the trigger text (with heredoc bodies) and HTK-DOCKERFILE-0209 for forbidden triggers", () => {
    expect(only("ONBUILD RUN make")).toMatchObject({ kind: "onbuild", expression: "RUN make" });
    expect(only("onbuild COPY <<EOF /x\nhello\nEOF")).toMatchObject({ expression: "COPY <<EOF /x\nhello\nEOF" });
    expect(firstError("FROM scratch\nONBUILD ONBUILD RUN x\n")).toMatchObject({ id: "HTK-DOCKERFILE-0209", buildkit: "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed" });
    expect(firstError("FROM scratch\nONBUILD FROM alpine\n").buildkit).toBe("FROM isn't allowed as an ONBUILD trigger");
    expect(firstError("FROM scratch\nONBUILD MAINTAINER me\n").buildkit).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
  });

  it("splits COPY sources into paths and inline files", () => {
    expect(only("COPY a <<EOF <<-\"B\" /dst/\nhello $X\nEOF\n\tbody\nB")).toMatchObject({
      files: {
        sourcePaths: ["a"],
        sourceContents: [
          { path: "EOF", data: "hello $X\n", expand: true },
          { path: "B", data: "body\n", expand: false },
        ],
        dest: "/dst/",
      },
    });
  });

  it("keeps RUN heredocs as files", () => {
    expect(only("RUN <<EOF\necho hi\nEOF")).toMatchObject({ kind: "run", cmd: { args: ["<<EOF"], prependShell: true, files: [{ name: "EOF", data: "echo hi\n", chomp: false }] } });
    expect(only('RUN ["echo", "hi"]')).toMatchObject({ cmd: { args: ["echo", "hi"], prependShell: false } });
  });
});

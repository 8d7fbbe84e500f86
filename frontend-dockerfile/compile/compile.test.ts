import { describe, expect, it } from "vitest";
import type { CopyAction, Definition, ExecOp, FileOp, Op, SourceOp } from "../../llb/index.ts";
import { compileDockerfile, PROXY_ENV_KEY } from "./compile.ts";
import { BUILD_PLATFORM, compile, compileError, compileOk, fakeDigest, fakeResolver } from "./test-support.ts";

const ALPINE = `docker.io/library/alpine:3.20@${fakeDigest("docker.io/library/alpine:3.20")}`;
const BUSYBOX = `docker.io/library/busybox:latest@${fakeDigest("docker.io/library/busybox:latest")}`;

const execs = (def: Definition): ExecOp[] => def.vertices.map((v) => v.op).filter((o): o is ExecOp => o.kind === "exec");
const files = (def: Definition): FileOp[] => def.vertices.map((v) => v.op).filter((o): o is FileOp => o.kind === "file");
const copies = (def: Definition): CopyAction[] => files(def).flatMap((f) => f.actions.filter((a): a is CopyAction => a.kind === "copy"));
const sources = (def: Definition): SourceOp["source"][] => def.vertices.map((v) => v.op).filter((o): o is SourceOp => o.kind === "source").map((o) => o.source);
const names = (def: Definition): string[] => def.vertices.map((v) => v.metadata.description["llb.customname"] ?? "");
const lastExec = (def: Definition): ExecOp => {
  const e = execs(def).at(-1);
  if (e === undefined) throw new Error("no exec");
  return e;
};
const rootOp = (def: Definition): Op | undefined => (def.root.kind === "output" ? def.vertices.find((v) => v.digest === (def.root.kind === "output" ? def.root.digest : ""))?.op : undefined);

describe("ARG", () => {
  it("global ARGs are usable in FROM, with defaults and --build-arg overrides", async () => {
    const df = "ARG IMG=busybox\nARG TAG\nFROM ${IMG}${TAG:+:$TAG}\nRUN true\n";
    expect(sources((await compileOk(df)).definition)).toContainEqual({ kind: "image", ref: BUSYBOX, resolveMode: "default" });
    const r = await compileOk(df, { buildArgs: { IMG: "alpine", TAG: "3.20" } });
    expect(sources(r.definition)).toContainEqual({ kind: "image", ref: ALPINE, resolveMode: "default" });
  });

  it("a global ARG is not in a stage until re-declared there; then it takes the global value", async () => {
    const r = await compileOk("ARG V=1\nFROM busybox\nRUN echo a\nARG V\nRUN echo b\n");
    const [a, b] = execs(r.definition);
    expect(a?.env["V"]).toBeUndefined();
    expect(b?.env["V"]).toBe("1");
  });

  it("stage defaults, build-arg overrides, and expansion of defaults", async () => {
    const df = "FROM busybox\nENV BASE=/opt\nARG DIR=$BASE/app\nARG MODE=dev\nRUN x\n";
    expect(lastExec((await compileOk(df)).definition).env).toMatchObject({ DIR: "/opt/app", MODE: "dev" });
    expect(lastExec((await compileOk(df, { buildArgs: { MODE: "prod" } })).definition).env).toMatchObject({ MODE: "prod" });
  });

  it("ENV after ARG wins in the image and the process; ARG values never enter the image config", async () => {
    const r = await compileOk("FROM busybox\nARG V=arg\nENV V=env\nRUN echo $V\n");
    expect(lastExec(r.definition).env["V"]).toBe("env");
    expect(r.image.config.Env).toContain("V=env");
    const r2 = await compileOk("FROM busybox\nARG ONLYARG=1\nRUN x\n");
    expect(r2.image.config.Env?.some((e) => e.startsWith("ONLYARG="))).toBe(false);
  });

  it("the automatic platform ARGs are global (FROM) and need a declaration inside a stage", async () => {
    const r = await compileOk("FROM --platform=$BUILDPLATFORM busybox AS b\nARG TARGETPLATFORM\nARG BUILDARCH\nRUN echo $TARGETPLATFORM $BUILDARCH\n", {
      platform: "linux/arm64",
    });
    const e = lastExec(r.definition);
    expect(e.env).toMatchObject({ TARGETPLATFORM: "linux/arm64", BUILDARCH: "amd64" });
    expect(e.platform).toEqual({ os: "linux", architecture: "amd64" });
    expect(r.image.architecture).toBe("arm64");
    const v = await compileOk("FROM busybox\nARG TARGETOS TARGETARCH TARGETVARIANT\nRUN x\n", { platform: "linux/arm/v7" });
    expect(lastExec(v.definition).env).toMatchObject({ TARGETOS: "linux", TARGETARCH: "arm", TARGETVARIANT: "v7" });
    expect(v.image.variant).toBe("v7");
  });

  it("proxy build args reach RUN through metadata only: not in the op, its digest, or history", async () => {
    const df = "FROM busybox\nRUN wget x\n";
    const plain = await compileOk(df);
    const proxied = await compileOk(df, { buildArgs: { HTTP_PROXY: "http://proxy:3128", no_proxy: "localhost" } });
    expect(proxied.definition.root).toEqual(plain.definition.root);
    const v = proxied.definition.vertices.find((x) => x.op.kind === "exec");
    expect(JSON.parse(v?.metadata.description[PROXY_ENV_KEY] ?? "{}")).toEqual({ HTTP_PROXY: "http://proxy:3128", NO_PROXY: "localhost" });
    expect(lastExec(proxied.definition).env["HTTP_PROXY"]).toBeUndefined();
    expect(proxied.image.history?.at(-1)?.created_by).toBe("RUN /bin/sh -c wget x # buildkit");
    expect(proxied.diagnostics).toEqual([]);
  });

  it("HTK-DOCKERFILE-0212: build args no stage consumed are a warning", async () => {
    const r = await compileOk("ARG USED\nFROM busybox\nARG ALSO\nRUN x\n", { buildArgs: { USED: "1", ALSO: "2", NOPE: "3", ZED: "4", HTTPS_PROXY: "p" } });
    expect(r.diagnostics.map((d) => [d.id, d.severity, d.buildkitMessage])).toEqual([["HTK-DOCKERFILE-0212", "warning", "[Warning] One or more build-args [NOPE ZED] were not consumed"]]);
  });

  it("records build args in RUN history as BuildKit does (|N K=V)", async () => {
    const r = await compileOk("FROM busybox\nARG A=1\nARG B\nRUN echo $A\n");
    expect(r.image.history?.at(-1)?.created_by).toBe("RUN |2 A=1 B= /bin/sh -c echo $A # buildkit");
    expect(r.image.history?.slice(-3, -1).map((h) => h.created_by)).toEqual(["ARG A=1", "ARG B"]);
  });
});

describe("stages and targets", () => {
  const df = [
    "FROM busybox AS base",
    "ENV FROM_BASE=1",
    "RUN echo base",
    "FROM base AS build",
    "RUN echo build",
    "FROM alpine:3.20 AS unused",
    "RUN echo unused",
    "FROM scratch",
    "COPY --from=build /out /out",
    "COPY --from=0 /etc/passwd /passwd",
    "",
  ].join("\n");

  it("builds only what the target needs", async () => {
    const r = await compileOk(df);
    expect(execs(r.definition).map((e) => e.args.at(-1))).toEqual(["echo base", "echo build"]);
    expect(r.stages.map((s) => [s.name, s.reachable])).toEqual([
      ["base", true],
      ["build", true],
      ["unused", false],
      ["stage-3", true],
    ]);
    const calls = fakeResolver();
    await compileDockerfile(df, { resolveImageConfig: calls.resolve, buildPlatform: BUILD_PLATFORM });
    expect(calls.calls).toEqual(["docker.io/library/busybox:latest linux/amd64"]);
  });

  it("--target picks a stage by name, case-insensitively", async () => {
    const r = await compileOk(df, { target: "BUILD" });
    expect(r.target).toBe("build");
    expect(lastExec(r.definition).args.at(-1)).toBe("echo build");
    expect(r.image.config.Env).toContain("FROM_BASE=1");
  });

  it("HTK-DOCKERFILE-0207: an unknown target, with a suggestion", async () => {
    const e = await compileError(df, { target: "buidl" });
    expect(e).toMatchObject({ id: "HTK-DOCKERFILE-0207", suggestion: "build", buildkitMessage: 'target stage "buidl" could not be found (did you mean build?)' });
  });

  it("ENV and WORKDIR are inherited across FROM <stage>", async () => {
    const r = await compileOk("FROM busybox AS a\nENV X=1\nWORKDIR /w\nFROM a\nRUN pwd\n");
    expect(lastExec(r.definition)).toMatchObject({ cwd: "/w", env: { X: "1" } });
  });

  it("COPY --from an image that is not a stage pulls the image", async () => {
    const r = await compileOk("FROM scratch\nCOPY --from=alpine:3.20 /etc/os-release /\n");
    expect(sources(r.definition)).toContainEqual({ kind: "image", ref: ALPINE, resolveMode: "default" });
    expect(names(r.definition)).toContain(`FROM ${ALPINE}`);
  });

  it("HTK-DOCKERFILE-0208: bad stage references", async () => {
    expect((await compileError("FROM scratch\nCOPY --from=7 /a /b\n")).buildkitMessage).toBe("invalid stage index 7");
    expect((await compileError("FROM scratch AS a\nCOPY --from=b /a /b\nFROM busybox AS b\n", { target: "a" })).buildkitMessage).toBe('cannot copy from stage "b", it needs to be defined before current stage "a"');
    expect((await compileError("ARG S=a\nFROM scratch\nCOPY --from=$S /a /b\n")).id).toBe("HTK-DOCKERFILE-0208");
    const cycle = await compileError("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n");
    expect(cycle.buildkitMessage).toMatch(/^circular dependency detected on stage: /);
  });

  it("RUN --mount=from= a stage makes the stage a dependency", async () => {
    const r = await compileOk("FROM busybox AS deps\nRUN echo deps\nFROM busybox\nRUN --mount=from=deps,source=/x,target=/x cat /x\n");
    const e = lastExec(r.definition);
    expect(e.mounts).toMatchObject([{ kind: "bind", target: "/x", selector: "/x", access: { kind: "readonly" } }]);
    expect(execs(r.definition).map((x) => x.args.at(-1))).toEqual(["echo deps", "cat /x"]);
    // The dependency is known before variables are: a type with a variable is read as bind.
    const v = await compileOk("FROM busybox AS deps\nRUN echo deps\nFROM busybox\nARG T=bind\nRUN --mount=type=$T,from=deps,target=/x cat /x\n");
    expect(lastExec(v.definition).mounts).toMatchObject([{ kind: "bind", target: "/x" }]);
  });

  it("HTK-DOCKERFILE-0219: no FROM at all", async () => {
    expect((await compileError("ARG A=1\n")).id).toBe("HTK-DOCKERFILE-0219");
  });

  it("HTK-DOCKERFILE-0210: a base that expands to nothing or is not a reference", async () => {
    expect(await compileError("ARG B\nFROM $B\n")).toMatchObject({ id: "HTK-DOCKERFILE-0210", buildkitMessage: "base name ($B) should not be blank" });
    expect((await compileError("FROM Busybox\nRUN x\n")).message).toMatch(/must be lowercase/);
  });

  it("HTK-DOCKERFILE-0211: the resolver cannot resolve the base", async () => {
    const e = await compileError("FROM busybx\nRUN x\n");
    expect(e).toMatchObject({ id: "HTK-DOCKERFILE-0211", suggestion: "busybox", range: { start: { line: 1 } } });
  });

  it("HTK-DOCKERFILE-0220: an invalid platform option; HTK-DOCKERFILE-0202 for FROM --platform", async () => {
    expect((await compileError("FROM busybox\n", { platform: "linux/nonsense" })).id).toBe("HTK-DOCKERFILE-0220");
    expect((await compileError("FROM --platform=linux/nonsense busybox\n")).id).toBe("HTK-DOCKERFILE-0202");
    expect((await compileError("ARG P\nFROM --platform=$P busybox\n")).buildkitMessage).toBe("empty platform value from expression $P");
  });

  it("unnamed single stages get no stage prefix in progress names; multi-stage ones do", async () => {
    const one = await compileOk("FROM busybox\nRUN a\nRUN b\n");
    expect(names(one.definition)).toEqual([`[1/3] FROM ${BUSYBOX}`, "[2/3] RUN a", "[3/3] RUN b"]);
    const ten = await compileOk(`FROM busybox\n${"RUN x\n".repeat(10)}`);
    expect(names(ten.definition).slice(0, 2)).toEqual([`[ 1/11] FROM ${BUSYBOX}`, "[ 2/11] RUN x"]);
  });
});

describe("build options", () => {
  it("multiPlatform prefixes progress names with the platform (and the target of a cross step)", async () => {
    const r = await compileOk("FROM --platform=$BUILDPLATFORM busybox AS b\nARG TARGETARCH\nRUN build\nFROM busybox\nCOPY --from=b /o /o\n", { platform: "linux/arm64", multiPlatform: true });
    expect(names(r.definition)).toEqual(
      expect.arrayContaining([`[linux/amd64 b 1/2] FROM ${BUSYBOX}`, "[linux/amd64->arm64 b 2/2] RUN build", "[linux/arm64 stage-1 2/2] COPY --from=b /o /o"]),
    );
  });

  it("network, extra hosts and hostname apply to every RUN; RUN --network wins", async () => {
    const r = await compileOk("FROM busybox\nRUN a\nRUN --network=default b\n", { network: "none", extraHosts: [{ host: "db", ip: "10.0.0.2" }], hostname: "builder" });
    expect(execs(r.definition).map((e) => [e.network, e.hostname, e.extraHosts])).toEqual([
      ["none", "builder", [{ host: "db", ip: "10.0.0.2" }]],
      ["default", "builder", [{ host: "db", ip: "10.0.0.2" }]],
    ]);
  });

  it("--shm-size, --ulimit and --cgroup-parent apply to every RUN and are part of its digest", async () => {
    const limits = { shmSize: 128 * 2 ** 20, ulimits: [{ name: "nofile", soft: 1024, hard: 2048 }], cgroupParent: "ci" };
    const r = await compileOk("FROM busybox\nRUN a\nRUN b\n", limits);
    expect(execs(r.definition).map((e) => [e.shmSize, e.ulimits, e.cgroupParent])).toEqual([
      [limits.shmSize, limits.ulimits, "ci"],
      [limits.shmSize, limits.ulimits, "ci"],
    ]);
    const plain = await compileOk("FROM busybox\nRUN a\nRUN b\n");
    expect(execs(plain.definition).map((e) => [e.shmSize, e.ulimits, e.cgroupParent])).toEqual([
      [0, [], ""],
      [0, [], ""],
    ]);
    const other = await compileOk("FROM busybox\nRUN a\nRUN b\n", { ...limits, ulimits: [{ name: "nofile", soft: 1024, hard: 4096 }] });
    expect(other.definition.root).not.toEqual(r.definition.root);
  });

  it("SOURCE_DATE_EPOCH dates the history entries; HTK-DOCKERFILE-0220 when it is not a number", async () => {
    const r = await compileOk("FROM busybox\nRUN x\n", { buildArgs: { SOURCE_DATE_EPOCH: "1700000000" } });
    expect(r.epoch).toBe("2023-11-14T22:13:20Z");
    expect(r.image.history?.at(-1)).toMatchObject({ created: "2023-11-14T22:13:20Z", created_by: "RUN /bin/sh -c x # buildkit" });
    expect(r.diagnostics).toEqual([]);
    expect((await compileError("FROM busybox\n", { buildArgs: { SOURCE_DATE_EPOCH: "yesterday" } })).buildkitMessage).toBe("invalid SOURCE_DATE_EPOCH: yesterday");
  });

  it("labels are added to the target image; an explicit platform sets os/architecture/variant", async () => {
    const r = await compileOk("FROM busybox\nLABEL a=1 b=2\n", { labels: { b: "x", c: "3" }, platform: { os: "linux", architecture: "arm", variant: "v6" } });
    expect(r.image.config.Labels).toEqual({ a: "1", b: "x", c: "3" });
    expect([r.image.os, r.image.architecture, r.image.variant]).toEqual(["linux", "arm", "v6"]);
  });
});

describe("named contexts (--build-context)", () => {
  it("replace a stage, a FROM image and a COPY --from source", async () => {
    const r = await compileOk(
      "FROM busybox AS deps\nRUN echo never\nFROM alpine:3.20\nCOPY --from=deps /x /x\nCOPY --from=docs /y /y\nRUN ls\n",
      {
        namedContexts: {
          deps: { kind: "local", name: "deps-dir" },
          "docker.io/library/alpine:3.20": { kind: "image", ref: "busybox" },
          docs: { kind: "git", remote: "https://github.com/example/docs.git", ref: "main" },
        },
      },
    );
    expect(execs(r.definition).map((e) => e.args.at(-1))).toEqual(["ls"]);
    expect(sources(r.definition)).toEqual(
      expect.arrayContaining([
        { kind: "local", name: "deps-dir", include: [], exclude: [], sharedKey: "context:deps" },
        { kind: "image", ref: BUSYBOX, resolveMode: "default" },
        { kind: "git", remote: "https://github.com/example/docs.git", ref: "main", keepGitDir: false },
      ]),
    );
    expect(names(r.definition)).toContain("[context deps] load from client");
    expect(lastExec(r.definition).env["PATH"]).toBeDefined();
  });

  it("HTK-DOCKERFILE-0220: a named image context that is not a reference", async () => {
    expect((await compileError("FROM scratch\nCOPY --from=x /a /b\n", { namedContexts: { x: { kind: "image", ref: "Not Valid" } } })).id).toBe("HTK-DOCKERFILE-0220");
  });
});

describe("base image config", () => {
  it("applies Env, WorkingDir and User of the base; keeps its history and labels", async () => {
    const r = await compileOk("FROM golang:1.22\nRUN go version\n");
    const e = lastExec(r.definition);
    expect(e).toMatchObject({ cwd: "/go", user: "gopher", env: { GOPATH: "/go" } });
    expect(r.image.config).toMatchObject({ WorkingDir: "/go", User: "gopher", Labels: { maintainer: "go" }, ExposedPorts: { "6060/tcp": {} }, Cmd: ["bash"] });
  });

  it("ONBUILD triggers of the base run at FROM and are not inherited", async () => {
    const r = await compileOk("FROM example/onbuild\nRUN after\n");
    expect(names(r.definition).filter((n) => n.includes("ONBUILD"))).toEqual(["[2/4] ONBUILD COPY . /src", "[3/4] ONBUILD RUN make -C /src"]);
    expect(r.image.config.OnBuild).toBeUndefined();
    expect(copies(r.definition)[0]).toMatchObject({ src: "/", dest: "/src" });
  });

  it("ONBUILD in a stage runs in the stages built FROM it, and is recorded in the stage's own config", async () => {
    const a = await compileOk("FROM busybox AS base\nONBUILD RUN echo triggered\n", { target: "base" });
    expect(a.image.config.OnBuild).toEqual(["RUN echo triggered"]);
    expect(execs(a.definition)).toEqual([]);
    const b = await compileOk("FROM busybox AS base\nONBUILD RUN echo triggered\nFROM base\nRUN after\n");
    expect(execs(b.definition).map((e) => e.args.at(-1))).toEqual(["echo triggered", "after"]);
  });

  it("a base with no layers is scratch", async () => {
    const r = await compileOk("FROM example/empty\nRUN x\n");
    expect(lastExec(r.definition).rootfs.source).toEqual({ kind: "scratch" });
    expect(lastExec(r.definition).env["FOO"]).toBe("bar");
  });

  it("without a resolver, a base image is compiled with an empty config and an unpinned ref", async () => {
    const r = await compileDockerfile("FROM busybox\nRUN x\n", { buildPlatform: BUILD_PLATFORM });
    expect(r.result?.definition.vertices[0]?.op).toMatchObject({ kind: "source", source: { ref: "docker.io/library/busybox:latest" } });
    expect(r.result?.image.config.Env).toEqual([`PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`]);
  });

  it("FROM scratch needs no resolver and gives Docker's empty image", async () => {
    const r = await compileDockerfile("FROM scratch\nLABEL a=b\n", { buildPlatform: BUILD_PLATFORM });
    expect(r.result?.definition.root).toEqual({ kind: "scratch" });
    expect(r.result?.image).toEqual({
      architecture: "amd64",
      os: "linux",
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], WorkingDir: "/", Labels: { a: "b" } },
      rootfs: { type: "layers", diff_ids: [] },
      history: [{ created_by: "LABEL a=b", comment: "buildkit.dockerfile.v0", empty_layer: true }],
    });
  });
});

describe("instructions' effects and history", () => {
  it("records every instruction as BuildKit does", async () => {
    const r = await compileOk(
      [
        "FROM busybox",
        "MAINTAINER Jane <jane@example.com>",
        "ENV A=1 B=two",
        "LABEL org.x=y",
        "WORKDIR app",
        "WORKDIR sub",
        "USER 1000:1000",
        "EXPOSE 8080 80/udp 9000-9001",
        "VOLUME /data /cache",
        "STOPSIGNAL SIGQUIT",
        'SHELL ["/bin/bash", "-c"]',
        "HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/",
        "RUN echo hi",
        'CMD ["serve"]',
        "ONBUILD RUN echo child",
        "",
      ].join("\n"),
    );
    expect(r.image.history?.slice(2).map((h) => [h.created_by, h.empty_layer === true])).toEqual([
      ["MAINTAINER Jane <jane@example.com>", true],
      ["ENV A=1 B=two", true],
      ["LABEL org.x=y", true],
      ["WORKDIR /app", false],
      ["WORKDIR /app/sub", false],
      ["USER 1000:1000", true],
      ["EXPOSE map[80/udp:{} 8080/tcp:{} 9000/tcp:{} 9001/tcp:{}]", true],
      ["VOLUME [/data /cache]", true],
      ["STOPSIGNAL SIGQUIT", true],
      ["SHELL [/bin/bash -c]", true],
      ["HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/\"] \"30s\" \"0s\" \"0s\" \"0s\" '\\x03'}", true],
      ["RUN /bin/bash -c echo hi # buildkit", false],
      ['CMD ["serve"]', true],
    ]);
    expect(r.image.author).toBe("Jane <jane@example.com>");
    expect(r.image.config).toMatchObject({
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "B=two"],
      Labels: { "org.x": "y" },
      WorkingDir: "/app/sub",
      User: "1000:1000",
      ExposedPorts: { "80/udp": {}, "8080/tcp": {}, "9000/tcp": {}, "9001/tcp": {} },
      Volumes: { "/data": {}, "/cache": {} },
      StopSignal: "SIGQUIT",
      Shell: ["/bin/bash", "-c"],
      Healthcheck: { Test: ["CMD-SHELL", "curl -f http://localhost/"], Interval: 30e9, Retries: 3 },
      Cmd: ["serve"],
      ArgsEscaped: true,
      OnBuild: ["RUN echo child"],
    });
    const mk = files(r.definition).flatMap((f) => f.actions).filter((a) => a.kind === "mkdir");
    expect(mk).toMatchObject([{ path: "/app", mode: 0o755, makeParents: true }, { path: "/app/sub" }]);
    expect(lastExec(r.definition)).toMatchObject({ args: ["/bin/bash", "-c", "echo hi"], user: "1000:1000", cwd: "/app/sub" });
  });

  it("WORKDIR's directory belongs to the current USER (resolved by name in the image)", async () => {
    const r = await compileOk("FROM busybox\nUSER app\nWORKDIR /home/app\n");
    expect(files(r.definition)[0]?.actions[0]).toMatchObject({ kind: "mkdir", owner: { user: { kind: "name", name: "app" } } });
  });

  it("a new ENTRYPOINT drops the inherited CMD, but not one set in the same stage", async () => {
    expect((await compileOk("FROM busybox\nENTRYPOINT [\"/run\"]\n")).image.config.Cmd).toBeUndefined();
    expect((await compileOk("FROM busybox\nCMD x\nENTRYPOINT /run\n")).image.config).toMatchObject({ Cmd: ["/bin/sh", "-c", "x"], Entrypoint: ["/bin/sh", "-c", "/run"] });
    expect((await compileOk("FROM busybox\nENTRYPOINT /run\nCMD [\"x\"]\n")).image.config).toMatchObject({ Cmd: ["x"], Entrypoint: ["/bin/sh", "-c", "/run"] });
  });

  it("HEALTHCHECK NONE disables an inherited check", async () => {
    const r = await compileOk("FROM busybox\nHEALTHCHECK NONE\n");
    expect(r.image.config.Healthcheck).toEqual({ Test: ["NONE"] });
  });

  it("HTK-DOCKERFILE-0217: STOPSIGNAL must be a signal", async () => {
    expect(await compileError("FROM busybox\nSTOPSIGNAL SIGFOO\n")).toMatchObject({ id: "HTK-DOCKERFILE-0217", buildkitMessage: "Invalid signal: SIGFOO" });
    expect((await compileOk("FROM busybox\nSTOPSIGNAL 9\n")).image.config.StopSignal).toBe("9");
  });

  it("HTK-DOCKERFILE-0218: EXPOSE must be a port", async () => {
    expect(await compileError("FROM busybox\nEXPOSE 80/xyz\n")).toMatchObject({ id: "HTK-DOCKERFILE-0218", buildkitMessage: "invalid proto: xyz" });
    expect((await compileError("FROM busybox\nEXPOSE http\n")).buildkitMessage).toBe("invalid containerPort: http");
  });

  it("expands variables in ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME; variable errors are located", async () => {
    const r = await compileOk("FROM busybox\nARG P=8080\nENV HOME_DIR=/srv U=web\nWORKDIR $HOME_DIR\nUSER ${U}\nEXPOSE $P\nVOLUME ${HOME_DIR}/data\nLABEL port=$P\n");
    expect(r.image.config).toMatchObject({ WorkingDir: "/srv", User: "web", ExposedPorts: { "8080/tcp": {} }, Volumes: { "/srv/data": {} }, Labels: { port: "8080" } });
    const e = await compileError("FROM busybox\nENV A=${B:?required}\n");
    expect(e).toMatchObject({ id: "HTK-DOCKERFILE-0102", range: { start: { line: 2 } } });
  });
});

describe("RUN", () => {
  it("every mount type, relative targets from WORKDIR, and cache ownership", async () => {
    const r = await compileOk(
      [
        "FROM busybox",
        "WORKDIR /w",
        "RUN --mount=type=bind,source=src,target=src,rw \\",
        "    --mount=type=cache,id=npm,target=/root/.npm,sharing=locked,uid=1000,mode=0700 \\",
        "    --mount=type=tmpfs,target=/tmp,size=1g \\",
        "    --mount=type=secret,id=aws,required \\",
        "    --mount=type=secret,id=tok,env=TOKEN \\",
        "    --mount=type=ssh \\",
        "    --mount=type=ssh,id=gh \\",
        "    make",
        "",
      ].join("\n"),
    );
    const e = lastExec(r.definition);
    expect(e.mounts.map((m) => [m.kind, m.target])).toEqual([
      ["cache", "/root/.npm"],
      ["ssh", "/run/buildkit/ssh_agent.0"],
      ["ssh", "/run/buildkit/ssh_agent.1"],
      ["secret", "/run/secrets/aws"],
      ["tmpfs", "/tmp"],
      ["bind", "/w/src"],
    ]);
    expect(e.mounts.find((m) => m.kind === "bind")).toMatchObject({ selector: "/src", access: { kind: "writable" } });
    expect(e.mounts.find((m) => m.kind === "cache")).toMatchObject({ id: "npm", sharing: "locked", selector: "/cache" });
    expect(e.mounts.find((m) => m.kind === "tmpfs")).toMatchObject({ sizeBytes: 2 ** 30 });
    expect(e.mounts.find((m) => m.kind === "secret")).toMatchObject({ id: "aws", required: true, mode: 0o400 });
    expect(e.secretEnv).toEqual([{ name: "TOKEN", id: "tok", required: false }]);
    const perm = files(r.definition).find((f) => f.actions[0]?.kind === "mkdir" && f.actions[0].path === "/cache");
    expect(perm?.actions[0]).toMatchObject({ mode: 0o700, owner: { user: { kind: "id", id: 1000 }, group: { kind: "id", id: 0 } } });
    // The build context is read only for the bind's source.
    expect(sources(r.definition)).toContainEqual(expect.objectContaining({ kind: "local", include: ["src"] }));
    expect(r.outline.secrets.map((s) => [s.name, s.required])).toEqual([
      ["aws", true],
      ["tok", false],
    ]);
    expect(r.outline.ssh.map((s) => s.name)).toEqual(["default", "gh"]);
  });

  it("expands variables in --mount values; HTK-DOCKERFILE-0203 for a target of /", async () => {
    const r = await compileOk("FROM busybox\nARG CACHE=/c\nRUN --mount=type=cache,target=$CACHE x\n");
    expect(lastExec(r.definition).mounts[0]).toMatchObject({ target: "/c", id: "/c" });
    expect(await compileError("FROM busybox\nRUN --mount=type=cache,target=/ x\n")).toMatchObject({ id: "HTK-DOCKERFILE-0203", buildkitMessage: 'invalid mount target "/"' });
  });

  it("--network and --security; HTK-DOCKERFILE-0216 without the entitlement", async () => {
    expect(lastExec((await compileOk("FROM busybox\nRUN --network=none x\n")).definition).network).toBe("none");
    expect(await compileError("FROM busybox\nRUN --security=insecure x\n")).toMatchObject({ id: "HTK-DOCKERFILE-0216", range: { start: { line: 2, column: 5 } } });
    const ok = await compileOk("FROM busybox\nRUN --security=insecure x\n", { entitlements: ["security.insecure"] });
    expect(lastExec(ok.definition).security).toBe("insecure");
  });

  it("heredocs: a script is run as a file, a plain body by the shell, a complex one reassembled", async () => {
    const script = await compileOk("FROM busybox\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n");
    const e = lastExec(script.definition);
    expect(e.args).toEqual(["/bin/sh", "-c", "/dev/pipes/EOF"]);
    expect(e.mounts[0]).toMatchObject({ kind: "bind", target: "/dev/pipes", access: { kind: "readonly" } });
    expect(names(script.definition)).toContain("[2/2] RUN <<EOF (#!/usr/bin/env python3...)");
    const plain = await compileOk("FROM busybox\nRUN <<-EOF\n\techo a\n\techo b\nEOF\n");
    expect(lastExec(plain.definition).args).toEqual(["/bin/sh", "-c", "echo a\necho b\n"]);
    const complex = await compileOk("FROM busybox\nRUN python3 <<EOF\nprint(1)\nEOF\n");
    expect(lastExec(complex.definition).args).toEqual(["/bin/sh", "-c", "python3 <<EOF\nprint(1)\nEOF"]);
  });

  it("exec form runs without a shell; the op carries the Dockerfile location and command", async () => {
    const r = await compileOk('FROM busybox\nRUN ["echo", "$HOME"]\n');
    expect(lastExec(r.definition).args).toEqual(["echo", "$HOME"]);
    const v = r.definition.vertices.find((x) => x.op.kind === "exec");
    expect(v?.metadata.locations).toEqual([{ source: 0, ranges: [{ start: { line: 2, character: 0 }, end: { line: 2, character: 0 } }] }]);
    expect(v?.metadata.description["com.docker.dockerfile.v1.command"]).toBe('RUN ["echo", "$HOME"]');
    expect(r.definition.sources[0]?.filename).toBe("Dockerfile");
  });

  it("--no-cache marks every step; --no-cache-filter the steps of the named stages", async () => {
    const r = await compileOk("FROM busybox\nRUN x\n", { noCache: true });
    expect(r.definition.vertices.find((v) => v.op.kind === "exec")?.metadata.ignoreCache).toBe(true);
    const f = await compileOk("FROM busybox AS a\nRUN a\nFROM a AS b\nRUN b\n", { noCache: ["B"] });
    expect(f.definition.vertices.filter((v) => v.op.kind === "exec").map((v) => [v.metadata.description["llb.customname"], v.metadata.ignoreCache])).toEqual([
      ["[a 2/2] RUN a", false],
      ["[b 1/1] RUN b", true],
    ]);
  });
});

describe("COPY and ADD", () => {
  it("copies from the context with BuildKit's switches; dest relative to WORKDIR", async () => {
    const r = await compileOk("FROM busybox\nWORKDIR /app\nCOPY *.json ./\nCOPY src .\n", { dockerignore: "node_modules\n!node_modules/keep\n# comment\n" });
    expect(copies(r.definition)).toMatchObject([
      { src: "/*.json", dest: "/app/", followSymlinks: true, copyDirContents: true, allowWildcard: true, allowEmptyWildcard: true, createDestPath: true, attemptUnpackArchive: false },
      // "." is the working directory itself, without a trailing slash (BuildKit v0.13).
      { src: "/src", dest: "/app" },
    ]);
    expect(sources(r.definition)).toContainEqual({ kind: "local", name: "context", include: ["*.json", "src"], exclude: ["node_modules", "!node_modules/keep"], sharedKey: "context" });
    expect(r.image.history?.slice(-2).map((h) => h.created_by)).toEqual(["COPY *.json ./ # buildkit", "COPY src . # buildkit"]);
  });

  it("--chown names are resolved in the image; --chmod is octal (HTK-DOCKERFILE-0202 otherwise)", async () => {
    const r = await compileOk("FROM busybox\nARG OWNER=app\nCOPY --chown=${OWNER}:1000 --chmod=640 a /a\n");
    expect(copies(r.definition)[0]).toMatchObject({ owner: { user: { kind: "name", name: "app" }, group: { kind: "id", id: 1000 } }, mode: 0o640 });
    expect(r.image.history?.at(-1)?.created_by).toBe("COPY --chown=app:1000 --chmod=640 a /a # buildkit");
    expect(await compileError("FROM busybox\nCOPY --chmod=u+x a /a\n")).toMatchObject({
      id: "HTK-DOCKERFILE-0202",
      buildkitMessage: "invalid chmod parameter: 'u+x'. it should be octal string and between 0 and 07777",
    });
    expect((await compileError("FROM busybox\nCOPY --chown=:g a /a\n")).id).toBe("HTK-DOCKERFILE-0202");
  });

  it("--link copies onto scratch and merges the layer", async () => {
    const r = await compileOk("FROM busybox\nCOPY --link a /a\n");
    const root = rootOp(r.definition);
    expect(root?.kind).toBe("merge");
    expect(copies(r.definition)[0]?.base).toEqual({ kind: "scratch" });
    expect(names(r.definition)).toEqual(expect.arrayContaining(["[2/2] COPY --link a /a", "[2/2] LINK COPY --link a /a"]));
  });

  it("--parents keeps the path below the pivot; --exclude patterns are passed on", async () => {
    const r = await compileOk("FROM busybox\nCOPY --parents --exclude=*.tmp ./x/./a/b.txt /dst/\n");
    expect(copies(r.definition)[0]).toMatchObject({ src: "/x", include: ["a/b.txt"], exclude: ["*.tmp"] });
    expect(r.image.history?.at(-1)?.created_by).toBe("COPY --parents ./x/./a/b.txt /dst/ # buildkit");
  });

  it("ADD unpacks local archives, downloads URLs (with --checksum) and clones git repositories", async () => {
    const sum = `sha256:${"ab".repeat(32)}`;
    const r = await compileOk(`FROM busybox\nADD app.tar.gz /opt/\nADD --checksum=${sum} https://example.com/dl/tool.bin /usr/bin/\nADD --keep-git-dir https://github.com/moby/buildkit.git#v0.13.0 /src\n`);
    expect(copies(r.definition)[0]).toMatchObject({ src: "/app.tar.gz", attemptUnpackArchive: true });
    expect(sources(r.definition)).toContainEqual({ kind: "http", url: "https://example.com/dl/tool.bin", checksum: sum, filename: "tool.bin" });
    expect(sources(r.definition)).toContainEqual({ kind: "git", remote: "https://github.com/moby/buildkit.git", ref: "v0.13.0", keepGitDir: true });
    expect(copies(r.definition).slice(1)).toMatchObject([{ src: "/tool.bin", dest: "/usr/bin/" }, { src: "/", dest: "/src" }]);
  });

  it("HTK-DOCKERFILE-0213: URLs and git refs in COPY, --checksum misuse", async () => {
    expect(await compileError("FROM busybox\nCOPY https://example.com/x /x\n")).toMatchObject({ id: "HTK-DOCKERFILE-0213", buildkitMessage: "source can't be a URL for COPY" });
    expect((await compileError("FROM busybox\nCOPY git@github.com:a/b.git /x\n")).buildkitMessage).toBe("source can't be a git ref for COPY");
    expect((await compileError(`FROM busybox\nADD --checksum=sha256:${"a".repeat(64)} local.txt /x\n`)).buildkitMessage).toBe("checksum can't be specified for non-HTTP(S) sources");
    expect((await compileError("FROM busybox\nADD --checksum=md5:x https://e.com/a /x\n")).id).toBe("HTK-DOCKERFILE-0202");
  });

  it("HTK-DOCKERFILE-0214: several sources to a path without a trailing slash (a warning: BuildKit copies them in turn)", async () => {
    const r = await compileOk("FROM busybox\nCOPY a b /dst\n");
    expect(r.diagnostics.map((d) => [d.id, d.severity])).toEqual([["HTK-DOCKERFILE-0214", "warning"]]);
    expect(copies(r.definition).map((c) => c.dest)).toEqual(["/dst", "/dst"]);
    expect((await compileOk("FROM busybox\nCOPY a b /dst/\n")).diagnostics).toEqual([]);
  });

  it("HTK-DOCKERFILE-0215: a source outside the context is read inside it, with a warning", async () => {
    const r = await compileOk("FROM busybox\nCOPY ../secret.txt /s\n");
    expect(r.diagnostics.map((d) => d.id)).toEqual(["HTK-DOCKERFILE-0215"]);
    expect(copies(r.definition)[0]?.src).toBe("/secret.txt");
  });

  it("COPY heredocs become files (expanded unless the marker is quoted)", async () => {
    const r = await compileOk("FROM busybox\nENV NAME=world\nCOPY <<EOF <<'RAW' /etc/\nhello $NAME\nEOF\nhello $NAME\nRAW\n");
    const mk = files(r.definition).flatMap((f) => f.actions).filter((a) => a.kind === "mkfile");
    expect(mk.map((a) => [a.path, new TextDecoder().decode(a.data), a.mode])).toEqual([
      ["/EOF", "hello world\n", 0o644],
      ["/RAW", "hello $NAME\n", 0o644],
    ]);
    expect(r.image.history?.at(-1)?.created_by).toBe("COPY <<EOF <<RAW /etc/ # buildkit");
  });
});

describe("never throws", () => {
  it("reports parser errors as diagnostics", async () => {
    const r = await compile("");
    expect(r.result).toBeUndefined();
    expect(r.diagnostics[0]?.id).toBe("HTK-DOCKERFILE-0001");
  });

  it("stops with HTK-CORE-0002 when the signal is already aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await compileDockerfile("FROM scratch\n", { signal: ac.signal })).diagnostics.map((d) => d.id)).toEqual(["HTK-CORE-0002"]);
  });

  it("turns a resolver's cancellation into HTK-CORE-0002", async () => {
    const ac = new AbortController();
    const r = await compileDockerfile("FROM busybox\n", {
      signal: ac.signal,
      resolveImageConfig: (_ref, _p, signal) => {
        ac.abort();
        return Promise.reject(signal?.reason ?? new Error("x"));
      },
    });
    expect(r.diagnostics.map((d) => [d.id, d.range.start.line])).toEqual([["HTK-CORE-0002", 1]]);
  });
});

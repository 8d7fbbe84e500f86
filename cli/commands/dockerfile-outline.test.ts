import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { memoryIo } from "../testing.ts";
import { dockerfileCommand } from "./dockerfile.ts";
import { llbCommand } from "./llb.ts";

const dir = mkdtempSync(join(tmpdir(), "htk-df-outline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, "Dockerfile"),
  [
    "# VERSION the release",
    "ARG VERSION=1.0",
    "# build compiles it",
    "FROM busybox AS build",
    "ARG VERSION",
    "RUN --mount=type=secret,id=tok echo $VERSION",
    "FROM scratch AS final",
    "COPY --from=build /etc/hostname /x",
    "COPY app /app",
    "",
  ].join("\n"),
);
writeFileSync(join(dir, ".dockerignore"), "*.log\n");
writeFileSync(join(dir, "bad.Dockerfile"), "FROM busybox\nCOPY --chmodd=1 a b\n");

async function run(cmd: typeof dockerfileCommand, args: string[]) {
  const io = memoryIo({ cwd: dir });
  const code = await cmd.run(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe("hatake dockerfile outline / targets", () => {
  it("outline prints buildx's text", async () => {
    const r = await run(dockerfileCommand, ["outline", "--target", "build", "Dockerfile"]);
    expect(r).toEqual({
      code: 0,
      out: "TARGET:      build\nDESCRIPTION: compiles it\n\nBUILD ARG   VALUE   DESCRIPTION\nVERSION     1.0     the release\n\nSECRET   REQUIRED\ntok\n",
      err: "",
    });
  });

  it("outline --format json prints BuildKit's outline JSON", async () => {
    const r = await run(dockerfileCommand, ["outline", "--format", "json", "--build-arg", "VERSION=2", "Dockerfile"]);
    const o = JSON.parse(r.out) as { name: string; args: { name: string; value: string }[]; secrets: { name: string }[] };
    expect(o.name).toBe("final");
    expect(o.args).toMatchObject([{ name: "VERSION", value: "2" }]);
    expect(o.secrets).toMatchObject([{ name: "tok" }]);
  });

  it("targets lists the stages, text and JSON", async () => {
    expect((await run(dockerfileCommand, ["targets", "Dockerfile"])).out).toBe("TARGET            DESCRIPTION\nbuild             compiles it\nfinal (default)\n");
    const j = JSON.parse((await run(dockerfileCommand, ["targets", "--format=json", "Dockerfile"])).out) as { targets: { name: string; default?: boolean }[] };
    expect(j.targets.map((t) => [t.name, t.default ?? false])).toEqual([
      ["build", false],
      ["final", true],
    ]);
  });

  it("a Dockerfile with an error exits 1 with a code frame", async () => {
    const r = await run(dockerfileCommand, ["targets", "bad.Dockerfile"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTK-DOCKERFILE-0200");
    expect(r.err).toContain("unknown flag: chmodd");
  });
});

describe("hatake llb dump --dockerfile", () => {
  it("compiles the Dockerfile and dumps the target's definition, with .dockerignore excludes", async () => {
    const r = await run(llbCommand, ["dump", "--dockerfile", "Dockerfile", "--target", "final"]);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out) as { ops: { label: string; op: { source?: { kind: string; exclude?: string[] } } }[] };
    expect(d.ops.map((o) => o.label)).toEqual(
      expect.arrayContaining(["[build 2/2] RUN --mount=type=secret,id=tok echo 1.0", "[final 1/2] COPY --from=build /etc/hostname /x", "[internal] load build context"]),
    );
    expect(d.ops.find((o) => o.op.source?.kind === "local")?.op.source?.exclude).toEqual(["*.log"]);
  });

  it("passes --build-arg and prints diagnostics for a bad Dockerfile", async () => {
    const ok = await run(llbCommand, ["dump", "--dockerfile", "Dockerfile", "--target", "build", "--build-arg", "VERSION=9", "--format", "dot"]);
    expect(ok.out).toContain("echo 9");
    const bad = await run(llbCommand, ["dump", "--dockerfile", "bad.Dockerfile"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("HTK-DOCKERFILE-0200");
  });
});

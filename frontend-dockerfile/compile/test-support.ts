import type { Diagnostic } from "../types.ts";
import { compileDockerfile, type CompileOptions, type CompileResult, type ImageConfigResolver } from "./compile.ts";
import type { BaseImageConfig } from "./image-spec.ts";

/**
 * Test helpers: a fake MetaResolver with a few images (busybox, alpine, golang, an ONBUILD image, an
 * empty-layer image) and short ways to compile and pick results.
 */
export const FAKE_IMAGES: Readonly<Record<string, BaseImageConfig>> = {
  "docker.io/library/busybox:latest": {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: ["sha256:1111111111111111111111111111111111111111111111111111111111111111"] },
    history: [{ created_by: "/bin/sh -c #(nop) ADD file:abc in / " }, { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true }],
  },
  "docker.io/library/alpine:3.20": {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: ["sha256:2222222222222222222222222222222222222222222222222222222222222222"] },
  },
  "docker.io/library/golang:1.22": {
    architecture: "amd64",
    os: "linux",
    config: {
      Env: ["PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOLANG_VERSION=1.22.5", "GOPATH=/go"],
      Cmd: ["bash"],
      WorkingDir: "/go",
      User: "gopher",
      Labels: { maintainer: "go" },
      ExposedPorts: { "6060/tcp": {} },
    },
    rootfs: { type: "layers", diff_ids: ["sha256:3333333333333333333333333333333333333333333333333333333333333333"] },
  },
  "docker.io/example/onbuild:latest": {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"], OnBuild: ["COPY . /src", "RUN make -C /src"] },
    rootfs: { type: "layers", diff_ids: ["sha256:4444444444444444444444444444444444444444444444444444444444444444"] },
  },
  "docker.io/example/empty:latest": {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["FOO=bar"] },
    rootfs: { type: "layers", diff_ids: [] },
    history: [{ created_by: "LABEL x=y", empty_layer: true }],
  },
};

/** Digest of a fake image: its ref's characters folded into hex (stable, readable in goldens). */
export function fakeDigest(ref: string): string {
  let h = 0;
  for (const ch of ref) h = (h * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return `sha256:${h.toString(16).padStart(8, "0").repeat(8)}`;
}

export interface FakeResolver {
  readonly resolve: ImageConfigResolver;
  readonly calls: string[];
}

export function fakeResolver(images: Readonly<Record<string, BaseImageConfig>> = FAKE_IMAGES): FakeResolver {
  const calls: string[] = [];
  return {
    calls,
    resolve: (ref, platform) => {
      calls.push(`${ref} ${platform.os}/${platform.architecture}`);
      const config = images[ref];
      if (config === undefined) return Promise.reject(new Error(`${ref}: not found`));
      return Promise.resolve({ digest: fakeDigest(ref), config });
    },
  };
}

export const BUILD_PLATFORM = { os: "linux", architecture: "amd64" } as const;

export async function compile(text: string, opts: CompileOptions = {}): Promise<CompileResult> {
  return compileDockerfile(text, { resolveImageConfig: fakeResolver().resolve, buildPlatform: BUILD_PLATFORM, ...opts });
}

/** Compiles and fails the test with the diagnostics when there is no result. */
export async function compileOk(text: string, opts: CompileOptions = {}): Promise<NonNullable<CompileResult["result"]> & { readonly diagnostics: readonly Diagnostic[] }> {
  const r = await compile(text, opts);
  if (r.result === undefined) throw new Error(`expected a result, got:\n${r.diagnostics.map((d) => `${d.id} ${d.message}`).join("\n")}`);
  return { ...r.result, diagnostics: r.diagnostics };
}

/** The first error of a failed compile. */
export async function compileError(text: string, opts: CompileOptions = {}): Promise<Diagnostic> {
  const r = await compile(text, opts);
  const e = r.diagnostics.find((d) => d.severity === "error");
  if (r.result !== undefined || e === undefined) throw new Error(`expected an error, got ${r.diagnostics.map((d) => d.id).join(", ") || "none"}`);
  return e;
}

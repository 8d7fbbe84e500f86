import type { CopyAction, Digest, ExecOp, FileOp, Op, OutputRef } from "./types.ts";

/** Hand-written IR ops covering every field, shared by the digest, proto and definition tests. */

export const D1: Digest = `sha256:${"1".repeat(64)}`;
export const D2: Digest = `sha256:${"2".repeat(64)}`;
export const out = (digest: Digest, index = 0): OutputRef => ({ kind: "output", digest, index });

export const fullExec: ExecOp = {
  kind: "exec",
  platform: { os: "linux", architecture: "arm64", variant: "v8" },
  args: ["/bin/sh", "-c", "make"],
  env: { PATH: "/usr/bin:/bin", A: "1" },
  cwd: "/src",
  user: "1000:1000",
  network: "none",
  security: "insecure",
  rootfs: { source: out(D1), access: { kind: "output", index: 0 } },
  mounts: [
    { kind: "bind", target: "/ctx", source: out(D2), selector: "/sub", access: { kind: "readonly" } },
    { kind: "bind", target: "/out", source: { kind: "scratch" }, selector: "/", access: { kind: "output", index: 1 } },
    { kind: "cache", target: "/root/.cache", id: "go", sharing: "locked", source: out(D2, 0), selector: "/cache", readonly: false },
    { kind: "secret", target: "/run/secrets/tok", id: "tok", required: true, mode: 0o400, uid: 0, gid: 0 },
    { kind: "ssh", target: "/run/ssh", id: "default", required: false, mode: 0o600, uid: 1, gid: 2 },
    { kind: "tmpfs", target: "/tmp", sizeBytes: 64 * 1024 * 1024 },
    { kind: "bind", target: "/w", source: out(D1), selector: "/", access: { kind: "writable" } },
  ],
  secretEnv: [{ name: "TOKEN", id: "tok", required: false }],
  hostname: "builder",
  extraHosts: [{ host: "db", ip: "10.0.0.2" }],
  shmSize: 128 * 1024 * 1024,
  ulimits: [
    { name: "nofile", soft: 1024, hard: 2048 },
    { name: "core", soft: 0, hard: -1 },
  ],
  cgroupParent: "ci-builds",
};

export const fullCopy: CopyAction = {
  kind: "copy",
  base: out(D1),
  source: out(D2),
  src: "/src/*.go",
  dest: "/app/",
  owner: { user: { kind: "name", name: "app" }, group: { kind: "id", id: 50 } },
  mode: 0o755,
  followSymlinks: true,
  copyDirContents: true,
  attemptUnpackArchive: false,
  createDestPath: true,
  allowWildcard: true,
  allowEmptyWildcard: false,
  alwaysReplaceExisting: false,
  include: ["*.go"],
  exclude: ["*_test.go"],
};

export const fullFile: FileOp = {
  kind: "file",
  actions: [
    { kind: "mkdir", base: out(D1), path: "/app", mode: 0o755, makeParents: true, owner: { user: { kind: "id", id: 1000 } } },
    { kind: "mkfile", base: { kind: "action", index: 0 }, path: "/app/a", mode: 0o644, data: new Uint8Array([104, 105]) },
    { kind: "rm", base: { kind: "action", index: 1 }, path: "/app/tmp*", allowNotFound: true, allowWildcard: true },
    { ...fullCopy, base: { kind: "action", index: 2 } },
  ],
};

export const sampleOps: readonly Op[] = [
  { kind: "source", source: { kind: "image", ref: "docker.io/library/busybox:latest", resolveMode: "pull" }, platform: { os: "linux", architecture: "amd64" } },
  { kind: "source", source: { kind: "local", name: "context", include: ["src/**"], exclude: ["node_modules", "!node_modules/keep"], sharedKey: "k" } },
  { kind: "source", source: { kind: "git", remote: "https://github.com/moby/buildkit.git", ref: "v0.13.0", keepGitDir: true } },
  { kind: "source", source: { kind: "http", url: "https://example.com/a.tgz", checksum: D1, filename: "a.tgz", chmod: 0o600 } },
  { kind: "source", source: { kind: "http", url: "https://example.com/b" } },
  fullExec,
  fullFile,
  { kind: "merge", inputs: [out(D1), out(D2), out(D1)] },
  { kind: "diff", lower: { kind: "scratch" }, upper: out(D2) },
];

import { describe, expect, it } from "vitest";
import {
  FileActions,
  bind,
  cache,
  copy,
  diff,
  git,
  http,
  image,
  local,
  marshal,
  merge,
  mkdir,
  mkfile,
  parseChown,
  parsePlatform,
  scratch,
  secret,
  ssh,
  tmpfs,
} from "./builder.ts";
import { validateDefinition } from "./definition.ts";
import { normalizeImageRef } from "./image-ref.ts";
import { LlbError, type ExecOp, type FileOp, type MountAccess, type Op } from "./types.ts";

function lastOp(state: Parameters<typeof marshal>[0]): Op {
  const def = marshal(state);
  const v = def.vertices[def.vertices.length - 1];
  if (v === undefined) throw new Error("expected a vertex");
  return v.op;
}

function execOf(state: Parameters<typeof marshal>[0]): ExecOp {
  const op = lastOp(state);
  if (op.kind !== "exec") throw new Error(`expected exec, got ${op.kind}`);
  return op;
}

describe("states", () => {
  it("are immutable", () => {
    const base = image("alpine");
    const withEnv = base.withEnv("A", "1").withCwd("/app").withUser("app");
    expect(base.env()).toEqual({});
    expect(base.cwd()).toBe("/");
    expect(base.user()).toBe("");
    expect(withEnv.getEnv("A")).toBe("1");
    expect(withEnv.withoutEnv("A").getEnv("A")).toBeUndefined();
    expect(withEnv.getEnv("A")).toBe("1");
    expect(base.digest()).toBe(withEnv.digest());
  });

  it("resolve a relative working directory against the current one", () => {
    expect(scratch().withCwd("/app").withCwd("src/../lib").cwd()).toBe("/app/lib");
  });

  it("carry env, cwd, user and platform into run", () => {
    const st = image("alpine", { platform: parsePlatform("linux/arm/v7") }).withEnv("A", "1").withCwd("/w").withUser("nobody");
    const exec = execOf(st.run({ shell: "id", env: { B: "2" } }).root());
    expect(exec).toMatchObject({
      args: ["/bin/sh", "-c", "id"],
      env: { A: "1", B: "2" },
      cwd: "/w",
      user: "nobody",
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    });
  });

  it("keep any variable name an ordinary entry, even __proto__", () => {
    const st = scratch().withEnv("__proto__", "x");
    expect(st.getEnv("__proto__")).toBe("x");
    expect(execOf(st.run({ args: ["env"] }).root()).env).toEqual(Object.fromEntries([["__proto__", "x"]]));
  });

  it("reject an environment variable name with =", () => {
    expect(() => scratch().withEnv("A=B", "1")).toThrow(LlbError);
  });
});

describe("sources", () => {
  it("normalize image references", () => {
    expect(normalizeImageRef("busybox")).toBe("docker.io/library/busybox:latest");
    expect(normalizeImageRef("me/app:1")).toBe("docker.io/me/app:1");
    expect(normalizeImageRef("localhost:5000/app")).toBe("localhost:5000/app:latest");
    expect(normalizeImageRef("ghcr.io/o/r@sha256:abc")).toBe("ghcr.io/o/r@sha256:abc");
    expect(normalizeImageRef("index.docker.io/library/alpine:3")).toBe("docker.io/library/alpine:3");
  });

  it("make one source op each", () => {
    expect(lastOp(local("context", { include: ["a"], exclude: ["b"], sharedKey: "k" }))).toEqual({
      kind: "source",
      source: { kind: "local", name: "context", include: ["a"], exclude: ["b"], sharedKey: "k" },
    });
    expect(lastOp(git("https://example.com/r.git", "main", { keepGitDir: true }))).toMatchObject({ source: { kind: "git", ref: "main", keepGitDir: true } });
    expect(lastOp(http("https://example.com/f", { filename: "f", chmod: 0o755 }))).toMatchObject({ source: { kind: "http", filename: "f", chmod: 0o755 } });
    expect(lastOp(image("alpine", { resolveMode: "pull" }))).toMatchObject({ source: { kind: "image", resolveMode: "pull" } });
  });

  it("scratch has no op", () => {
    expect(scratch().isScratch()).toBe(true);
    expect(marshal(scratch()).vertices).toEqual([]);
  });
});

describe("run", () => {
  it("builds every mount kind, sorted by target, with outputs numbered rootfs first", () => {
    const ctx = local("context");
    const es = image("golang").run({
      args: ["go", "build"],
      mounts: [
        ssh(),
        secret("npmrc", { target: "/root/.npmrc", required: true }),
        secret("tok", { env: "TOKEN" }),
        tmpfs("/tmp", { sizeBytes: 1024 }),
        cache("/root/.cache/go-build", { sharing: "locked", id: "go" }),
        bind("/out", scratch(), { readonly: false, output: true }),
        bind("/src", ctx, { selector: "app" }),
        bind("/a-out", scratch(), { readonly: false, output: true }),
      ],
      network: "none",
      security: "insecure",
    });
    const exec = execOf(es.root());
    expect(exec.mounts.map((m) => m.target)).toEqual(["/a-out", "/out", "/root/.cache/go-build", "/root/.npmrc", "/run/buildkit/ssh_agent.0", "/src", "/tmp"]);
    expect(exec.mounts.find((m) => m.target === "/a-out")).toMatchObject({ access: { kind: "output", index: 1 } });
    expect(exec.mounts.find((m) => m.target === "/out")).toMatchObject({ access: { kind: "output", index: 2 } });
    expect(exec.mounts.find((m) => m.target === "/src")).toMatchObject({ access: { kind: "readonly" }, selector: "/app" });
    expect(exec.secretEnv).toEqual([{ name: "TOKEN", id: "tok", required: false }]);
    expect(exec.rootfs.access).toEqual({ kind: "output", index: 0 });

    const out = es.mount("/out/");
    const def = marshal(merge([es.root(), out]));
    expect(validateDefinition(def).ok).toBe(true);
    expect(out.ref()).toMatchObject({ index: 2 });
  });

  it("has no output for read-only or discarded mounts", () => {
    const es = image("alpine").run({
      shell: "true",
      mounts: [bind("/ro", local("context")), bind("/rw", scratch(), { readonly: false })],
      readonlyRootfs: true,
    });
    expect(() => es.root()).toThrow(/no output mount at "\/"/);
    expect(() => es.mount("/ro")).toThrow(LlbError);
    expect(() => es.mount("/rw")).toThrow(LlbError);
    expect(() => es.mount("/nope")).toThrow(LlbError);
  });

  it("rejects invalid execs where they are written", () => {
    expect(() => image("alpine").run({ args: [] })).toThrow(/no arguments/);
    expect(() => image("alpine").run({ shell: "x", mounts: [tmpfs("/t"), cache("/t")] })).toThrow(/share the target/);
    expect(() => image("alpine").run({ shell: "x", mounts: [tmpfs("/")] })).toThrow(/other than "\/"/);
    expect(() => image("alpine").run({ shell: "x", mounts: [secret("a", { env: "X" }), secret("b", { env: "X" })] })).toThrow(LlbError);
  });

  it("carries /dev/shm size, ulimits (sorted by name) and cgroup parent, all in the digest", () => {
    const base = image("alpine");
    const plain = base.run({ shell: "make" }).root();
    const opts = { shmSize: 128 * 2 ** 20, ulimits: [{ name: "nproc", soft: 10, hard: 20 }, { name: "nofile", soft: 1024, hard: 2048 }], cgroupParent: "ci" };
    const limited = base.run({ shell: "make", ...opts }).root();
    expect(execOf(plain)).toMatchObject({ shmSize: 0, ulimits: [], cgroupParent: "" });
    expect(execOf(limited)).toMatchObject({ shmSize: 128 * 2 ** 20, cgroupParent: "ci", ulimits: [{ name: "nofile" }, { name: "nproc" }] });
    expect(limited.digest()).not.toBe(plain.digest());
    // The order the caller lists ulimits in is not meaning; a changed limit is.
    expect(base.run({ shell: "make", ...opts, ulimits: [...opts.ulimits].reverse() }).root().digest()).toBe(limited.digest());
    expect(base.run({ shell: "make", ...opts, ulimits: [{ name: "nofile", soft: 1024, hard: 4096 }] }).root().digest()).not.toBe(limited.digest());
    for (const o of [{ shmSize: 1 }, { ulimits: [{ name: "nofile", soft: 1, hard: 1 }] }, { cgroupParent: "x" }]) {
      expect(base.run({ shell: "make", ...o }).root().digest()).not.toBe(plain.digest());
    }
  });

  it("rejects invalid shm sizes and ulimits", () => {
    const run = (o: object) => () => image("alpine").run({ shell: "x", ...o });
    expect(run({ shmSize: -1 })).toThrow(/shm size/);
    expect(run({ ulimits: [{ name: "nofile", soft: 1, hard: 1 }, { name: "nofile", soft: 2, hard: 2 }] })).toThrow(/two ulimits/);
    expect(run({ ulimits: [{ name: "nofile", soft: 5, hard: 2 }] })).toThrow(/soft limit above/);
    expect(run({ ulimits: [{ name: "", soft: 1, hard: 1 }] })).toThrow(/needs a name/);
    expect(run({ ulimits: [{ name: "core", soft: -2, hard: 1 }] })).toThrow(/whole numbers/);
    expect(run({ cgroupParent: "a/../../b" })).toThrow(LlbError);
    // -1 is unlimited: any soft limit fits under it.
    expect(run({ ulimits: [{ name: "core", soft: 0, hard: -1 }] })).not.toThrow();
  });

  it("uses a SHELL prefix", () => {
    expect(execOf(scratch().run({ shell: "dir", shellPrefix: ["cmd", "/S", "/C"] }).root()).args).toEqual(["cmd", "/S", "/C", "dir"]);
  });
});

describe("file", () => {
  it("chains actions, each on the result of the previous one", () => {
    const op = lastOp(scratch().withCwd("/app").file(mkdir("data", 0o755, { makeParents: true }).mkfile("data/x", 0o644, "hi", { chown: "1000:app" }).rm("old", { allowNotFound: true })));
    expect(op).toEqual({
      kind: "file",
      actions: [
        { kind: "mkdir", base: { kind: "scratch" }, path: "/app/data", mode: 0o755, makeParents: true },
        {
          kind: "mkfile",
          base: { kind: "action", index: 0 },
          path: "/app/data/x",
          mode: 0o644,
          data: new TextEncoder().encode("hi"),
          owner: { user: { kind: "id", id: 1000 }, group: { kind: "name", name: "app" } },
        },
        { kind: "rm", base: { kind: "action", index: 1 }, path: "/app/old", allowNotFound: true, allowWildcard: false },
      ],
    } satisfies FileOp);
  });

  it("copies from another state, keeping a trailing slash on dest", () => {
    const ctx = local("context").withCwd("/sub");
    const target = image("alpine").withCwd("/app");
    const op = lastOp(target.file(copy(ctx, "src", "lib/", { chown: "app", chmod: 0o755, allowWildcard: true })));
    expect(op).toMatchObject({
      kind: "file",
      actions: [{ kind: "copy", src: "/sub/src", dest: "/app/lib/", owner: { user: { kind: "name", name: "app" } }, mode: 0o755, allowWildcard: true, copyDirContents: false }],
    });
    const def = marshal(target.file(copy(ctx, "src", "lib/")));
    expect(def.vertices.map((v) => v.op.kind)).toEqual(["source", "source", "file"]);
    expect(validateDefinition(def).ok).toBe(true);
  });

  it("rejects an empty chain and a bad owner", () => {
    expect(() => scratch().file(new FileActions([]))).toThrow(/no actions/);
    expect(() => parseChown("a:b:c")).toThrow(LlbError);
    expect(() => parseChown(":g")).toThrow(LlbError);
  });
});

describe("merge and diff", () => {
  it("flatten trivial merges", () => {
    const a = image("alpine");
    expect(merge([]).isScratch()).toBe(true);
    expect(merge([scratch(), a, scratch()]).digest()).toBe(a.digest());
    expect(lastOp(merge([a, image("busybox")]))).toMatchObject({ kind: "merge" });
  });

  it("keeps a repeated layer in a merge", () => {
    const a = image("alpine");
    const b = image("busybox");
    const op = lastOp(merge([a, b, a]));
    expect(op.kind === "merge" ? op.inputs.length : 0).toBe(3);
    expect(validateDefinition(marshal(merge([a, b, a]))).ok).toBe(true);
  });

  it("expresses COPY --link as merge(base, diff(scratch, copied))", () => {
    const base = image("alpine").withEnv("A", "1");
    const copied = scratch().file(copy(local("context"), "/app", "/app"));
    const linked = merge([base, diff(scratch(), copied)]);
    expect(linked.getEnv("A")).toBe("1");
    const def = marshal(linked);
    expect(def.vertices.map((v) => v.op.kind)).toEqual(["source", "source", "file", "diff", "merge"]);
    expect(diff(base, base).isScratch()).toBe(true);
  });
});

describe("marshal", () => {
  it("lists a shared op once and combines its metadata", () => {
    const a = image("alpine", { customName: "FROM alpine" });
    const b = image("alpine", { ignoreCache: true, description: { x: "1" } });
    const def = marshal(merge([a.run({ shell: "a" }).root(), b.run({ shell: "b" }).root()]));
    const sources = def.vertices.filter((v) => v.op.kind === "source");
    expect(sources).toHaveLength(1);
    expect(sources[0]?.metadata).toEqual({ description: { "llb.customname": "FROM alpine", x: "1" }, ignoreCache: true });
  });

  it("handles deep chains without recursion limits", () => {
    let st = image("alpine");
    for (let i = 0; i < 3000; i++) st = st.file(mkfile(`/f${i}`, 0o644, String(i)));
    const def = marshal(st);
    expect(def.vertices).toHaveLength(3001);
    expect(validateDefinition(def).ok).toBe(true);
  });
});

describe("types", () => {
  it("cannot make a read-only mount an output", () => {
    // @ts-expect-error a read-only bind mount has no `output` option
    expect(() => bind("/x", scratch(), { readonly: true, output: true })).not.toThrow();
    // @ts-expect-error a read-only access carries no output index
    const access: MountAccess = { kind: "readonly", index: 0 };
    expect(access.kind).toBe("readonly");
  });
});

import { describe, expect, it } from "vitest";
import { bind, cache, copy, image, local, marshal, merge, mkdir, scratch } from "./builder.ts";
import { cacheKeyOf, digestOf } from "./digest.ts";
import { D1, D2, fullCopy, fullExec, fullFile, out, sampleOps } from "./fixtures.test-support.ts";
import type { ExecOp, FileOp, Op } from "./types.ts";

/** Rebuilds an object with its keys in reverse order, recursively (arrays keep their order). */
function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reverseKeys) as T;
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)])) as T;
}

describe("op digests", () => {
  it("are sha256 digests and deterministic", () => {
    for (const op of sampleOps) {
      expect(digestOf(op)).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(digestOf(op)).toBe(digestOf(structuredClone(op)));
    }
  });

  it("do not depend on object key order", () => {
    for (const op of sampleOps) expect(digestOf(reverseKeys(op))).toBe(digestOf(op));
  });

  it("do not depend on the order mounts and env secrets were listed in", () => {
    const shuffled: ExecOp = { ...fullExec, mounts: [...fullExec.mounts].reverse(), secretEnv: [...fullExec.secretEnv].reverse() };
    expect(digestOf(shuffled)).toBe(digestOf(fullExec));
  });

  it("are all different across the sample ops", () => {
    expect(new Set(sampleOps.map(digestOf)).size).toBe(sampleOps.length);
  });

  it("change when any exec field changes", () => {
    const [firstMount, ...otherMounts] = fullExec.mounts;
    if (firstMount?.kind !== "bind") throw new Error("fixture: first mount is a bind");
    const variants: ExecOp[] = [
      { ...fullExec, args: ["/bin/sh", "-c", "make all"] },
      { ...fullExec, env: { ...fullExec.env, A: "2" } },
      { ...fullExec, env: { ...fullExec.env, B: "1" } },
      { ...fullExec, cwd: "/" },
      { ...fullExec, user: "" },
      { ...fullExec, network: "host" },
      { ...fullExec, security: "sandbox" },
      { ...fullExec, hostname: "" },
      { ...fullExec, extraHosts: [] },
      { ...fullExec, secretEnv: [{ name: "TOKEN", id: "tok", required: true }] },
      { ...fullExec, platform: { os: "linux", architecture: "arm64" } },
      { ...fullExec, rootfs: { source: out(D2), access: { kind: "output", index: 0 } } },
      { ...fullExec, rootfs: { source: out(D1), access: { kind: "readonly" } } },
      { ...fullExec, mounts: [{ ...firstMount, selector: "/" }, ...otherMounts] },
      { ...fullExec, mounts: [{ ...firstMount, access: { kind: "writable" } }, ...otherMounts] },
      { ...fullExec, mounts: [{ ...firstMount, target: "/ctx2" }, ...otherMounts] },
      { ...fullExec, mounts: otherMounts },
    ];
    const digests = new Set([fullExec, ...variants].map(digestOf));
    expect(digests.size).toBe(variants.length + 1);
  });

  it("change when any copy switch changes", () => {
    const flags = [
      "followSymlinks",
      "copyDirContents",
      "attemptUnpackArchive",
      "createDestPath",
      "allowWildcard",
      "allowEmptyWildcard",
      "alwaysReplaceExisting",
    ] as const;
    const withCopy = (patch: object): FileOp => ({ kind: "file", actions: [{ ...fullCopy, ...patch }] });
    const variants = [
      ...flags.map((f) => withCopy({ [f]: !fullCopy[f] })),
      withCopy({ mode: 0o700 }),
      withCopy({ owner: { user: { kind: "id", id: 0 } } }),
      withCopy({ include: [] }),
      withCopy({ exclude: ["x"] }),
      withCopy({ src: "/other" }),
      withCopy({ dest: "/app" }),
      withCopy({ source: { kind: "scratch" } }),
    ];
    const digests = new Set([withCopy({}), ...variants].map(digestOf));
    expect(digests.size).toBe(variants.length + 1);
  });

  it("change when file data or the platform variant changes", () => {
    const [mk, mkf, ...rest] = fullFile.actions;
    if (mk === undefined || mkf?.kind !== "mkfile") throw new Error("fixture");
    const changed: Op = { ...fullFile, actions: [mk, { ...mkf, data: new Uint8Array([104, 106]) }, ...rest] };
    expect(digestOf(changed)).not.toBe(digestOf(fullFile));
    const v7: Op = { ...fullExec, platform: { os: "linux", architecture: "arm64", variant: "v7" } };
    expect(digestOf(v7)).not.toBe(digestOf(fullExec));
  });
});

describe("builder digests", () => {
  it("are the same for one graph built two ways", () => {
    const a = image("busybox")
      .withEnv("A", "1")
      .withEnv("B", "2")
      .withCwd("/app")
      .run({ shell: "make", mounts: [bind("/ctx", local("context")), cache("/root/.cache", { id: "c" })] })
      .root();
    const b = image("docker.io/library/busybox:latest")
      .withCwd("/tmp")
      .withEnv("B", "2")
      .withCwd("/app")
      .withEnv("A", "1")
      .run({ mounts: [cache("/root/.cache/", { id: "c", sharing: "shared" }), bind("ctx", local("context"), { selector: "." })], args: ["/bin/sh", "-c", "make"] })
      .root();
    expect(a.digest()).toBe(b.digest());
    expect(marshal(a)).toEqual(marshal(b));
  });

  it("ignore metadata (names, progress groups, ignore-cache)", () => {
    const a = scratch().file(mkdir("/a", 0o755), { customName: "one" });
    const b = scratch().file(mkdir("/a", 0o755), { customName: "two", ignoreCache: true, progressGroup: { id: "g", name: "G", weak: false } });
    expect(a.digest()).toBe(b.digest());
  });

  it("cover the whole upstream graph", () => {
    const a = image("alpine:3.19").file(copy(local("context"), "/a", "/a"));
    const b = image("alpine:3.20").file(copy(local("context"), "/a", "/a"));
    expect(a.digest()).not.toBe(b.digest());
    const m1 = merge([image("alpine"), image("busybox")]);
    const m2 = merge([image("busybox"), image("alpine")]);
    expect(m1.digest()).not.toBe(m2.digest());
  });
});

describe("cacheKeyOf", () => {
  it("depends on the op digest and on each input key, in order", () => {
    const k = cacheKeyOf(D1, ["a", "b"]);
    expect(k).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(cacheKeyOf(D1, ["a", "b"])).toBe(k);
    expect(cacheKeyOf(D2, ["a", "b"])).not.toBe(k);
    expect(cacheKeyOf(D1, ["b", "a"])).not.toBe(k);
    expect(cacheKeyOf(D1, ["ab"])).not.toBe(k);
    expect(cacheKeyOf(D1, ["a", "b", ""])).not.toBe(k);
  });
});

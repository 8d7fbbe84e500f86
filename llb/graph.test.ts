import { describe, expect, it } from "vitest";
import { D1, D2, fullExec, fullFile, out, sampleOps } from "./fixtures.test-support.ts";
import { checkOp, execOutputs, inputsOf, mapOutputs, outputCount } from "./graph.ts";
import type { ExecOp, FileOp, Op } from "./types.ts";

describe("graph facts", () => {
  it("accepts every sample op", () => {
    for (const op of sampleOps) expect(checkOp(op)).toBeUndefined();
  });

  it("lists distinct inputs in canonical order", () => {
    expect(inputsOf(fullExec)).toEqual([out(D1), out(D2)]);
    expect(inputsOf(fullFile)).toEqual([out(D1), out(D2)]);
    expect(inputsOf({ kind: "merge", inputs: [out(D2), out(D1), out(D2)] })).toEqual([out(D2), out(D1)]);
    expect(inputsOf({ kind: "diff", lower: { kind: "scratch" }, upper: out(D1, 0) })).toEqual([out(D1)]);
  });

  it("numbers exec outputs by their index", () => {
    expect(outputCount(fullExec)).toBe(2);
    expect(execOutputs(fullExec).map((m) => m.target)).toEqual(["/", "/out"]);
    expect(outputCount(fullFile)).toBe(1);
  });

  it("re-points edges", () => {
    const moved = mapOutputs(fullExec, (r) => (r.digest === D1 ? out(D2, r.index) : r));
    expect(inputsOf(moved)).toEqual([out(D2)]);
  });

  it.each<[string, Op]>([
    ["a relative cwd", { ...fullExec, cwd: "src" }],
    ["an empty env name", { ...fullExec, env: { "": "x" } }],
    ["a relative mount target", { ...fullExec, mounts: [{ kind: "tmpfs", target: "tmp", sizeBytes: 0 }] }],
    ["two outputs with one index", { ...fullExec, mounts: fullExec.mounts.map((m) => (m.kind === "bind" && m.target === "/out" ? { ...m, access: { kind: "output", index: 0 } } : m)) } satisfies ExecOp],
    ["an empty cache id", { ...fullExec, mounts: [{ kind: "cache", target: "/c", id: "", sharing: "shared", source: { kind: "scratch" }, selector: "/", readonly: false }] }],
    ["a negative mode", { ...fullExec, mounts: [{ kind: "secret", target: "/s", id: "s", required: false, mode: -1, uid: 0, gid: 0 }] }],
    ["a file op without actions", { kind: "file", actions: [] }],
    ["an action reading a later action", { kind: "file", actions: [{ kind: "mkdir", base: { kind: "action", index: 0 }, path: "/a", mode: 0o755, makeParents: false }] } satisfies FileOp],
    ["an empty copy destination", { kind: "file", actions: [{ ...(fullFile.actions[3] as FileOp["actions"][number] & { kind: "copy" }), base: out(D1), dest: "" }] }],
    ["a merge of one", { kind: "merge", inputs: [out(D1)] }],
    ["a platform without an architecture", { ...fullExec, platform: { os: "linux", architecture: "" } }],
    ["an edge that is not a digest", { kind: "diff", lower: { kind: "output", digest: "sha256:xyz", index: 0 }, upper: out(D1) }],
    ["a malformed HTTP checksum", { kind: "source", source: { kind: "http", url: "https://x", checksum: "sha256:1" } }],
  ])("rejects %s", (_name, op) => {
    expect(checkOp(op)).toMatchObject({ code: "INVALID_OP" });
  });
});

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { bind, copy, image, local, marshal, merge, mkdir, scratch } from "./builder.ts";
import { decodeDefinition, encodeDefinition, reachable, unwrap, validateDefinition } from "./definition.ts";
import { digestOf, encodeOp, sha256Digest } from "./digest.ts";
import { D1, out } from "./fixtures.test-support.ts";
import { DefinitionSchema, OpSchema } from "./gen/llb_pb.ts";
import { LlbError, type Definition, type Op, type Vertex } from "./types.ts";

const noMeta = { description: {}, ignoreCache: false };
const vertex = (op: Op, digest = digestOf(op)): Vertex => ({ digest, op, metadata: noMeta });

function sampleDefinition(): Definition {
  const base = image("busybox", { platform: { os: "linux", architecture: "amd64" } });
  const built = base
    .file(copy(local("context", { exclude: ["*.md"] }), "/", "/src", { createDestPath: true }), { customName: "COPY . /src" })
    .run({ shell: "make", mounts: [bind("/out", scratch(), { readonly: false, output: true })], ignoreCache: true });
  return marshal(merge([built.root(), built.mount("/out"), scratch().file(mkdir("/x", 0o700))]));
}

describe("encodeDefinition / decodeDefinition", () => {
  it("round-trips a builder definition", () => {
    const def = sampleDefinition();
    expect(validateDefinition(def)).toEqual({ ok: true, value: def });
    expect(decodeDefinition(encodeDefinition(def))).toEqual({ ok: true, value: def });
  });

  it("round-trips scratch", () => {
    const def = marshal(scratch());
    expect(def).toEqual({ version: 1, vertices: [], root: { kind: "scratch" }, sources: [] });
    expect(unwrap(decodeDefinition(encodeDefinition(def)))).toEqual(def);
  });

  it("is byte-for-byte deterministic", () => {
    expect(encodeDefinition(sampleDefinition())).toEqual(encodeDefinition(sampleDefinition()));
  });

  it("accepts ops in any wire order and returns them inputs-first", () => {
    const def = sampleDefinition();
    const msg = fromBinary(DefinitionSchema, encodeDefinition(def));
    msg.ops.reverse();
    const back = unwrap(decodeDefinition(toBinary(DefinitionSchema, msg)));
    expect(validateDefinition(back).ok).toBe(true);
    expect(new Set(back.vertices.map((v) => v.digest))).toEqual(new Set(def.vertices.map((v) => v.digest)));
  });

  it("re-points edges when a writer encoded an op differently", () => {
    const src = image("alpine");
    const def = marshal(src.run({ args: ["true"] }).root());
    const [imageVertex, execVertex] = def.vertices;
    if (imageVertex === undefined || execVertex === undefined) throw new Error("expected two vertices");
    // Same op, plus an unknown field 99: other bytes, so another digest on the wire.
    const oddImage = new Uint8Array([...encodeOp(imageVertex.op), 0x98, 0x06, 0x01]);
    const oddDigest = sha256Digest(oddImage);
    const execMsg = fromBinary(OpSchema, encodeOp(execVertex.op));
    const firstInput = execMsg.inputs[0];
    if (firstInput === undefined) throw new Error("expected an input");
    firstInput.digest = oddDigest;
    const wire = create(DefinitionSchema, {
      version: 1,
      ops: [oddImage, toBinary(OpSchema, execMsg)],
      metadata: [{ digest: oddDigest, metadata: { description: { "llb.customname": "FROM alpine" } } }],
      root: { digest: sha256Digest(toBinary(OpSchema, execMsg)), index: 0 },
    });
    const back = unwrap(decodeDefinition(toBinary(DefinitionSchema, wire)));
    expect(back.vertices.map((v) => v.digest)).toEqual(def.vertices.map((v) => v.digest));
    expect(back.root).toEqual(def.root);
    expect(back.vertices[0]?.metadata.description).toEqual({ "llb.customname": "FROM alpine" });
  });
});

describe("source locations", () => {
  const dockerfile = { filename: "Dockerfile", language: "Dockerfile", data: new TextEncoder().encode("FROM alpine\nRUN make\n") };
  const line = (n: number) => [{ start: { line: n, character: 0 }, end: { line: n, character: 8 } }];

  it("lists each source file once and round-trips the locations", () => {
    const from = image("alpine", { locations: [{ file: dockerfile, ranges: line(1) }] });
    const def = marshal(from.run({ shell: "make", locations: [{ file: dockerfile, ranges: line(2) }] }).root());
    expect(def.sources).toEqual([dockerfile]);
    expect(def.vertices.map((v) => v.metadata.locations)).toEqual([[{ source: 0, ranges: line(1) }], [{ source: 0, ranges: line(2) }]]);
    expect(unwrap(decodeDefinition(encodeDefinition(def)))).toEqual(def);
  });

  it("keeps the locations of both uses of one op", () => {
    const a = image("alpine", { locations: [{ file: dockerfile, ranges: line(1) }] });
    const b = image("alpine", { locations: [{ file: dockerfile, ranges: line(3) }] });
    const def = marshal(merge([a.run({ shell: "a" }).root(), b.run({ shell: "b" }).root()]));
    expect(def.vertices[0]?.metadata.locations).toEqual([
      { source: 0, ranges: line(1) },
      { source: 0, ranges: line(3) },
    ]);
  });

  it("reports a location in a source file that is not there", () => {
    const def = marshal(image("alpine", { locations: [{ file: dockerfile, ranges: line(1) }] }));
    expect(validateDefinition({ ...def, sources: [] })).toMatchObject({ ok: false, error: { code: "BAD_SOURCE_INDEX" } });
    expect(decodeDefinition(encodeDefinition({ ...def, sources: [] }))).toMatchObject({ ok: false, error: { code: "BAD_SOURCE_INDEX" } });
  });
});

describe("decodeDefinition failures", () => {
  const wire = (init: Parameters<typeof create<typeof DefinitionSchema>>[1]): Uint8Array => toBinary(DefinitionSchema, create(DefinitionSchema, init));
  const imageOp: Op = { kind: "source", source: { kind: "image", ref: "docker.io/library/alpine:latest", resolveMode: "default" } };
  const readsD1: Op = {
    kind: "exec",
    args: ["true"],
    env: {},
    cwd: "/",
    user: "",
    network: "default",
    security: "sandbox",
    rootfs: { source: out(D1), access: { kind: "output", index: 0 } },
    mounts: [],
    secretEnv: [],
    hostname: "",
    extraHosts: [],
    shmSize: 0,
    ulimits: [],
    cgroupParent: "",
  };

  it("reports bytes that are not a definition", () => {
    expect(decodeDefinition(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toMatchObject({ ok: false, error: { code: "DECODE_FAILED" } });
  });

  it("reports an op that is not an op", () => {
    expect(decodeDefinition(wire({ version: 1, ops: [new Uint8Array([0x0a, 0x05, 0x01])] }))).toMatchObject({
      ok: false,
      error: { code: "DECODE_FAILED" },
    });
  });

  it("reports an unknown version", () => {
    expect(decodeDefinition(wire({ version: 2 }))).toMatchObject({ ok: false, error: { code: "UNSUPPORTED_VERSION" } });
  });

  it("reports an edge to an op that is not in the definition", () => {
    const result = decodeDefinition(wire({ version: 1, ops: [encodeOp(readsD1)] }));
    expect(result).toMatchObject({ ok: false, error: { code: "UNKNOWN_INPUT", digest: digestOf(readsD1) } });
    if (!result.ok) expect(result.error.message).toContain(D1);
  });

  it("reports an edge to an output the op does not have", () => {
    const reads3: Op = { ...readsD1, rootfs: { source: out(digestOf(imageOp), 3), access: { kind: "output", index: 0 } } };
    const result = decodeDefinition(wire({ version: 1, ops: [encodeOp(imageOp), encodeOp(reads3)] }));
    expect(result).toMatchObject({ ok: false, error: { code: "BAD_OUTPUT_INDEX" } });
    if (!result.ok) expect(result.error.message).toContain("output 3");
  });

  it("reports a root that names a missing op or output", () => {
    expect(decodeDefinition(wire({ version: 1, root: { digest: D1, index: 0 } }))).toMatchObject({ ok: false, error: { code: "UNKNOWN_INPUT" } });
    expect(decodeDefinition(wire({ version: 1, ops: [encodeOp(imageOp)], root: { digest: digestOf(imageOp), index: 1 } }))).toMatchObject({
      ok: false,
      error: { code: "BAD_OUTPUT_INDEX" },
    });
  });

  it("reports an op listed twice", () => {
    expect(decodeDefinition(wire({ version: 1, ops: [encodeOp(imageOp), encodeOp(imageOp)] }))).toMatchObject({
      ok: false,
      error: { code: "DUPLICATE_OP" },
    });
  });

  it("reports a malformed op", () => {
    const noArgs: Op = { ...readsD1, args: [] };
    expect(decodeDefinition(wire({ version: 1, ops: [encodeOp(noArgs)] }))).toMatchObject({ ok: false, error: { code: "INVALID_OP" } });
    expect(decodeDefinition(wire({ version: 1, ops: [toBinary(OpSchema, create(OpSchema, {}))] }))).toMatchObject({
      ok: false,
      error: { code: "INVALID_OP" },
    });
  });

  it("reports metadata for an op that is not there", () => {
    expect(decodeDefinition(wire({ version: 1, metadata: [{ digest: D1, metadata: { ignoreCache: true } }] }))).toMatchObject({
      ok: false,
      error: { code: "UNKNOWN_METADATA" },
    });
  });
});

describe("validateDefinition", () => {
  const a = `sha256:${"a".repeat(64)}` as const;
  const b = `sha256:${"b".repeat(64)}` as const;
  const c = `sha256:${"c".repeat(64)}` as const;

  it("reports a cycle (only possible when digests are claimed, not computed)", () => {
    const def: Definition = {
      version: 1,
      vertices: [
        vertex({ kind: "merge", inputs: [out(b), out(c)] }, a),
        vertex({ kind: "merge", inputs: [out(a), out(c)] }, b),
        vertex({ kind: "source", source: { kind: "local", name: "x", include: [], exclude: [], sharedKey: "" } }, c),
      ],
      root: out(a),
      sources: [],
    };
    expect(validateDefinition(def)).toMatchObject({ ok: false, error: { code: "CYCLE" } });
  });

  it("reports a vertex whose digest is not its op's", () => {
    const def: Definition = { version: 1, vertices: [vertex({ kind: "source", source: { kind: "git", remote: "r", ref: "", keepGitDir: false } }, a)], root: out(a), sources: [] };
    expect(validateDefinition(def)).toMatchObject({ ok: false, error: { code: "DIGEST_MISMATCH", digest: a } });
  });

  it("reports ops listed before their inputs", () => {
    const def = marshal(image("alpine").run({ args: ["true"] }).root());
    expect(validateDefinition({ ...def, vertices: [...def.vertices].reverse() })).toMatchObject({ ok: false, error: { code: "NOT_TOPOLOGICAL" } });
  });

  it("reports an exec whose output indexes have a gap", () => {
    const def = marshal(image("alpine"));
    const img = def.vertices[0];
    if (img === undefined) throw new Error("expected a vertex");
    const exec: Op = {
      kind: "exec",
      args: ["true"],
      env: {},
      cwd: "/",
      user: "",
      network: "default",
      security: "sandbox",
      rootfs: { source: out(img.digest), access: { kind: "output", index: 1 } },
      mounts: [],
      secretEnv: [],
      hostname: "",
      extraHosts: [],
      shmSize: 0,
      ulimits: [],
      cgroupParent: "",
    };
    expect(validateDefinition({ ...def, vertices: [img, vertex(exec)], root: out(digestOf(exec)) })).toMatchObject({
      ok: false,
      error: { code: "INVALID_OP" },
    });
  });

  it("unwrap throws the issue as an LlbError", () => {
    expect(() => unwrap(validateDefinition({ version: 1, vertices: [], root: out(a), sources: [] }))).toThrow(LlbError);
  });
});

describe("reachable", () => {
  it("drops ops the root does not need", () => {
    const def = marshal(image("alpine").run({ args: ["true"] }).root());
    const last = def.vertices[def.vertices.length - 1];
    const first = def.vertices[0];
    if (last === undefined || first === undefined) throw new Error("expected vertices");
    expect(reachable({ ...def, root: out(first.digest) }).vertices).toEqual([first]);
    expect(reachable(def)).toEqual(def);
  });
});

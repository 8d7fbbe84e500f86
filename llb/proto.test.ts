import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { encodeOp } from "./digest.ts";
import { OpSchema, type NetworkMode } from "./gen/llb_pb.ts";
import { canonicalOp } from "./graph.ts";
import { fullExec, sampleOps } from "./fixtures.test-support.ts";
import { opFromProto, opToProto } from "./proto.ts";

describe("IR ⇄ protobuf", () => {
  it.each(sampleOps.map((op) => [op.kind === "source" ? `source/${op.source.kind}` : op.kind, op] as const))(
    "round-trips a %s op through messages and bytes",
    (_name, op) => {
      const viaMessage = opFromProto(opToProto(op));
      expect(viaMessage).toEqual({ ok: true, value: canonicalOp(op) });
      const viaBytes = opFromProto(fromBinary(OpSchema, encodeOp(op)));
      expect(viaBytes).toEqual({ ok: true, value: canonicalOp(op) });
    },
  );

  it("writes edges as a deduplicated input table in first-use order", () => {
    const msg = opToProto(fullExec);
    // rootfs reads D1, /cache reads D2, /ctx reads D2, /w reads D1 again: two distinct inputs.
    expect(msg.inputs.map((i) => i.digest[7])).toEqual(["1", "2"]);
  });

  it("sorts mounts by target in the canonical form", () => {
    const msg = opToProto({ ...fullExec, mounts: [...fullExec.mounts].reverse() });
    const body = msg.op;
    if (body.case !== "exec") throw new Error("expected exec");
    const targets = body.value.mounts.map((m) => m.target);
    expect(targets).toEqual([...targets].sort());
  });

  it("reports a missing oneof, an out-of-range input and an unknown enum value as INVALID_OP", () => {
    const empty = opFromProto(create(OpSchema, {}));
    expect(empty).toMatchObject({ ok: false, error: { code: "INVALID_OP" } });

    const msg = opToProto(fullExec);
    const noInputs = fromBinary(OpSchema, toBinary(OpSchema, msg));
    noInputs.inputs = [];
    expect(opFromProto(noInputs)).toMatchObject({ ok: false, error: { code: "INVALID_OP", message: expect.stringContaining("reads input") } });

    const badEnum = fromBinary(OpSchema, toBinary(OpSchema, msg));
    if (badEnum.op.case !== "exec") throw new Error("expected exec");
    badEnum.op.value.network = 7 as NetworkMode;
    expect(opFromProto(badEnum)).toMatchObject({ ok: false, error: { code: "INVALID_OP", message: expect.stringContaining("network mode") } });
  });

  it("sorts ulimits by name, and refuses an int64 limit a number cannot hold exactly", () => {
    const msg = opToProto({ ...fullExec, ulimits: [...fullExec.ulimits].reverse() });
    if (msg.op.case !== "exec") throw new Error("expected exec");
    expect(msg.op.value.ulimits.map((u) => u.name)).toEqual(["core", "nofile"]);
    expect(msg.op.value.shmSizeBytes).toBe(128n * 1024n * 1024n);
    const huge = fromBinary(OpSchema, toBinary(OpSchema, msg));
    if (huge.op.case !== "exec" || huge.op.value.ulimits[0] === undefined) throw new Error("expected exec");
    huge.op.value.ulimits[0].hard = 2n ** 62n;
    expect(opFromProto(huge)).toMatchObject({ ok: false, error: { code: "INVALID_OP", message: expect.stringContaining("too large") } });
  });

  it("rejects file-action references outside file ops", () => {
    const msg = opToProto(fullExec);
    if (msg.op.case !== "exec" || msg.op.value.rootfs?.source === undefined) throw new Error("expected exec");
    msg.op.value.rootfs.source.ref = { case: "action", value: 0 };
    expect(opFromProto(msg)).toMatchObject({ ok: false, error: { code: "INVALID_OP" } });
  });
});

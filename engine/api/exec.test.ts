import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { parseExecConfig } from "./exec.ts";

function fails(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (isHtkError(err)) return `${err.id} ${err.plainCause}`;
    throw err;
  }
  throw new Error("did not fail");
}

describe("the ExecConfig body", () => {
  it("reads Docker's fields (case-insensitively, as Go's decoder) and drops ConsoleSize before API 1.42", () => {
    const body = { cmd: ["sh", "-c", "id"], User: "nobody", Tty: true, AttachStdin: true, Env: ["A=1"], WorkingDir: "/tmp", Privileged: false, DetachKeys: "ctrl-x", ConsoleSize: [24, 80] };
    expect(parseExecConfig(body, true)).toEqual({
      Cmd: ["sh", "-c", "id"],
      User: "nobody",
      Tty: true,
      AttachStdin: true,
      Env: ["A=1"],
      WorkingDir: "/tmp",
      Privileged: false,
      DetachKeys: "ctrl-x",
      ConsoleSize: [24, 80],
    });
    expect(parseExecConfig(body, false).ConsoleSize).toBeUndefined();
    expect(parseExecConfig(undefined, true)).toEqual({ Cmd: [] });
  });

  it("answers encoding/json's type errors (HTK-ENGINE-0450)", () => {
    expect(fails(() => parseExecConfig({ Cmd: "ls" }, true))).toBe("HTK-ENGINE-0450 invalid JSON: json: cannot unmarshal string into Go struct field ExecConfig.Cmd of type []string");
    expect(fails(() => parseExecConfig({ Cmd: ["ls"], ConsoleSize: [1] }, true))).toContain("ExecConfig.ConsoleSize of type [2]uint");
    expect(fails(() => parseExecConfig([1], true))).toContain("cannot unmarshal array into Go value of type ExecConfig");
  });
});
